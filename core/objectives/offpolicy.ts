/**
 * Objectives from trajectories of a behaviour policy β ≠ Q (docs/offpolicy.md). Every estimator of the engine is a
 * surrogate Σ_i sg(c_i)·log q_φ(τ_i); off-policy, the per-trajectory coefficients c_i change as below, with the
 * importance weight ρ_i = Q(τ_i)/β(τ_i) (log ρ = log q_φ − log β; the ordering / position factors are common to
 * both and cancel), h_i = ∇_φ log q_φ(τ_i), N samples τ_i ~ β:
 *
 *   TB (αTB forward part)  c_i = 2(log Z_ψ − log w_i)/N, unchanged: the squared residual is a valid loss under any
 *                          full-support β, and its expected gradient vanishes at the exact solution (where
 *                          log w ≡ log Z_ψ = log Z) for every β. Not an estimate of ∇KL(Q‖P) off-policy.
 *   RKL                    c_i = ρ_i(b_i − log w_i)/N. E_β[ρ h] = E_Q[h] = 0 and E_β[ρ f h] = E_Q[f h], so with any
 *                          b_i independent of τ_i (constant, learned, leave-one-out) the estimate is unbiased.
 *   Rényi-α                ∇D_α = α/(α−1)·E_Q[w^{1−α}h]/E_Q[w^{1−α}] = α/(α−1)·E_β[ρw^{1−α}h]/E_β[ρw^{1−α}];
 *                          self-normalised, with the self-normalised zero-mean term Σ ρ̃_i h_i as baseline:
 *                          c_i = α/(α−1)·(softmax_i(log ρ + (1−α) log w) − softmax_i(log ρ)).  Biased, O(1/N).
 *   Tsallis-α              (core/objectives/tsallis.ts) c_i = ρ_i × the on-policy coefficient (u_i − mean_{j≠i} u_j)·α/(α−1)/N. Unbiased for a
 *                          fixed Ẑ (the LOO mean of u is independent of τ_i); log Ẑ is fitted to the IS estimate
 *                          log mean(ρ w) (E_β[ρ w] = Z).
 *   FKL (IS)               ∇KL(P‖Q) = −E_P[h] = −E_β[(P̃/β) h]/E_β[P̃/β]; log(P̃/β) = log w + log ρ:
 *                          c_i = −(softmax_i(log w + log ρ) − softmax_i(log ρ)).  Self-normalised, biased O(1/N).
 *                          With replay, β puts mass on past terminal states replayed through P_B.
 *   policy gradient        every row of trajectory i times ρ_i (whole-trajectory weight): with λ = 1 and
 *                          baselines independent of the step's action (V(s_t), the LOO step mean) unbiased.
 *
 * With log ρ ≡ 0 (on-policy) each function gives exactly the on-policy coefficients.
 */
import { logSumExp } from "../math.ts";

/** log ρ_i = log q_φ(τ_i) − log β(τ_i); zeros when there is no behaviour (on-policy). */
export function logImportance(logq: ArrayLike<number>, logb: ArrayLike<number> | undefined): Float64Array {
  const out = new Float64Array(logq.length);
  if (logb) { for (let i = 0; i < out.length; i++) out[i] = logq[i] - logb[i]; }
  return out;
}

/** Self-normalised weights ρ̃_i = ρ_i / Σ_j ρ_j. */
export function normalisedWeights(logRho: ArrayLike<number>): Float64Array {
  const lse = logSumExp(logRho);
  return Float64Array.from(logRho, (l) => Math.exp(l - lse));
}

/** Effective sample size (Σρ)²/Σρ² of the importance weights (N on-policy). */
export function importanceEss(logRho: ArrayLike<number>): number {
  const w = normalisedWeights(logRho);
  let s2 = 0;
  for (let i = 0; i < w.length; i++) s2 += w[i] * w[i];
  return 1 / s2;
}

/** coef_i · ρ_i (in place; returns coef). */
export function weightByImportance(coef: Float64Array, logRho: ArrayLike<number>): Float64Array {
  for (let i = 0; i < coef.length; i++) coef[i] *= Math.exp(logRho[i]);
  return coef;
}

/** RKL off-policy: weight·ρ_i(b_i − log w_i)/N (unbiased for b_i independent of τ_i). */
export function rklOffPolicyCoefficients(
  logw: ArrayLike<number>,
  logRho: ArrayLike<number>,
  baseline: ArrayLike<number>,
  weight = 1,
): Float64Array {
  const N = logw.length;
  return Float64Array.from(logw, (lw, i) => weight * Math.exp(logRho[i]) * (baseline[i] - lw) / N);
}

/** Rényi-α off-policy, self-normalised: weight·α/(α−1)·(softmax(log ρ + (1−α)log w) − softmax(log ρ)). */
export function renyiOffPolicyCoefficients(
  logw: ArrayLike<number>,
  logRho: ArrayLike<number>,
  alpha: number,
  weight = 1,
): Float64Array {
  if (alpha === 1) throw new RangeError("Rényi-α needs α ≠ 1 (α = 1 is the reverse KL)");
  return snDifference(logw, logRho, 1 - alpha, weight * alpha / (alpha - 1));
}

/** Forward KL by self-normalised IS from β: −weight·(softmax(log w + log ρ) − softmax(log ρ)). */
export function fklOffPolicyCoefficients(
  logw: ArrayLike<number>,
  logRho: ArrayLike<number>,
  weight = 1,
): Float64Array {
  return snDifference(logw, logRho, 1, -weight);
}

/** IS estimate of log Z from β-samples: log mean_i(ρ_i w_i)  (E_β[ρ w] = E_Q[w] = Z). */
export function importanceLogZ(logw: ArrayLike<number>, logRho: ArrayLike<number>): number {
  return logSumExp(Float64Array.from(logw, (lw, i) => lw + logRho[i])) - Math.log(logw.length);
}

/** ∂/∂c of Σ_i ρ̃_i ½(c − log w_i)²: a scalar fitted to E_Q[log w] from β-samples (self-normalised). */
export function weightedMeanGrad(c: number, logw: ArrayLike<number>, logRho: ArrayLike<number>): number {
  const w = normalisedWeights(logRho);
  let g = 0;
  for (let i = 0; i < w.length; i++) g += w[i] * (c - logw[i]);
  return g;
}

/** scale·(softmax_i(log ρ + t·v) − softmax_i(log ρ)). */
function snDifference(
  v: ArrayLike<number>,
  logRho: ArrayLike<number>,
  t: number,
  scale: number,
): Float64Array {
  const N = v.length;
  const u = Float64Array.from(v, (x, i) => logRho[i] + t * x);
  const lu = logSumExp(u), lr = logSumExp(logRho);
  const out = new Float64Array(N);
  for (let i = 0; i < N; i++) out[i] = scale * (Math.exp(u[i] - lu) - Math.exp(logRho[i] - lr));
  return out;
}
