/**
 * Rényi-α divergence between forward and backward trajectory models (companion paper on divergences; DESIGN §3):
 *   D_α(Q‖P) = 1/(α−1) · log E_Q[(w/Z)^{1−α}],   w = P̃/Q, log w = log R(x) + log P_B(τ|x) − log Q(τ).
 * Since ∇_φ log w = −∇_φ log Q =: −h,  ∇_φ E_Q[w^{1−α}] = E_Q[w^{1−α} h] − (1−α)·E_Q[w^{1−α} h] = α·E_Q[w^{1−α} h],
 *   ∇_φ D_α = α/(α−1) · E_Q[w^{1−α} h] / E_Q[w^{1−α}]          (Z cancels in the ratio).
 * Self-normalised estimate from N forward samples, with the mean of the normalised weights (1/N) as baseline
 * (Σ_i h_i / N has zero mean, so it only removes variance):
 *   ĝ = α/(α−1) · Σ_i (ŵ_i − 1/N) h_i,   ŵ_i = softmax_i((1−α)·log w).
 * The surrogate is Σ_i sg(c_i)·log q_i with c_i below. It is biased (a ratio of means), the bias is O(1/N).
 * α → 1: ŵ_i − 1/N = (1−α)/N·(log w_i − mean log w) + O((1−α)²), so c_i → α·(mean log w − log w_i)/N, the
 * reverse-KL estimator with the (global) mean of log w as baseline = α·(N−1)/N × the LOO-mean (loo-logw) one.
 */
import { logSumExp } from "../math.ts";

/** Per-trajectory coefficients on log q_φ: weight · α/(α−1) · (softmax_i((1−α) log w) − 1/N). α ≠ 1. */
export function renyiCoefficients(logw: ArrayLike<number>, alpha: number, weight = 1): Float64Array {
  if (alpha === 1) throw new RangeError("Rényi-α needs α ≠ 1 (α = 1 is the reverse KL)");
  return centredSoftmax(logw, 1 - alpha, weight * alpha / (alpha - 1));
}

/** scale · (softmax_i(temperature · v) − 1/N) for each i. */
export function centredSoftmax(v: ArrayLike<number>, temperature: number, scale: number): Float64Array {
  const N = v.length;
  const u = new Float64Array(N);
  for (let i = 0; i < N; i++) u[i] = temperature * v[i];
  const lse = logSumExp(u);
  for (let i = 0; i < N; i++) u[i] = scale * (Math.exp(u[i] - lse) - 1 / N);
  return u;
}

/** Self-normalised importance weights softmax_i((1−α)·log w) (diagnostics: effective sample size). */
export function effectiveSampleSize(logw: ArrayLike<number>, temperature = 1): number {
  const N = logw.length;
  const u = new Float64Array(N);
  for (let i = 0; i < N; i++) u[i] = temperature * logw[i];
  const lse = logSumExp(u);
  let s2 = 0;
  for (let i = 0; i < N; i++) s2 += Math.exp(2 * (u[i] - lse));
  return 1 / s2;
}
