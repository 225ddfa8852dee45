/**
 * Rényi-α divergence between forward and backward trajectory models (companion paper on divergences; docs/math.md §"Objectives"):
 *   D_α(Q‖P) = 1/(α−1) · log E_Q[(w/Z)^{1−α}],   w = P̃/Q, log w = log R(x) + log P_B(τ|x) − log Q(τ).
 * Since ∇_φ log w = −∇_φ log Q =: −h,  ∇_φ E_Q[w^{1−α}] = E_Q[w^{1−α} h] − (1−α)·E_Q[w^{1−α} h] = α·E_Q[w^{1−α} h],
 *   ∇_φ D_α = α/(α−1) · E_Q[w^{1−α} h] / E_Q[w^{1−α}]          (Z cancels in the ratio).
 * Self-normalised estimate from N forward samples, with the mean of the normalised weights (1/N) as baseline
 * (Σ_i h_i / N has zero mean, so it only removes variance):
 *   ĝ = α/(α−1) · Σ_i (ŵ_i − 1/N) h_i,   ŵ_i = softmax_i((1−α)·log w).
 * The surrogate is Σ_i sg(c_i)·log q_i with c_i below. It is biased (a ratio of means), the bias is O(1/N).
 * α → 1: ŵ_i − 1/N = (1−α)/N·(log w_i − mean log w) + O((1−α)²), so c_i → α·(mean log w − log w_i)/N, the
 * reverse-KL estimator with the (global) mean of log w as baseline = α·(N−1)/N × the LOO-mean (loo-logw) one.
 * A learned P_B(θ): Z does not depend on θ, so ∇_θ D_α = 1/(α−1)·(1−α)·E_Q[w^{1−α} ∇_θ log P_B]/E_Q[w^{1−α}]
 * = −E_Q[ŵ ∇_θ log P_B], estimated self-normalised with coefficients −softmax_i((1−α)·log w).
 */
import { z } from "zod";
import { type Algebra, asFloat64, float64 } from "../algebra.ts";
import {
  addInto,
  exactFklTheta,
  fklBackwardCoefficients,
  fklCoefficientsOf,
  type Objective,
  type ObjectiveParam,
  onHost,
  type TrajectoryGradient,
} from "./objective.ts";
import { renyiOffPolicyCoefficientsOf } from "./offpolicy.ts";

/** α of the Rényi-α / Tsallis-α divergences (≠ 1; α → 1 is the reverse KL). Distinct from the backward ratio. */
export const DIV_ALPHA: ObjectiveParam = {
  key: "div_alpha",
  label: "α (divergence)",
  schema: z.number().refine((a) => a !== 1, "div_alpha must differ from 1 (α = 1 is the reverse KL)").default(
    0.5,
  ),
  description: "α of the Rényi-α / Tsallis-α divergence (≠ 1; α → 1 is the reverse KL), default 0.5",
};

/** Per-trajectory coefficients on log q_φ: weight · α/(α−1) · (softmax_i((1−α) log w) − 1/N). α ≠ 1. */
export function renyiCoefficientsOf<V>(alg: Algebra<V>, logw: V, alpha: number, weight = 1): V {
  if (alpha === 1) throw new RangeError("Rényi-α needs α ≠ 1 (α = 1 is the reverse KL)");
  return centredSoftmaxOf(alg, logw, 1 - alpha, weight * alpha / (alpha - 1));
}

/** `renyiCoefficientsOf` on host arrays. */
export function renyiCoefficients(logw: ArrayLike<number>, alpha: number, weight = 1): Float64Array {
  return renyiCoefficientsOf(float64, asFloat64(logw), alpha, weight);
}

/** scale · (softmax_i(temperature · v) − 1/N) for each i (stable: the softmax subtracts the logsumexp). */
export function centredSoftmaxOf<V>(alg: Algebra<V>, v: V, temperature: number, scale: number): V {
  const u = alg.scale(v, temperature);
  const p = alg.exp(alg.sub(u, alg.logSumExp(u)));
  return alg.scale(alg.sub(p, alg.scalar(1 / alg.count(v))), scale);
}

/** `centredSoftmaxOf` on host arrays. */
export function centredSoftmax(v: ArrayLike<number>, temperature: number, scale: number): Float64Array {
  return centredSoftmaxOf(float64, asFloat64(v), temperature, scale);
}

/** Self-normalised Rényi-α on τ ~ Q (importance-weighted from a behaviour batch), the data FKL on τ ~ P. */
const renyiGradient: TrajectoryGradient = ({ alg, alpha, params, forward, backward, grads }) => {
  if (forward) {
    const coef = forward.logRho
      ? renyiOffPolicyCoefficientsOf(alg, forward.logw, forward.logRho, params.div_alpha, 1 - alpha)
      : renyiCoefficientsOf(alg, forward.logw, params.div_alpha, 1 - alpha);
    forward.accumulate(coef, grads);
  }
  if (backward) backward.accumulate(fklCoefficientsOf(alg, backward.logw, alpha), grads);
  return { dScalar: alg.scalar(0), loss: alg.scalar(NaN) };
};

/** Exact ∇_φ D_α weights α/(α−1)·Q·w^{1−α}/E_Q[w^{1−α}] and the normalised weights themselves. */
function exactRenyiWeights(Q: Float64Array, logw: Float64Array, logZ: number, a: number) {
  let norm = 0;
  const wt = new Float64Array(Q.length);
  for (let n = 0; n < Q.length; n++) norm += wt[n] = Q[n] * Math.exp((1 - a) * (logw[n] - logZ));
  return wt.map((v) => v / norm);
}

export const renyi: Objective = {
  name: "renyi",
  label: "Rényi-α",
  description: "Rényi-α divergence D_α(Q‖P), self-normalised (companion paper on divergences)",
  params: [DIV_ALPHA],
  usesCv: false,
  needsValue: false,
  unbiased: () => false,
  trajectoryGradient: renyiGradient,
  gradient: onHost(renyiGradient),
  backwardCoefficients(part, logw, weight, _scalar, params) {
    return part === "forward"
      ? centredSoftmax(logw, 1 - params.div_alpha, 1).map((c) => -weight * (c + 1 / logw.length))
      : fklBackwardCoefficients(logw, weight);
  },
  exact(ex, alpha, _scalar, params) {
    const a = params.div_alpha;
    const wn = exactRenyiWeights(ex.Q, ex.logw, ex.logZ, a);
    return {
      phi: wn.map((v, n) => (1 - alpha) * a / (a - 1) * v - alpha * ex.P[n]),
      theta: addInto(wn.map((v) => -(1 - alpha) * v), exactFklTheta(ex, alpha)),
    };
  },
};
