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
import { deviceTrain } from "../backends/device/train.ts";
import { parseTrainConfig } from "../core/train/config.ts";
import { checkOptimal, checkPg, drawBatches } from "./helpers/device_fixed.ts";

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
    // the device generator is the same bit for bit on both backends (tests/device_webgpu_test.ts), so the runs
    // draw the same trajectories and differ by the kernels' float32 rounding only
    for (const [objective, cv, alpha] of [["pg", "none", 0.5], ["akl", "opt-vector-loo", 0]] as const) {
      const cfg = parseTrainConfig({
        task: "ising",
        L: 2,
        beta: 0.4,
        hidden: [8],
        batch: 8,
        steps: 6,
        objective,
        cv,
        alpha,
        pg_lambda: 0.9,
        lr: 3e-3,
        seed: 3,
      });
      const gpu = await deviceTrain((await selectDevice("webgpu")).tf, cfg);
      const cpu = await deviceTrain((await selectDevice("tfjs-cpu")).tf, cfg);
      await selectDevice("webgpu");
      const init = initMlp([4, 8, 8], "swish", "he-uniform", new Rng(3).fork());
      for (let l = 0; l < cpu.net.W.length; l++) {
        for (
          const [a, b, c] of [[gpu.net.W[l], cpu.net.W[l], init.W[l]], [
            gpu.net.b[l],
            cpu.net.b[l],
            init.b[l],
          ]]
        ) {
          let m = 0, moved = 0;
          for (let i = 0; i < a.length; i++) {
            m = Math.max(m, Math.abs(a[i] - b[i]));
            moved = Math.max(moved, Math.abs(b[i] - c[i]));
          }
          assert.ok(m <= 1e-5, `${objective}/${cv} layer ${l}: WebGPU − tfjs-cpu = ${m}`);
          assert.ok(moved > 1e-3, `${objective}/${cv} layer ${l} did not move`);
        }
      }
      assert.equal(gpu.stepBytes.read, 0, `${objective}/${cv}: bytes read per step on WebGPU`);
    }
  },
});
