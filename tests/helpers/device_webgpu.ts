/**
 * The WebGPU-vs-tfjs-cpu training check shared by the WebGPU tests: the device generator is bit-for-bit the same on
 * both backends (tests/device_webgpu_test.ts), so the two runs draw the same trajectories (unless a uniform falls
 * within float32 rounding of its threshold) and differ only by the kernels' float32 rounding.
 */
import assert from "node:assert/strict";
import { initMlp } from "../../core/nn/mlp.ts";
import { Rng } from "../../core/rng.ts";
import { selectDevice } from "../../backends/device/select.ts";
import { deviceTrain } from "../../backends/device/train.ts";
import { parseTrainConfig } from "../../core/train/config.ts";

/**
 * 6 training steps on Ising 2×2 (MLP 8, B = 8, seed 3) on WebGPU and on tfjs-cpu: every parameter within 1e-5 of
 * the other backend's, every layer moved by more than 1e-3 from its initial value, nothing read back per step on
 * WebGPU. Leaves WebGPU as the active backend.
 */
export async function assertWebgpuRunEqualsCpu(objective: string, cv: string, alpha: number): Promise<void> {
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
      const [a, b, c] of [[gpu.net.W[l], cpu.net.W[l], init.W[l]], [gpu.net.b[l], cpu.net.b[l], init.b[l]]]
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
