/**
 * Tsallis-α divergence (companion paper on divergences; docs/math.md §"Objectives"):
 *   T_α(Q‖P) = 1/(α−1) · (E_Q[(w/Z)^{1−α}] − 1),
 *   ∇_φ T_α = α/(α−1) · Z^{α−1} · E_Q[w^{1−α} h],   h = ∇_φ log Q(τ)    (same derivation as Rényi-α, no ratio).
 * Z is unknown: with an estimate Ẑ the gradient α/(α−1)·E_Q[(w/Ẑ)^{1−α} h] is (Z/Ẑ)^{1−α} > 0 times ∇T_α —
 * the same direction, exact when Ẑ = Z. With u_i = exp((1−α)(log w_i − log Ẑ)) and the REINFORCE leave-one-out
 * baseline b_i = mean_{j≠i} u_j (independent of τ_i, so the estimate stays unbiased):
 *   ĝ = α/(α−1) · (1/N) Σ_i (u_i − b_i) h_i.
 * log Ẑ is the objective's scalar parameter, fitted to the batch log-mean-exp of log w (see `tsallisLogZGrad`).
 * α → 1: u_i − b_i = (1−α)(log w_i − LOO-mean_i log w) + O((1−α)²), so the coefficients tend to α × the
 * reverse-KL estimator with the LOO-mean baseline (cv = loo-logw), whatever Ẑ is.
 * A learned P_B(θ): ∇_θ T_α = −E_Q[(w/Z)^{1−α} ∇_θ log P_B] (Z does not depend on θ); with Ẑ the coefficients
 * −u_i/N (no baseline: E_Q[∇_θ log P_B] ≠ 0).
 */
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
import { DIV_ALPHA } from "./renyi.ts";
import { importanceLogZOf } from "./offpolicy.ts";

/** Exponents above this are shifted down (a positive rescaling of the whole gradient; its direction is kept). */
const MAX_EXPONENT = 60;

/**
 * u_i = exp((1−α)(log w_i − log Ẑ) − shift), shift = max(0, max_j (1−α)(log w_j − log Ẑ) − MAX_EXPONENT): the
 * largest exponent stays ≤ MAX_EXPONENT.
 */
function shiftedPowers<V>(alg: Algebra<V>, logw: V, alpha: number, logZhat: V): V {
  const e = alg.scale(alg.sub(logw, logZhat), 1 - alpha);
  const shift = alg.maximum(alg.sub(alg.max(e), alg.scalar(MAX_EXPONENT)), alg.scalar(0));
  return alg.exp(alg.sub(e, shift));
}

/** Per-trajectory coefficients on log q_φ: weight · α/(α−1) · (u_i − mean_{j≠i} u_j) / N. α ≠ 1, N ≥ 2. */
export function tsallisCoefficientsOf<V>(alg: Algebra<V>, logw: V, alpha: number, logZhat: V, weight = 1): V {
  if (alpha === 1) throw new RangeError("Tsallis-α needs α ≠ 1 (α = 1 is the reverse KL)");
  const N = alg.count(logw);
  if (N < 2) throw new RangeError("the leave-one-out baseline needs at least 2 samples");
  const e = shiftedPowers(alg, logw, alpha, logZhat);
  // u_i − (Σ − u_i)/(N−1) = (N·u_i − Σ)/(N−1)
  const centred = alg.sub(alg.scale(e, N), alg.sum(e));
  return alg.div(alg.scale(centred, weight * alpha / (alpha - 1) / N), N - 1);
}

/** `tsallisCoefficientsOf` on host arrays. */
export function tsallisCoefficients(
  logw: ArrayLike<number>,
  alpha: number,
  logZhat: number,
  weight = 1,
): Float64Array {
  return tsallisCoefficientsOf(float64, asFloat64(logw), alpha, float64.scalar(logZhat), weight);
}

/** Tsallis-α off-policy: ρ_i × the on-policy leave-one-out coefficients (unbiased for a fixed Ẑ). */
export function tsallisOffPolicyCoefficientsOf<V>(
  alg: Algebra<V>,
  logw: V,
  logRho: V,
  alpha: number,
  logZhat: V,
  weight = 1,
): V {
  return alg.mul(tsallisCoefficientsOf(alg, logw, alpha, logZhat, weight), alg.exp(logRho));
}

/** `tsallisOffPolicyCoefficientsOf` on host arrays. */
export function tsallisOffPolicyCoefficients(
  logw: ArrayLike<number>,
  logRho: ArrayLike<number>,
  alpha: number,
  logZhat: number,
  weight = 1,
): Float64Array {
  return tsallisOffPolicyCoefficientsOf(
    float64,
    asFloat64(logw),
    asFloat64(logRho),
    alpha,
    float64.scalar(logZhat),
    weight,
  );
}

/**
 * ∂/∂c of ½(c − log Ẑ_batch)², log Ẑ_batch = logsumexp(log w) − log N: the scalar log Ẑ tracks the running
 * importance-sampling estimate of log Z under Adam.
 */
export function tsallisLogZGradOf<V>(alg: Algebra<V>, logZhat: V, logw: V): V {
  return alg.sub(logZhat, alg.sub(alg.logSumExp(logw), alg.scalar(Math.log(alg.count(logw)))));
}

/** `tsallisLogZGradOf` on host numbers. */
export function tsallisLogZGrad(logZhat: number, logw: ArrayLike<number>): number {
  return tsallisLogZGradOf(float64, float64.scalar(logZhat), asFloat64(logw))[0];
}

/** Tsallis-α with the LOO baseline on τ ~ Q (ρ-weighted from a behaviour batch), the data FKL on τ ~ P. */
const tsallisGradient: TrajectoryGradient = ({ alg, alpha, scalar, params, forward, backward, grads }) => {
  let dScalar = alg.scalar(0);
  if (forward?.logRho) {
    const { logw, logRho } = forward;
    forward.accumulate(
      tsallisOffPolicyCoefficientsOf(alg, logw, logRho, params.div_alpha, scalar, 1 - alpha),
      grads,
    );
    dScalar = alg.sub(scalar, importanceLogZOf(alg, logw, logRho));
  } else if (forward) {
    forward.accumulate(tsallisCoefficientsOf(alg, forward.logw, params.div_alpha, scalar, 1 - alpha), grads);
    dScalar = tsallisLogZGradOf(alg, scalar, forward.logw);
  }
  if (backward) backward.accumulate(fklCoefficientsOf(alg, backward.logw, alpha), grads);
  return { dScalar, loss: alg.scalar(NaN) };
};

export const tsallis: Objective = {
  name: "tsallis",
  label: "Tsallis-α",
  description: "Tsallis-α divergence with a leave-one-out baseline and a running log Ẑ (companion paper)",
  params: [DIV_ALPHA],
  usesCv: false,
  scalar: { symbol: "log Ẑ", trained: () => true },
  needsValue: false,
  unbiased: () => true,
  trajectoryGradient: tsallisGradient,
  gradient: onHost(tsallisGradient),
  backwardCoefficients(part, logw, weight, scalar, params) {
    if (part === "backward") return fklBackwardCoefficients(logw, weight);
    const N = logw.length;
    return shiftedPowers(float64, logw, params.div_alpha, float64.scalar(scalar)).map((u) => -weight * u / N);
  },
  exact(ex, alpha, scalar, params) {
    const a = params.div_alpha;
    const u = ex.Q.map((q, n) => q * Math.exp((1 - a) * (ex.logw[n] - scalar)));
    return {
      phi: u.map((v, n) => (1 - alpha) * a / (a - 1) * v - alpha * ex.P[n]),
      theta: addInto(u.map((v) => -(1 - alpha) * v), exactFklTheta(ex, alpha)),
    };
  },
};
