/**
 * Held-out negative log-likelihood of the GFlowNet's terminal marginal Q_T (paper Eq. 7, docs/math.md §"Metrics").
 *
 * Importance sampling with the backward policy as proposal: for a test point x draw N backward trajectories
 * (uniformly random deletion orders under the uniform P_B); P_F(τ)/P_B(τ|x) = Π_t p_φ(v_t|s_t) because the
 * position factors Π 1/(D − t) = 1/D! cancel P_B(τ|x) = 1/D!. Hence
 *   log Q̂_T(x) = logsumexp_i(Σ_t log p_φ(v_t | s_t^i)) − log N,   NLL = −mean_x log Q̂_T(x)   (nats).
 * Q̂_T(x) is unbiased for Q_T(x); log Q̂_T(x) is biased low (Jensen), so the IS NLL over-estimates the exact NLL
 * by a bias that shrinks as 1/N.
 */
import type { Gemm } from "../nn/gemm.ts";
import type { Mlp } from "../nn/mlp.ts";
import { evaluateBackward, sampleBackwardOrders } from "../gfn/backward.ts";
import { type Policy, randomOrders, runTrajectories } from "../gfn/trajectories.ts";
import type { Rng } from "../rng.ts";
import { logFactorial, logSumExp, mean, std } from "../math.ts";

/**
 * log Q̂_T(x_i) for the n rows of x, N backward trajectories each, about `chunkRows` trajectories per pass. With a
 * learned backward policy `pb` the trajectories are drawn from P_B(θ) and weighted by
 * P_F(τ)/P_B(τ|x; θ) = exp(log q_φ − log D! − log P_B(τ|x; θ)) (the uniform case of the header).
 */
export function isLogLikelihoods(
  pol: Policy,
  gemm: Gemm,
  x: Int8Array,
  n: number,
  N: number,
  rng: Rng,
  opts: { pb?: Mlp; chunkRows?: number } = {},
): Float64Array {
  const { pb, chunkRows = 4096 } = opts;
  const D = pol.D;
  if (!(Number.isInteger(N) && N >= 1)) throw new RangeError(`N must be a positive integer, got ${N}`);
  const out = new Float64Array(n);
  const per = Math.max(1, Math.floor(chunkRows / N));
  const logN = Math.log(N);
  for (let start = 0; start < n; start += per) {
    const m = Math.min(per, n - start);
    const B = m * N;
    const xs = new Int8Array(B * D);
    for (let i = 0; i < m; i++) {
      const row = x.subarray((start + i) * D, (start + i + 1) * D);
      for (let j = 0; j < N; j++) xs.set(row, (i * N + j) * D);
    }
    const order = pb ? sampleBackwardOrders(pb, gemm, xs, B, D, rng) : randomOrders(B, D, rng);
    const batch = runTrajectories(pol, gemm, B, rng, { cache: false, given: { x: xs, order } });
    let terms = batch.logq;
    if (pb) {
      const ev = evaluateBackward(pb, gemm, batch), lf = logFactorial(D);
      terms = batch.logq.map((lq, b) => lq - lf - ev.logPB[b]);
    }
    for (let i = 0; i < m; i++) out[start + i] = logSumExp(terms, i * N, (i + 1) * N) - logN;
  }
  return out;
}

export interface NllSummary {
  /** −mean log-likelihood (nats). */
  nll: number;
  /** Standard error of that mean over test points. */
  se: number;
  /** nll / (D ln 2). */
  bitsPerDim: number;
}

export function summariseNll(logLik: Float64Array, D: number): NllSummary {
  const m = mean(logLik);
  return { nll: -m, se: std(logLik) / Math.sqrt(logLik.length), bitsPerDim: -m / (D * Math.LN2) };
}

/** Index of a ±1 row in the exact terminal tables of core/eval/exact.ts (bit d set ⇔ x_d = +1). */
export function exactIndexOfRow(x: Int8Array, r: number, D: number): number {
  let idx = 0;
  for (let d = 0; d < D; d++) if (x[r * D + d] > 0) idx += 2 ** d;
  return idx;
}

/** log Q_T(x_i) from an exact terminal marginal (`exactForward(...).qT`). */
export function exactLogLikelihoods(qT: Float64Array, x: Int8Array, n: number, D: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.log(qT[exactIndexOfRow(x, i, D)]);
  return out;
}
