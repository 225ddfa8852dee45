/**
 * A small array algebra: what the objectives' and control variates' per-trajectory coefficient math is written
 * over (docs/math.md §"Objectives", §"Control variates"), once, for every engine. A vector V holds one value per
 * trajectory of a batch; a length-1 value (a reduction, `scalar`) broadcasts against any vector. Two
 * implementations: `float64` below (Float64Array, the CPU engine) and backends/device/algebra.ts (tfjs tensors,
 * the device engine, where a vector may carry leading dimensions — K seeds × B trajectories — and every
 * reduction runs over the last axis).
 *
 * The Float64 implementation fixes the operation order the CPU engine's numbers depend on: element i of a binary
 * operation is exactly `a[i] op b[i]`, `scale` is `k · a[i]`, `div` is `a[i] / k` (not a multiplication by 1/k),
 * and reductions accumulate left to right from 0 (`sum`) or from the maximum (`logSumExp`, core/math.ts).
 */
import { logSumExp } from "./math.ts";

export interface Algebra<V> {
  /** The length-1 value x (broadcasts against any vector). */
  scalar(x: number): V;
  /** A vector shaped like `like`, every entry x. */
  fill(like: V, x: number): V;
  /** Entries per reduction (the batch size B of a per-trajectory vector). */
  count(v: V): number;
  /** a_i + b_i, a_i − b_i, a_i · b_i (either operand may be length-1). */
  add(a: V, b: V): V;
  sub(a: V, b: V): V;
  mul(a: V, b: V): V;
  /** k · a_i */
  scale(a: V, k: number): V;
  /** a_i / k */
  div(a: V, k: number): V;
  exp(a: V): V;
  log(a: V): V;
  /** a_i > b_i ? a_i : b_i */
  maximum(a: V, b: V): V;
  /** Σ_i a_i (length 1). */
  sum(a: V): V;
  /** max_i a_i (length 1; −∞ for none). */
  max(a: V): V;
  /** log Σ_i exp(a_i), stable (length 1). */
  logSumExp(a: V): V;
  /** Per i: log Σ_{j≠i} exp(a_j), stable even where a_i dominates (not a difference of sums). */
  looLogSumExp(a: V): V;
}

/** Element strides and length of a broadcast binary operation (length-1 operands repeat). */
function broadcast(a: Float64Array, b: Float64Array): [number, number, number] {
  const n = Math.max(a.length, b.length);
  if ((a.length !== n && a.length !== 1) || (b.length !== n && b.length !== 1)) {
    throw new RangeError(`algebra: lengths ${a.length} and ${b.length} do not broadcast`);
  }
  return [n, a.length === 1 ? 0 : 1, b.length === 1 ? 0 : 1];
}

/** The Float64Array algebra of the CPU engine (operation order: see the header). */
export const float64: Algebra<Float64Array> = {
  scalar: (x) => Float64Array.of(x),
  fill: (like, x) => new Float64Array(like.length).fill(x),
  count: (v) => v.length,
  add(a, b) {
    const [n, sa, sb] = broadcast(a, b);
    const out = new Float64Array(n);
    for (let i = 0, ia = 0, ib = 0; i < n; i++, ia += sa, ib += sb) out[i] = a[ia] + b[ib];
    return out;
  },
  sub(a, b) {
    const [n, sa, sb] = broadcast(a, b);
    const out = new Float64Array(n);
    for (let i = 0, ia = 0, ib = 0; i < n; i++, ia += sa, ib += sb) out[i] = a[ia] - b[ib];
    return out;
  },
  mul(a, b) {
    const [n, sa, sb] = broadcast(a, b);
    const out = new Float64Array(n);
    for (let i = 0, ia = 0, ib = 0; i < n; i++, ia += sa, ib += sb) out[i] = a[ia] * b[ib];
    return out;
  },
  maximum(a, b) {
    const [n, sa, sb] = broadcast(a, b);
    const out = new Float64Array(n);
    for (let i = 0, ia = 0, ib = 0; i < n; i++, ia += sa, ib += sb) out[i] = a[ia] > b[ib] ? a[ia] : b[ib];
    return out;
  },
  scale(a, k) {
    const out = new Float64Array(a.length);
    for (let i = 0; i < a.length; i++) out[i] = k * a[i];
    return out;
  },
  div(a, k) {
    const out = new Float64Array(a.length);
    for (let i = 0; i < a.length; i++) out[i] = a[i] / k;
    return out;
  },
  exp(a) {
    const out = new Float64Array(a.length);
    for (let i = 0; i < a.length; i++) out[i] = Math.exp(a[i]);
    return out;
  },
  log(a) {
    const out = new Float64Array(a.length);
    for (let i = 0; i < a.length; i++) out[i] = Math.log(a[i]);
    return out;
  },
  sum(a) {
    let s = 0;
    for (let i = 0; i < a.length; i++) s += a[i];
    return Float64Array.of(s);
  },
  max(a) {
    let m = -Infinity;
    for (let i = 0; i < a.length; i++) if (a[i] > m) m = a[i];
    return Float64Array.of(m);
  },
  logSumExp: (a) => Float64Array.of(logSumExp(a)),
  looLogSumExp(a) {
    // O(S²), each sum over the others directly: no cancellation when exp(a_i) dominates
    const S = a.length;
    const out = new Float64Array(S), others = new Float64Array(S - 1);
    for (let s = 0; s < S; s++) {
      for (let i = 0, j = 0; i < S; i++) if (i !== s) others[j++] = a[i];
      out[s] = logSumExp(others);
    }
    return out;
  },
};

/** A host array as the Float64 algebra's vector (a copy only when it is not a Float64Array already). */
export function asFloat64(v: ArrayLike<number>): Float64Array {
  return v instanceof Float64Array ? v : Float64Array.from(v);
}
