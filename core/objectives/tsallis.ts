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
import { logSumExp } from "../math.ts";
import {
  addInto,
  exactFklTheta,
  fklBackwardCoefficients,
  fklCoefficients,
  type Objective,
} from "./objective.ts";
import { DIV_ALPHA } from "./renyi.ts";
import { importanceLogZ, weightByImportance } from "./offpolicy.ts";

/** Exponents above this are shifted down (a positive rescaling of the whole gradient; its direction is kept). */
const MAX_EXPONENT = 60;

/** Per-trajectory coefficients on log q_φ: weight · α/(α−1) · (u_i − mean_{j≠i} u_j) / N. α ≠ 1, N ≥ 2. */
/** u_i = exp((1−α)(log w_i − log Ẑ) − shift), the shift keeping the largest exponent ≤ MAX_EXPONENT. */
function shiftedPowers(logw: ArrayLike<number>, alpha: number, logZhat: number): Float64Array {
  const N = logw.length;
  const e = new Float64Array(N);
  let max = -Infinity;
  for (let i = 0; i < N; i++) {
    e[i] = (1 - alpha) * (logw[i] - logZhat);
    if (e[i] > max) max = e[i];
  }
  const shift = max > MAX_EXPONENT ? max - MAX_EXPONENT : 0;
  for (let i = 0; i < N; i++) e[i] = Math.exp(e[i] - shift);
  return e;
}

export function tsallisCoefficients(
  logw: ArrayLike<number>,
  alpha: number,
  logZhat: number,
  weight = 1,
): Float64Array {
  if (alpha === 1) throw new RangeError("Tsallis-α needs α ≠ 1 (α = 1 is the reverse KL)");
  const N = logw.length;
  if (N < 2) throw new RangeError("the leave-one-out baseline needs at least 2 samples");
  const e = shiftedPowers(logw, alpha, logZhat);
  let sum = 0;
  for (let i = 0; i < N; i++) sum += e[i];
  const scale = weight * alpha / (alpha - 1) / N;
  const c = new Float64Array(N);
  // u_i − (Σ − u_i)/(N−1) = (N·u_i − Σ)/(N−1)
  for (let i = 0; i < N; i++) c[i] = scale * (N * e[i] - sum) / (N - 1);
  return c;
}

/** Tsallis-α off-policy: ρ_i × the on-policy leave-one-out coefficients (unbiased for a fixed Ẑ). */
export function tsallisOffPolicyCoefficients(
  logw: ArrayLike<number>,
  logRho: ArrayLike<number>,
  alpha: number,
  logZhat: number,
  weight = 1,
): Float64Array {
  return weightByImportance(tsallisCoefficients(logw, alpha, logZhat, weight), logRho);
}

/**
 * ∂/∂c of ½(c − log Ẑ_batch)², log Ẑ_batch = logsumexp(log w) − log N: the scalar log Ẑ tracks the running
 * importance-sampling estimate of log Z under Adam.
 */
export function tsallisLogZGrad(logZhat: number, logw: ArrayLike<number>): number {
  return logZhat - (logSumExp(logw) - Math.log(logw.length));
}

export const tsallis: Objective = {
  name: "tsallis",
  label: "Tsallis-α",
  description: "Tsallis-α divergence with a leave-one-out baseline and a running log Ẑ (companion paper)",
  params: [DIV_ALPHA],
  usesCv: false,
  scalar: { symbol: "log Ẑ", trained: () => true },
  needsValue: false,
  unbiased: () => true,
  gradient({ alpha, scalar, params, forward, backward, grads }) {
    let dScalar = 0;
    if (forward?.logRho) {
      const { logw, logRho } = forward;
      forward.accumulate(
        tsallisOffPolicyCoefficients(logw, logRho, params.div_alpha, scalar, 1 - alpha),
        grads,
      );
      dScalar = scalar - importanceLogZ(logw, logRho);
    } else if (forward) {
      forward.accumulate(tsallisCoefficients(forward.logw, params.div_alpha, scalar, 1 - alpha), grads);
      dScalar = tsallisLogZGrad(scalar, forward.logw);
    }
    if (backward) backward.accumulate(fklCoefficients(backward.B, alpha), grads);
    return { dScalar, loss: NaN };
  },
  backwardCoefficients(part, logw, weight, scalar, params) {
    if (part === "backward") return fklBackwardCoefficients(logw, weight);
    const N = logw.length;
    return shiftedPowers(logw, params.div_alpha, scalar).map((u) => -weight * u / N);
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
