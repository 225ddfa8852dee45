/**
 * Unbiasedness of every gradient estimator against the exact gradient from enumerating all 2^D·D! trajectories
 * (D = 4, a fixed random policy), and the variance of each control variate.
 * Monte Carlo tolerance: with N independent batches, each gradient component's mean must lie within 5.5 standard
 * errors of the exact value, and the mean squared z-score over all components must be below 1.6 (≈ 1 expected;
 * 5 in the registry sweep, whose many cases include heavy-tailed, strongly correlated ones: with d correlated
 * components the mean of z² fluctuates like a χ² with fewer than d degrees of freedom).
 * The registry sweep runs every registered objective × control variate × backward policy (uniform, learned) on
 * the bit vectors (Ising 2×2, D = 4) and the hypergrid (d = 2, H = 4) against the exact gradient each entry
 * declares (`exact` in core/objectives/objective.ts), θ-gradients of the learned P_B included.
 */
import assert from "node:assert/strict";
import { jsGemm } from "../core/nn/gemm.ts";
import type { Batch } from "../core/gfn/batch.ts";
import { addOptimalVectorGradient } from "../core/baselines/estimator.ts";
import { Rng } from "../core/rng.ts";
import { isingTask } from "../core/tasks/ising.ts";
import { bitVectorSampler } from "../core/gfn/bitvector.ts";
import { estimateGradient, type ObjectiveSpec } from "../core/train/step.ts";
import { CONTROL_VARIATES } from "../core/train/config.ts";
import { initMlp } from "../core/nn/mlp.ts";
import { OBJECTIVE_REGISTRY } from "../core/objectives/registry.ts";
import type { Objective } from "../core/objectives/objective.ts";
import {
  CONTROL_VARIATE_REGISTRY,
  type ControlVariate,
  controlVariateNamed,
} from "../core/baselines/registry.ts";
import { bitVectorEnv, exactScores, exactTrajectories, hypergridEnv } from "./helpers/registry.ts";
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
/** E[∇ αTB] = α E_P[2(c − log w) h] + (1−α) E_Q[2(c − log w) h] with log Z_ψ = c. */
function exactAtb(alpha: number): Float64Array {
  const w = new Float64Array(e.N);
  for (let n = 0; n < e.N; n++) w[n] = 2 * (c - e.logw[n]) * (alpha * e.P[n] + (1 - alpha) * e.Q[n]);
  return flatten(weightedScore(pol, e, w));
}

type McResult = GradientMoments;
function monteCarlo(spec: ObjectiveSpec, seed: number, S = 8, N = 2500): McResult {
  const rng = new Rng(seed);
  return gradientMoments(
    N,
    () => flatten(estimateGradient(bitVectorSampler(task), pol, jsGemm, S, rng, spec, c).grads),
  );
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

// ---------------------------------------------------------------------------------------------------------
// Every registered objective × control variate × backward policy, on both environments, against the exact
// gradient its entry declares (core/objectives/objective.ts `exact`): a new entry is tested without a new test.

interface Case {
  objective: Objective;
  cv: ControlVariate;
  alpha: number;
  learnedPB: boolean;
}
const cases: Case[] = [];
for (const objective of OBJECTIVE_REGISTRY) {
  const cvs = objective.usesCv ? CONTROL_VARIATE_REGISTRY : [controlVariateNamed("none")];
  for (const cv of cvs) cases.push({ objective, cv, alpha: 0.5, learnedPB: false });
  for (const alpha of [0, 1]) cases.push({ objective, cv: cvs[0], alpha, learnedPB: false });
  cases.push({ objective, cv: cvs[cvs.length - 1], alpha: 0.5, learnedPB: true });
}
/** Test parameters: pg with λ = 1 is unbiased (GAE λ < 1 leans on the value network; measured in divergences_test). */
const testParams = { div_alpha: 0.5, pg_lambda: 1 };

for (const makeEnv of [bitVectorEnv, hypergridEnv]) {
  const env = makeEnv();
  const exactUniform = exactTrajectories(env.enumerate());
  const exactLearned = exactTrajectories(env.enumerate(env.pb));
  const value = initMlp([env.sampler.inputDim, 6, 1], "tanh", "he-uniform", new Rng(77), Float64Array);
  cases.forEach(({ objective, cv, alpha, learnedPB }, i) => {
    const unbiased = objective.unbiased(cv, testParams);
    const label = `${objective.name}, cv=${cv.name}, α=${alpha}, P_B ${learnedPB ? "learned" : "uniform"}`;
    Deno.test(`registry on ${env.name}: ${label} ${unbiased ? "unbiased" : "bias bounded"}`, () => {
      const pb = learnedPB ? env.pb : undefined;
      const ex = learnedPB ? exactLearned : exactUniform;
      let eLogw = 0;
      for (let n = 0; n < ex.Q.length; n++) eLogw += ex.Q[n] * ex.logw[n];
      const scalar = eLogw - 0.3; // any value: the exact targets are stated for the scalar in use
      const w = objective.exact(ex, alpha, scalar, testParams);
      const target = exactScores(env.enumerate(pb), env.pol.net, pb, w.phi, w.theta);
      const exact = flatten([...target.phi, ...target.theta]);
      const rng = new Rng(1000 + i);
      const spec = {
        objective: objective.name,
        alpha,
        cv: cv.name,
        params: testParams,
        value,
        backwardPolicy: pb,
      };
      // biased estimates (self-normalised, global optimal baselines: O(1/S)) are checked at S = 64 with the same
      // number of trajectories
      const [S, N] = unbiased ? [8, 2000] : [64, 150];
      const r = gradientMoments(N, () => {
        const est = estimateGradient(env.sampler, env.pol, jsGemm, S, rng, spec, scalar);
        return flatten([...est.grads, ...(est.backwardGrads ?? [])]);
      });
      const z = zStats(r, exact);
      console.log(
        `  S=${S}: max|z| ${z.maxZ.toFixed(2)}  mean z² ${z.meanZ2.toFixed(2)}  ‖mean − exact‖/‖exact‖ ${
          z.relErr.toFixed(4)
        }`,
      );
      if (unbiased) {
        assert.ok(z.maxZ < 5.5, `max |z| = ${z.maxZ}`);
        // components are correlated, so the mean of z² fluctuates more than for independent ones (≈ 1 expected)
        assert.ok(z.meanZ2 < 5, `mean z² = ${z.meanZ2}`);
      } else {
        // SNIS forward KL converges slowest (weights w, heavy-tailed); a wrong sign, factor or missing term
        // would be far outside this
        assert.ok(z.relErr < 0.35, `relative error ${z.relErr} at S = 64`);
      }
    });
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

Deno.test("exact αTB at α = 0 is twice the exact RKL gradient (Σ_τ Q(τ) ∇log q(τ) = 0)", () => {
  const a = exactAtb(0);
  for (let d = 0; d < a.length; d++) {
    assert.ok(Math.abs(a[d] - 2 * exactRkl[d]) < 1e-12 + 1e-9 * Math.abs(a[d]));
  }
});

Deno.test("variance trace of each control variate vs none (fixed policy, S = 8)", () => {
  for (const cv of CONTROL_VARIATES) traces[cv] = monteCarlo({ objective: "akl", alpha: 0, cv }, 500).trace;
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

Deno.test("opt-vector-loo: a coordinate only one sample touches gets the LOO-mean fallback (float32 sums)", () => {
  // three samples, two parameter elements: element 0 is touched by sample 1 only, element 1 by all
  const S = 3, logw = Float64Array.of(-1, 0.3, 2.5), hv = [[0, 0.3], [0.2, -0.2], [0, 0.7]];
  const batch = {
    net: { W: [new Float32Array(2)] },
    gemm: jsGemm,
    forEachScore: (fn: (s: number, h: Float32Array[]) => void) => {
      for (let s = 0; s < S; s++) fn(s, [Float32Array.from(hv[s])]);
    },
  } as unknown as Batch;
  const grads = [new Float32Array(2)];
  addOptimalVectorGradient(batch, logw, true, 1, grads);
  const fallback1 = (logw[0] + logw[2]) / 2;
  const want0 = (fallback1 - logw[1]) * Math.fround(0.2) / S;
  assert.ok(Math.abs(grads[0][0] - want0) <= 1e-7, `${grads[0][0]} vs ${want0}`);
});
