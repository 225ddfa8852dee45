/**
 * Welch's two-sample t test, one-sided and shifted by a margin, for comparing a metric over seeds between a
 * baseline run and a new run (the regression gate, core/sweep/gate.ts). Pure.
 *
 * With x = baseline values, y = new values (n_x, n_y ≥ 2), Δ = ȳ − x̄, s² the sample variances (n − 1):
 *   se² = s_x²/n_x + s_y²/n_y,
 *   ν  = se⁴ / ((s_x²/n_x)²/(n_x − 1) + (s_y²/n_y)²/(n_y − 1))          (Welch–Satterthwaite),
 *   t  = (Δ − δ)/se,  p = P(T_ν > t)
 * tests H₀: Δ ≤ δ against H₁: Δ > δ: "the mean went up by more than the margin δ ≥ 0". δ = 0 is the usual
 * one-sided test; δ > 0 asks for a practically relevant change, and p is then never below the δ = 0 one.
 * When both samples have zero variance (a deterministic rerun), se = 0 and the answer is certain:
 * p = 0 if Δ > δ, else 1.
 */
import { studentTSurvival } from "./student_t.ts";

export interface Sample {
  n: number;
  mean: number;
  /** Sample variance (n − 1 denominator). */
  variance: number;
}

export interface ShiftedWelch {
  /** ȳ − x̄. */
  diff: number;
  /** Standard error of the difference. */
  se: number;
  /** Welch–Satterthwaite degrees of freedom (NaN when se = 0). */
  df: number;
  /** (Δ − δ)/se (±Infinity or NaN when se = 0). */
  t: number;
  /** One-sided p of H₀: Δ ≤ δ. */
  p: number;
}

/** n, mean and sample variance (two-pass). Needs at least one value; variance is NaN for one value. */
export function sample(values: readonly number[]): Sample {
  const n = values.length;
  let s = 0;
  for (const v of values) s += v;
  const mean = s / n;
  let ss = 0;
  for (const v of values) ss += (v - mean) * (v - mean);
  return { n, mean, variance: n > 1 ? ss / (n - 1) : NaN };
}

/** One-sided Welch test of H₀: mean(y) − mean(x) ≤ margin. Both samples need n ≥ 2 (else p is NaN). */
export function welchGreater(x: Sample, y: Sample, margin = 0): ShiftedWelch {
  const diff = y.mean - x.mean;
  if (x.n < 2 || y.n < 2) return { diff, se: NaN, df: NaN, t: NaN, p: NaN };
  const vx = x.variance / x.n, vy = y.variance / y.n;
  const se = Math.sqrt(vx + vy);
  if (se === 0) {
    const t = diff > margin ? Infinity : diff < margin ? -Infinity : NaN;
    return { diff, se, df: NaN, t, p: diff > margin ? 0 : 1 };
  }
  const df = (vx + vy) ** 2 / (vx * vx / (x.n - 1) + vy * vy / (y.n - 1));
  const t = (diff - margin) / se;
  return { diff, se, df, t, p: studentTSurvival(t, df) };
}

/** Cohen's d of y against x: (ȳ − x̄) / pooled standard deviation (NaN when both variances are 0). */
export function cohensD(x: Sample, y: Sample): number {
  const pooled = ((x.n - 1) * x.variance + (y.n - 1) * y.variance) / (x.n + y.n - 2);
  return pooled > 0 ? (y.mean - x.mean) / Math.sqrt(pooled) : NaN;
}
