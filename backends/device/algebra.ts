/**
 * The array algebra of core/algebra.ts over device tensors (tfjs), for the device engine's coefficients
 * (backends/device/coefficients.ts): the objectives' and control variates' coefficient math (docs/math.md
 * §"Objectives", §"Control variates") runs unchanged on the device-resident log w. A vector is [K, B] (K seeds ×
 * B trajectories; any leading dimensions) and every reduction runs over the last axis and keeps it (→ [K, 1]),
 * so length-1 values broadcast per seed, exactly as the Float64 algebra's do per batch.
 *
 * Nothing is read back. The host numbers the math uses (weights, 1/N, log(N − 1), …) become scalar tensors once
 * per algebra (a cache; `dispose` frees them), so a step uploads a few constants, independent of B and D.
 * Stability: log-sum-exp subtracts the maximum; the leave-one-out log-sum-exp masks the diagonal of a [.., B, B]
 * matrix with −∞ and reduces each row with its own maximum (no cancellation where one weight dominates).
 */
import type { Algebra } from "../../core/algebra.ts";
import type { T, Tf } from "./sampler.ts";

/** The tensor algebra, with the scalar constants it made (freed by `dispose`). */
export interface TensorAlgebra extends Algebra<T> {
  dispose(): void;
}

export function tensorAlgebra(tf: Tf): TensorAlgebra {
  const constants = new Map<number, T>();
  const scalar = (x: number): T => {
    let c = constants.get(x);
    if (!c || c.isDisposed) constants.set(x, c = tf.keep(tf.scalar(x)));
    return c;
  };
  const last = (v: T) => v.shape[v.rank - 1]!;
  const logSumExp = (a: T, keepDims: boolean): T => {
    const m = tf.max(a, -1, true);
    // a row of −∞ only: its maximum is −∞; shift by 0 there (log Σ exp = −∞, as core/math.ts returns)
    const shift = tf.where(tf.isFinite(m), m, tf.zerosLike(m));
    const s = tf.add(tf.log(tf.sum(tf.exp(tf.sub(a, shift)), -1, true)), shift);
    return keepDims ? s : tf.squeeze(s, [s.rank - 1]);
  };
  return {
    scalar,
    fill: (like, x) => tf.fill(like.shape, x),
    count: last,
    add: (a, b) => tf.add(a, b),
    sub: (a, b) => tf.sub(a, b),
    mul: (a, b) => tf.mul(a, b),
    scale: (a, k) => tf.mul(scalar(k), a),
    div: (a, k) => tf.div(a, scalar(k)),
    exp: (a) => tf.exp(a),
    log: (a) => tf.log(a),
    maximum: (a, b) => tf.maximum(a, b),
    sum: (a) => tf.sum(a, -1, true),
    max: (a) => tf.max(a, -1, true),
    logSumExp: (a) => logSumExp(a, true),
    looLogSumExp(a) {
      const n = last(a);
      // 0, 1, …, n − 1 made on the device (tf.range is a host array uploaded on WebGPU)
      const idx = tf.cumsum(tf.fill([n], 1, "float32"), 0, true);
      const diagonal = tf.equal(tf.reshape(idx, [n, 1]), tf.reshape(idx, [1, n]));
      // row i of [.., n, n]: a with entry i replaced by −∞
      const rows = tf.broadcastTo(tf.expandDims(a, -2), [...a.shape.slice(0, -1), n, n]);
      const masked = tf.where(tf.broadcastTo(diagonal, rows.shape), tf.fill(rows.shape, -Infinity), rows);
      return logSumExp(masked, false);
    },
    dispose() {
      for (const c of constants.values()) c.dispose();
      constants.clear();
    },
  };
}
