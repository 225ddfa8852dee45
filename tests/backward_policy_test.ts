/**
 * The learned backward policy P_B(θ) (core/gfn/backward.ts, core/train/learned_pb.ts) on D = 4 by exact enumeration
 * of all 2^D·D! trajectories: P_B(·|x) is a distribution over deletion orders, the θ-gradient matches finite
 * differences, and the αKL estimators (RKL from Q, FKL from P(θ) — which also checks backward sampling from P_B(θ))
 * are unbiased for the exact φ- and θ-gradients of Table 1. Same statistic as tests/estimators_test.ts.
 */
import assert from "node:assert/strict";
import { jsGemm, type Vec } from "../core/nn/gemm.ts";
import { initMlp, params, zerosLike } from "../core/nn/mlp.ts";
import {
  accumulateBackwardGrads,
  evaluateBackward,
  learnedLogWeights,
  zeroOutput,
} from "../core/gfn/backward.ts";
import { Rng } from "../core/rng.ts";
import { isingTask } from "../core/tasks/ising.ts";
import { bitVectorSampler } from "../core/gfn/bitvector.ts";
import { estimateGradient, type ObjectiveSpec } from "../core/train/step.ts";
import { logFactorial, logSumExp } from "../core/math.ts";
import { parseTrainConfig } from "../core/train/config.ts";
import { trainRun } from "../core/train/trainer.ts";
import { OBJECTIVE_NAMES } from "../core/objectives/registry.ts";
import { enumerate, flatten, gradientMoments, policy64, weightedScore } from "./helpers/engine.ts";

const D = 4;
const task = isingTask(2, 0.4);
const pol = policy64(D, [8], 17);
const e = enumerate(pol, task);
const lf = logFactorial(D);
const pbNet = initMlp([D, 6, D], "tanh", "he-uniform", new Rng(5), Float64Array);
for (const w of pbNet.W) for (let i = 0; i < w.length; i++) w[i] *= 1.5; // clearly non-uniform
const ev = evaluateBackward(pbNet, jsGemm, e.batch);
const logwL = learnedLogWeights(e.logw, ev);
/** P(τ; θ) = π(x)·P_B(τ|x; θ) for every enumerated trajectory. */
const PL = new Float64Array(e.N);
for (let n = 0; n < e.N; n++) PL[n] = Math.exp(e.logR[n] - e.logZ + ev.logPB[n]); // e.logZ = log Σ_x R(x)

Deno.test("learned P_B: a distribution over deletion orders for each x; zero output layer = uniform P_B", () => {
  // Σ over the D! orders of each x of P_B(τ|x) = 1
  const perX = new Map<string, number>();
  const x = e.batch.x;
  for (let n = 0; n < e.N; n++) {
    const key = Array.from(x.subarray(n * D, (n + 1) * D)).join(",");
    perX.set(key, (perX.get(key) ?? 0) + Math.exp(ev.logPB[n]));
  }
  assert.equal(perX.size, 1 << D);
  for (const s of perX.values()) assert.ok(Math.abs(s - 1) < 1e-12, `${s}`);
  // and it is not uniform
  assert.ok(Math.max(...ev.logPB) - Math.min(...ev.logPB) > 0.5);
  const flat = zeroOutput(initMlp([D, 6, D], "tanh", "he-uniform", new Rng(6), Float64Array));
  const ev0 = evaluateBackward(flat, jsGemm, e.batch);
  const lw0 = learnedLogWeights(e.logw, ev0);
  for (let n = 0; n < e.N; n++) {
    assert.ok(Math.abs(ev0.logPB[n] + lf) < 1e-12);
    assert.ok(Math.abs(lw0[n] - e.logw[n]) < 1e-12);
  }
  // E_Q[log w] ≤ log Z under the learned P_B too
  let eLogw = 0;
  for (let n = 0; n < e.N; n++) eLogw += e.Q[n] * logwL[n];
  assert.ok(eLogw < e.logZ, `${eLogw} vs ${e.logZ}`);
  assert.ok(Math.abs(PL.reduce((a, b) => a + b) - 1) < 1e-9);
});

Deno.test("learned P_B: θ-gradient of Σ c log P_B matches finite differences", () => {
  const net = initMlp([D, 5, D], "swish", "he-uniform", new Rng(8), Float64Array);
  const idx = Array.from({ length: 10 }, (_, i) => i * 37);
  const sub = e.batch; // coefficients per trajectory, non-zero on 10 of them
  const coef = Float64Array.from({ length: e.N }, (_, n) => idx.includes(n) ? Math.cos(n) : 0);
  const g = zerosLike(net);
  accumulateBackwardGrads(net, jsGemm, evaluateBackward(net, jsGemm, sub), coef, g);
  const fd = params(net).map((p: Vec) => {
    const out = new Float64Array(p.length);
    for (let i = 0; i < p.length; i++) {
      const v = p[i],
        f = () => evaluateBackward(net, jsGemm, sub).logPB.reduce((s, l, n) => s + coef[n] * l, 0);
      p[i] = v + 1e-6;
      const up = f();
      p[i] = v - 1e-6;
      const down = f();
      p[i] = v;
      out[i] = (up - down) / 2e-6;
    }
    return out;
  });
  const a = flatten(g), b = flatten(fd);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i] - b[i]) < 1e-7 + 1e-6 * Math.abs(b[i]), `[${i}]`);
  }
});

function monteCarlo(spec: ObjectiveSpec, seed: number, S = 8, N = 3000) {
  const rng = new Rng(seed);
  return gradientMoments(N, () => {
    const est = estimateGradient(bitVectorSampler(task), pol, jsGemm, S, rng, spec, 0);
    return flatten([...est.grads, ...est.backwardGrads!]);
  });
}
function check(name: string, r: { mean: Float64Array; se: Float64Array }, exact: Float64Array) {
  let maxZ = 0, meanZ2 = 0;
  for (let d = 0; d < exact.length; d++) {
    const z = r.se[d] > 0
      ? (r.mean[d] - exact[d]) / r.se[d]
      : (Math.abs(r.mean[d] - exact[d]) < 1e-12 ? 0 : 99);
    maxZ = Math.max(maxZ, Math.abs(z));
    meanZ2 += z * z / exact.length;
  }
  console.log(`  ${name}: max|z| ${maxZ.toFixed(2)}  mean z² ${meanZ2.toFixed(2)}`);
  assert.ok(maxZ < 5.5, `${name}: max|z| ${maxZ}`);
  assert.ok(meanZ2 < 1.6, `${name}: mean z² ${meanZ2}`);
}
const thetaScore = (w: Float64Array) => {
  const g = zerosLike(pbNet);
  accumulateBackwardGrads(pbNet, jsGemm, ev, w, g);
  return flatten(g);
};

Deno.test("learned P_B, αKL α = 0 (RKL from Q): φ and θ estimators unbiased for Table 1's gradients", () => {
  // log Z of P(τ; θ) over trajectories: Σ_τ R(x) P_B(τ|x) = Z
  const logZ = logSumExp(e.logR.map((r, n) => r + ev.logPB[n]));
  assert.ok(Math.abs(logZ - e.logZ) < 1e-9);
  const phi = flatten(weightedScore(pol, e, e.Q.map((q, n) => q * (logZ - logwL[n]))));
  const theta = thetaScore(e.Q.map((q) => -q));
  const spec: ObjectiveSpec = { objective: "akl", alpha: 0, cv: "loo-logw", backwardPolicy: pbNet };
  check("RKL φ+θ", monteCarlo(spec, 11), new Float64Array([...phi, ...theta]));
});

Deno.test("learned P_B, αKL α = 1 (FKL from P(θ), sampled with P_B(θ)): φ and θ estimators unbiased", () => {
  const phi = flatten(weightedScore(pol, e, PL.map((p) => -p)));
  let eLogw = 0;
  for (let n = 0; n < e.N; n++) eLogw += PL[n] * logwL[n];
  const theta = thetaScore(PL.map((p, n) => p * (logwL[n] - eLogw)));
  const spec: ObjectiveSpec = { objective: "akl", alpha: 1, cv: "none", backwardPolicy: pbNet };
  check("FKL φ+θ", monteCarlo(spec, 12), new Float64Array([...phi, ...theta]));
});

Deno.test("learned P_B, αTB α = 0: θ-gradient is 2·E_Q[(log w − log Z_ψ) ∇θ log P_B] (Table 1)", () => {
  const theta = thetaScore(e.Q.map((q, n) => 2 * q * (logwL[n] - 0)));
  const phi = flatten(weightedScore(pol, e, e.Q.map((q, n) => 2 * q * (0 - logwL[n]))));
  const spec: ObjectiveSpec = { objective: "atb", alpha: 0, cv: "learned", backwardPolicy: pbNet };
  check("TB φ+θ", monteCarlo(spec, 13), new Float64Array([...phi, ...theta]));
});

Deno.test("training with a learned P_B (αTB, Ising 2×2) reaches KL(Q_T‖π) < 0.01; every objective runs with it", async () => {
  const config = parseTrainConfig({
    L: 2,
    objective: "atb",
    backward_policy: "learned",
    steps: 300,
    batch: 64,
    hidden: [16],
    lr: 0.01,
    eval_every: 300,
    eval_samples: 64,
    seed: 3,
  });
  const s = await trainRun(config, { gemm: jsGemm });
  console.log(`  learned P_B, atb: KL(Q_T‖π) ${s.exact_kl_terminal!.toFixed(5)}`);
  assert.ok(s.exact_kl_terminal! < 0.01, `${s.exact_kl_terminal}`);
  // the θ-coefficients are part of every registered objective: a learned P_B trains with any of them
  for (const objective of OBJECTIVE_NAMES) {
    const r = await trainRun(parseTrainConfig({ ...config, objective, steps: 5, eval_every: 5 }), {
      gemm: jsGemm,
    });
    assert.ok(Number.isFinite(r.exact_kl!) && Number.isFinite(r.e_logw_uniform_pb as number), objective);
  }
});
