/**
 * Seed batching on the device (backends/device/engine.ts, K seeds as the leading dimension): per seed, on a fixed
 * batch the batched gradient equals the CPU engine's; the batched sampler draws exactly the trajectories K
 * separate (K = 1) engines draw from the same streams; and 4 seeds trained batched equal 4 separate device runs
 * (parameters and scalars, float32 tolerance). Runs on tfjs-core's "cpu" backend.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { jsGemm } from "../core/nn/gemm.ts";
import { initMlp, zerosLike } from "../core/nn/mlp.ts";
import { Rng } from "../core/rng.ts";
import { isingTask } from "../core/tasks/ising.ts";
import { type BitVectorBatch, bitVectorSampler } from "../core/gfn/bitvector.ts";
import { preparePolicy } from "../core/gfn/trajectories.ts";
import { objectiveNamed } from "../core/objectives/registry.ts";
import { controlVariateNamed } from "../core/baselines/registry.ts";
import { parseTrainConfig } from "../core/train/config.ts";
import { DeviceEngine } from "../backends/device/engine.ts";
import { isingDeviceSampler, ordersOf } from "../backends/device/bitvector.ts";
import { DeviceUniforms } from "../backends/device/rng.ts";
import { deviceTrain, deviceTrainSeeds } from "../backends/device/train.ts";

await tf.setBackend("cpu");
(tf.findBackend("cpu") as unknown as { firstUse: boolean }).firstUse = false;

const L = 3, D = 9, B = 8, BETA = 0.4;
const task = isingTask(L, BETA);
const sampler = bitVectorSampler(task);
const params = { div_alpha: 0.5, pg_lambda: 1 };
const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) =>
  Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

Deno.test("seed batching: per seed, the batched gradient on a fixed batch = the CPU engine's", async () => {
  const nets = [1, 2, 3].map((s) => initMlp([D, 16, 16, 2 * D], "swish", "he-uniform", new Rng(s)));
  const ds = isingDeviceSampler(tf, L, BETA);
  const eng = new DeviceEngine({ tf, nets, sampler: ds, lr: 1e-3 });
  try {
    for (
      const [o, c, alpha] of [["atb", "learned", 0], ["akl", "loo-logw", 0.5], ["renyi", "none", 0]] as const
    ) {
      const objective = objectiveNamed(o), cv = controlVariateNamed(c);
      const scalars = [0.1, -0.2, 0.3];
      const cpu = nets.map((net, k) => {
        const pol = preparePolicy(net);
        const rng = new Rng(100 + k);
        const fwd = sampler.forward(pol, jsGemm, B, rng) as BitVectorBatch;
        const bwd = alpha > 0 ? sampler.backward(pol, jsGemm, B, rng) as BitVectorBatch : undefined;
        const grads = zerosLike(net);
        const r = objective.gradient({
          alpha,
          cv,
          scalar: scalars[k],
          params,
          gemm: jsGemm,
          forward: fwd,
          backward: bwd,
          grads,
        });
        return { fwd, bwd, grads, dScalar: r.dScalar };
      });
      const up = (bs: BitVectorBatch[]) =>
        ds.upload(bs.map((b) => b.x as Int8Array), bs.map((b) => ordersOf(b.traj.pos, B, D)), B);
      const f = up(cpu.map((c) => c.fwd));
      const bw = alpha > 0 ? up(cpu.map((c) => c.bwd!)) : undefined;
      eng.setScalar(scalars);
      const dev = await eng.gradient({ objective, cv, params, alpha, forward: f, backward: bw });
      const dScalar = await dev.dScalar.data();
      for (let k = 0; k < 3; k++) {
        const tol = 2e-4 * Math.max(...cpu[k].grads.map(maxAbs)) + 1e-6;
        for (let p = 0; p < cpu[k].grads.length; p++) {
          const d = (await dev.grads[p].data()) as Float32Array;
          const per = d.length / 3;
          const diff = maxDiff(d.subarray(k * per, (k + 1) * per), cpu[k].grads[p]);
          assert.ok(diff <= tol, `${o}/${c}/α=${alpha} seed ${k} param ${p}: ${diff} > ${tol}`);
        }
        assert.ok(Math.abs(dScalar[k] - cpu[k].dScalar) <= 1e-5 * (1 + Math.abs(cpu[k].dScalar)));
      }
      dev.dispose(), f.dispose(), bw?.dispose();
    }
  } finally {
    eng.dispose();
    ds.dispose();
  }
});

Deno.test("seed batching: the batched sampler draws what K separate device engines draw", async () => {
  const nets = [4, 5].map((s) => initMlp([D, 16, 2 * D], "tanh", "he-uniform", new Rng(s)));
  const ds = isingDeviceSampler(tf, L, BETA);
  const eng = new DeviceEngine({ tf, nets, sampler: ds, lr: 1e-3 });
  const rngs = () => [new Rng(77), new Rng(78)];
  const t = ds.forward(eng, B, new DeviceUniforms(tf, rngs(), B * D));
  const tb = ds.backward(eng, B, new DeviceUniforms(tf, rngs(), B * D));
  for (let k = 0; k < 2; k++) {
    const single = new DeviceEngine({ tf, nets: [nets[k]], sampler: ds, lr: 1e-3 });
    const s = ds.forward(single, B, new DeviceUniforms(tf, [rngs()[k]], B * D));
    const sb = ds.backward(single, B, new DeviceUniforms(tf, [rngs()[k]], B * D));
    for (const [all, one] of [[t.x, s.x], [t.order, s.order], [tb.x, sb.x], [tb.order, sb.order]]) {
      const a = await all.data();
      assert.deepEqual(Array.from(a.subarray(k * B * D, (k + 1) * B * D)), Array.from(await one.data()));
    }
    s.dispose(), sb.dispose(), single.dispose();
  }
  t.dispose(), tb.dispose(), eng.dispose(), ds.dispose();
});

Deno.test("seed batching: 4 seeds trained in one program = 4 separate device runs, per seed", async () => {
  const cfg = parseTrainConfig({
    task: "ising",
    L: 2,
    beta: BETA,
    hidden: [16],
    batch: 8,
    steps: 8,
    objective: "atb",
    cv: "learned",
    alpha: 0.5,
    lr: 3e-3,
    seed: 0,
  });
  const seeds = [11, 12, 13, 14];
  const batched = await deviceTrainSeeds(tf, cfg, seeds);
  for (let k = 0; k < seeds.length; k++) {
    const alone = await deviceTrain(tf, { ...cfg, seed: seeds[k] });
    const a = alone.net, b = batched.nets[k];
    for (let l = 0; l < a.W.length; l++) {
      assert.ok(maxDiff(a.W[l], b.W[l]) <= 1e-5 * (1 + maxAbs(a.W[l])), `seed ${seeds[k]} W${l}`);
      assert.ok(maxDiff(a.b[l], b.b[l]) <= 1e-5 * (1 + maxAbs(a.b[l])), `seed ${seeds[k]} b${l}`);
    }
    assert.ok(Math.abs(alone.scalar - batched.scalars[k]) <= 1e-5 * (1 + Math.abs(alone.scalar)));
    // and the seeds did move apart from their initial policies (the comparison is not vacuous)
    const init = initMlp([4, 16, 8], "swish", "he-uniform", new Rng(seeds[k]).fork());
    assert.ok(maxDiff(init.W[0], b.W[0]) > 1e-3);
  }
});
