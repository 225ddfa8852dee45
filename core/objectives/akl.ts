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
  fklCoefficients,
  learnedBaselineGrad,
  type Objective,
  offPolicyBaseline,
} from "./objective.ts";
import { rklOffPolicyCoefficients, weightedMeanGrad } from "./offpolicy.ts";

export const akl: Objective = {
  name: "akl",
  label: "αKL",
  description: "αKL: (1−α)·KL(Q‖P) (score function + control variate) + α·KL(P‖Q) from data (Eq. 6)",
  params: [],
  usesCv: true,
  scalar: { symbol: "c_ψ", trained: (cv) => cv.learnsScalar },
  needsValue: false,
  unbiased: (cv) => cv.unbiased,
  gradient({ alpha, cv, scalar, forward, backward, grads }) {
    let dScalar = 0;
    const { logRho } = forward ?? {};
    if (forward && logRho) {
      // importance-weighted RKL from a behaviour batch (core/objectives/offpolicy.ts)
      const b = offPolicyBaseline(cv, forward.logw, scalar);
      forward.accumulate(rklOffPolicyCoefficients(forward.logw, logRho, b, 1 - alpha), grads);
      if (cv.learnsScalar) dScalar = weightedMeanGrad(scalar, forward.logw, logRho);
    } else if (forward) {
      cv.addGradient(forward, forward.logw, scalar, 1 - alpha, grads);
      if (cv.learnsScalar) dScalar = learnedBaselineGrad(scalar, forward.logw);
    }
    if (backward) backward.accumulate(fklCoefficients(backward.B, alpha), grads);
    return { dScalar, loss: NaN };
  },
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
