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
import { type Algebra, asFloat64, float64 } from "../algebra.ts";

/** log ρ_i = log q_φ(τ_i) − log β(τ_i); zeros when there is no behaviour (on-policy). */
export function logImportance(logq: ArrayLike<number>, logb: ArrayLike<number> | undefined): Float64Array {
  const out = new Float64Array(logq.length);
  if (logb) { for (let i = 0; i < out.length; i++) out[i] = logq[i] - logb[i]; }
  return out;
}

/** Self-normalised weights ρ̃_i = ρ_i / Σ_j ρ_j = exp(log ρ_i − logsumexp log ρ). */
export function normalisedWeightsOf<V>(alg: Algebra<V>, logRho: V): V {
  return alg.exp(alg.sub(logRho, alg.logSumExp(logRho)));
}

/** `normalisedWeightsOf` on host arrays. */
export function normalisedWeights(logRho: ArrayLike<number>): Float64Array {
  return normalisedWeightsOf(float64, asFloat64(logRho));
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

/** RKL off-policy: weight·ρ_i(b_i − log w_i)/N (unbiased for b_i independent of τ_i; b may be length-1). */
export function rklOffPolicyCoefficientsOf<V>(
  alg: Algebra<V>,
  logw: V,
  logRho: V,
  baseline: V,
  weight = 1,
): V {
  return alg.div(alg.mul(alg.scale(alg.exp(logRho), weight), alg.sub(baseline, logw)), alg.count(logw));
}

/** `rklOffPolicyCoefficientsOf` on host arrays. */
export function rklOffPolicyCoefficients(
  logw: ArrayLike<number>,
  logRho: ArrayLike<number>,
  baseline: ArrayLike<number>,
  weight = 1,
): Float64Array {
  return rklOffPolicyCoefficientsOf(float64, asFloat64(logw), asFloat64(logRho), asFloat64(baseline), weight);
}

/** Rényi-α off-policy, self-normalised: weight·α/(α−1)·(softmax(log ρ + (1−α)log w) − softmax(log ρ)). */
export function renyiOffPolicyCoefficientsOf<V>(
  alg: Algebra<V>,
  logw: V,
  logRho: V,
  alpha: number,
  weight = 1,
): V {
  if (alpha === 1) throw new RangeError("Rényi-α needs α ≠ 1 (α = 1 is the reverse KL)");
  return snDifference(alg, logw, logRho, 1 - alpha, weight * alpha / (alpha - 1));
}

/** `renyiOffPolicyCoefficientsOf` on host arrays. */
export function renyiOffPolicyCoefficients(
  logw: ArrayLike<number>,
  logRho: ArrayLike<number>,
  alpha: number,
  weight = 1,
): Float64Array {
  return renyiOffPolicyCoefficientsOf(float64, asFloat64(logw), asFloat64(logRho), alpha, weight);
}

/** Forward KL by self-normalised IS from β: −weight·(softmax(log w + log ρ) − softmax(log ρ)). */
export function fklOffPolicyCoefficientsOf<V>(alg: Algebra<V>, logw: V, logRho: V, weight = 1): V {
  return snDifference(alg, logw, logRho, 1, -weight);
}

/** `fklOffPolicyCoefficientsOf` on host arrays. */
export function fklOffPolicyCoefficients(
  logw: ArrayLike<number>,
  logRho: ArrayLike<number>,
  weight = 1,
): Float64Array {
  return fklOffPolicyCoefficientsOf(float64, asFloat64(logw), asFloat64(logRho), weight);
}

/** IS estimate of log Z from β-samples: log mean_i(ρ_i w_i)  (E_β[ρ w] = E_Q[w] = Z). */
export function importanceLogZOf<V>(alg: Algebra<V>, logw: V, logRho: V): V {
  return alg.sub(alg.logSumExp(alg.add(logw, logRho)), alg.scalar(Math.log(alg.count(logw))));
}

/** `importanceLogZOf` on host arrays. */
export function importanceLogZ(logw: ArrayLike<number>, logRho: ArrayLike<number>): number {
  return importanceLogZOf(float64, asFloat64(logw), asFloat64(logRho))[0];
}

/** ∂/∂c of Σ_i ρ̃_i ½(c − log w_i)²: a scalar fitted to E_Q[log w] from β-samples (self-normalised). */
export function weightedMeanGradOf<V>(alg: Algebra<V>, c: V, logw: V, logRho: V): V {
  return alg.sum(alg.mul(normalisedWeightsOf(alg, logRho), alg.sub(c, logw)));
}

/** `weightedMeanGradOf` on host numbers. */
export function weightedMeanGrad(c: number, logw: ArrayLike<number>, logRho: ArrayLike<number>): number {
  return weightedMeanGradOf(float64, float64.scalar(c), asFloat64(logw), asFloat64(logRho))[0];
}

/** scale·(softmax_i(log ρ + t·v) − softmax_i(log ρ)). */
function snDifference<V>(alg: Algebra<V>, v: V, logRho: V, t: number, scale: number): V {
  const u = alg.add(logRho, alg.scale(v, t));
  return alg.scale(alg.sub(normalisedWeightsOf(alg, u), normalisedWeightsOf(alg, logRho)), scale);
}
