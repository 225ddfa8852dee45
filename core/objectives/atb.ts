/**
 * αTB (paper §3, Eq. 6): L = α·mean_B (log Z_ψ − log w(τ_B))² + (1−α)·mean_F (log Z_ψ − log w(τ_F))², a mixture
 * over two full batches (backward trajectories τ_B ~ P, forward τ_F ~ Q). Since log w = log R − log q_φ,
 * ∂L/∂log q_φ(τ) = 2·weight·(log Z_ψ − log w(τ)) / batch: the φ-gradient is Σ_s coef_s ∇ log q_φ(τ_s).
 * With a control variate other than `learned`, the forward term uses it in place of log Z_ψ (2 × the reverse-KL
 * estimator; paper §3.2) while log Z_ψ still fits both batches. A learned P_B gets (Table 1)
 * ∇_θ = weight·mean 2(log w − log Z_ψ)·∇_θ log P_B on both batches.
 */
import { type Algebra, float64 } from "../algebra.ts";
import { type Objective, offPolicyBaseline, onHost, type TrajectoryGradient } from "./objective.ts";
import { rklOffPolicyCoefficientsOf } from "./offpolicy.ts";

export interface TbTerms<V> {
  loss: V;
  /** ∂L/∂ log Z_ψ */
  dLogZ: V;
  /** Per-trajectory coefficients on log q_φ (stop-gradient). */
  coef: V;
}

/**
 * One TB term weight·mean_s (log Z_ψ − log w_s)² over the algebra: coefficients 2·weight·(log Z_ψ − log w_s)/S,
 * their sum ∂/∂ log Z_ψ, and the loss Σ_s weight·r_s·r_s/S.
 */
export function tbTermOf<V>(alg: Algebra<V>, logZ: V, logw: V, weight: number): TbTerms<V> {
  const S = alg.count(logw);
  const r = alg.sub(logZ, logw);
  const coef = alg.div(alg.scale(r, 2 * weight), S);
  const loss = alg.sum(alg.div(alg.mul(alg.scale(r, weight), r), S));
  return { loss, dLogZ: alg.sum(coef), coef };
}

/** `tbTermOf` on host numbers. */
export function tbTerm(
  logZ: number,
  logw: Float64Array,
  weight: number,
): { loss: number; dLogZ: number; coef: Float64Array } {
  const t = tbTermOf(float64, float64.scalar(logZ), logw, weight);
  return { loss: t.loss[0], dLogZ: t.dLogZ[0], coef: t.coef };
}

/**
 * The αTB φ-gradient: TB on the forward batch (or, with cv ≠ learned, 2 × the reverse-KL estimator with that
 * baseline, importance-weighted from a behaviour batch) and on the backward batch.
 */
const atbGradient: TrajectoryGradient = ({ alg, alpha, cv, scalar, forward, backward, grads }) => {
  let loss = alg.scalar(0), dScalar = alg.scalar(0);
  if (forward) {
    const tb = tbTermOf(alg, scalar, forward.logw, 1 - alpha);
    loss = alg.add(loss, tb.loss);
    dScalar = alg.add(dScalar, tb.dLogZ);
    // TB is valid under any behaviour as is; its cv ≠ learned form is 2·RKL, importance-weighted off-policy
    if (cv.learnsScalar) forward.accumulate(tb.coef, grads);
    else if (forward.logRho) {
      const b = offPolicyBaseline(alg, cv, forward.logw, scalar);
      forward.accumulate(
        rklOffPolicyCoefficientsOf(alg, forward.logw, forward.logRho, b, 2 * (1 - alpha)),
        grads,
      );
    } else cv.addGradient(alg, forward, forward.logw, scalar, 2 * (1 - alpha), grads);
  }
  if (backward) {
    const tb = tbTermOf(alg, scalar, backward.logw, alpha);
    loss = alg.add(loss, tb.loss);
    dScalar = alg.add(dScalar, tb.dLogZ);
    backward.accumulate(tb.coef, grads);
  }
  return { dScalar, loss };
};

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
  trajectoryGradient: atbGradient,
  gradient: onHost(atbGradient),
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
