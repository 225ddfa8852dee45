/**
 * αKL (paper §3): ∇_φ = (1−α)·∇RKL + α·∇FKL.
 *  - RKL from forward samples: surrogate mean_s sg(b_s − log w_s)·log q_φ(τ_s) (score function with baseline b;
 *    see core/baselines/estimator.ts).
 *  - FKL from backward samples (data x + uniformly random orders): surrogate −mean_s log q_φ(τ_s).
 * The learned control variate c_ψ is trained by ½(c_ψ − log w)² over the forward batch (c_ψ → E_Q[log w]).
 */

/** Coefficients on log q_φ for the FKL part: −weight / S each. */
export function fklCoefficients(S: number, weight: number): Float64Array {
  return new Float64Array(S).fill(-weight / S);
}

/** ∂/∂c of mean_s ½(c − log w_s)². */
export function learnedBaselineGrad(c: number, logw: Float64Array): number {
  let g = 0;
  for (let s = 0; s < logw.length; s++) g += (c - logw[s]) / logw.length;
  return g;
}

/** Monte Carlo estimate of the αKL value itself for logging: (1−α)·mean_F(−log w) + α·mean_B(log w) + const. */
export function rklEstimate(logw: Float64Array, logZ: number): number {
  let m = 0;
  for (let s = 0; s < logw.length; s++) m += logw[s] / logw.length;
  return logZ - m;
}
