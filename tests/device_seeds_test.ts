/**
 * Seed batching on the device (backends/device/seeds.ts): K policies in one program. Per seed, on a fixed batch
 * the batched gradient equals the CPU engine's; the batched sampler draws exactly the trajectories K separate
 * device engines draw; and 4 seeds trained batched equal 4 separate device runs (parameters and scalars, float32
 * tolerance). Runs on tfjs-core's "cpu" backend.
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
import { DeviceEngine, isingDeviceReward, ordersOf } from "../backends/device/engine.ts";
import { SeedBatchEngine } from "../backends/device/seeds.ts";
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
  const ising = isingDeviceReward(tf, L, BETA);
  const eng = new SeedBatchEngine(tf, nets, ising.reward, 1e-3);
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
        eng.upload(bs.map((b) => b.x as Int8Array), bs.map((b) => ordersOf(b.traj.pos, B, D)), B);
      const f = up(cpu.map((c) => c.fwd));
      const bw = alpha > 0 ? up(cpu.map((c) => c.bwd!)) : undefined;
      eng.counter.reset();
      const dev = await eng.gradient({ objective, cv, params, alpha, scalars, forward: f, backward: bw });
      assert.equal(eng.counter.read, 4 * 3 * B * (alpha > 0 ? 2 : 1));
      for (let k = 0; k < 3; k++) {
        const tol = 2e-4 * Math.max(...cpu[k].grads.map(maxAbs)) + 1e-6;
        for (let p = 0; p < cpu[k].grads.length; p++) {
          const d = (await dev.grads[p].data()) as Float32Array;
          const per = d.length / 3;
          const diff = maxDiff(d.subarray(k * per, (k + 1) * per), cpu[k].grads[p]);
          assert.ok(diff <= tol, `${o}/${c}/α=${alpha} seed ${k} param ${p}: ${diff} > ${tol}`);
        }
        assert.ok(Math.abs(dev.dScalar[k] - cpu[k].dScalar) <= 1e-5 * (1 + Math.abs(cpu[k].dScalar)));
      }
      for (const g of dev.grads) g.dispose();
      for (const t of [f, bw]) if (t) (t.x.dispose(), t.order.dispose());
    }
  } finally {
    eng.dispose();
    ising.dispose();
  }
});

Deno.test("seed batching: the batched sampler draws what K separate device engines draw", async () => {
  const nets = [4, 5].map((s) => initMlp([D, 16, 2 * D], "tanh", "he-uniform", new Rng(s)));
  const ising = isingDeviceReward(tf, L, BETA);
  const eng = new SeedBatchEngine(tf, nets, ising.reward, 1e-3);
  const t = eng.sample(B, [77, 78]);
  const x = (await t.x.data()) as Float32Array, order = (await t.order.data()) as Int32Array;
  for (let k = 0; k < 2; k++) {
    const single = new DeviceEngine({ tf, net: nets[k], reward: ising.reward, lr: 1e-3 });
    const s = single.sample(B, 77 + k);
    assert.deepEqual(Array.from(x.subarray(k * B * D, (k + 1) * B * D)), Array.from(await s.x.data()));
    assert.deepEqual(
      Array.from(order.subarray(k * B * D, (k + 1) * B * D)),
      Array.from(await s.order.data()),
    );
    s.x.dispose(), s.order.dispose(), single.dispose();
  }
  t.x.dispose(), t.order.dispose(), eng.dispose(), ising.dispose();
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
  assert.equal(batched.bytesRead, cfg.steps * 4 * 4 * cfg.batch * 2);
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
