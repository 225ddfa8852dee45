/**
 * The regression gate's statistics (core/stats/): Student's t against closed forms and tables, the
 * incomplete beta against identities, Welch's test against its definition and its false-positive rate under
 * the null, Holm against a hand-worked example and its family-wise error rate.
 */
import assert from "node:assert/strict";
import { logGamma, regularizedBeta, studentTCdf, studentTSurvival } from "../core/stats/student_t.ts";
import { cohensD, sample, welchGreater } from "../core/stats/welch.ts";
import { holmAdjust } from "../core/stats/holm.ts";
import { Rng } from "../core/rng.ts";

const close = (a: number, b: number, tol: number, what: string) =>
  assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b} (tolerance ${tol})`);

Deno.test("log Γ: integers give log (n − 1)!, Γ(½) = √π, Γ(x + 1) = x Γ(x)", () => {
  let f = 0;
  for (let n = 1; n <= 30; n++) {
    close(logGamma(n), f, 1e-12 * Math.max(1, f), `log Γ(${n})`);
    f += Math.log(n);
  }
  close(logGamma(0.5), 0.5 * Math.log(Math.PI), 1e-13, "log Γ(½)");
  for (const x of [0.1, 0.3, 1.7, 4.25, 12.5]) {
    close(logGamma(x + 1), Math.log(x) + logGamma(x), 1e-12, `recurrence at ${x}`);
  }
});

Deno.test("incomplete beta: I_x(a, 1) = x^a, I_x(1, b) = 1 − (1 − x)^b, I_x(a, b) = 1 − I_{1−x}(b, a)", () => {
  for (const x of [0, 0.01, 0.2, 0.5, 0.77, 0.999, 1]) {
    for (const a of [0.5, 1, 2.5, 7]) {
      close(regularizedBeta(x, a, 1), x ** a, 1e-13, `I_${x}(${a}, 1)`);
      close(regularizedBeta(x, 1, a), 1 - (1 - x) ** a, 1e-13, `I_${x}(1, ${a})`);
      for (const b of [0.5, 3, 11]) {
        close(regularizedBeta(x, a, b), 1 - regularizedBeta(1 - x, b, a), 1e-13, `symmetry ${x} ${a} ${b}`);
      }
    }
  }
  assert.ok(Number.isNaN(regularizedBeta(1.5, 1, 1)));
  assert.ok(Number.isNaN(regularizedBeta(0.5, 0, 1)));
});

Deno.test("Student t CDF: closed forms for ν = 1 (Cauchy) and ν = 2; symmetry", () => {
  for (const t of [-40, -3, -0.5, 0, 0.7, 2, 10, 1e3]) {
    close(studentTCdf(t, 1), 0.5 + Math.atan(t) / Math.PI, 1e-13, `ν=1 t=${t}`);
    close(studentTCdf(t, 2), 0.5 + t / (2 * Math.sqrt(2 + t * t)), 1e-13, `ν=2 t=${t}`);
    for (const df of [1.5, 3.7, 9, 60]) {
      close(studentTCdf(-t, df), studentTSurvival(t, df), 1e-14, `symmetry`);
    }
  }
  assert.equal(studentTSurvival(Infinity, 3), 0);
  assert.equal(studentTSurvival(-Infinity, 3), 1);
  assert.ok(Number.isNaN(studentTSurvival(1, 0)));
});

Deno.test("Student t: tabulated quantiles (P(T > t_q) = 1 − q)", () => {
  // Standard tables (e.g. Abramowitz & Stegun Table 26.10), 9 significant digits.
  const table: [number, number, number][] = [
    [5, 0.975, 2.570581836],
    [10, 0.95, 1.812461123],
    [2, 0.995, 9.924843201],
    [30, 0.99, 2.457261531],
    [1, 0.9, 3.077683537],
    [4, 0.999, 7.173182198],
  ];
  for (const [df, q, t] of table) close(studentTSurvival(t, df), 1 - q, 2e-9, `t_{${q}, ${df}}`);
});

Deno.test("Welch: statistic and degrees of freedom by the definition; equal variances and sizes give the pooled t", () => {
  const x = sample([1.2, 0.7, 1.9, 1.1]);
  const y = sample([2.3, 1.4, 3.0, 2.2, 2.9]);
  const vx = x.variance / 4, vy = y.variance / 5;
  const r = welchGreater(x, y);
  close(r.t, (y.mean - x.mean) / Math.sqrt(vx + vy), 1e-14, "t");
  close(r.df, (vx + vy) ** 2 / (vx ** 2 / 3 + vy ** 2 / 4), 1e-12, "df");
  close(r.p, studentTSurvival(r.t, r.df), 0, "p");
  // Equal n and equal sample variances: Welch's t is Student's pooled t with 2n − 2 degrees of freedom.
  const a = sample([0, 1, 2]), b = sample([5, 6, 7]);
  const w = welchGreater(a, b);
  close(w.df, 4, 1e-12, "pooled df");
  close(w.t, 5 / Math.sqrt(2 / 3), 1e-12, "pooled t");
  close(cohensD(a, b), 5, 1e-12, "d = 5 pooled sd");
});

Deno.test("Welch shifted by a margin: p grows with the margin; zero variance is decided exactly", () => {
  const x = sample([1, 1.1, 0.9, 1.05]), y = sample([1.5, 1.4, 1.6, 1.45]);
  const ps = [0, 0.1, 0.3, 0.5, 0.8].map((m) => welchGreater(x, y, m).p);
  for (let i = 1; i < ps.length; i++) assert.ok(ps[i] > ps[i - 1], `p(${i}) ${ps}`);
  assert.ok(ps[0] < 1e-3 && ps[4] > 0.99, `${ps}`);
  const c = sample([2, 2, 2]);
  assert.equal(welchGreater(c, sample([2, 2, 2])).p, 1, "identical reruns: no evidence");
  assert.equal(welchGreater(c, sample([3, 3, 3]), 0.5).p, 0, "a deterministic change beyond the margin");
  assert.equal(welchGreater(c, sample([3, 3, 3]), 1).p, 1, "a deterministic change within the margin");
  assert.ok(Number.isNaN(welchGreater(sample([1]), c).p), "n = 1 has no variance");
});

Deno.test("Welch under the null (normal, unequal variances, n = 5 vs 5): P(p ≤ 0.05) ≈ 0.05", () => {
  const rng = new Rng(11);
  const N = 20000;
  let hits = 0;
  for (let i = 0; i < N; i++) {
    const x = sample(Array.from({ length: 5 }, () => 3 + rng.normal()));
    const y = sample(Array.from({ length: 5 }, () => 3 + 2 * rng.normal()));
    if (welchGreater(x, y).p <= 0.05) hits++;
  }
  const rate = hits / N, se = Math.sqrt(0.05 * 0.95 / N);
  // Welch–Satterthwaite is an approximation: allow it ±1 point on top of 4 Monte Carlo standard errors.
  assert.ok(Math.abs(rate - 0.05) < 0.01 + 4 * se, `false-positive rate ${rate}`);
});

Deno.test("Holm: hand-worked adjustment; family-wise error ≤ α for 16 independent null tests", () => {
  // sorted: 0.005·4 = 0.02, 0.01·3 = 0.03, 0.03·2 = 0.06, max(0.06, 0.04·1) = 0.06
  const adj = holmAdjust([0.01, 0.04, 0.03, 0.005]);
  [0.03, 0.06, 0.06, 0.02].forEach((v, i) => close(adj[i], v, 1e-15, `p̃${i}`));
  assert.deepEqual(holmAdjust([0.5, NaN]), [1, 1]);
  assert.deepEqual(holmAdjust([]), []);
  assert.deepEqual(holmAdjust([0.3, 0.2]), [0.4, 0.4], "monotone in the order of the raw p");
  assert.deepEqual(holmAdjust([0.9, 0.8]), [1, 1], "capped at 1");
  const rng = new Rng(5);
  const N = 20000;
  let any = 0;
  for (let i = 0; i < N; i++) {
    if (holmAdjust(Array.from({ length: 16 }, () => rng.uniform())).some((p) => p <= 0.05)) any++;
  }
  const exact = 1 - (1 - 0.05 / 16) ** 16; // Holm's first step decides the global null: 0.0488
  close(any / N, exact, 4 * Math.sqrt(exact * (1 - exact) / N), "family-wise error rate");
});
