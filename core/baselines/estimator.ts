/**
 * The reverse-KL score-function gradient with a control variate (docs/math.md §"Control variates"; paper §2.2.1):
 *   grads += weight · mean_s (b_s − log w_s) h_s,   h_s = ∇_φ log q_φ(τ_s),
 * where b is a scalar per sample (none, learned, LOO mean log w, LOO log-mean-exp, optimal scalar) or a vector
 * per parameter element (optimal vector: b_d = Σ log w_s h_{s,d}² / Σ h_{s,d}²), global or leave-one-out.
 */
import type { Vec } from "../nn/gemm.ts";
import { ctorOf } from "../nn/mlp.ts";
import { kernelsOf } from "../nn/kernels.ts";
import { alloc } from "../nn/arena.ts";
import type { Batch, OptimalBaseline, TrajectoryBatch } from "../gfn/batch.ts";
import { type Algebra, float64 } from "../algebra.ts";
import { looMean, optimalScalarBaseline } from "./cv.ts";

/**
 * grads += weight · mean_s (b_s − log w_s) h_s for a per-sample scalar baseline b (length B, or length-1: the
 * same b for every sample), as per-trajectory coefficients weight·(b_s − log w_s)/S (one backward pass).
 */
export function addBaselineGradient<V, G>(
  alg: Algebra<V>,
  batch: TrajectoryBatch<V, G>,
  logw: V,
  b: V,
  weight: number,
  grads: G,
): void {
  batch.accumulate(alg.div(alg.scale(alg.sub(b, logw), weight), alg.count(logw)), grads);
}

/** `addBaselineGradient` on the CPU engine's batches. */
export function addScalarBaselineGradient(
  batch: Batch,
  logw: Float64Array,
  b: Float64Array,
  weight: number,
  grads: Vec[],
): void {
  addBaselineGradient(float64, batch, logw, b, weight, grads);
}

/** The CPU engine's optimal-baseline gradient (`TrajectoryBatch.addOptimalBaselineGradient` of its batches). */
export function addOptimalGradient(
  batch: Batch,
  baseline: OptimalBaseline,
  logw: Float64Array,
  weight: number,
  grads: Vec[],
): void {
  if (baseline.kind === "scalar") addOptimalScalarGradient(batch, logw, baseline.leaveOneOut, weight, grads);
  else addOptimalVectorGradient(batch, logw, baseline.leaveOneOut, weight, grads);
}

/** ‖h_s‖² per sample (the optimal scalar baseline's weights). */
function scoreNorms2(batch: Batch, S: number): Float64Array {
  const norms2 = new Float64Array(S);
  const K = kernelsOf(batch.gemm);
  batch.forEachScore((s, h) => {
    let n = 0;
    for (const a of h) n += K.sumSquares(a, a.length);
    norms2[s] = n;
  });
  return norms2;
}

/** Optimal scalar baseline (global or leave-one-out) from the per-sample score norms. */
export function addOptimalScalarGradient(
  batch: Batch,
  logw: Float64Array,
  leaveOneOut: boolean,
  weight: number,
  grads: Vec[],
): void {
  const b = optimalScalarBaseline(logw, scoreNorms2(batch, logw.length), leaveOneOut);
  addScalarBaselineGradient(batch, logw, b, weight, grads);
}

/**
 * Optimal vector baseline. Global: one pass over per-sample scores collecting Σh², Σ log w·h², Σh, Σ log w·h, then
 * g_d = (b_d Σ_s h_{s,d} − Σ_s log w_s h_{s,d}) / S. Leave-one-out: a second pass applies
 * b_{s,d} = (Σ log w h² − log w_s h_{s,d}²) / (Σ h² − h_{s,d}²) per sample.
 * The sums accumulate in the policy's float type (float32 for training; error analysis in core/nn/kernels.ts,
 * checked against float64 in tests/kernels_test.ts) through the backend's `scoreSums` kernel.
 * Where a denominator is 0 every h_{s,d} in it is 0; the fallback (mean / LOO mean of log w) keeps b independent
 * of τ_s, and the LOO value is clamped to the range of the other samples' log w (it is a weighted mean of them;
 * the clamp only removes rounding excursions).
 */
export function addOptimalVectorGradient(
  batch: Batch,
  logw: Float64Array,
  leaveOneOut: boolean,
  weight: number,
  grads: Vec[],
): void {
  const S = logw.length;
  const shapes = grads.map((g) => g.length);
  const F = ctorOf(batch.net);
  const K = kernelsOf(batch.gemm);
  const H2 = shapes.map((n) => alloc(F, n));
  const W2 = shapes.map((n) => alloc(F, n));
  const G1 = leaveOneOut ? null : shapes.map((n) => alloc(F, n));
  const G2 = leaveOneOut ? null : shapes.map((n) => alloc(F, n));
  batch.forEachScore((s, h) => {
    const lw = logw[s];
    for (let p = 0; p < h.length; p++) {
      K.scoreSums(h[p], h[p].length, lw, H2[p], W2[p], G1 ? G1[p] : null, G2 ? G2[p] : null);
    }
  });
  const scale = weight / S;
  if (G1 && G2) {
    let meanLogw = 0;
    for (let s = 0; s < S; s++) meanLogw += logw[s] / S;
    for (let p = 0; p < grads.length; p++) {
      const g = grads[p], h2 = H2[p], w2 = W2[p], g1 = G1[p], g2 = G2[p];
      for (let i = 0; i < g.length; i++) {
        const b = h2[i] > 0 ? w2[i] / h2[i] : meanLogw;
        g[i] += scale * (b * g1[i] - g2[i]);
      }
    }
    return;
  }
  const fallback = looMean(logw);
  const [lo, hi] = othersRange(logw);
  const f32 = F === Float32Array;
  batch.forEachScore((s, h) => {
    const lw = logw[s], fb = fallback[s], mn = lo[s], mx = hi[s];
    for (let p = 0; p < h.length; p++) {
      const hp = h[p], h2 = H2[p], w2 = W2[p], g = grads[p];
      for (let i = 0; i < hp.length; i++) {
        const v = hp[i];
        if (v === 0) continue;
        // h² as the accumulator stored it (float32 for a float32 policy): a coordinate that only this sample
        // touches then has den = 0 exactly (the fallback), not a rounding residue of either sign
        const sq = f32 ? Math.fround(v * v) : v * v, den = h2[i] - sq;
        let b = den > 0 ? (w2[i] - lw * sq) / den : fb;
        if (b < mn) b = mn;
        else if (b > mx) b = mx;
        g[i] += scale * (b - lw) * v;
      }
    }
  });
}

/** For each s, the min and max of log w over the other samples. */
function othersRange(logw: Float64Array): [Float64Array, Float64Array] {
  const S = logw.length;
  let min1 = Infinity, min2 = Infinity, max1 = -Infinity, max2 = -Infinity, iMin = -1, iMax = -1;
  for (let s = 0; s < S; s++) {
    const v = logw[s];
    if (v < min1) [min2, min1, iMin] = [min1, v, s];
    else if (v < min2) min2 = v;
    if (v > max1) [max2, max1, iMax] = [max1, v, s];
    else if (v > max2) max2 = v;
  }
  const lo = new Float64Array(S), hi = new Float64Array(S);
  for (let s = 0; s < S; s++) {
    lo[s] = s === iMin ? min2 : min1;
    hi[s] = s === iMax ? max2 : max1;
  }
  return [lo, hi];
}
