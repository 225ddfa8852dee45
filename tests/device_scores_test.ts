/**
 * The device kernels of backends/device/scores.ts and backends/device/value.ts against the CPU engine on fixed
 * batches drawn by the CPU sampler (Ising 3×3, B = 16, MLP 16×2) and teacher-forced on the device (tfjs-core's
 * "cpu" backend; tests/device_scores_webgpu_test.ts runs a few of the same cases on WebGPU): the per-sample
 * scores h_s, the four optimal baselines' gradients with the weights αTB and αKL give them (α ∈ {0, 0.5}), in one
 * chunk and in many, and the policy-gradient objective's φ-gradient, value-network gradient and loss (λ ∈ {1,
 * 0.9}, α ∈ {0, 0.5}); pg's costs, coefficients and targets on padded variable-length (hypergrid) rows.
 * Float32 tolerance per element: |Δ| ≤ 2e-4·max|g_cpu| + 1e-6 (tests/helpers/device_fixed.ts).
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { jsGemm } from "../core/nn/gemm.ts";
import { initMlp, zerosLike } from "../core/nn/mlp.ts";
import { Rng } from "../core/rng.ts";
import { isingTask } from "../core/tasks/ising.ts";
import { CONTROL_VARIATE_REGISTRY } from "../core/baselines/registry.ts";
import { OBJECTIVE_REGISTRY } from "../core/objectives/registry.ts";
import { pgCoefficients, stepCosts as cpuStepCosts } from "../core/objectives/pg.ts";
import { hypergrid } from "../core/tasks/hypergrid.ts";
import { discreteSampler } from "../core/gfn/discrete_sampler.ts";
import {
  chunkScores,
  optimalScalarBaseline,
  type PolicySignals,
  policySignals,
  scoreChunk,
  scoreNorms2,
} from "../backends/device/scores.ts";
import { DevicePg, gaeMatrix, pgRowTerms, rowView, stepCosts, stepView } from "../backends/device/value.ts";
import { DeviceEngine, hostCoefficients, TransferCounter } from "../backends/device/engine.ts";
import { isingDeviceSampler, ordersOf } from "../backends/device/bitvector.ts";
import { DeviceUniforms } from "../backends/device/rng.ts";
import { deviceTrain, deviceTrainSeeds } from "../backends/device/train.ts";
import { objectiveNamed } from "../core/objectives/registry.ts";
import { controlVariateNamed } from "../core/baselines/registry.ts";
import { optimalScalarBaseline as cpuOptimalScalarBaseline } from "../core/baselines/cv.ts";
import { parseTrainConfig } from "../core/train/config.ts";
import {
  ABS,
  assertGradsClose,
  bitRows,
  checkOptimal,
  checkPg,
  disposeRows,
  drawBatches,
  isingTrainingKl,
  maxAbs,
  maxAbsDiff,
  REL,
  seedVars,
} from "./helpers/device_fixed.ts";

await tf.setBackend("cpu");
(tf.findBackend("cpu") as unknown as { firstUse: boolean }).firstUse = false;

type T = tf.Tensor;
const L = 3, D = L * L, B = 16, BETA = 0.4;
const task = isingTask(L, BETA);
const net = initMlp([D, 16, 16, 2 * D], "swish", "he-uniform", new Rng(7));
/** Parameters of the largest layer (16 → 2D): a score budget of k·maxP gives chunks of k trajectories. */
const maxP = 16 * 2 * D;

Deno.test("device scores: per-sample scores and ‖h_s‖² equal the CPU engine's forEachScore, in one chunk and in many", async () => {
  const { fwd } = drawBatches(task, net, B, 11);
  const vars = seedVars(tf, net), rows = bitRows(tf, fwd);
  const sig = policySignals(tf, vars, net.activation, rows, B);
  const cpu: Float32Array[][] = [], norms: number[] = [];
  fwd.forEachScore((s, h) => {
    cpu[s] = h.map((x) => Float32Array.from(x));
    norms[s] = h.reduce((n, x) => n + Array.from(x).reduce((m, v) => m + v * v, 0), 0);
  });
  const h = chunkScores(tf, sig, 0, B);
  for (let p = 0; p < h.length; p++) {
    const d = (await h[p].data()) as Float32Array, per = d.length / B;
    for (let s = 0; s < B; s++) {
      const tol = REL * maxAbs(cpu[s][p]) + ABS;
      const diff = maxAbsDiff(d.subarray(s * per, (s + 1) * per), cpu[s][p]);
      assert.ok(diff <= tol, `param ${p}, sample ${s}: ${diff} > ${tol}`);
    }
  }
  assert.equal(scoreChunk(sig), B);
  assert.equal(scoreChunk(sig, 3 * maxP), 3);
  for (const budget of [undefined, 3 * maxP, maxP]) {
    const n2 = (await scoreNorms2(tf, sig, budget).data()) as Float32Array;
    for (let s = 0; s < B; s++) assert.ok(Math.abs(n2[s] - norms[s]) <= 1e-5 * norms[s], `budget ${budget}`);
  }
  tf.dispose([...vars, ...h, ...sig.inputs, ...sig.deltas, sig.logits]);
  disposeRows(tf, rows);
});

// the weight each objective that reads a control variate gives it on the forward batch (atb: 2 × the reverse-KL
// estimator, akl: the reverse KL), at backward ratio α
const CV_WEIGHT: Record<string, (alpha: number) => number> = {
  atb: (a) => 2 * (1 - a),
  akl: (a) => 1 - a,
};

Deno.test("device scores: the optimal baselines' gradients equal the CPU estimator's (atb, akl × opt-* × α ∈ {0, 0.5})", async () => {
  const objectives = OBJECTIVE_REGISTRY.filter((o) => o.usesCv);
  assert.deepEqual(objectives.map((o) => o.name).sort(), Object.keys(CV_WEIGHT).sort());
  const optimal = CONTROL_VARIATE_REGISTRY.filter((c) => c.needsScores);
  assert.deepEqual(optimal.map((c) => c.optimal !== undefined), [true, true, true, true]);
  let cases = 0;
  for (const [i, o] of objectives.entries()) {
    for (const cv of optimal) {
      for (const alpha of [0, 0.5]) {
        const { fwd } = drawBatches(task, net, B, 20 + i);
        const label = `${o.name}/${cv.name}/α=${alpha}`;
        await checkOptimal(tf, net, fwd, cv.name, CV_WEIGHT[o.name](alpha), label, [undefined, 3 * maxP]);
        cases++;
      }
    }
  }
  assert.equal(cases, 16);
});

Deno.test("device value: pg's φ-gradient, value-network gradient and loss equal the CPU engine's (λ ∈ {1, 0.9}, α ∈ {0, 0.5})", async () => {
  const value = initMlp([D, 16, 16, 1], "swish", "he-uniform", new Rng(8));
  const { fwd, bwd } = drawBatches(task, net, B, 31);
  for (const lambda of [1, 0.9]) {
    for (const alpha of [0, 0.5]) {
      await checkPg(tf, net, value, fwd, bwd, lambda, alpha, `pg λ=${lambda} α=${alpha}`);
    }
  }
});

Deno.test("device value: variable-length trajectories (hypergrid, padded trajectory-major rows) give pg's costs, coefficients and value targets", async () => {
  const env = hypergrid({ d: 2, H: 8, R0: 1e-3, R1: 0.5, R2: 2 });
  const hnet = initMlp([env.inputDim, 16, env.nActions], "swish", "he-uniform", new Rng(4));
  const Bh = 12, scalar = -0.4;
  const batch = discreteSampler(env).forward(discreteSampler(env).prepare(hnet), jsGemm, Bh, new Rng(5));
  const { layout } = batch;
  const Tm = Math.max(...Array.from({ length: Bh }, (_, b) => layout.len(b)));
  assert.ok(Math.min(...Array.from({ length: Bh }, (_, b) => layout.len(b))) < Tm, "lengths differ");
  const values = Float64Array.from({ length: layout.rows }, (_, r) => Math.sin(r));
  // padded trajectory-major rows b·Tm + t
  const pad = (x: ArrayLike<number>) => {
    const out = new Float32Array(Bh * Tm);
    for (let b = 0; b < Bh; b++) {
      for (let t = 0; t < layout.len(b); t++) out[b * Tm + t] = x[layout.row(b, t)];
    }
    return tf.tensor2d(out, [1, Bh * Tm]);
  };
  const mask = pad(new Float64Array(layout.rows).fill(1));
  const Lambda = gaeMatrix(tf, Tm, 0.9);
  const dev = tf.tidy(() => {
    const cost = stepCosts(
      tf,
      pad(batch.logPFRows),
      pad(batch.logPBRows),
      tf.tensor2d(Float32Array.from(batch.logR), [1, Bh]),
      tf.tensor1d([scalar]),
      "trajectory-major",
      mask,
    );
    const terms = pgRowTerms(tf, cost, pad(values), Lambda, 0.5, "trajectory-major", mask);
    return [rowView(tf, cost, "trajectory-major"), terms.coef, terms.target];
  });
  const cpuCost = cpuStepCosts(batch, scalar);
  const cpu = pgCoefficients(layout, cpuCost, values, 0.9);
  const [cost, coef, target] = await Promise.all(dev.map(async (t) => (await t.data()) as Float32Array));
  const at = (x: Float32Array, b: number, t: number) => x[b * Tm + t];
  for (let b = 0; b < Bh; b++) {
    for (let t = 0; t < Tm; t++) {
      if (t >= layout.len(b)) {
        assert.ok(at(coef, b, t) === 0, "padding rows carry no coefficient");
        continue;
      }
      const r = layout.row(b, t);
      assert.ok(Math.abs(at(cost, b, t) - cpuCost[r]) <= 1e-5 * (1 + Math.abs(cpuCost[r])), `cost ${b},${t}`);
      assert.ok(Math.abs(at(coef, b, t) - 0.5 * cpu.coef[r]) <= 1e-5, `coef ${b},${t}`);
      assert.ok(Math.abs(at(target, b, t) - cpu.valueTarget[r]) <= 1e-4 * (1 + Math.abs(cpu.valueTarget[r])));
    }
  }
  tf.dispose([...dev, mask, Lambda]);
});

Deno.test("device scores: trajectory-major rows give the same per-sample scores as step-major ones", async () => {
  const { fwd } = drawBatches(task, net, B, 12);
  const vars = seedVars(tf, net), rows = bitRows(tf, fwd);
  const step = policySignals(tf, vars, net.activation, rows, B);
  // the same rows reordered b·D + t
  const perm = tf.tensor1d(
    Int32Array.from({ length: B * D }, (_, i) => (i % D) * B + Math.floor(i / D)),
    "int32",
  );
  const re = (x: T) => tf.gather(x, perm, 1);
  const trajMajor = {
    ...step,
    order: "trajectory-major" as const,
    inputs: step.inputs.map(re),
    deltas: step.deltas.map(re),
  };
  const a = chunkScores(tf, step, 3, 5), b = chunkScores(tf, trajMajor, 3, 5);
  for (let p = 0; p < a.length; p++) {
    assert.ok(maxAbsDiff((await a[p].data()) as Float32Array, (await b[p].data()) as Float32Array) <= 1e-6);
  }
  const c = (await rowView(
    tf,
    stepView(tf, tf.reshape(tf.range(0, B * D), [1, B * D]), B, "trajectory-major"),
    "trajectory-major",
  ).data()) as Float32Array;
  assert.deepEqual([...c], [...Array(B * D).keys()]);
});

Deno.test("device engine steps with pg and the optimal baselines: nothing read back, uploads independent of D, B and the widths", async () => {
  const params = { div_alpha: 0.5, pg_lambda: 0.9, lr_value: 1e-3 };
  const seen: { objective: string; L: number; B: number; alpha: number; read: number; written: number }[] =
    [];
  const counter = new TransferCounter();
  for (
    const [Lt, Bt, hidden] of [[2, 8, [8, 8]], [3, 32, [16, 16]], [4, 16, [32, 32]]] as [
      number,
      number,
      number[],
    ][]
  ) {
    const Dt = Lt * Lt;
    for (const [o, c] of [["pg", "none"], ["akl", "opt-vector-loo"], ["atb", "opt-scalar"]] as const) {
      const objective = objectiveNamed(o), cv = controlVariateNamed(c);
      const net = initMlp([Dt, ...hidden, 2 * Dt], "swish", "he-uniform", new Rng(3));
      const ds = isingDeviceSampler(tf, Lt, BETA);
      const eng = new DeviceEngine({ tf, nets: [net], sampler: ds, lr: 1e-3 });
      const pg = objective.needsValue
        ? new DevicePg(tf, [initMlp([Dt, ...hidden, 1], "swish", "he-uniform", new Rng(4))], 1e-3, 0.9)
        : undefined;
      const rng = new DeviceUniforms(tf, [new Rng(5)], Bt * Dt);
      counter.attach(tf);
      try {
        for (const alpha of [0, 0.5]) {
          // a first step makes the per-shape constants (pg's Λ); the second is counted: the gradient and the
          // updates on batches drawn before counting (the draws upload the sampler's uniforms)
          for (let i = 0; i < 2; i++) {
            const forward = alpha < 1 ? ds.forward(eng, Bt, rng) : undefined;
            const backward = alpha > 0 ? ds.backward(eng, Bt, rng) : undefined;
            counter.reset();
            const coefficients = pg?.coefficients;
            const g = await eng.gradient({ objective, cv, params, alpha, forward, backward, coefficients });
            eng.apply(g.grads, g.dScalar);
            pg?.update();
            g.dispose(), forward?.dispose(), backward?.dispose();
          }
          seen.push({ objective: o, L: Lt, B: Bt, alpha, read: counter.read, written: counter.written });
        }
      } finally {
        counter.detach();
        rng.dispose();
        pg?.dispose();
        eng.dispose();
        ds.dispose();
      }
    }
  }
  // nothing is read back: the coefficients, the per-sample scores and the value network stay on the device
  for (const s of seen) assert.equal(s.read, 0, JSON.stringify(s));
  // the uploads are scalar constants of the step program: the same bytes whatever D, B and the widths
  for (const objective of ["pg", "akl", "atb"]) {
    for (const alpha of [0, 0.5]) {
      const mine = seen.filter((s) => s.objective === objective && s.alpha === alpha);
      assert.equal(new Set(mine.map((s) => s.written)).size, 1, JSON.stringify(mine));
    }
  }
});

Deno.test("device engine: training Ising 3×3 with pg and with opt-vector-loo lowers the exact KL like the CPU engine", async () => {
  for (const [objective, cv, alpha] of [["pg", "none", 0], ["akl", "opt-vector-loo", 0]] as const) {
    const { kl0, klDev, klCpu, label } = await isingTrainingKl(tf, objective, cv, alpha);
    console.log(label);
    // both far below the start, and within a factor 2 of each other (different random streams)
    assert.ok(klDev < 0.25 * kl0 && klCpu < 0.25 * kl0, label);
    assert.ok(klDev < 2 * klCpu && klCpu < 2 * klDev, label);
  }
});

Deno.test("seed batching with pg and opt-vector-loo: 3 seeds trained in one program = 3 separate device runs, per seed", async () => {
  for (const [objective, cv, alpha] of [["pg", "none", 0.5], ["akl", "opt-vector-loo", 0]] as const) {
    const cfg = parseTrainConfig({
      task: "ising",
      L: 2,
      beta: BETA,
      hidden: [16],
      batch: 8,
      steps: 8,
      objective,
      cv,
      alpha,
      pg_lambda: 0.9,
      lr: 3e-3,
      seed: 0,
    });
    const seeds = [21, 22, 23];
    const batched = await deviceTrainSeeds(tf, cfg, seeds);
    for (let k = 0; k < seeds.length; k++) {
      const label = `${objective}/${cv} seed ${seeds[k]}`;
      const alone = await deviceTrain(tf, { ...cfg, seed: seeds[k] });
      const a = alone.net, b = batched.nets[k];
      for (let l = 0; l < a.W.length; l++) {
        assert.ok(maxAbsDiff(a.W[l], b.W[l]) <= 1e-5 * (1 + maxAbs(a.W[l])), `${label} W${l}`);
        assert.ok(maxAbsDiff(a.b[l], b.b[l]) <= 1e-5 * (1 + maxAbs(a.b[l])), `${label} b${l}`);
      }
      assert.ok(Math.abs(alone.scalar - batched.scalars[k]) <= 1e-5 * (1 + Math.abs(alone.scalar)), label);
      // the seeds moved from their initial policies (the comparison is not vacuous)
      const init = initMlp([4, 16, 8], "swish", "he-uniform", new Rng(seeds[k]).fork());
      assert.ok(maxAbsDiff(init.W[0], b.W[0]) > 1e-3, label);
    }
  }
});

Deno.test("device scores: chunks at the paper's scale (D = 225, B = 256, MLP 256×3) keep a chunk's largest score ≤ 2^24 floats", () => {
  // only the shapes matter: the largest layer is 256 → 2D = 450 (115,200 parameters)
  const shaped = (...shape: number[]) => ({ shape }) as unknown as T;
  const D = 225, B = 256, widths = [D, 256, 256, 256, 2 * D];
  const signals = (K: number): PolicySignals => ({
    K,
    B,
    T: D,
    order: "step-major",
    inputs: widths.slice(0, -1).map((w) => shaped(K, D * B, w)),
    deltas: widths.slice(1).map((w) => shaped(K, D * B, w)),
    logits: shaped(K, D * B, 2 * D),
  });
  assert.equal(scoreChunk(signals(1)), 145); // ⌊2^24 / 115,200⌋: 2 chunks (145 + 111) per step
  assert.equal(scoreChunk(signals(10)), 14); // 10 seeds batched: 19 chunks of 14 trajectories × 10 seeds
  for (const K of [1, 10]) assert.ok(K * scoreChunk(signals(K)) * 256 * 2 * D <= 1 << 24);
  assert.equal(scoreChunk(signals(1), 1), 1); // at least one trajectory per chunk
});

Deno.test("device scores: the LOO optimal scalar baseline stays accurate when one sample's ‖h‖² dominates (= the CPU's float64)", async () => {
  const K = 2, Bs = 8;
  const logw = new Float64Array(K * Bs), norms = new Float64Array(K * Bs);
  for (let i = 0; i < K * Bs; i++) {
    logw[i] = Math.fround(Math.sin(3 * i) * 4);
    norms[i] = Math.fround(1 + (i % 3));
  }
  norms[2] = Math.fround(3e7); // seed 0: sample 2 dominates Σ‖h‖² by 10⁷ (total − own would lose the others)
  norms[Bs + 5] = 0; // seed 1: one sample without a score
  const dev = tf.tidy(() =>
    optimalScalarBaseline(
      tf,
      tf.tensor2d(Float32Array.from(logw), [K, Bs]),
      tf.tensor2d(Float32Array.from(norms), [K, Bs]),
      true,
    )
  );
  const got = (await dev.data()) as Float32Array;
  for (let k = 0; k < K; k++) {
    const want = cpuOptimalScalarBaseline(
      logw.subarray(k * Bs, (k + 1) * Bs),
      norms.subarray(k * Bs, (k + 1) * Bs),
      true,
    );
    for (let s = 0; s < Bs; s++) {
      const g = got[k * Bs + s];
      assert.ok(
        Math.abs(g - want[s]) <= 1e-5 * (1 + Math.abs(want[s])),
        `seed ${k} sample ${s}: ${g} vs ${want[s]}`,
      );
    }
  }
  dev.dispose();
});

Deno.test("device engine: the host coefficients path hands the optimal baselines to the device too (= CPU engine)", async () => {
  const ds = isingDeviceSampler(tf, L, BETA);
  const eng = new DeviceEngine({ tf, nets: [net], sampler: ds, lr: 1e-3 });
  try {
    for (const [o, c, alpha] of [["akl", "opt-vector-loo", 0.5], ["atb", "opt-scalar-loo", 0]] as const) {
      const objective = objectiveNamed(o), cv = controlVariateNamed(c);
      const { fwd, bwd } = drawBatches(task, net, B, 41);
      const grads = zerosLike(net);
      objective.gradient({
        alpha,
        cv,
        scalar: 0.3,
        params: {},
        gemm: jsGemm,
        forward: fwd,
        backward: alpha > 0 ? bwd : undefined,
        grads,
      });
      const up = (b: typeof fwd) => ds.upload([b.x as Int8Array], [ordersOf(b.traj.pos, B, D)], B);
      const f = up(fwd), bw = alpha > 0 ? up(bwd) : undefined;
      eng.setScalar([0.3]);
      const dev = await eng.gradient({
        objective,
        cv,
        params: {},
        alpha,
        forward: f,
        backward: bw,
        coefficients: hostCoefficients,
      });
      await assertGradsClose(dev.grads, grads, `host path ${o}/${c}/α=${alpha}`);
      dev.dispose(), f.dispose(), bw?.dispose();
    }
  } finally {
    eng.dispose();
    ds.dispose();
  }
});

Deno.test("device engine with pg and the optimal baselines: steps leave no tensor behind; disposing frees everything", async () => {
  const before = tf.memory().numTensors;
  const params = { div_alpha: 0.5, pg_lambda: 0.9, lr_value: 1e-3 };
  for (
    const [o, c, alpha] of [
      ["pg", "none", 0.5],
      ["akl", "opt-vector-loo", 0],
      ["atb", "opt-scalar-loo", 0.5],
      [
        "atb",
        "opt-vector",
        0,
      ],
    ] as const
  ) {
    const ds = isingDeviceSampler(tf, L, BETA);
    const nets = [1, 2].map((s) => initMlp([D, 8, 2 * D], "elu", "he-uniform", new Rng(s)));
    const eng = new DeviceEngine({ tf, nets, sampler: ds, lr: 1e-3 });
    const pg = o === "pg"
      ? new DevicePg(tf, [3, 4].map((s) => initMlp([D, 8, 1], "elu", "he-uniform", new Rng(s))), 1e-3, 0.9)
      : undefined;
    const rng = new DeviceUniforms(tf, [new Rng(1), new Rng(2)], 8 * D);
    const objective = objectiveNamed(o), cv = controlVariateNamed(c);
    const counts: number[] = [];
    for (let i = 0; i < 3; i++) {
      const g = await eng.step({
        objective,
        cv,
        params,
        alpha,
        B: 8,
        rng,
        trainScalar: true,
        coefficients: pg?.coefficients,
      });
      pg?.update();
      g.dispose();
      counts.push(tf.memory().numTensors);
    }
    assert.ok(counts.every((n) => n === counts[0]), `${o}/${c}: ${counts}`);
    pg?.dispose(), rng.dispose(), eng.dispose(), ds.dispose();
    assert.equal(tf.memory().numTensors, before, `${o}/${c}: tensors left after dispose`);
  }
});

Deno.test("device scores: the optimal baselines with relu, elu and tanh policies = the CPU estimator in float64", async () => {
  // (relu zeroes whole score coordinates: an element can be dominated by one sample, where the LOO difference
  // Σh² − h_s² loses digits in float32 — on the CPU's float32 sums as on the device's; both are compared with the
  // float64 estimator on the same trajectories; the float32 CPU path is the reference in the tests above)
  for (const activation of ["relu", "elu", "tanh"] as const) {
    const anet = initMlp([D, 16, 16, 2 * D], activation, "he-uniform", new Rng(9));
    const { fwd } = drawBatches(task, anet, B, 51);
    for (const cv of ["opt-vector-loo", "opt-vector", "opt-scalar-loo", "opt-scalar"]) {
      await checkOptimal(tf, anet, fwd, cv, 1, `${activation} ${cv}`, [undefined, 5 * maxP], task);
    }
  }
});

Deno.test("device engine: pg at α = 1 (a backward batch only) = the CPU engine; the value network gets no gradient", async () => {
  const ds = isingDeviceSampler(tf, L, BETA);
  const eng = new DeviceEngine({ tf, nets: [net], sampler: ds, lr: 1e-3 });
  const value = initMlp([D, 16, 16, 1], "swish", "he-uniform", new Rng(8));
  const pg = new DevicePg(tf, [value], 1e-3, 0.9);
  try {
    const { bwd } = drawBatches(task, net, B, 61);
    const grads = zerosLike(net);
    const cpu = objectiveNamed("pg").gradient({
      alpha: 1,
      cv: controlVariateNamed("none"),
      scalar: 0.3,
      params: { pg_lambda: 0.9 },
      gemm: jsGemm,
      backward: bwd,
      value,
      grads,
    });
    const bw = ds.upload([bwd.x as Int8Array], [ordersOf(bwd.traj.pos, B, D)], B);
    eng.setScalar([0.3]);
    const dev = await eng.gradient({
      objective: objectiveNamed("pg"),
      cv: controlVariateNamed("none"),
      params: { pg_lambda: 0.9 },
      alpha: 1,
      backward: bw,
      coefficients: pg.coefficients,
    });
    await assertGradsClose(dev.grads, grads, "pg α = 1");
    assert.equal((await dev.dScalar.data())[0], cpu.dScalar);
    assert.equal(cpu.valueGrads, undefined);
    assert.equal(pg.valueGrads, null);
    dev.dispose(), bw.dispose();
  } finally {
    pg.dispose(), eng.dispose(), ds.dispose();
  }
});
