/**
 * The bit-vector sampler on the device (the DeviceSampler contract of backends/device/sampler.ts; the CPU twin is
 * core/gfn/bitvector.ts): states {−1, 0, +1}^D, the policy D → … → 2D with the logit pair (l₋, l₊) of position d
 * at columns (2d, 2d + 1), uniform P_B.
 *
 * Forward sampling: the orders are the top-k of iid uniforms (a uniform random permutation per trajectory: the
 * same law as choosing a uniform unset position per step; docs/math.md §"Bit vectors"), then D steps, each one
 * MLP pass over the K·B current states; v = +1 with probability σ(l₊ − l₋) at the step's position (u < p₊ with a
 * uniform u). Backward trajectories: x ~ π drawn on the device by a two-level inverse CDF over the enumerated
 * target (`enumeratedTarget` in enumerated.ts, uploaded once, D ≤ 20 like core/tasks/ising.ts's sampleData), uniform orders.
 *
 * Rows (per seed, step-major t·B + b like the CPU engine): the state s_t = x ⊙ [rank < t] (rank[b, d] = the step
 * position d is set at), the one-hot of the position set at row (t, b), and its value v. Per-trajectory log P_F
 * is log q_φ = Σ_t log σ(v_t (l₊ − l₋)) (the ordering terms −log(D − t) cancel the uniform P_B's −log D!); per row
 * log P_F = log σ(v (l₊ − l₋)) − log(D − t) and log P_B = −log(t + 1).
 *
 * Everything per call is device work: the constants (step indices, the reward's coupling matrix, the data
 * tables, ±1) are made once in the constructor.
 */
import type * as tfc from "@tensorflow/tfjs-core";
import {
  type DeviceBatch,
  type DevicePolicy,
  type DeviceRandom,
  type DeviceSampler,
  stackSeeds,
  type T,
  type Tf,
} from "./sampler.ts";
import { drawEnumerated, type EnumeratedTarget, enumeratedTarget } from "./enumerated.ts";

/** log R on the device: terminal states [n, D] (±1 float32) → [n]. */
export type DeviceReward = (x: T) => T;

/** Ising on the L×L torus (core/tasks/ising.ts): log R(x) = β Σ_a x_a (x_right(a) + x_down(a)) = β·Σ x ⊙ (x M). */
export function isingCoupling(L: number): Float32Array {
  const D = L * L;
  const m = new Float32Array(D * D);
  for (let i = 0; i < L; i++) {
    for (let j = 0; j < L; j++) {
      const a = i * L + j;
      m[(i * L + ((j + 1) % L)) * D + a] += 1;
      m[(((i + 1) % L) * L + j) * D + a] += 1;
    }
  }
  return m;
}

/** Host log R of Ising state index i (bit d of i set ⇔ x_d = +1), for the data tables. */
function isingLogR(L: number, beta: number): (i: number) => number {
  return (i) => {
    let e = 0;
    for (let r = 0; r < L; r++) {
      for (let c = 0; c < L; c++) {
        const a = r * L + c, right = r * L + ((c + 1) % L), down = ((r + 1) % L) * L + c;
        const xa = (i >> a) & 1 ? 1 : -1;
        e += xa * (((i >> right) & 1 ? 1 : -1) + ((i >> down) & 1 ? 1 : -1));
      }
    }
    return beta * e;
  };
}

/** A bit-vector batch: also the orders [K, B, D] (int32; order[k, b, t] = the position set at step t). */
export interface BitDeviceBatch extends DeviceBatch {
  readonly order: T;
}

export interface BitVectorDeviceSampler extends DeviceSampler {
  readonly D: number;
  forward(policy: DevicePolicy, B: number, rng: DeviceRandom): BitDeviceBatch;
  backward(policy: DevicePolicy, B: number, rng: DeviceRandom): BitDeviceBatch;
  /** Host trajectories → a device batch (tests, fixed batches): x [K][B·D] ±1, orders [K][B·D] (step → position). */
  upload(xs: readonly Int8Array[], orders: readonly Int32Array[], B: number): BitDeviceBatch;
  /** A batch of given device trajectories x [K, B, D] (±1) and orders [K, B, D] (int32); takes ownership. */
  batch(x: T, order: T): BitDeviceBatch;
  /** log R of terminal states [n, D]. */
  readonly reward: DeviceReward;
}

/** The Ising task's device sampler (data tables for α > 0 when D ≤ 20). */
export function isingDeviceSampler(tf: Tf, L: number, beta: number): BitVectorDeviceSampler {
  const D = L * L;
  const M = tf.tensor2d(isingCoupling(L), [D, D]);
  const betaT = tf.scalar(beta);
  const reward: DeviceReward = (x) => tf.mul(betaT, tf.sum(tf.mul(x, tf.matMul(x, M)), -1));
  // state index i has x_d = +1 iff bit d of i is set; D ≤ 20 like core/tasks/ising.ts's sampleData
  const data = D <= 20
    ? enumeratedTarget(tf, Float64Array.from({ length: 2 ** D }, (_, i) => isingLogR(L, beta)(i)))
    : undefined;
  return bitVectorDeviceSampler(tf, {
    name: `ising(L=${L},beta=${beta})`,
    D,
    reward,
    data,
    dispose: () => (M.dispose(), betaT.dispose()),
  });
}

/** The bit-vector device sampler of a task given by its device log R (and data tables when it has data). */
export function bitVectorDeviceSampler(
  tf: Tf,
  task: { name: string; D: number; reward: DeviceReward; data?: EnumeratedTarget; dispose?: () => void },
): BitVectorDeviceSampler {
  const { D, reward, data } = task;
  // constants, made once (no host → device traffic per call)
  const steps = tf.range(0, D, 1, "float32"); // [D]
  const negLogDminusT = tf.tidy(() => tf.neg(tf.log(tf.sub(tf.scalar(D), steps)))); // −log(D − t)
  const negLogTplus1 = tf.tidy(() => tf.neg(tf.log(tf.add(steps, tf.scalar(1))))); // −log(t + 1)
  const one = tf.scalar(1), two = tf.scalar(2), half = tf.scalar(0.5);
  const bitScales = tf.tensor1d(Array.from({ length: D }, (_, d) => 2 ** -d)); // exact powers of two

  /** l₊ − l₋ at each row's position: logits [K, n, 2D], oneHot [K, n, D] → [K, n]. */
  function pairDiff(logits: T, oneHot: T): T {
    const [K, n] = oneHot.shape as number[];
    const [lm, lp] = tf.split(tf.reshape(logits, [K, n, D, 2]), 2, 3);
    return tf.sum(tf.mul(tf.sub(tf.reshape(lp, [K, n, D]), tf.reshape(lm, [K, n, D])), oneHot), 2);
  }

  /** Orders: the top-k indices of iid uniform keys, [K, B, D] int32. */
  function orders(rng: DeviceRandom, B: number): T {
    const keys = rng.uniform([B, D]);
    const o = tf.tidy(() => tf.cast(tf.topk(keys, D).indices, "int32"));
    keys.dispose();
    return o;
  }

  function makeBatch(x: T, order: T): BitDeviceBatch {
    const [K, B] = x.shape as number[];
    const R = D * B;
    const rows = tf.tidy(() => {
      const ohOrder = tf.reshape(tf.oneHot(tf.reshape(order, [K * B, D]), D, 1, 0, "float32"), [K * B, D, D]);
      // rank[k, b, d] = the step at which position d is set
      const rank = tf.reshape(tf.matMul(tf.tile(tf.reshape(steps, [1, 1, D]), [K * B, 1, 1]), ohOrder), [
        K,
        1,
        B,
        D,
      ]);
      const tcol = tf.reshape(steps, [1, D, 1, 1]);
      const x4 = tf.reshape(x, [K, 1, B, D]);
      const inputs = tf.reshape(tf.mul(tf.cast(tf.less(rank, tcol), "float32"), x4), [K, R, D]);
      const oh4 = tf.cast(tf.equal(rank, tcol), "float32"); // [K, T, B, D]
      const v = tf.reshape(tf.sum(tf.mul(oh4, x4), 3), [K, R]);
      const ohPos = tf.reshape(oh4, [K, R, D]);
      const logR = tf.reshape(reward(tf.reshape(x, [K * B, D])), [K, B]);
      const logPBRows = tf.tile(tf.reshape(tf.tile(tf.reshape(negLogTplus1, [D, 1]), [1, B]), [1, R]), [
        K,
        1,
      ]);
      return { inputs, v, ohPos, logR, logPBRows };
    });
    const { inputs, v, ohPos, logR, logPBRows } = rows;
    const rowConst = tf.tidy(() => tf.reshape(tf.tile(tf.reshape(negLogDminusT, [D, 1]), [1, B]), [1, R]));
    /** log σ(v (l₊ − l₋)) per row: [K, R]. */
    const logp = (logits: T) => tf.logSigmoid(tf.mul(v, pairDiff(logits, ohPos)));
    return {
      K,
      B,
      rows: R,
      rowOrder: "step-major",
      x,
      order,
      inputs,
      logR,
      logPBRows,
      rowLogPF: (logits) => tf.add(logp(logits), rowConst),
      logw: (logits) => tf.sub(logR, tf.sum(tf.reshape(logp(logits), [K, D, B]), 1)),
      perRow: (coef) => tf.reshape(tf.tile(tf.reshape(coef, [K, 1, B]), [1, D, 1]), [K, R]),
      perTrajectory: (rv) => tf.sum(tf.reshape(rv, [K, D, B]), 1),
      logitSignal(logits, c) {
        // ∂ log σ(v·Δ)/∂l₊ = [v > 0] − σ(Δ), and the negative at l₋
        const g = tf.sub(tf.mul(tf.add(v, one), half), tf.sigmoid(pairDiff(logits, ohPos)));
        const G = tf.mul(ohPos, tf.expandDims(tf.mul(c, g), 2)); // [K, R, D]
        return tf.reshape(tf.stack([tf.neg(G), G], 3), [K, R, 2 * D]);
      },
      dispose() {
        for (const t of [x, order, inputs, v, ohPos, logR, logPBRows, rowConst]) t.dispose();
      },
    };
  }

  /** x ~ π by the two-level inverse CDF: [K, B, D] ±1. */
  function sampleData(rng: DeviceRandom, B: number): T {
    if (!data) throw new Error(`task ${task.name} has no data sampler: α > 0 needs one`);
    const K = rng.K;
    const u = rng.uniform([B, 2]);
    const x = tf.tidy(() => {
      const idx = tf.cast(drawEnumerated(tf, data, tf.reshape(u, [K * B, 2])), "float32"); // exact: < 2^21
      // bit d of idx: floor(idx·2^−d) − 2·floor(idx·2^−(d+1)), all products by powers of two (exact)
      const scaled = tf.floor(tf.mul(tf.reshape(idx, [K * B, 1]), bitScales));
      const bit = tf.sub(scaled, tf.mul(two, tf.floor(tf.mul(scaled, half))));
      return tf.reshape(tf.sub(tf.mul(two, bit), one), [K, B, D]);
    });
    u.dispose();
    return x;
  }

  return {
    name: task.name,
    D,
    inputDim: D,
    policyOutputs: 2 * D,
    stateSize: D,
    hasData: data !== undefined,
    reward,
    forward(policy: DevicePolicy, B: number, rng: DeviceRandom): BitDeviceBatch {
      const K = policy.K;
      const order = orders(rng, B);
      const u = rng.uniform([B, D]);
      let S: T = tf.tidy(() => tf.fill([K, B, D], 0) as T);
      // the states S_t are the rows t·B + b of the batch: keep the policy's layers on them (cache) when it can
      const keep = typeof policy.forwardCached === "function";
      const layers: { As: T[]; Zs: T[] }[] = [];
      for (let t = 0; t < D; t++) {
        const out = tf.tidy(() => {
          const pos = tf.reshape(tf.slice(order, [0, 0, t], [K, B, 1]), [K, B]);
          const oh = tf.oneHot(pos, D, 1, 0, "float32") as T;
          const c = keep ? policy.forwardCached!(S) : undefined;
          const logits = c ? c.Zs[c.Zs.length - 1] : policy.logits(S);
          const pPlus = tf.sigmoid(pairDiff(logits, oh));
          const ut = tf.reshape(tf.slice(u, [0, 0, t], [K, B, 1]), [K, B]);
          const v = tf.sub(tf.mul(two, tf.cast(tf.less(ut, pPlus), "float32")), one);
          return {
            next: tf.add(S, tf.mul(oh, tf.expandDims(v, 2))),
            As: c ? c.As.slice(1) : [],
            Zs: c?.Zs ?? [],
          };
        });
        if (keep) layers.push({ As: out.As, Zs: out.Zs });
        S.dispose();
        S = out.next;
      }
      u.dispose();
      const batch = makeBatch(S, order);
      if (!keep) return batch;
      // step-major rows t·B + b: concatenating the steps' [K, B, ·] along axis 1
      const cache = tf.tidy(() => ({
        As: [batch.inputs, ...layers[0].As.map((_, l) => tf.concat(layers.map((s) => s.As[l]), 1))],
        Zs: layers[0].Zs.map((_, l) => tf.concat(layers.map((s) => s.Zs[l]), 1)),
      }));
      for (const s of layers) for (const t of [...s.As, ...s.Zs]) t.dispose();
      return {
        ...batch,
        cache,
        dispose() {
          for (const t of [...cache.As.slice(1), ...cache.Zs]) t.dispose();
          batch.dispose();
        },
      };
    },
    backward(_policy: DevicePolicy, B: number, rng: DeviceRandom): BitDeviceBatch {
      const x = sampleData(rng, B);
      return makeBatch(x, orders(rng, B));
    },
    batch: makeBatch,
    upload(xs, orders, B) {
      return makeBatch(stackSeeds(tf, xs, B, D, "float32"), stackSeeds(tf, orders, B, D, "int32"));
    },
    dispose() {
      for (
        const t of [steps, negLogDminusT, negLogTplus1, one, two, half, bitScales] as tfc.Tensor[]
      ) t.dispose();
      data?.dispose();
      task.dispose?.();
    },
  };
}

/** Host orders (order[b·D + t]) from a CPU bit-vector batch's step-major positions (pos[t·B + b]). */
export function ordersOf(pos: Int32Array, B: number, D: number): Int32Array {
  const order = new Int32Array(B * D);
  for (let t = 0; t < D; t++) for (let b = 0; b < B; b++) order[b * D + t] = pos[t * B + b];
  return order;
}
