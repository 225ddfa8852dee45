/**
 * The hypergrid on the device engine (backends/device/discrete.ts, backends/device/hypergrid.ts) against the CPU
 * engine (core/gfn/discrete.ts): on batches drawn by the CPU sampler and teacher-forced on the device, the log
 * P_F rows, log w and the φ-gradient agree to float32 tolerance for every supported objective × control variate
 * at α = 0 and α = 0.5; device-sampled forward and backward trajectories are valid, their log w is the CPU
 * engine's on them, and x ~ π and the forward samples on the device have the right laws; bytes read back per
 * step do not depend on the grid or the batch; seed batching; a short training run on a small hypergrid reaches
 * an exact TV and KL close to the CPU engine's run with the same config. tfjs-core's "cpu" backend.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { jsGemm } from "../core/nn/gemm.ts";
import { initMlp } from "../core/nn/mlp.ts";
import { Rng } from "../core/rng.ts";
import { hypergrid, hypergridExact } from "../core/tasks/hypergrid.ts";
import { OBJECTIVE_REGISTRY } from "../core/objectives/registry.ts";
import { CONTROL_VARIATE_REGISTRY } from "../core/baselines/registry.ts";
import { DeviceEngine, TransferCounter } from "../backends/device/engine.ts";
import { hypergridDeviceSampler } from "../backends/device/hypergrid.ts";
import { enumeratedTarget } from "../backends/device/enumerated.ts";
import { DeviceUniforms } from "../backends/device/rng.ts";
import { deviceTrain, deviceTrainRun, deviceTrainSeeds } from "../backends/device/train.ts";
import { type EvalRecord, parseTrainConfig } from "../core/train/config.ts";
import { trainRun } from "../core/train/trainer.ts";
import {
  checkGridFixedBatches,
  checkGridSampled,
  freshNet,
  GRID_CASES,
  maxAbs,
  maxAbsDiff,
  PARAMS,
} from "./helpers/device_grid.ts";

await tf.setBackend("cpu");
(tf.findBackend("cpu") as unknown as { firstUse: boolean }).firstUse = false;

Deno.test(`device hypergrid = CPU engine on a fixed batch: log P_F rows, log w, gradients (${GRID_CASES.length} cases)`, async () => {
  assert.ok(
    GRID_CASES.length >= 20 && GRID_CASES.some((c) => c.objective === "tsallis"),
    `${GRID_CASES.length}`,
  );
  await checkGridFixedBatches(tf, GRID_CASES);
});

Deno.test("device hypergrid: sampled forward and backward trajectories are valid, and their log w is the CPU engine's", async () => {
  await checkGridSampled(tf);
});

Deno.test("device hypergrid: x ~ π and the uniform P_B have the target's law (frequencies of 16384 draws)", async () => {
  // H = 3: the corners have R = R0 + R1 = 1, the other states R0 = 0.5
  const e = hypergrid({ d: 2, H: 3, R0: 0.5, R1: 0.5, R2: 2 });
  const ds = hypergridDeviceSampler(tf, e);
  const eng = new DeviceEngine({ tf, nets: [freshNet(1, e)], sampler: ds, lr: 1e-3 });
  const n = 16384;
  const rng = new DeviceUniforms(tf, [new Rng(77)], n * e.maxSteps); // the training generator (on the device)
  const traj = ds.backward(eng, n, rng);
  const x = (await traj.x.data()) as Float32Array;
  const actions = (await traj.actions.data()) as Int32Array;
  const freq = new Float64Array(e.nStates);
  // x = (2, 1): the uniform P_B walks back through (1, 1) or (2, 0) with probability 1/2 each, so the first forward
  // move is 0 with probability 1/2 + 1/4 = 3/4 (a uniformly random order of the moves would give 2/3)
  let first0 = 0, at21 = 0;
  for (let b = 0; b < n; b++) {
    freq[e.index([x[2 * b], x[2 * b + 1]])] += 1 / n;
    if (x[2 * b] === 2 && x[2 * b + 1] === 1) (at21++, first0 += actions[b * e.maxSteps] === 0 ? 1 : 0);
  }
  for (let s = 0; s < e.nStates; s++) {
    const pi = Math.exp(e.logR[s] - e.logZ);
    // 5 standard deviations of a frequency of n draws
    assert.ok(
      Math.abs(freq[s] - pi) <= 5 * Math.sqrt(pi * (1 - pi) / n),
      `state ${s}: ${freq[s]} vs π ${pi}`,
    );
  }
  assert.ok(at21 > 1000, `${at21}`);
  const p = first0 / at21;
  assert.ok(
    Math.abs(p - 0.75) <= 4 * Math.sqrt(0.75 * 0.25 / at21),
    `first move 0 from (2, 1): ${p} (${at21})`,
  );
  traj.dispose(), rng.dispose(), eng.dispose(), ds.dispose();
});

Deno.test("device hypergrid: forward samples have the policy's exact terminal law Q_T (frequencies of 16384 draws)", async () => {
  const e = hypergrid({ d: 2, H: 4, R0: 1e-3, R1: 0.5, R2: 2 });
  const net = freshNet(5, e);
  const { qT } = hypergridExact(e, net, jsGemm);
  const ds = hypergridDeviceSampler(tf, e);
  const eng = new DeviceEngine({ tf, nets: [net], sampler: ds, lr: 1e-3 });
  const n = 16384;
  const rng = new DeviceUniforms(tf, [new Rng(99)], n * e.maxSteps);
  const traj = ds.forward(eng, n, rng);
  const x = (await traj.x.data()) as Float32Array;
  const freq = new Float64Array(e.nStates);
  for (let b = 0; b < n; b++) freq[e.index([x[2 * b], x[2 * b + 1]])] += 1 / n;
  for (let s = 0; s < e.nStates; s++) {
    const q = qT[s];
    assert.ok(
      Math.abs(freq[s] - q) <= 5 * Math.sqrt(q * (1 - q) / n) + 1e-9,
      `state ${s}: ${freq[s]} vs Q_T ${q}`,
    );
  }
  traj.dispose(), rng.dispose(), eng.dispose(), ds.dispose();
});

Deno.test("device hypergrid: training d=2, H=4 reaches the CPU engine's exact KL and TV (same config, own streams)", async () => {
  const e = hypergrid({ d: 2, H: 4, R0: 1e-3, R1: 0.5, R2: 2 });
  for (const [objective, cv] of [["atb", "learned"], ["akl", "loo-logw"], ["pg", "none"]] as const) {
    const cfg = parseTrainConfig({
      task: "hypergrid",
      grid_dim: 2,
      grid_size: 4,
      r0: 1e-3,
      hidden: [16, 16],
      batch: 32,
      steps: 150,
      objective,
      cv,
      alpha: 0.5,
      lr: 0.004,
      lr_logz: 0.3,
      eval_every: 150,
      eval_samples: 16,
      seed: 1,
    });
    const init = initMlp([e.inputDim, 16, 16, e.nActions], "swish", "he-uniform", new Rng(1).fork());
    const kl0 = hypergridExact(e, init, jsGemm).exact_kl;
    const dev = await deviceTrain(tf, cfg);
    const d = hypergridExact(e, dev.net, jsGemm);
    const cpu = await trainRun(cfg, { gemm: jsGemm });
    const label = `${objective}/${cv}/α=0.5: KL ${kl0.toFixed(3)} → device ${d.exact_kl.toFixed(4)} (TV ${
      d.exact_tv.toFixed(4)
    }), cpu ${cpu.exact_kl!.toFixed(4)} (TV ${cpu.exact_tv!.toFixed(4)})`;
    console.log(`  ${label}`);
    // both converged (KL from ~3 to below 0.05, TV below 0.1) and within a factor 2 of each other in KL
    assert.ok(kl0 > 1, label);
    assert.ok(d.exact_kl < 0.05 && cpu.exact_kl! < 0.05, label);
    assert.ok(d.exact_tv < 0.1 && cpu.exact_tv! < 0.1, label);
    assert.ok(d.exact_kl < 2 * cpu.exact_kl! && cpu.exact_kl! < 2 * d.exact_kl, label);
  }
});

Deno.test("device hypergrid: a whole run gives the CPU trainer's evaluation records, modes found included", async () => {
  const cfg = parseTrainConfig({
    task: "hypergrid",
    grid_dim: 2,
    grid_size: 4,
    hidden: [8],
    batch: 16,
    steps: 5,
    alpha: 0.5,
    eval_every: 2,
    eval_samples: 16,
    seed: 3,
  });
  const records: EvalRecord[] = [];
  const s = await deviceTrainRun(tf, "tfjs-cpu", cfg, { gemm: jsGemm, onEval: (r) => void records.push(r) });
  assert.deepEqual(records.map((r) => r.step), [0, 2, 4, 5]);
  assert.equal(s.backend, "tfjs-cpu");
  assert.ok(typeof s.exact_kl === "number" && typeof s.exact_tv === "number" && s.modes_total === 4);
  // modes found only grow, from none before the first batch (the step-0 evaluation samples do not count)
  assert.equal(records[0].modes_found, 0);
  for (let i = 1; i < records.length; i++) assert.ok(records[i].modes_found! >= records[i - 1].modes_found!);
  const found = Number(s.modes_found);
  assert.ok(found >= 1 && found <= 4, `${found}`);
});

Deno.test("train --task hypergrid --backend tfjs-cpu runs on the device engine (JSON records, exact TV)", async () => {
  const p = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "main.ts",
      "train",
      "--task",
      "hypergrid",
      "--grid-dim",
      "2",
      "--grid-size",
      "4",
      "--backend",
      "tfjs-cpu",
      "--steps",
      "4",
      "--batch",
      "8",
      "--hidden",
      "8",
      "--alpha",
      "0.5",
      "--eval-every",
      "2",
      "--eval-samples",
      "8",
      "--json",
    ],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(p.stderr);
  assert.equal(p.code, 0, err);
  const lines = new TextDecoder().decode(p.stdout).trim().split("\n").map((l) => JSON.parse(l));
  const summary = lines[lines.length - 1];
  assert.equal(summary.backend, "tfjs-cpu");
  assert.equal(summary.steps, 4);
  assert.ok(
    summary.exact_tv >= 0 && summary.exact_tv <= 1 && summary.modes_total === 4,
    JSON.stringify(summary),
  );
  assert.deepEqual(lines.slice(0, -1).map((r) => r.step), [0, 2, 4]);
});

Deno.test("device hypergrid: bytes per step do not depend on d, H, B or the hidden sizes (no uniforms, no data)", async () => {
  const objective = OBJECTIVE_REGISTRY.find((o) => o.name === "akl")!;
  const cv = CONTROL_VARIATE_REGISTRY.find((c) => c.name === "loo-logw")!;
  const counter = new TransferCounter();
  const seen: { d: number; H: number; B: number; alpha: number; read: number; written: number }[] = [];
  for (
    const [d, H, Bt, hidden] of [[2, 4, 8, [8]], [2, 8, 32, [32, 32]], [3, 5, 16, [16]], [4, 3, 64, [
      8,
      8,
      8,
    ]]] as [
      number,
      number,
      number,
      number[],
    ][]
  ) {
    const e = hypergrid({ d, H, R0: 1e-3, R1: 0.5, R2: 2 });
    const ds = hypergridDeviceSampler(tf, e);
    const eng = new DeviceEngine({ tf, nets: [freshNet(3, e, hidden)], sampler: ds, lr: 1e-3 });
    const rng = new DeviceUniforms(tf, [new Rng(5)], Bt * e.inputDim);
    counter.attach(tf);
    // the first step makes the engine's kept constants (and the mode flags); count the second
    (await eng.step({ objective, cv, params: PARAMS, alpha: 0.5, B: Bt, rng, trainScalar: true })).dispose();
    try {
      for (const alpha of [0, 0.5]) {
        counter.reset();
        const g = await eng.step({ objective, cv, params: PARAMS, alpha, B: Bt, rng, trainScalar: true });
        g.dispose();
        seen.push({ d, H, B: Bt, alpha, read: counter.read, written: counter.written });
      }
    } finally {
      counter.detach();
      rng.dispose();
      eng.dispose();
      ds.dispose();
    }
  }
  // as for Ising (tests/device_engine_test.ts): the coefficients are computed on the device and Adam reads
  // ∂/∂scalar there, so a step reads nothing back; uploaded: the same few scalar constants for every d, H, B and
  // hidden size (the coefficient math's, Adam's two per optimiser). No uniform, no data state, nothing of size H^d
  // or B·T.
  for (const s of seen) {
    assert.equal(s.read, 0, JSON.stringify(s));
    const first = seen.find((t) => t.alpha === s.alpha)!;
    assert.equal(s.written, first.written, JSON.stringify(s));
    assert.ok(s.written >= 16 && s.written <= 16 + 64, JSON.stringify(s));
  }
});

Deno.test("device hypergrid: 3 seeds batched = 3 separate device runs (parameters, scalars)", async () => {
  const cfg = parseTrainConfig({
    task: "hypergrid",
    grid_dim: 2,
    grid_size: 4,
    hidden: [8],
    batch: 8,
    steps: 6,
    objective: "atb",
    cv: "learned",
    alpha: 0.5,
    lr: 0.01,
    seed: 0,
  });
  const seeds = [4, 5, 6];
  const batched = await deviceTrainSeeds(tf, cfg, seeds);
  for (const [k, seed] of seeds.entries()) {
    const one = await deviceTrain(tf, { ...cfg, seed });
    for (let l = 0; l < one.net.W.length; l++) {
      const tol = 1e-5 * (1 + maxAbs(one.net.W[l]));
      assert.ok(maxAbsDiff(batched.nets[k].W[l], one.net.W[l]) <= tol, `seed ${seed} W${l}`);
      assert.ok(maxAbsDiff(batched.nets[k].b[l], one.net.b[l]) <= tol, `seed ${seed} b${l}`);
    }
    assert.ok(
      Math.abs(batched.scalars[k] - one.scalar) <= 1e-5 * (1 + Math.abs(one.scalar)),
      `seed ${seed} scalar`,
    );
  }
  // and the seeds differ from each other
  assert.ok(maxAbsDiff(batched.nets[0].W[0], batched.nets[1].W[0]) > 1e-3);
});

Deno.test("device hypergrid: modes found count the training forward batches only, not evaluation samples", async () => {
  const e = hypergrid({ d: 2, H: 4, R0: 1e-3, R1: 0.5, R2: 2 });
  const ds = hypergridDeviceSampler(tf, e);
  const eng = new DeviceEngine({ tf, nets: [freshNet(2, e)], sampler: ds, lr: 1e-3 });
  const rng = new DeviceUniforms(tf, [new Rng(8)], 256 * e.inputDim);
  try {
    await eng.evaluateSampled(256, rng); // 256 samples reach every corner of the 4×4 grid
    assert.equal((await ds.modesFound(0)).n, 0);
    const objective = OBJECTIVE_REGISTRY.find((o) => o.name === "atb")!;
    const cv = CONTROL_VARIATE_REGISTRY.find((c) => c.name === "learned")!;
    (await eng.step({ objective, cv, params: PARAMS, alpha: 0, B: 64, rng, trainScalar: true })).dispose();
    const n = (await ds.modesFound(0)).n;
    assert.ok(n >= 1 && n <= 4, `${n}`);
  } finally {
    rng.dispose(), eng.dispose(), ds.dispose();
  }
});

Deno.test("device hypergrid: the two-level data tables give every state of a 20^4 grid its mass within 1%", async () => {
  // d = 4, H = 20, R0 = 1e-3: 160,000 states, the smallest π = 1.8e-7 (below float32's resolution of a CDF near 1)
  const e = hypergrid({ d: 4, H: 20, R0: 1e-3, R1: 0.5, R2: 2 });
  const N = e.nStates;
  const t = enumeratedTarget(tf, e.logR);
  const hi = await t.hi.data(), lo = await t.lo.data();
  const oneLevel = new Float32Array(N); // a single float32 CDF, for contrast
  for (let s = 0, acc = 0; s < N; s++) oneLevel[s] = acc += Math.exp(e.logR[s] - e.logZ);
  let err2 = 0, err1 = 0;
  for (let s = 0; s < N; s++) {
    const pi = Math.exp(e.logR[s] - e.logZ);
    const j = Math.floor(s / t.nLo), l = s % t.nLo;
    const m = (hi[j] - (j ? hi[j - 1] : 0)) * (lo[j * t.nLo + l] - (l ? lo[j * t.nLo + l - 1] : 0));
    err2 = Math.max(err2, Math.abs(m - pi) / pi);
    err1 = Math.max(err1, Math.abs(Math.min(oneLevel[s], 1) - (s ? oneLevel[s - 1] : 0) - pi) / pi);
  }
  t.dispose();
  assert.ok(err2 < 0.01, `two-level: max relative error ${err2}`);
  assert.ok(err1 > 0.1, `one level: ${err1}`); // what the two levels fix
});
