/**
 * Tsallis-α divergence (companion paper on divergences; DESIGN §3):
 *   T_α(Q‖P) = 1/(α−1) · (E_Q[(w/Z)^{1−α}] − 1),
 *   ∇_φ T_α = α/(α−1) · Z^{α−1} · E_Q[w^{1−α} h],   h = ∇_φ log Q(τ)    (same derivation as Rényi-α, no ratio).
 * Z is unknown: with an estimate Ẑ the gradient α/(α−1)·E_Q[(w/Ẑ)^{1−α} h] is (Z/Ẑ)^{1−α} > 0 times ∇T_α —
 * the same direction, exact when Ẑ = Z. With u_i = exp((1−α)(log w_i − log Ẑ)) and the REINFORCE leave-one-out
 * baseline b_i = mean_{j≠i} u_j (independent of τ_i, so the estimate stays unbiased):
 *   ĝ = α/(α−1) · (1/N) Σ_i (u_i − b_i) h_i.
 * log Ẑ is the objective's scalar parameter, fitted to the batch log-mean-exp of log w (see `tsallisLogZGrad`).
 * α → 1: u_i − b_i = (1−α)(log w_i − LOO-mean_i log w) + O((1−α)²), so the coefficients tend to α × the
 * reverse-KL estimator with the LOO-mean baseline (cv = loo-logw), whatever Ẑ is.
 */
import { logSumExp } from "../math.ts";

/** Exponents above this are shifted down (a positive rescaling of the whole gradient; its direction is kept). */
const MAX_EXPONENT = 60;

/** Per-trajectory coefficients on log q_φ: weight · α/(α−1) · (u_i − mean_{j≠i} u_j) / N. α ≠ 1, N ≥ 2. */
export function tsallisCoefficients(
  logw: ArrayLike<number>,
  alpha: number,
  logZhat: number,
  weight = 1,
): Float64Array {
  if (alpha === 1) throw new RangeError("Tsallis-α needs α ≠ 1 (α = 1 is the reverse KL)");
  const N = logw.length;
  if (N < 2) throw new RangeError("the leave-one-out baseline needs at least 2 samples");
  const e = new Float64Array(N);
  let max = -Infinity;
  for (let i = 0; i < N; i++) {
    e[i] = (1 - alpha) * (logw[i] - logZhat);
    if (e[i] > max) max = e[i];
  }
  const shift = max > MAX_EXPONENT ? max - MAX_EXPONENT : 0;
  let sum = 0;
  for (let i = 0; i < N; i++) sum += e[i] = Math.exp(e[i] - shift);
  const scale = weight * alpha / (alpha - 1) / N;
  const c = new Float64Array(N);
  // u_i − (Σ − u_i)/(N−1) = (N·u_i − Σ)/(N−1)
  for (let i = 0; i < N; i++) c[i] = scale * (N * e[i] - sum) / (N - 1);
  return c;
}

/**
 * ∂/∂c of ½(c − log Ẑ_batch)², log Ẑ_batch = logsumexp(log w) − log N: the scalar log Ẑ tracks the running
 * importance-sampling estimate of log Z under Adam.
 */
export function tsallisLogZGrad(logZhat: number, logw: ArrayLike<number>): number {
  return logZhat - (logSumExp(logw) - Math.log(logw.length));
}
