/**
 * αKL (paper §3, Eq. 6): ∇_φ = (1−α)·∇RKL + α·∇FKL.
 *  - RKL from forward samples: surrogate mean_s sg(b_s − log w_s)·log q_φ(τ_s) (score function with the control
 *    variate's baseline b; core/baselines/registry.ts).
 *  - FKL from backward samples (data x + backward trajectories): surrogate −mean_s log q_φ(τ_s).
 * The learned control variate c_ψ is trained by ½(c_ψ − log w)² over the forward batch (c_ψ → E_Q[log w]).
 * A learned P_B (Table 1): forward −(1−α)·mean ∇_θ log P_B (maximise Q's samples' likelihood under P);
 * backward α·mean (log w − b)·∇_θ log P_B with the LOO mean b (score function under P(θ)).
 */
import {
  exactFklTheta,
  fklBackwardCoefficients,
  fklCoefficientsOf,
  learnedBaselineGradOf,
  type Objective,
  offPolicyBaseline,
  onHost,
  type TrajectoryGradient,
} from "./objective.ts";
import { rklOffPolicyCoefficientsOf, weightedMeanGradOf } from "./offpolicy.ts";

/** (1−α)·the reverse-KL estimator with the control variate on τ ~ Q, α·the data FKL on τ ~ P. */
const aklGradient: TrajectoryGradient = ({ alg, alpha, cv, scalar, forward, backward, grads }) => {
  let dScalar = alg.scalar(0);
  const { logRho } = forward ?? {};
  if (forward && logRho) {
    // importance-weighted RKL from a behaviour batch (core/objectives/offpolicy.ts)
    const b = offPolicyBaseline(alg, cv, forward.logw, scalar);
    forward.accumulate(rklOffPolicyCoefficientsOf(alg, forward.logw, logRho, b, 1 - alpha), grads);
    if (cv.learnsScalar) dScalar = weightedMeanGradOf(alg, scalar, forward.logw, logRho);
  } else if (forward) {
    cv.addGradient(alg, forward, forward.logw, scalar, 1 - alpha, grads);
    if (cv.learnsScalar) dScalar = learnedBaselineGradOf(alg, scalar, forward.logw);
  }
  if (backward) backward.accumulate(fklCoefficientsOf(alg, backward.logw, alpha), grads);
  return { dScalar, loss: alg.scalar(NaN) };
};

export const akl: Objective = {
  name: "akl",
  label: "αKL",
  description: "αKL: (1−α)·KL(Q‖P) (score function + control variate) + α·KL(P‖Q) from data (Eq. 6)",
  params: [],
  usesCv: true,
  scalar: { symbol: "c_ψ", trained: (cv) => cv.learnsScalar },
  needsValue: false,
  unbiased: (cv) => cv.unbiased,
  trajectoryGradient: aklGradient,
  gradient: onHost(aklGradient),
  backwardCoefficients(part, logw, weight) {
    return part === "forward"
      ? new Float64Array(logw.length).fill(-weight / logw.length)
      : fklBackwardCoefficients(logw, weight);
  },
  exact(ex, alpha) {
    const { Q, P, logw, logZ } = ex;
    const theta = exactFklTheta(ex, alpha);
    return {
      phi: Q.map((q, n) => (1 - alpha) * q * (logZ - logw[n]) - alpha * P[n]),
      theta: theta.map((t, n) => t - (1 - alpha) * Q[n]),
    };
  },
};
