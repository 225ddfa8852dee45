/**
 * The device engine's random numbers (backends/device/rng.ts) and its data states (backends/device/bitvector.ts),
 * on tfjs-cpu: the device generator is bit-for-bit its float32 reference and its states are the exact integer
 * recurrence; uniforms pass chi-square tests (1-D and serial pairs, thresholds at the 0.999 quantile); different
 * seeds give different streams and batched seeds = separate seeds; x ~ π drawn on the device matches the exact
 * Ising target (chi-square over the 16 states of 2×2). tests/device_webgpu_test.ts checks the same reference on
 * WebGPU.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { Rng } from "../core/rng.ts";
import { DeviceUniforms, hostUniforms, RNG_COMPONENTS, seedStates } from "../backends/device/rng.ts";
import { isingDeviceSampler } from "../backends/device/bitvector.ts";
import { DeviceEngine } from "../backends/device/engine.ts";
import { initMlp } from "../core/nn/mlp.ts";
import { isingTask } from "../core/tasks/ising.ts";
import { TransferCounter } from "../backends/device/engine.ts";

await tf.setBackend("cpu");
(tf.findBackend("cpu") as unknown as { firstUse: boolean }).firstUse = false;

/** χ² 0.999 quantiles (scipy.stats.chi2.ppf(0.999, dof)). */
const CHI2_999 = { 15: 37.697, 63: 103.442, 255: 330.520 };

function chiSquare(counts: ArrayLike<number>, expected: ArrayLike<number>): number {
  let x = 0;
  for (let i = 0; i < counts.length; i++) x += (counts[i] - expected[i]) ** 2 / expected[i];
  return x;
}

Deno.test("device rng: bit-for-bit the float32 reference, states the exact integer recurrence", async () => {
  const lanes = 37, K = 2;
  const rngs = () => [new Rng(1), new Rng(2)];
  const dev = new DeviceUniforms(tf, rngs(), lanes);
  const ref = seedStates(rngs(), lanes);
  const exact = ref.map((s) => Array.from(s));
  for (let round = 0; round < 5; round++) {
    const u = (await dev.uniform([lanes]).data()) as Float32Array;
    const want = hostUniforms(ref);
    assert.deepEqual(Array.from(u), Array.from(want), `round ${round}`);
    for (let c = 0; c < RNG_COMPONENTS.length; c++) {
      const [m, a] = RNG_COMPONENTS[c];
      exact[c] = exact[c].map((s) => (s * a) % m);
    }
  }
  const st = await dev.states();
  for (let c = 0; c < RNG_COMPONENTS.length; c++) {
    assert.deepEqual(Array.from(st[c]), exact[c], `component ${c}`);
    assert.ok(exact[c].every((s) => s >= 1 && s < RNG_COMPONENTS[c][0]));
  }
  assert.equal(st[0].length, K * lanes);
  dev.dispose();
});

Deno.test("device rng: uniform in [0, 1): χ² of 64 bins and of 16×16 serial pairs below the 0.999 quantile", async () => {
  const lanes = 1024, rounds = 64;
  const dev = new DeviceUniforms(tf, [new Rng(42)], lanes);
  const u = (await dev.uniform([rounds, lanes]).data()) as Float32Array; // round-major: u[r·lanes + i]
  dev.dispose();
  assert.ok(u.every((v) => v >= 0 && v < 1));
  const bins = new Float64Array(64);
  for (const v of u) bins[Math.floor(v * 64)]++;
  const x1 = chiSquare(bins, new Float64Array(64).fill(u.length / 64));
  assert.ok(x1 < CHI2_999[63], `χ²(63) = ${x1}`);
  // consecutive draws of the same lane
  const pairs = new Float64Array(256);
  let n = 0;
  for (let r = 0; r + 1 < rounds; r += 2) {
    for (let i = 0; i < lanes; i++, n++) {
      pairs[Math.floor(u[r * lanes + i] * 16) * 16 + Math.floor(u[(r + 1) * lanes + i] * 16)]++;
    }
  }
  const x2 = chiSquare(pairs, new Float64Array(256).fill(n / 256));
  assert.ok(x2 < CHI2_999[255], `χ²(255) = ${x2}`);
  // neighbouring lanes in the same round
  const side = new Float64Array(256);
  n = 0;
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i + 1 < lanes; i += 2, n++) {
      side[Math.floor(u[r * lanes + i] * 16) * 16 + Math.floor(u[r * lanes + i + 1] * 16)]++;
    }
  }
  const x3 = chiSquare(side, new Float64Array(256).fill(n / 256));
  assert.ok(x3 < CHI2_999[255], `χ²(255) lanes = ${x3}`);
});

Deno.test("device rng: different seeds give different streams; seed k batched = seed k alone", async () => {
  const lanes = 64;
  const both = new DeviceUniforms(tf, [new Rng(1), new Rng(2)], lanes);
  const u = (await both.uniform([3, 50]).data()) as Float32Array; // 150 > lanes: three rounds
  both.dispose();
  const a = u.subarray(0, 150), b = u.subarray(150);
  let same = 0;
  for (let i = 0; i < 150; i++) if (a[i] === b[i]) same++;
  assert.ok(same <= 1, `${same} equal draws`);
  for (const [k, seed] of [[0, 1], [1, 2]]) {
    const alone = new DeviceUniforms(tf, [new Rng(seed)], lanes);
    const v = (await alone.uniform([3, 50]).data()) as Float32Array;
    alone.dispose();
    assert.deepEqual(Array.from(v), Array.from(u.subarray(k * 150, (k + 1) * 150)));
  }
});

Deno.test("device data states: x ~ π on the device matches the exact Ising 2×2 target (χ², 16 states)", async () => {
  const L = 2, D = 4, beta = 0.4, B = 8192;
  const task = isingTask(L, beta);
  const all = new Int8Array(16 * D);
  for (let i = 0; i < 16; i++) for (let d = 0; d < D; d++) all[i * D + d] = (i >> d) & 1 ? 1 : -1;
  const lr = task.logReward(all, 16);
  const z = lr.reduce((s, v) => s + Math.exp(v), 0);
  const ds = isingDeviceSampler(tf, L, beta);
  const eng = new DeviceEngine({
    tf,
    nets: [initMlp([D, 8, 2 * D], "swish", "he-uniform", new Rng(1))],
    sampler: ds,
    lr: 1e-3,
  });
  const rng = new DeviceUniforms(tf, [new Rng(9)], B * D);
  const counter = new TransferCounter().attach(tf);
  const batch = ds.backward(eng, B, rng);
  const up = counter.written;
  counter.detach();
  assert.equal(up, 0, "drawing x ~ π uploads nothing");
  const x = (await batch.x.data()) as Float32Array;
  const order = (await batch.order.data()) as Int32Array;
  const counts = new Float64Array(16);
  for (let b = 0; b < B; b++) {
    let i = 0;
    for (let d = 0; d < D; d++) if (x[b * D + d] > 0) i |= 1 << d;
    counts[i]++;
    assert.deepEqual(Array.from(order.subarray(b * D, (b + 1) * D)).sort(), [0, 1, 2, 3]);
  }
  const expected = Array.from(lr, (v) => B * Math.exp(v) / z);
  const x2 = chiSquare(counts, expected);
  assert.ok(x2 < CHI2_999[15], `χ²(15) = ${x2}`);
  batch.dispose(), rng.dispose(), eng.dispose(), ds.dispose();
});
