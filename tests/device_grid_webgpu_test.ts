/**
 * The hypergrid on the device engine on WebGPU (tfjs-backend-webgpu over Deno's navigator.gpu): the fixed-batch
 * equivalence with the CPU engine of tests/device_grid_test.ts for a few objective × control variate × α cases,
 * device-sampled trajectories valid with the CPU engine's log w, and a short training run against the CPU
 * engine's. Runs only where an adapter exists (here: Mesa's llvmpipe; on a GPU machine the GPU) and says so when
 * skipped.
 */
import assert from "node:assert/strict";
import { jsGemm } from "../core/nn/gemm.ts";
import { hypergrid, hypergridExact } from "../core/tasks/hypergrid.ts";
import { parseTrainConfig } from "../core/train/config.ts";
import { trainRun } from "../core/train/trainer.ts";
import { probeDevice, selectDevice } from "../backends/device/select.ts";
import { deviceTrain } from "../backends/device/train.ts";
import { checkGridFixedBatches, checkGridSampled } from "./helpers/device_grid.ts";

const webgpu = await probeDevice("webgpu");
if (!webgpu.ok) console.log(`device_grid_webgpu_test: WebGPU cases skipped: ${webgpu.detail}`);
const on = webgpu.ok ? webgpu.adapter?.description : "skipped: no adapter";

Deno.test({
  name: `device hypergrid on WebGPU (${on}) = CPU engine on fixed batches; sampled trajectories valid`,
  ignore: !webgpu.ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { tf } = await selectDevice("webgpu");
    assert.equal(tf.getBackend(), "webgpu");
    await checkGridFixedBatches(tf, [
      { objective: "atb", cv: "learned", alpha: 0 },
      { objective: "akl", cv: "loo-logw", alpha: 0.5 },
      { objective: "tsallis", cv: "none", alpha: 0 },
    ]);
    await checkGridSampled(tf);
  },
});

Deno.test({
  name: `device hypergrid on WebGPU (${on}): training d=2, H=4 reaches the CPU engine's exact KL`,
  ignore: !webgpu.ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { tf } = await selectDevice("webgpu");
    const e = hypergrid({ d: 2, H: 4, R0: 1e-3, R1: 0.5, R2: 2 });
    const cfg = parseTrainConfig({
      task: "hypergrid",
      grid_dim: 2,
      grid_size: 4,
      r0: 1e-3,
      hidden: [16, 16],
      batch: 32,
      steps: 150,
      objective: "atb",
      cv: "learned",
      alpha: 0.5,
      lr: 0.004,
      lr_logz: 0.3,
      eval_every: 150,
      eval_samples: 16,
      seed: 1,
    });
    const dev = await deviceTrain(tf, cfg);
    const d = hypergridExact(e, dev.net, jsGemm);
    const cpu = await trainRun(cfg, { gemm: jsGemm });
    const label = `device KL ${d.exact_kl.toFixed(4)} (TV ${d.exact_tv.toFixed(4)}), cpu ${
      cpu.exact_kl!.toFixed(4)
    } (TV ${cpu.exact_tv!.toFixed(4)})`;
    console.log(`  ${label}`);
    // as on tfjs-cpu: both converged (from ~2.2) and within a factor 2 of each other
    assert.ok(d.exact_kl < 0.05 && cpu.exact_kl! < 0.05 && d.exact_tv < 0.1, label);
    assert.ok(d.exact_kl < 2 * cpu.exact_kl! && cpu.exact_kl! < 2 * d.exact_kl, label);
  },
});
