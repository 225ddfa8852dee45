/**
 * The device engine on WebGPU (tfjs-backend-webgpu over Deno's navigator.gpu): the same fixed-batch equivalence
 * with the CPU engine as tests/device_engine_test.ts, for a few objective × control variate × α cases. Runs only
 * where an adapter exists (here: Mesa's llvmpipe from `mesa-vulkan-drivers`; on a GPU machine the GPU) and says
 * so when skipped. Also the `auto` rule: a software adapter is never chosen automatically.
 */
import assert from "node:assert/strict";
import { assertWebgpuRunEqualsCpu } from "./helpers/device_webgpu.ts";
import { jsGemm } from "../core/nn/gemm.ts";
import { initMlp, zerosLike } from "../core/nn/mlp.ts";
import { Rng } from "../core/rng.ts";
import { isingTask } from "../core/tasks/ising.ts";
import { type BitVectorBatch, bitVectorSampler } from "../core/gfn/bitvector.ts";
import { logWeights, preparePolicy, runTrajectories } from "../core/gfn/trajectories.ts";
import { DeviceUniforms, hostUniforms, seedStates } from "../backends/device/rng.ts";
import { objectiveNamed } from "../core/objectives/registry.ts";
import { controlVariateNamed } from "../core/baselines/registry.ts";
import { DeviceEngine, TransferCounter } from "../backends/device/engine.ts";
import { isingDeviceSampler, ordersOf } from "../backends/device/bitvector.ts";
import {
  autoDevice,
  type DeviceProbe,
  isSoftwareAdapter,
  probeDevice,
  selectDevice,
} from "../backends/device/select.ts";

Deno.test("device backends: auto never picks a software adapter or tfjs-cpu", () => {
  assert.ok(isSoftwareAdapter("llvmpipe (LLVM 15.0.6, 256 bits)", false));
  assert.ok(isSoftwareAdapter("Google SwiftShader", false));
  assert.ok(isSoftwareAdapter("NVIDIA H200", true));
  assert.ok(!isSoftwareAdapter("NVIDIA H200", false));
  const p = (name: DeviceProbe["name"], ok: boolean, autoEligible: boolean): DeviceProbe => ({
    name,
    ok,
    autoEligible,
    detail: "",
  });
  assert.equal(
    autoDevice([p("tensorflow-gpu", false, false), p("webgpu", true, false), p("tfjs-cpu", true, false)]),
    null,
  );
  assert.equal(
    autoDevice([p("tensorflow-gpu", false, false), p("webgpu", true, true), p("tfjs-cpu", true, false)])
      ?.name,
    "webgpu",
  );
});

Deno.test("device backends: an unknown name is one clear error", async () => {
  await assert.rejects(() => selectDevice("cuda" as never), /unknown device backend "cuda"/);
});

const webgpu = await probeDevice("webgpu");
if (!webgpu.ok) console.log(`device_webgpu_test: WebGPU case skipped: ${webgpu.detail}`);

Deno.test({
  name: `device engine on WebGPU (${
    webgpu.ok ? webgpu.adapter?.description : "skipped: no adapter"
  }) = CPU engine`,
  ignore: !webgpu.ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { tf } = await selectDevice("webgpu");
    assert.equal(tf.getBackend(), "webgpu");
    const L = 3, D = 9, B = 8, BETA = 0.4;
    const task = isingTask(L, BETA);
    const sampler = bitVectorSampler(task);
    const net = initMlp([D, 16, 16, 2 * D], "swish", "he-uniform", new Rng(7));
    const pol = preparePolicy(net);
    const ds = isingDeviceSampler(tf, L, BETA);
    const eng = new DeviceEngine({ tf, nets: [net], sampler: ds, lr: 1e-3 });
    const params = { div_alpha: 0.5, pg_lambda: 1 };
    const counter = new TransferCounter().attach(tf);
    try {
      for (
        const [o, c, alpha] of [["atb", "learned", 0], ["akl", "loo-logw", 0.5], [
          "tsallis",
          "none",
          0,
        ]] as const
      ) {
        const objective = objectiveNamed(o), cv = controlVariateNamed(c);
        const rng = new Rng(11);
        const fwd = sampler.forward(pol, jsGemm, B, rng) as BitVectorBatch;
        const bwd = alpha > 0 ? sampler.backward(pol, jsGemm, B, rng) as BitVectorBatch : undefined;
        const grads = zerosLike(net);
        const cpu = objective.gradient({
          alpha,
          cv,
          scalar: 0.3,
          params,
          gemm: jsGemm,
          forward: fwd,
          backward: bwd,
          grads,
        });
        const up = (b: BitVectorBatch) => ds.upload([b.x as Int8Array], [ordersOf(b.traj.pos, B, D)], B);
        const f = up(fwd), bw = bwd ? up(bwd) : undefined;
        eng.setScalar([0.3]);
        counter.reset();
        const dev = await eng.gradient({ objective, cv, params, alpha, forward: f, backward: bw });
        // the coefficients are computed on the device (backends/device/coefficients.ts): nothing is read back
        assert.equal(counter.read, 0);
        let scale = 0;
        for (const g of grads) for (const v of g) scale = Math.max(scale, Math.abs(v));
        const tol = 2e-4 * scale + 1e-6; // float32, as on the tfjs cpu backend
        for (let k = 0; k < grads.length; k++) {
          const d = await dev.grads[k].data();
          let m = 0;
          for (let i = 0; i < d.length; i++) m = Math.max(m, Math.abs(d[i] - grads[k][i]));
          assert.ok(m <= tol, `${o}/${c}/α=${alpha}: param ${k} differs by ${m} > ${tol}`);
        }
        const dScalar = (await dev.dScalar.data())[0];
        assert.ok(Math.abs(dScalar - cpu.dScalar) <= 1e-5 * (1 + Math.abs(cpu.dScalar)));
        dev.dispose(), f.dispose(), bw?.dispose();
      }
    } finally {
      counter.detach();
      eng.dispose();
      ds.dispose();
    }
  },
});

Deno.test({
  name: `device engine on WebGPU: sampling and seed batching (${webgpu.ok ? "runs" : "skipped: no adapter"})`,
  ignore: !webgpu.ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { tf } = await selectDevice("webgpu");
    const L = 3, D = 9, B = 8, BETA = 0.4;
    const task = isingTask(L, BETA);
    const nets = [1, 2].map((s) => initMlp([D, 16, 2 * D], "swish", "he-uniform", new Rng(s)));
    const ds = isingDeviceSampler(tf, L, BETA);
    // sampling: valid trajectories whose log w is the CPU engine's on them
    const eng = new DeviceEngine({ tf, nets: [nets[0]], sampler: ds, lr: 1e-3 });
    const f = ds.forward(eng, B, new DeviceUniforms(tf, [new Rng(5)], B * D));
    const x = Int8Array.from((await f.x.data()) as Float32Array);
    const order = Int32Array.from((await f.order.data()) as Int32Array);
    assert.ok(x.every((v) => v === 1 || v === -1));
    for (let b = 0; b < B; b++) {
      assert.deepEqual([...order.subarray(b * D, (b + 1) * D)].sort((p, q) => p - q), [...Array(D).keys()]);
    }
    const r = await eng.gradient({
      objective: objectiveNamed("akl"),
      cv: controlVariateNamed("none"),
      params: {},
      alpha: 0,
      forward: f,
    });
    const traj = runTrajectories(preparePolicy(nets[0]), jsGemm, B, new Rng(1), {
      cache: false,
      given: { x, order },
    });
    const { logw } = logWeights(traj, task);
    const lwDev = await r.logw.forward!.data();
    for (let b = 0; b < B; b++) assert.ok(Math.abs(lwDev[b] - logw[b]) < 1e-4);
    r.dispose(), f.dispose();
    // seed batching: per seed, the batched gradient = the single-seed engine's on the same batch
    const seeds = new DeviceEngine({ tf, nets, sampler: ds, lr: 1e-3 });
    const t = ds.upload([x, x], [order, order], B);
    const objective = objectiveNamed("atb"), cv = controlVariateNamed("loo-logw");
    const batched = await seeds.gradient({ objective, cv, params: {}, alpha: 0, forward: t });
    for (let k = 0; k < 2; k++) {
      const single = new DeviceEngine({ tf, nets: [nets[k]], sampler: ds, lr: 1e-3 });
      const s = ds.upload([x], [order], B);
      const g1 = await single.gradient({ objective, cv, params: {}, alpha: 0, forward: s });
      for (let p = 0; p < g1.grads.length; p++) {
        const a = (await g1.grads[p].data()) as Float32Array,
          bAll = (await batched.grads[p].data()) as Float32Array;
        const per = bAll.length / 2;
        let m = 0, scale = 0;
        for (let i = 0; i < per; i++) {
          m = Math.max(m, Math.abs(a[i] - bAll[k * per + i]));
          scale = Math.max(scale, Math.abs(a[i]));
        }
        assert.ok(m <= 1e-4 * scale + 1e-6, `seed ${k} param ${p}: ${m}`);
      }
      g1.dispose(), s.dispose(), single.dispose();
    }
    batched.dispose(), t.dispose();
    seeds.dispose();
    eng.dispose();
    ds.dispose();
  },
});

Deno.test({
  name: `device rng and transfers on WebGPU (${webgpu.ok ? "runs" : "skipped: no adapter"})`,
  ignore: !webgpu.ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { tf } = await selectDevice("webgpu");
    // the generator: bit-for-bit the float32 reference (the same one tfjs-cpu matches, tests/device_rng_test.ts)
    const lanes = 37, rngs = () => [new Rng(1), new Rng(2)];
    const dev = new DeviceUniforms(tf, rngs(), lanes);
    const ref = seedStates(rngs(), lanes);
    for (let round = 0; round < 3; round++) {
      const u = (await dev.uniform([lanes]).data()) as Float32Array;
      assert.deepEqual(Array.from(u), Array.from(hostUniforms(ref)), `round ${round}`);
    }
    dev.dispose();
    // bytes per step (counted at the GPU buffers): nothing read back (the coefficients are computed on the
    // device, backends/device/coefficients.ts); uploaded: the coefficient math's scalar constants and Adam's two
    // step scalars per optimiser (16), the same for every D, B and hidden size
    const objective = objectiveNamed("atb"), cv = controlVariateNamed("learned");
    const counter = new TransferCounter();
    const written: number[] = [];
    for (
      const [L, B, hidden] of [[2, 8, [8]], [3, 8, [16, 16]], [3, 16, [8]]] as [number, number, number[]][]
    ) {
      const D = L * L;
      const ds = isingDeviceSampler(tf, L, 0.4);
      const eng = new DeviceEngine({
        tf,
        nets: [initMlp([D, ...hidden, 2 * D], "swish", "he-uniform", new Rng(3))],
        sampler: ds,
        lr: 1e-3,
      });
      const rng = new DeviceUniforms(tf, [new Rng(4)], B * D);
      const step = () => eng.step({ objective, cv, params: {}, alpha: 0.5, B, rng, trainScalar: true });
      (await step()).dispose();
      counter.attach(tf);
      (await step()).dispose();
      counter.detach();
      assert.equal(counter.read, 0, `L=${L} B=${B}: read ${counter.read}`);
      written.push(counter.written);
      assert.equal(counter.written, written[0], `L=${L} B=${B}: written ${written}`);
      assert.ok(
        counter.written >= 16 && counter.written <= 16 + 64,
        `L=${L} B=${B}: written ${counter.written}`,
      );
      counter.reset();
      rng.dispose(), eng.dispose(), ds.dispose();
    }
  },
});

Deno.test({
  name: `device training on WebGPU = on tfjs-cpu, same seed (${webgpu.ok ? "runs" : "skipped: no adapter"})`,
  ignore: !webgpu.ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    await assertWebgpuRunEqualsCpu("akl", "loo-logw", 0.5);
  },
});

Deno.test("doctor --json: every backend with a reason, and auto never a software adapter", async () => {
  const p = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "main.ts", "doctor", "--json"],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "null",
  }).output();
  assert.equal(p.code, 0);
  const r = JSON.parse(new TextDecoder().decode(p.stdout));
  assert.deepEqual(Object.keys(r.gemm).sort(), ["blas", "cpu", "tensorflow", "wasm"]);
  assert.deepEqual(r.device.map((d: DeviceProbe) => d.name), ["tensorflow-gpu", "webgpu", "tfjs-cpu"]);
  for (const d of r.device as DeviceProbe[]) assert.ok(d.detail.length > 0, d.name);
  const w = (r.device as DeviceProbe[]).find((d) => d.name === "webgpu")!;
  if (w.adapter?.software) assert.notEqual(r.deviceAuto, "webgpu");
  assert.notEqual(r.deviceAuto, "tfjs-cpu");
});
