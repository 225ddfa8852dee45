/**
 * The device kernels of backends/device/scores.ts and backends/device/value.ts against the CPU engine on fixed
 * batches drawn by the CPU sampler (Ising 3×3, B = 16, MLP 16×2) and teacher-forced on the device (tfjs-core's
 * "cpu" backend): the per-sample scores h_s, the four optimal baselines' gradients with the weights αTB and αKL
 * give them (α ∈ {0, 0.5}), in one chunk and in many, and the policy-gradient objective's φ-gradient, value-network
 * gradient and loss (λ ∈ {1, 0.9}, α ∈ {0, 0.5}). Float32 tolerance per element: |Δ| ≤ 2e-4·max|g_cpu| + 1e-6.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { jsGemm, type Vec } from "../core/nn/gemm.ts";
import { initMlp, type Mlp, params, zerosLike } from "../core/nn/mlp.ts";
import { Rng } from "../core/rng.ts";
import { isingTask } from "../core/tasks/ising.ts";
import { type BitVectorBatch, bitVectorSampler } from "../core/gfn/bitvector.ts";
import { preparePolicy } from "../core/gfn/trajectories.ts";
import { CONTROL_VARIATE_REGISTRY } from "../core/baselines/registry.ts";
import { OBJECTIVE_REGISTRY } from "../core/objectives/registry.ts";
import { pg, pgCoefficients, stepCosts as cpuStepCosts } from "../core/objectives/pg.ts";
import { hypergrid } from "../core/tasks/hypergrid.ts";
import { discreteSampler } from "../core/gfn/discrete_sampler.ts";
import {
  bitRowLogp,
  chunkScores,
  layerGrads,
  optimalBaselineGradient,
  optimalKind,
  type PolicySignals,
  policySignals,
  scoreChunk,
  scoreNorms2,
  type StepRows,
  trajectoryGrads,
} from "../backends/device/scores.ts";
import {
  DeviceValueNet,
  gaeMatrix,
  pgRowTerms,
  rowView,
  stepCosts,
  stepView,
} from "../backends/device/value.ts";

await tf.setBackend("cpu");
(tf.findBackend("cpu") as unknown as { firstUse: boolean }).firstUse = false;

type T = tf.Tensor;
const REL = 2e-4, ABS = 1e-6;
const L = 3, D = L * L, B = 16, BETA = 0.4;
const task = isingTask(L, BETA);
const sampler = bitVectorSampler(task);

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}
function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** The policy's parameters as one seed's device tensors ([1, in, out], [1, 1, out]). */
function seedVars(net: Mlp): T[] {
  return params(net).map((p, i) => {
    const l = i >> 1, fin = net.sizes[l], fout = net.sizes[l + 1];
    return i % 2 === 0
      ? tf.tensor3d(Float32Array.from(p), [1, fin, fout])
      : tf.tensor3d(Float32Array.from(p), [1, 1, fout]);
  });
}

/** The CPU batch's step rows on the device (states, position one-hots, values; step-major). */
function rowsOf(batch: BitVectorBatch): StepRows {
  const n = batch.layout.rows;
  return tf.tidy(() => ({
    states: tf.tensor3d(Float32Array.from(batch.stateInputs()), [1, n, D]),
    ohPos: tf.reshape(tf.oneHot(tf.tensor1d(batch.traj.pos, "int32"), D, 1, 0, "float32"), [1, n, D]),
    v: tf.tensor2d(Float32Array.from(batch.traj.val), [1, n]),
  }));
}

/** log w = log R − Σ_t log p on the device ([1, B]). */
function deviceLogw(sig: PolicySignals, rows: StepRows, batch: BitVectorBatch): T {
  return tf.tidy(() =>
    tf.sub(
      tf.tensor2d(Float32Array.from(batch.logR), [1, B]),
      tf.sum(tf.reshape(bitRowLogp(tf, rows, sig.logits), [1, sig.T, B]), 1),
    )
  );
}

async function assertClose(dev: T[], cpu: Vec[], label: string): Promise<void> {
  assert.equal(dev.length, cpu.length, label);
  const tol = REL * Math.max(...cpu.map(maxAbs)) + ABS;
  for (let k = 0; k < cpu.length; k++) {
    const d = maxAbsDiff((await dev[k].data()) as Float32Array, cpu[k]);
    assert.ok(d <= tol, `${label}: param ${k} differs by ${d} > ${tol}`);
  }
}

function drawBatches(net: Mlp, seed: number): { fwd: BitVectorBatch; bwd: BitVectorBatch } {
  const rng = new Rng(seed), pol = preparePolicy(net);
  return {
    fwd: sampler.forward(pol, jsGemm, B, rng) as BitVectorBatch,
    bwd: sampler.backward(pol, jsGemm, B, rng) as BitVectorBatch,
  };
}

const net = initMlp([D, 16, 16, 2 * D], "swish", "he-uniform", new Rng(7));

Deno.test("device scores: per-sample scores and ‖h_s‖² equal the CPU engine's forEachScore, in one chunk and in many", async () => {
  const { fwd } = drawBatches(net, 11);
  const vars = seedVars(net), rows = rowsOf(fwd);
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
  const maxP = 16 * 2 * D;
  assert.equal(scoreChunk(sig), B);
  assert.equal(scoreChunk(sig, 3 * maxP), 3);
  for (const budget of [undefined, 3 * maxP, maxP]) {
    const n2 = (await scoreNorms2(tf, sig, budget).data()) as Float32Array;
    for (let s = 0; s < B; s++) assert.ok(Math.abs(n2[s] - norms[s]) <= 1e-5 * norms[s], `budget ${budget}`);
  }
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
  assert.deepEqual(optimal.map((c) => optimalKind(c.name) !== null), [true, true, true, true]);
  let cases = 0;
  for (const [i, o] of objectives.entries()) {
    for (const cv of optimal) {
      for (const alpha of [0, 0.5]) {
        const { fwd } = drawBatches(net, 20 + i);
        const weight = CV_WEIGHT[o.name](alpha);
        const grads = zerosLike(net);
        cv.addGradient(fwd, fwd.logw, 0.3, weight, grads);
        const vars = seedVars(net), rows = rowsOf(fwd);
        const sig = policySignals(tf, vars, net.activation, rows, B);
        const logw = deviceLogw(sig, rows, fwd);
        assert.ok(maxAbsDiff((await logw.data()) as Float32Array, fwd.logw) < 1e-4);
        const maxP = 16 * 2 * D;
        for (const budget of [undefined, 3 * maxP]) {
          const dev = optimalBaselineGradient(tf, sig, logw, optimalKind(cv.name)!, weight, budget);
          await assertClose(dev, grads, `${o.name}/${cv.name}/α=${alpha}/budget ${budget ?? "default"}`);
          tf.dispose(dev);
        }
        tf.dispose([...vars, rows.states, rows.ohPos, rows.v, logw, ...sig.inputs, ...sig.deltas]);
        cases++;
      }
    }
  }
  assert.equal(cases, 16);
});

/** The bit-vector rows' true log P_F = log p − log(D − t) and uniform log P_B = −log(t + 1), step-major [1, D·B]. */
function bitRowLogProbs(logp: T): [T, T] {
  const t = tf.reshape(tf.range(0, D, 1, "float32"), [1, D, 1]);
  const pf = tf.reshape(tf.sub(tf.reshape(logp, [1, D, B]), tf.log(tf.sub(D, t))), [1, D * B]);
  const pb = tf.reshape(tf.tile(tf.neg(tf.log(tf.add(t, 1))), [1, 1, B]), [1, D * B]);
  return [pf, pb];
}

Deno.test("device value: pg's φ-gradient, value-network gradient and loss equal the CPU engine's (λ ∈ {1, 0.9}, α ∈ {0, 0.5})", async () => {
  const value = initMlp([D, 16, 16, 1], "swish", "he-uniform", new Rng(8));
  for (const lambda of [1, 0.9]) {
    for (const alpha of [0, 0.5]) {
      const label = `pg λ=${lambda} α=${alpha}`;
      const { fwd, bwd } = drawBatches(net, 31);
      const scalar = 0.7;
      const grads = zerosLike(net);
      const cpu = pg.gradient({
        alpha,
        cv: CONTROL_VARIATE_REGISTRY[0],
        scalar,
        params: { pg_lambda: lambda },
        gemm: jsGemm,
        forward: fwd,
        backward: alpha > 0 ? bwd : undefined,
        value,
        grads,
      });
      const vnet = new DeviceValueNet(tf, [value], 1e-3);
      const Lambda = gaeMatrix(tf, D, lambda);
      const vars = seedVars(net), rows = rowsOf(fwd);
      const sig = policySignals(tf, vars, net.activation, rows, B);
      const out = tf.tidy(() => {
        const logR = tf.tensor2d(Float32Array.from(fwd.logR), [1, B]);
        const [pf, pb] = bitRowLogProbs(bitRowLogp(tf, rows, sig.logits));
        const cost = stepCosts(tf, pf, pb, logR, tf.tensor1d([scalar]), "step-major");
        const terms = pgRowTerms(tf, cost, vnet.values(rows.states), Lambda, 1 - alpha, "step-major");
        let g = layerGrads(tf, sig.inputs, sig.deltas, terms.coef);
        if (alpha > 0) {
          const rb = rowsOf(bwd);
          const sb = policySignals(tf, vars, net.activation, rb, B);
          const gb = trajectoryGrads(tf, sb, tf.fill([1, B], -alpha / B));
          g = g.map((x, k) => tf.add(x, gb[k]));
        }
        const reg = vnet.regression(rows.states, terms.target);
        return { g, vg: reg.grads, loss: reg.loss };
      });
      await assertClose(out.g, grads, `${label}: φ`);
      await assertClose(out.vg, cpu.valueGrads!, `${label}: value`);
      const loss = ((await out.loss.data()) as Float32Array)[0];
      assert.ok(Math.abs(loss - cpu.valueLoss!) <= 1e-4 * (1 + cpu.valueLoss!), `${label}: value loss`);
      tf.dispose([...out.g, ...out.vg, out.loss, Lambda, ...vars, rows.states, rows.ohPos, rows.v]);
      tf.dispose([...sig.inputs, ...sig.deltas, sig.logits]);
      vnet.dispose();
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
  const { fwd } = drawBatches(net, 12);
  const vars = seedVars(net), rows = rowsOf(fwd);
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
