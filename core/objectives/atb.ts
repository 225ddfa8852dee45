/**
 * αTB (paper §3, Eq. 6): L = α·mean_B (log Z_ψ − log w(τ_B))² + (1−α)·mean_F (log Z_ψ − log w(τ_F))², a mixture
 * over two full batches (backward trajectories τ_B ~ P, forward τ_F ~ Q). Since log w = log R − log q_φ,
 * ∂L/∂log q_φ(τ) = 2·weight·(log Z_ψ − log w(τ)) / batch: the φ-gradient is Σ_s coef_s ∇ log q_φ(τ_s).
 */
export interface TbTerms {
  loss: number;
  /** ∂L/∂ log Z_ψ */
  dLogZ: number;
  /** Per-trajectory coefficients on log q_φ (stop-gradient). */
  coef: Float64Array;
}

/** One TB term weight·mean_s (log Z_ψ − log w_s)². */
export function tbTerm(logZ: number, logw: Float64Array, weight: number): TbTerms {
  const S = logw.length;
  const coef = new Float64Array(S);
  let loss = 0, dLogZ = 0;
  for (let s = 0; s < S; s++) {
    const r = logZ - logw[s];
    loss += weight * r * r / S;
    dLogZ += 2 * weight * r / S;
    coef[s] = 2 * weight * r / S;
  }
  return { loss, dLogZ, coef };
}

/** The αTB loss from its two batches (either may be absent when its weight is 0). */
export function alphaTbLoss(
  alpha: number,
  logZ: number,
  logwForward: Float64Array | null,
  logwBackward: Float64Array | null,
) {
  let loss = 0;
  if (logwForward && alpha < 1) loss += tbTerm(logZ, logwForward, 1 - alpha).loss;
  if (logwBackward && alpha > 0) loss += tbTerm(logZ, logwBackward, alpha).loss;
  return loss;
}

/** α at a given step: constant, or `anneal` = α for the first half of training then linearly to 0 (DESIGN §3). */
export function scheduledAlpha(
  alpha: number,
  schedule: "constant" | "anneal",
  step: number,
  steps: number,
): number {
  if (schedule === "constant") return alpha;
  const half = steps / 2;
  if (step < half) return alpha;
  return alpha * Math.max(0, 1 - (step - half) / Math.max(1, steps - half));
}
