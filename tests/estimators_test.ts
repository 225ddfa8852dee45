/**
 * Unbiasedness of every gradient estimator against the exact gradient from enumerating all 2^D·D! trajectories
 * (D = 4, a fixed random policy), and the variance of each control variate.
 * Monte Carlo tolerance: with N independent batches, each gradient component's mean must lie within 5.5 standard
 * errors of the exact value, and the mean squared z-score over all components must be below 1.6 (≈ 1 expected).
 */
import assert from "node:assert/strict";
import { jsGemm } from "../core/nn/gemm.ts";
import { Rng } from "../core/rng.ts";
import { isingTask } from "../core/tasks/ising.ts";
import { estimateGradient, type ObjectiveSpec } from "../core/train/step.ts";
import { CONTROL_VARIATES } from "../core/train/config.ts";
import {
  enumerate,
  flatten,
  type GradientMoments,
  gradientMoments,
  policy64,
  weightedScore,
} from "./helpers/engine.ts";

const task = isingTask(2, 0.4);
const pol = policy64(4, [8], 17);
const e = enumerate(pol, task);
let eLogw = 0;
for (let n = 0; n < e.N; n++) eLogw += e.Q[n] * e.logw[n];
const c = eLogw; // the learned baseline's fixed point c_ψ = E_Q[log w]; also used as log Z_ψ in αTB

const exactRkl = flatten(weightedScore(pol, e, e.Q.map((q, n) => q * (e.logZ - e.logw[n]))));
const exactFkl = flatten(weightedScore(pol, e, e.P.map((p) => -p)));
/** E[∇ αTB] = α E_P[2(c − log w) h] + (1−α) E_Q[2(c − log w) h] with log Z_ψ = c. */
function exactAtb(alpha: number): Float64Array {
  const w = new Float64Array(e.N);
  for (let n = 0; n < e.N; n++) w[n] = 2 * (c - e.logw[n]) * (alpha * e.P[n] + (1 - alpha) * e.Q[n]);
  return flatten(weightedScore(pol, e, w));
}
const mix = (a: number, x: Float64Array, y: Float64Array) => x.map((v, i) => (1 - a) * v + a * y[i]);

type McResult = GradientMoments;
function monteCarlo(spec: ObjectiveSpec, seed: number, S = 8, N = 2500): McResult {
  const rng = new Rng(seed);
  return gradientMoments(N, () => flatten(estimateGradient(pol, jsGemm, task, S, rng, spec, c).grads));
}

function zStats(r: McResult, exact: Float64Array) {
  let maxZ = 0, meanZ2 = 0, errNorm = 0, exactNorm = 0;
  for (let d = 0; d < exact.length; d++) {
    const z = r.se[d] > 0 ? (r.mean[d] - exact[d]) / r.se[d] : 0;
    maxZ = Math.max(maxZ, Math.abs(z));
    meanZ2 += z * z / exact.length;
    errNorm += (r.mean[d] - exact[d]) ** 2;
    exactNorm += exact[d] ** 2;
  }
  return { maxZ, meanZ2, relErr: Math.sqrt(errNorm / exactNorm) };
}

const traces: Record<string, number> = {};

for (const cv of CONTROL_VARIATES) {
  const biased = cv === "opt-scalar" || cv === "opt-vector";
  Deno.test(`RKL estimator with cv=${cv}: ${biased ? "bias measured" : "unbiased"} against the exact gradient`, () => {
    const r = monteCarlo({ objective: "akl", alpha: 0, cv }, 100 + CONTROL_VARIATES.indexOf(cv));
    const z = zStats(r, exactRkl);
    traces[cv] = r.trace;
    console.log(
      `  cv=${cv.padEnd(14)} max|z| ${z.maxZ.toFixed(2)}  mean z² ${z.meanZ2.toFixed(2)}  ` +
        `‖mean − exact‖/‖exact‖ ${z.relErr.toFixed(4)}  variance trace ${r.trace.toFixed(4)}`,
    );
    if (!biased) {
      assert.ok(z.maxZ < 5.5, `max |z| = ${z.maxZ}`);
      assert.ok(z.meanZ2 < 1.6, `mean z² = ${z.meanZ2}`);
    } else {
      // global optimal baselines use τ_s itself: biased, and at S = 8 detectably so (the test sees it)
      assert.ok(z.maxZ > 5.5, `expected a detectable bias at S = 8, max |z| = ${z.maxZ}`);
    }
  });
}

Deno.test("global optimal baselines: relative bias shrinks with batch size (S = 8 → 64)", () => {
  for (const cv of ["opt-scalar", "opt-vector"] as const) {
    const small = zStats(monteCarlo({ objective: "akl", alpha: 0, cv }, 700, 8, 2500), exactRkl).relErr;
    const large = zStats(monteCarlo({ objective: "akl", alpha: 0, cv }, 701, 64, 600), exactRkl).relErr;
    console.log(`  ${cv}: ‖bias‖/‖∇‖ ≈ ${small.toFixed(3)} at S = 8, ${large.toFixed(3)} at S = 64`);
    assert.ok(large < 0.5 * small, `${cv}: ${large} vs ${small}`);
  }
});

const others: [string, ObjectiveSpec, () => Float64Array][] = [
  ["FKL (αKL, α = 1)", { objective: "akl", alpha: 1, cv: "none" }, () => exactFkl],
  [
    "αKL, α = 0.5, cv=loo-logw",
    { objective: "akl", alpha: 0.5, cv: "loo-logw" },
    () => mix(0.5, exactRkl, exactFkl),
  ],
  ["αTB, α = 0", { objective: "atb", alpha: 0, cv: "learned" }, () => exactAtb(0)],
  ["αTB, α = 0.5", { objective: "atb", alpha: 0.5, cv: "learned" }, () => exactAtb(0.5)],
  ["αTB, α = 1", { objective: "atb", alpha: 1, cv: "learned" }, () => exactAtb(1)],
  [
    "αTB, α = 0, cv=opt-vector-loo (2·RKL)",
    { objective: "atb", alpha: 0, cv: "opt-vector-loo" },
    () => exactRkl.map((v) => 2 * v),
  ],
];
others.forEach(([name, spec, exact], i) => {
  Deno.test(`${name} estimator is unbiased against the exact gradient`, () => {
    const z = zStats(monteCarlo(spec, 300 + i), exact());
    console.log(`  ${name}: max|z| ${z.maxZ.toFixed(2)}  mean z² ${z.meanZ2.toFixed(2)}`);
    assert.ok(z.maxZ < 5.5, `max |z| = ${z.maxZ}`);
    assert.ok(z.meanZ2 < 1.6, `mean z² = ${z.meanZ2}`);
  });
});

Deno.test("exact αTB at α = 0 is twice the exact RKL gradient (Σ_τ Q(τ) ∇log q(τ) = 0)", () => {
  const a = exactAtb(0);
  for (let d = 0; d < a.length; d++) {
    assert.ok(Math.abs(a[d] - 2 * exactRkl[d]) < 1e-12 + 1e-9 * Math.abs(a[d]));
  }
});

Deno.test("variance trace of each control variate vs none (fixed policy, S = 8)", () => {
  for (const cv of CONTROL_VARIATES) traces[cv] ??= monteCarlo({ objective: "akl", alpha: 0, cv }, 500).trace;
  console.log(`  E_Q[log w] = ${eLogw.toFixed(3)}, log Z = ${e.logZ.toFixed(3)}`);
  for (const cv of CONTROL_VARIATES) {
    console.log(
      `  ${cv.padEnd(15)} trace ${traces[cv].toFixed(4)}  (${(traces[cv] / traces.none).toFixed(3)} × none)`,
    );
  }
  // every baseline centred near E_Q[log w] must cut the variance of the uncentred estimator
  for (const cv of CONTROL_VARIATES.filter((v) => v !== "none")) {
    assert.ok(traces[cv] < traces.none, `${cv}: ${traces[cv]} ≥ none ${traces.none}`);
  }
});
