/**
 * Control variates for the score-function (reverse-KL) gradient  g = mean_s (b_s − log w_s) h_s,
 * h_s = ∇_φ log q_φ(τ_s)  (docs/math.md §"Control variates", paper §2.2.1). Any b_s that does not depend on τ_s leaves g unbiased.
 */
import { logSumExp } from "../math.ts";

/** Control variates whose baseline is one scalar per sample (no per-sample gradients needed). */
export function scalarBaseline(cv: "none" | "learned" | "loo-logw" | "loo-logz", logw: Float64Array, c = 0) {
  const S = logw.length;
  const b = new Float64Array(S);
  switch (cv) {
    case "none":
      return b;
    case "learned":
      return b.fill(c);
    case "loo-logw":
      return looMean(logw);
    case "loo-logz":
      // b_s = log (1/(S−1)) Σ_{s'≠s} w_{s'}; computed directly (O(S²)) to avoid cancellation when w_s dominates
      for (let s = 0; s < S; s++) {
        const others = new Float64Array(S - 1);
        for (let i = 0, j = 0; i < S; i++) if (i !== s) others[j++] = logw[i];
        b[s] = logSumExp(others) - Math.log(S - 1);
      }
      return b;
  }
}

/** b_s = mean_{s'≠s} log w_{s'} (the paper's released code calls this "log_Z"; it is the LOO mean of log w). */
export function looMean(logw: Float64Array): Float64Array {
  const S = logw.length;
  let sum = 0;
  for (let i = 0; i < S; i++) sum += logw[i];
  const b = new Float64Array(S);
  for (let s = 0; s < S; s++) b[s] = (sum - logw[s]) / (S - 1);
  return b;
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
