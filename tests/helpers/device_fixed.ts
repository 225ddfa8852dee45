/**
 * Fixed-batch cases for the device kernels of backends/device/scores.ts and value.ts, for any tfjs backend (the
 * cpu one in tests/device_scores_test.ts, WebGPU in tests/device_scores_webgpu_test.ts): batches drawn by the CPU
 * sampler, teacher-forced on the device, and the CPU engine's numbers on the same batches.
 */
import { float64 } from "../../core/algebra.ts";
import assert from "node:assert/strict";
import type * as tfc from "@tensorflow/tfjs-core";
import { jsGemm, type Vec } from "../../core/nn/gemm.ts";
import { initMlp, type Mlp, params, zerosLike } from "../../core/nn/mlp.ts";
import { isingTask } from "../../core/tasks/ising.ts";
import { exactMetrics, exactTarget } from "../../core/eval/exact.ts";
import { parseTrainConfig } from "../../core/train/config.ts";
import { trainRun } from "../../core/train/trainer.ts";
import { deviceTrain } from "../../backends/device/train.ts";
import { Rng } from "../../core/rng.ts";
import type { BitTask } from "../../core/tasks/task.ts";
import { type BitVectorBatch, bitVectorBatch, bitVectorSampler } from "../../core/gfn/bitvector.ts";
import { ordersOf } from "../../backends/device/bitvector.ts";
import { preparePolicy, runTrajectories } from "../../core/gfn/trajectories.ts";
import { controlVariateNamed } from "../../core/baselines/registry.ts";
import { pg } from "../../core/objectives/pg.ts";
import type { Tf } from "../../backends/device/engine.ts";
import {
  bitRowLogp,
  optimalBaselineGradient,
  policySignals,
  type StepRows,
  trajectoryGrads,
} from "../../backends/device/scores.ts";
import { DeviceValueNet, gaeMatrix, pgRowTerms, stepCosts } from "../../backends/device/value.ts";
import { layerGrads } from "../../backends/device/nn.ts";

type T = tfc.Tensor;

/** Float32 tolerance: |g_dev − g_cpu| ≤ REL·max|g_cpu| + ABS per parameter element. */
export const REL = 2e-4, ABS = 1e-6;

export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Every device gradient within REL·max|g_cpu| + ABS of the CPU one, per element. */
export async function assertGradsClose(dev: T[], cpu: Vec[], label: string): Promise<void> {
  assert.equal(dev.length, cpu.length, label);
  const tol = REL * Math.max(...cpu.map(maxAbs)) + ABS;
  for (let k = 0; k < cpu.length; k++) {
    const d = maxAbsDiff((await dev[k].data()) as Float32Array, cpu[k]);
    assert.ok(d <= tol, `${label}: param ${k} differs by ${d} > ${tol}`);
  }
}

/** An MLP's parameters as one seed's device tensors ([1, in, out], [1, 1, out]). */
export function seedVars(tf: Tf, net: Mlp): T[] {
  return params(net).map((p, i) => {
    const l = i >> 1, fin = net.sizes[l], fout = net.sizes[l + 1];
    return tf.tensor3d(Float32Array.from(p), i % 2 === 0 ? [1, fin, fout] : [1, 1, fout]);
  });
}

/** A CPU bit-vector batch's step rows on the device (states, position one-hots, values; step-major). */
export function bitRows(tf: Tf, batch: BitVectorBatch): StepRows {
  const n = batch.layout.rows, D = batch.x.length / batch.B;
  return tf.tidy(() => ({
    states: tf.tensor3d(Float32Array.from(batch.stateInputs()), [1, n, D]),
    ohPos: tf.reshape(tf.oneHot(tf.tensor1d(batch.traj.pos, "int32"), D, 1, 0, "float32"), [1, n, D]),
    v: tf.tensor2d(Float32Array.from(batch.traj.val), [1, n]),
  }));
}

export function disposeRows(tf: Tf, rows: StepRows): void {
  tf.dispose([rows.states, rows.ohPos, rows.v]);
}

/** The bit-vector rows' true log P_F = log p − log(D − t) and uniform log P_B = −log(t + 1) ([1, D·B] each). */
export function bitRowLogProbs(tf: Tf, logp: T, D: number, B: number): [T, T] {
  const t = tf.reshape(tf.range(0, D, 1, "float32"), [1, D, 1]);
  const pf = tf.reshape(tf.sub(tf.reshape(logp, [1, D, B]), tf.log(tf.sub(D, t))), [1, D * B]);
  const pb = tf.reshape(tf.tile(tf.neg(tf.log(tf.add(t, 1))), [1, 1, B]), [1, D * B]);
  return [pf, pb];
}

/** A forward and a backward batch of B trajectories from the CPU sampler (one Rng seeded `seed`). */
export function drawBatches(
  task: BitTask,
  net: Mlp,
  B: number,
  seed: number,
): { fwd: BitVectorBatch; bwd: BitVectorBatch } {
  const sampler = bitVectorSampler(task);
  const rng = new Rng(seed), pol = preparePolicy(net);
  return {
    fwd: sampler.forward(pol, jsGemm, B, rng) as BitVectorBatch,
    bwd: sampler.backward(pol, jsGemm, B, rng) as BitVectorBatch,
  };
}

/**
 * One optimal control variate on a fixed forward batch: weight · mean_s (b_s − log w_s) h_s from the CPU
 * registry entry and from the device kernels (log w computed on the device from log R and the rows), compared
 * per element; also with a score budget small enough for several chunks when `budget` is given.
 */
export async function checkOptimal(
  tf: Tf,
  net: Mlp,
  fwd: BitVectorBatch,
  cvName: string,
  weight: number,
  label: string,
  budgets: (number | undefined)[] = [undefined],
  /** Compare with the CPU estimator in float64 on the same trajectories (the exact value) instead of float32. */
  reference64?: BitTask,
): Promise<void> {
  const B = fwd.B, D = net.sizes[0];
  const cv = controlVariateNamed(cvName);
  const grads = zerosLike(net);
  if (reference64) {
    const net64: Mlp = {
      ...net,
      W: net.W.map((w) => Float64Array.from(w)),
      b: net.b.map((b) => Float64Array.from(b)),
    };
    const pol64 = preparePolicy(net64);
    const given = { x: fwd.x as Int8Array, order: ordersOf(fwd.traj.pos, B, D) };
    const traj = runTrajectories(pol64, jsGemm, B, new Rng(0), { cache: true, given });
    const batch64 = bitVectorBatch(pol64, jsGemm, traj, reference64);
    const g64 = zerosLike(net64);
    cv.addGradient(float64, batch64, batch64.logw, float64.scalar(0.3), weight, g64);
    g64.forEach((g, k) => grads[k].set(g));
  } else cv.addGradient(float64, fwd, fwd.logw, float64.scalar(0.3), weight, grads);
  const vars = seedVars(tf, net), rows = bitRows(tf, fwd);
  const sig = policySignals(tf, vars, net.activation, rows, B);
  const logw = tf.tidy(() =>
    tf.sub(
      tf.tensor2d(Float32Array.from(fwd.logR), [1, B]),
      tf.sum(tf.reshape(bitRowLogp(tf, rows, sig.logits), [1, D, B]), 1),
    )
  );
  try {
    assert.ok(maxAbsDiff((await logw.data()) as Float32Array, fwd.logw) < 1e-4, `${label}: log w`);
    for (const budget of budgets) {
      const before = tf.memory().numTensors;
      const dev = optimalBaselineGradient(
        tf,
        sig,
        logw,
        controlVariateNamed(cvName).optimal!,
        weight,
        budget,
      );
      assert.equal(
        tf.memory().numTensors - before,
        dev.length,
        `${label}: only the gradients stay allocated`,
      );
      await assertGradsClose(dev, grads, `${label} (score budget ${budget ?? "default"})`);
      tf.dispose(dev);
    }
  } finally {
    tf.dispose([...vars, logw, ...sig.inputs, ...sig.deltas, sig.logits]);
    disposeRows(tf, rows);
  }
}

/**
 * pg on fixed batches (forward, and backward when α > 0): the φ-gradient, the value network's gradient and its
 * loss from core/objectives/pg.ts and from the device (costs, GAE by Λ, centring, value regression).
 */
export async function checkPg(
  tf: Tf,
  net: Mlp,
  value: Mlp,
  fwd: BitVectorBatch,
  bwd: BitVectorBatch,
  lambda: number,
  alpha: number,
  label: string,
): Promise<void> {
  const B = fwd.B, D = net.sizes[0], scalar = 0.7;
  const grads = zerosLike(net);
  const cpu = pg.gradient({
    alpha,
    cv: controlVariateNamed("none"),
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
  const vars = seedVars(tf, net), rows = bitRows(tf, fwd), rb = bitRows(tf, bwd);
  const out = tf.tidy(() => {
    const sig = policySignals(tf, vars, net.activation, rows, B);
    const logR = tf.tensor2d(Float32Array.from(fwd.logR), [1, B]);
    const [pf, pb] = bitRowLogProbs(tf, bitRowLogp(tf, rows, sig.logits), D, B);
    const cost = stepCosts(tf, pf, pb, logR, tf.tensor1d([scalar]), "step-major");
    const terms = pgRowTerms(tf, cost, vnet.values(rows.states), Lambda, 1 - alpha, "step-major");
    let g = layerGrads(tf, sig.inputs, sig.deltas, terms.coef);
    if (alpha > 0) {
      const sb = policySignals(tf, vars, net.activation, rb, B);
      const gb = trajectoryGrads(tf, sb, tf.fill([1, B], -alpha / B));
      g = g.map((x, k) => tf.add(x, gb[k]));
    }
    const reg = vnet.regression(rows.states, terms.target);
    return { g, vg: reg.grads, loss: reg.loss };
  });
  try {
    await assertGradsClose(out.g, grads, `${label}: φ`);
    await assertGradsClose(out.vg, cpu.valueGrads!, `${label}: value network`);
    const loss = ((await out.loss.data()) as Float32Array)[0];
    assert.ok(Math.abs(loss - cpu.valueLoss!) <= 1e-4 * (1 + cpu.valueLoss!), `${label}: value loss`);
  } finally {
    tf.dispose([...out.g, ...out.vg, out.loss, Lambda, ...vars]);
    disposeRows(tf, rows);
    disposeRows(tf, rb);
    vnet.dispose();
  }
}

/**
 * Exact KL(Q‖P) on Ising 3×3 (β = 0.4) before training and after 150 steps on the device engine (tfjs-cpu) and on
 * the CPU engine, same config and seed (each engine its own random streams), and a label with the three.
 */
export async function isingTrainingKl(
  tf: Tf,
  objective: string,
  cv: string,
  alpha: number,
): Promise<{ kl0: number; klDev: number; klCpu: number; label: string }> {
  const L = 3, D = L * L;
  const target = exactTarget(isingTask(L, 0.4));
  const cfg = parseTrainConfig({
    task: "ising",
    L,
    beta: 0.4,
    hidden: [32, 32],
    batch: 16,
    steps: 150,
    objective,
    cv,
    alpha,
    lr: 3e-3,
    eval_every: 150,
    eval_samples: 16,
    seed: 1,
  });
  const init = initMlp([D, 32, 32, 2 * D], "swish", "he-uniform", new Rng(1).fork());
  const kl0 = exactMetrics(preparePolicy(init), jsGemm, target).exact_kl;
  const dev = await deviceTrain(tf, cfg);
  const klDev = exactMetrics(preparePolicy(dev.net), jsGemm, target).exact_kl;
  let klCpu = NaN;
  await trainRun(cfg, {
    gemm: jsGemm,
    onDone: ({ policy }) => void (klCpu = exactMetrics(policy, jsGemm, target).exact_kl),
  });
  const label = `${objective}/${cv}/α=${alpha}: KL ${kl0.toFixed(3)} → device ${klDev.toFixed(3)}, cpu ${
    klCpu.toFixed(3)
  }`;
  return { kl0, klDev, klCpu, label };
}
