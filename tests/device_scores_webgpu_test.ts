/**
 * The device kernels of backends/device/scores.ts and value.ts on WebGPU (tfjs-backend-webgpu over Deno's
 * navigator.gpu): a few of tests/device_scores_test.ts's fixed-batch cases (Ising 3×3, B = 8, MLP 16×2) against
 * the CPU engine — opt-vector-loo in two chunks, opt-scalar, opt-scalar-loo, and pg with λ = 0.9 at α = 0.5 — to the same float32
 * tolerance; and 6 training steps with pg and with akl/opt-vector-loo on WebGPU = the same run on tfjs-cpu
 * (parameters within 1e-5), nothing read back per step. Runs only where an adapter exists (Mesa's llvmpipe here; the GPU on a GPU machine) and says so when
 * skipped.
 */
import assert from "node:assert/strict";
import { initMlp } from "../core/nn/mlp.ts";
import { Rng } from "../core/rng.ts";
import { isingTask } from "../core/tasks/ising.ts";
import { probeDevice, selectDevice } from "../backends/device/select.ts";
import { checkOptimal, checkPg, drawBatches } from "./helpers/device_fixed.ts";
import { assertWebgpuRunEqualsCpu } from "./helpers/device_webgpu.ts";

const webgpu = await probeDevice("webgpu");
if (!webgpu.ok) console.log(`device_scores_webgpu_test: skipped: ${webgpu.detail}`);

Deno.test({
  name: `device scores and pg on WebGPU (${
    webgpu.ok ? webgpu.adapter?.description : "skipped: no adapter"
  }) = CPU engine`,
  ignore: !webgpu.ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const { tf } = await selectDevice("webgpu");
    assert.equal(tf.getBackend(), "webgpu");
    const L = 3, D = 9, B = 8;
    const task = isingTask(L, 0.4);
    const net = initMlp([D, 16, 16, 2 * D], "swish", "he-uniform", new Rng(7));
    const value = initMlp([D, 16, 16, 1], "swish", "he-uniform", new Rng(8));
    const { fwd, bwd } = drawBatches(task, net, B, 21);
    await checkOptimal(tf, net, fwd, "opt-vector-loo", 1, "webgpu opt-vector-loo", [4 * 16 * 2 * D]);
    await checkOptimal(tf, net, fwd, "opt-scalar", 2, "webgpu opt-scalar");
    await checkOptimal(tf, net, fwd, "opt-scalar-loo", 1, "webgpu opt-scalar-loo");
    await checkPg(tf, net, value, fwd, bwd, 0.9, 0.5, "webgpu pg λ=0.9 α=0.5");
  },
});

Deno.test({
  name: `device training with pg and opt-vector-loo on WebGPU = on tfjs-cpu, same seed (${
    webgpu.ok ? "runs" : "skipped: no adapter"
  })`,
  ignore: !webgpu.ok,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    for (const [objective, cv, alpha] of [["pg", "none", 0.5], ["akl", "opt-vector-loo", 0]] as const) {
      await assertWebgpuRunEqualsCpu(objective, cv, alpha);
    }
  },
});
