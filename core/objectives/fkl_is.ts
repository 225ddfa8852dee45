/**
 * Forward KL from forward samples by self-normalised importance sampling (for when no data exists).
 *   KL(P‖Q) = E_P[log P − log Q],   ∇_φ KL(P‖Q) = −E_P[h] = −E_Q[(P/Q) h] = −E_Q[w h] / E_Q[w],
 * with w = P̃/Q, h = ∇_φ log Q (E_Q[w] = Z, so the unnormalised weights need no log Z). From N forward samples:
 *   ĝ = −Σ_i (ŵ_i − 1/N) h_i,   ŵ_i = softmax_i(log w)
 * (the 1/N baseline has zero mean). Biased, O(1/N), like any self-normalised estimate. It is the α → 0 limit of
 * the Rényi coefficients divided by α: α/(α−1)/α → −1 and softmax((1−α) log w) → softmax(log w).
 * A learned P_B(θ): ∇_θ KL(P‖Q) = E_P[(log w − c)·∇_θ log P_B] for any constant c (E_P[∇_θ log P_B] = 0),
 * estimated self-normalised: Σ_i ŵ_i (log w_i − Σ_j ŵ_j log w_j)·∇_θ log P_B(τ_i).
 */
import { centredSoftmaxOf } from "./renyi.ts";
import { logSumExp } from "../math.ts";
import { type Algebra, asFloat64, float64 } from "../algebra.ts";
import {
  addInto,
  exactFklTheta,
  fklBackwardCoefficients,
  fklCoefficientsOf,
  type Objective,
  onHost,
  type TrajectoryGradient,
} from "./objective.ts";
import { fklOffPolicyCoefficientsOf } from "./offpolicy.ts";

/** Per-trajectory coefficients on log q_φ: −weight · (softmax_i(log w) − 1/N). */
export function fklIsCoefficientsOf<V>(alg: Algebra<V>, logw: V, weight = 1): V {
  return centredSoftmaxOf(alg, logw, 1, -weight);
}

/** `fklIsCoefficientsOf` on host arrays. */
export function fklIsCoefficients(logw: ArrayLike<number>, weight = 1): Float64Array {
  return fklIsCoefficientsOf(float64, asFloat64(logw), weight);
}

/** SNIS forward KL on τ ~ Q (ρ-weighted from a behaviour batch), the data FKL on τ ~ P. */
const fklIsGradient: TrajectoryGradient = ({ alg, alpha, forward, backward, grads }) => {
  if (forward) {
    const coef = forward.logRho
      ? fklOffPolicyCoefficientsOf(alg, forward.logw, forward.logRho, 1 - alpha)
      : fklIsCoefficientsOf(alg, forward.logw, 1 - alpha);
    forward.accumulate(coef, grads);
  }
  if (backward) backward.accumulate(fklCoefficientsOf(alg, backward.logw, alpha), grads);
  return { dScalar: alg.scalar(0), loss: alg.scalar(NaN) };
};

export const fklIs: Objective = {
  name: "fkl-is",
  label: "forward KL (IS)",
  description: "forward KL(P‖Q) by self-normalised importance sampling from Q (no data needed)",
  params: [],
  usesCv: false,
  needsValue: false,
  unbiased: () => false,
  trajectoryGradient: fklIsGradient,
  gradient: onHost(fklIsGradient),
  backwardCoefficients(part, logw, weight) {
    if (part === "backward") return fklBackwardCoefficients(logw, weight);
    const lse = logSumExp(logw);
    const wn = logw.map((v) => Math.exp(v - lse));
    let m = 0;
    for (let i = 0; i < wn.length; i++) m += wn[i] * logw[i];
    return wn.map((v, i) => weight * v * (logw[i] - m));
  },
  exact(ex, alpha) {
    return {
      phi: ex.P.map((p) => -p),
      theta: addInto(exactFklTheta(ex, 1 - alpha), exactFklTheta(ex, alpha)),
    };
  },
};
