/**
 * Control variates for the score-function (reverse-KL) gradient  g = mean_s (b_s − log w_s) h_s,
 * h_s = ∇_φ log q_φ(τ_s)  (docs/math.md §"Control variates", paper §2.2.1). Any b_s that does not depend on τ_s leaves g unbiased.
 */
import { type Algebra, float64 } from "../algebra.ts";

/** b_s = mean_{s'≠s} log w_{s'} = (Σ log w − log w_s)/(S − 1) (the paper's released code calls it "log_Z"). */
export function looMeanOf<V>(alg: Algebra<V>, logw: V): V {
  return alg.div(alg.sub(alg.sum(logw), logw), alg.count(logw) - 1);
}

/**
 * b_s = log (1/(S−1)) Σ_{s'≠s} w_{s'}: each sum over the others directly (`looLogSumExp`), no cancellation when
 * w_s dominates.
 */
export function looLogMeanExpOf<V>(alg: Algebra<V>, logw: V): V {
  return alg.sub(alg.looLogSumExp(logw), alg.scalar(Math.log(alg.count(logw) - 1)));
}

/** `looMeanOf` on host arrays. */
export function looMean(logw: Float64Array): Float64Array {
  return looMeanOf(float64, logw);
}

/**
 * Optimal scalar baseline from per-sample squared score norms n_s = ‖h_s‖²:
 * global b = Σ log w_s n_s / Σ n_s (slightly biased), LOO b_s = Σ_{s'≠s} log w n / Σ_{s'≠s} n (unbiased).
 * Fallback when the denominator is 0 (all scores vanish): the (LOO) mean of log w.
 */
export function optimalScalarBaseline(
  logw: Float64Array,
  norms2: Float64Array,
  leaveOneOut: boolean,
): Float64Array {
  const S = logw.length;
  let num = 0, den = 0;
  for (let s = 0; s < S; s++) {
    num += logw[s] * norms2[s];
    den += norms2[s];
  }
  const fallback = looMean(logw);
  const b = new Float64Array(S);
  if (!leaveOneOut) {
    let m = 0;
    for (let s = 0; s < S; s++) m += logw[s];
    return b.fill(den > 0 ? num / den : m / S);
  }
  for (let s = 0; s < S; s++) {
    const d = den - norms2[s];
    b[s] = d > 0 ? (num - logw[s] * norms2[s]) / d : fallback[s];
  }
  return b;
}
