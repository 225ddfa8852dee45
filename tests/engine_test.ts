import assert from "node:assert/strict";
import { jsGemm } from "../core/nn/gemm.ts";
import { params, zerosLike } from "../core/nn/mlp.ts";
import {
  accumulateGrads,
  forEachSampleGrad,
  logWeights,
  preparePolicy,
  randomOrders,
  runTrajectories,
} from "../core/gfn/trajectories.ts";
import { Rng } from "../core/rng.ts";
import { isingTask } from "../core/tasks/ising.ts";
import { type BitVectorBatch, bitVectorSampler } from "../core/gfn/bitvector.ts";
import { estimateGradient } from "../core/train/step.ts";
import { tbTerm } from "../core/objectives/atb.ts";
import { exactForward, exactMetrics, exactTarget } from "../core/eval/exact.ts";
import { logWeightSummary, sampleLogWeights } from "../core/eval/estimates.ts";
import { enumerate, flatten, policy64 } from "./helpers/engine.ts";
import { assertClose, finiteDifference } from "./helpers/numeric.ts";

const task4 = isingTask(2, 0.4); // D = 4

/** log q of fixed trajectories under the current parameters (teacher forcing, no cache). */
function logqOf(pol: ReturnType<typeof policy64>, x: Int8Array, order: Int32Array, B: number): Float64Array {
  return runTrajectories(preparePolicy(pol.net), jsGemm, B, new Rng(1), { cache: false, given: { x, order } })
    .logq;
}

for (const activation of ["swish", "elu", "tanh"] as const) {
  Deno.test(`backward pass of Σ c_s log q(τ_s) matches finite differences (${activation})`, () => {
    const pol = policy64(4, [5, 6], 3, activation);
    const B = 6, rng = new Rng(11);
    const sampled = runTrajectories(pol, jsGemm, B, rng, { cache: false });
    const order = randomOrders(B, 4, rng);
    const coef = Float64Array.from({ length: B }, (_, s) => Math.cos(s + 0.5));
    const batch = runTrajectories(pol, jsGemm, B, rng, { cache: true, given: { x: sampled.x, order } });
    const g = zerosLike(pol.net);
    accumulateGrads(pol, jsGemm, batch, coef, g);
    const fd = finiteDifference(params(pol.net), () => {
      const lq = logqOf(pol, sampled.x, order, B);
      return lq.reduce((s, v, i) => s + coef[i] * v, 0);
    });
    assertClose(flatten(g), flatten(fd), 1e-6, 1e-8, "grad");
  });
}

Deno.test("backward pass with shared states (all rows at t = 0, ≤ 2D distinct at t = 1, B > 2D) matches finite differences and per-sample scores", () => {
  // accumulateGrads computes the t = 0 and t = 1 rows once per distinct state; forEachSampleGrad does not
  const D = 3, B = 16;
  const pol = policy64(D, [5, 6, 4], 5);
  const rng = new Rng(7);
  const sampled = runTrajectories(pol, jsGemm, B, rng, { cache: false });
  const order = randomOrders(B, D, rng);
  const coef = Float64Array.from({ length: B }, (_, s) => Math.sin(2 * s + 1));
  const batch = runTrajectories(pol, jsGemm, B, rng, { cache: true, given: { x: sampled.x, order } });
  const g = zerosLike(pol.net);
  accumulateGrads(pol, jsGemm, batch, coef, g);
  const fd = finiteDifference(params(pol.net), () => {
    const lq = logqOf(pol, sampled.x, order, B);
    return lq.reduce((s, v, i) => s + coef[i] * v, 0);
  });
  assertClose(flatten(g), flatten(fd), 1e-6, 1e-8, "grad");
  const perSample = zerosLike(pol.net);
  forEachSampleGrad(pol, jsGemm, batch, (s, h) => {
    for (let p = 0; p < h.length; p++) {
      for (let i = 0; i < h[p].length; i++) perSample[p][i] += coef[s] * h[p][i];
    }
  });
  assertClose(flatten(g), flatten(perSample), 1e-10, 1e-12, "Σ_s coef_s h_s");
});

Deno.test("dense (GEMM) and sparse (2-column) output-layer paths give the same log q, signals and gradients", () => {
  const dense = policy64(6, [7, 5], 12);
  const sparse = { ...dense, denseOutput: !dense.denseOutput };
  const B = 7;
  const coef = Float64Array.from({ length: B }, (_, s) => 0.3 - s);
  const perRow = Float64Array.from({ length: 6 * B }, (_, r) => Math.sin(r));
  const grads = [dense, sparse].map((pol) => {
    const batch = runTrajectories(pol, jsGemm, B, new Rng(3), { cache: true });
    const g = zerosLike(pol.net), gRow = zerosLike(pol.net);
    accumulateGrads(pol, jsGemm, batch, coef, g);
    accumulateGrads(pol, jsGemm, batch, perRow, gRow);
    return { logq: batch.logq, g: flatten(g), gRow: flatten(gRow), X: batch.cache!.X };
  });
  assertClose(grads[1].logq, grads[0].logq, 1e-13, 1e-13, "logq");
  assertClose(grads[1].g, grads[0].g, 1e-12, 1e-13, "grad");
  assertClose(grads[1].gRow, grads[0].gRow, 1e-12, 1e-13, "per-row grad");
  assert.deepEqual(grads[1].X, grads[0].X);
  // X holds s_t: row t of trajectory b has exactly t set entries
  const X = grads[0].X;
  for (let t = 0; t < 6; t++) {
    for (let b = 0; b < B; b++) {
      let n = 0;
      for (let d = 0; d < 6; d++) if (X[(t * B + b) * 6 + d] !== 0) n++;
      assert.equal(n, t);
    }
  }
});

Deno.test("teacher forcing reproduces a sampled trajectory's log q exactly", () => {
  const pol = policy64(5, [7], 2);
  const rng = new Rng(4);
  const fwd = runTrajectories(pol, jsGemm, 9, rng, { cache: true });
  const order = new Int32Array(9 * 5);
  for (let b = 0; b < 9; b++) for (let t = 0; t < 5; t++) order[b * 5 + t] = fwd.pos[t * 9 + b];
  const again = runTrajectories(pol, jsGemm, 9, rng, { cache: false, given: { x: fwd.x, order } });
  assertClose(again.logq, fwd.logq, 1e-13, 1e-13, "logq");
  // every trajectory sets each position exactly once and the terminal state is a full ±1 vector
  for (let b = 0; b < 9; b++) {
    assert.deepEqual([...order.subarray(b * 5, b * 5 + 5)].sort(), [0, 1, 2, 3, 4]);
    for (let d = 0; d < 5; d++) assert.ok(Math.abs(fwd.x[b * 5 + d]) === 1);
  }
});

Deno.test("per-sample scores: h_s equals the backward pass with a one-hot coefficient, and Σ c_s h_s the weighted one", () => {
  const pol = policy64(4, [6, 5], 5);
  const B = 5;
  const batch = runTrajectories(pol, jsGemm, B, new Rng(2), { cache: true });
  const coef = Float64Array.from({ length: B }, (_, s) => s - 1.7);
  const weighted = zerosLike(pol.net).map((a) => new Float64Array(a.length));
  forEachSampleGrad(pol, jsGemm, batch, (s, h) => {
    const oneHot = new Float64Array(B);
    oneHot[s] = 1;
    const ref = zerosLike(pol.net);
    accumulateGrads(pol, jsGemm, batch, oneHot, ref);
    assertClose(flatten(h), flatten(ref), 1e-12, 1e-14, `h_${s}`);
    h.forEach((a, p) => a.forEach((v, i) => weighted[p][i] += coef[s] * v));
  });
  const direct = zerosLike(pol.net);
  accumulateGrads(pol, jsGemm, batch, coef, direct);
  assertClose(flatten(weighted), flatten(direct), 1e-12, 1e-13, "Σ c h");
});

Deno.test("α = 0, learned control variate: ∇φ αKL = ½ ∇φ αTB on the same batch, and αTB's gradient is ∇ of the TB loss", () => {
  const pol = policy64(4, [6, 6], 8);
  const c = 1.3;
  const akl = estimateGradient(bitVectorSampler(task4), pol, jsGemm, 16, new Rng(21), {
    objective: "akl",
    alpha: 0,
    cv: "learned",
  }, c);
  const atb = estimateGradient(bitVectorSampler(task4), pol, jsGemm, 16, new Rng(21), {
    objective: "atb",
    alpha: 0,
    cv: "learned",
  }, c);
  assert.deepEqual(akl.forward!.x, atb.forward!.x, "same rng → same batch");
  const half = flatten(atb.grads).map((v) => v / 2);
  assertClose(flatten(akl.grads), half, 1e-12, 1e-14, "akl vs tb/2");
  // the αTB gradient is the gradient of the TB loss mean_s (log Z − log R + log q)² on these trajectories
  const batch = (atb.forward as BitVectorBatch).traj;
  const order = new Int32Array(16 * 4);
  for (let b = 0; b < 16; b++) for (let t = 0; t < 4; t++) order[b * 4 + t] = batch.pos[t * 16 + b];
  const logR = task4.logReward(batch.x, 16);
  const fd = finiteDifference(params(pol.net), () => {
    const lq = logqOf(pol, batch.x, order, 16);
    return tbTerm(c, lq.map((v, i) => logR[i] - v), 1).loss;
  });
  assertClose(flatten(atb.grads), flatten(fd), 1e-6, 1e-7, "TB loss FD");
  // and the scalar: ∂TB/∂log Z = 2·∂(½(c − log w)²)/∂c
  assert.ok(Math.abs(atb.dScalar - 2 * akl.dScalar) < 1e-12);
});

Deno.test("exact DP: terminal marginal and E_Q[log w] equal the sum over all enumerated trajectories", () => {
  const pol = policy64(4, [8, 8], 13);
  const e = enumerate(pol, task4);
  const { qT, eLogq } = exactForward(pol, jsGemm);
  const fromTraj = new Float64Array(16);
  let eLogqTraj = 0, eLogwTraj = 0;
  for (let n = 0; n < e.N; n++) {
    let idx = 0;
    for (let d = 0; d < 4; d++) if (e.batch.x[n * 4 + d] > 0) idx |= 1 << d;
    fromTraj[idx] += e.Q[n];
    eLogqTraj += e.Q[n] * e.batch.logq[n];
    eLogwTraj += e.Q[n] * e.logw[n];
  }
  assertClose(qT, fromTraj, 1e-12, 1e-15, "Q_T");
  assert.ok(Math.abs(qT.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  assert.ok(Math.abs(eLogq - eLogqTraj) < 1e-12);
  const m = exactMetrics(pol, jsGemm, exactTarget(task4));
  assert.ok(Math.abs(m.exact_e_logw - eLogwTraj) < 1e-12);
  assert.ok(Math.abs(m.exact_log_z - e.logZ) < 1e-12);
  assert.ok(Math.abs(m.exact_log_z - task4.exactLogZ!()) < 1e-9, "DP target log Z = transfer-matrix log Z");
});

Deno.test("E_Q[log w] ≤ log Z with KL(Q_T‖π) ≤ KL(Q‖P), for random policies on L = 2 and L = 3", () => {
  for (const [L, beta] of [[2, 0.4], [2, -0.7], [3, 0.4], [3, -1]]) {
    const task = isingTask(L, beta);
    const target = exactTarget(task);
    for (let seed = 0; seed < 3; seed++) {
      const m = exactMetrics(policy64(L * L, [16], seed), jsGemm, target);
      assert.ok(m.exact_e_logw <= m.exact_log_z, `${m.exact_e_logw} > ${m.exact_log_z}`);
      assert.ok(m.exact_kl_terminal >= 0 && m.exact_kl_terminal <= m.exact_kl + 1e-12);
      assert.ok(m.exact_tv >= 0 && m.exact_tv <= 1);
    }
  }
});

Deno.test("exact E_Q[log w] agrees with Monte Carlo (20000 samples, 5 standard errors); Ẑ is unbiased for Z", () => {
  const task = isingTask(3, 0.4);
  const pol = policy64(9, [16, 16], 7);
  const m = exactMetrics(pol, jsGemm, exactTarget(task));
  const { logw } = sampleLogWeights(pol, jsGemm, task, 20000, new Rng(99));
  const s = logWeightSummary(logw);
  let v = 0;
  for (const w of logw) v += (w - s.e_logw) ** 2;
  const se = Math.sqrt(v / (logw.length - 1) / logw.length);
  assert.ok(Math.abs(s.e_logw - m.exact_e_logw) < 5 * se, `${s.e_logw} vs ${m.exact_e_logw} (se ${se})`);
  assert.ok(s.e_logw < s.log_z_hat, "Jensen: mean log w < log mean w");
  // E_Q[w] = Z exactly: the mean of w/Z is 1 within Monte Carlo error
  const ratio = logw.map((w) => Math.exp(w - m.exact_log_z));
  const rm = ratio.reduce((a, b) => a + b, 0) / ratio.length;
  const rse = Math.sqrt(ratio.reduce((a, r) => a + (r - rm) ** 2, 0) / (ratio.length - 1) / ratio.length);
  assert.ok(Math.abs(rm - 1) < 5 * rse, `mean w/Z = ${rm} (se ${rse})`);
  assert.ok(Math.abs(s.log_z_hat - Math.log(rm) - m.exact_log_z) < 1e-9, "log Ẑ = log mean w");
});

Deno.test("log w convention: log w = log R(x) − Σ_t log p_φ (the ordering terms cancel)", () => {
  const pol = policy64(4, [5], 1);
  const batch = runTrajectories(pol, jsGemm, 3, new Rng(5), { cache: false });
  const { logR, logw } = logWeights(batch, task4);
  for (let b = 0; b < 3; b++) {
    let sum = 0;
    for (let t = 0; t < 4; t++) sum += batch.logp[t * 3 + b];
    assert.ok(Math.abs(logw[b] - (logR[b] - sum)) < 1e-12);
    assert.ok(batch.logq[b] < 0, "a product of probabilities has a negative log");
  }
});
