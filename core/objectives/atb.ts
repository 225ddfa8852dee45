/**
 * αTB (paper §3, Eq. 6): L = α·mean_B (log Z_ψ − log w(τ_B))² + (1−α)·mean_F (log Z_ψ − log w(τ_F))², a mixture
 * over two full batches (backward trajectories τ_B ~ P, forward τ_F ~ Q). Since log w = log R − log q_φ,
 * ∂L/∂log q_φ(τ) = 2·weight·(log Z_ψ − log w(τ)) / batch: the φ-gradient is Σ_s coef_s ∇ log q_φ(τ_s).
 * With a control variate other than `learned`, the forward term uses it in place of log Z_ψ (2 × the reverse-KL
 * estimator; paper §3.2) while log Z_ψ still fits both batches. A learned P_B gets (Table 1)
 * ∇_θ = weight·mean 2(log w − log Z_ψ)·∇_θ log P_B on both batches.
 */
import { type Objective, offPolicyBaseline } from "./objective.ts";
import { rklOffPolicyCoefficients } from "./offpolicy.ts";
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

/** α at a given step: constant, or `anneal` = α for the first half of training then linearly to 0 (docs/math.md §"Objectives"). */
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

export const atb: Objective = {
  name: "atb",
  label: "αTB",
  description: "α-trajectory balance: α·mean_P (log Z_ψ − log w)² + (1−α)·mean_Q (log Z_ψ − log w)² (Eq. 6)",
  params: [],
  usesCv: true,
  scalar: { symbol: "log Z_ψ", trained: () => true },
  needsValue: false,
  unbiased: (cv) => cv.unbiased,
  gradient({ alpha, cv, scalar, forward, backward, grads }) {
    let loss = 0, dScalar = 0;
    if (forward) {
      const tb = tbTerm(scalar, forward.logw, 1 - alpha);
      loss += tb.loss;
      dScalar += tb.dLogZ;
      // TB is valid under any behaviour as is; its cv ≠ learned form is 2·RKL, importance-weighted off-policy
      if (cv.learnsScalar) forward.accumulate(tb.coef, grads);
      else if (forward.logRho) {
        const b = offPolicyBaseline(cv, forward.logw, scalar);
        forward.accumulate(rklOffPolicyCoefficients(forward.logw, forward.logRho, b, 2 * (1 - alpha)), grads);
      } else cv.addGradient(forward, forward.logw, scalar, 2 * (1 - alpha), grads);
    }
    if (backward) {
      const tb = tbTerm(scalar, backward.logw, alpha);
      loss += tb.loss;
      dScalar += tb.dLogZ;
      backward.accumulate(tb.coef, grads);
    }
    return { dScalar, loss };
  },
  backwardCoefficients(_part, logw, weight, scalar) {
    const S = logw.length;
    return logw.map((lw) => 2 * weight * (lw - scalar) / S);
  },
  exact({ Q, P, logw }, alpha, scalar) {
    const mix = Q.map((q, n) => alpha * P[n] + (1 - alpha) * q);
    return {
      phi: mix.map((m, n) => 2 * m * (scalar - logw[n])),
      theta: mix.map((m, n) => 2 * m * (logw[n] - scalar)),
    };
  },
};
