/**
 * The hypergrid (core/tasks/hypergrid.ts) as a device environment for the masked-softmax device sampler
 * (backends/device/discrete.ts): states x ∈ {0, …, H−1}^d as float32 [..., d]; actions 0..d−1 increment a
 * coordinate (valid while it is < H − 1), action d stops; the network input is the per-coordinate one-hot
 * (coordinate-major, as `encode` on the CPU); the uniform P_B: −log #(coordinates > 0 of s') per non-stop move.
 * Tables uploaded once: log R of every state index Σ_i x_i H^i (a gather per terminal state) and the two-level
 * inverse CDF of the target π over the indices (`enumeratedTarget`, computed in float64 on the host), which draws
 * x ~ π from two uniforms per sample. Every constant is made once: per call nothing is uploaded.
 */
import type * as tfc from "@tensorflow/tfjs-core";
import type { Hypergrid } from "../../core/tasks/hypergrid.ts";
import type { Tf } from "./sampler.ts";
import { type DeviceDiscreteEnv, type DiscreteDeviceSampler, discreteDeviceSampler } from "./discrete.ts";
import { drawEnumerated, enumeratedTarget } from "./enumerated.ts";

type T = tfc.Tensor;

/** The first `size` entries of the last axis from `start`. */
function lastSlice(tf: Tf, x: T, start: number, size: number): T {
  const lead = x.shape.slice(0, -1);
  return tf.slice(x, [...lead.map(() => 0), start], [...lead, size]);
}

export function hypergridDeviceEnv(tf: Tf, env: Hypergrid): DeviceDiscreteEnv {
  const { d, H } = env.params;
  const target = enumeratedTarget(tf, env.logR);
  const logRT = tf.tensor1d(Float32Array.from(env.logR));
  const strides = tf.tensor1d(Array.from({ length: d }, (_, i) => H ** i), "float32");
  const zero = tf.scalar(0), one = tf.scalar(1), top = tf.scalar(H - 1);
  const HI = tf.scalar(H, "int32");
  const powI = Array.from({ length: d }, (_, i) => tf.scalar(H ** i, "int32"));
  return {
    name: env.name,
    stateSize: d,
    nActions: d + 1,
    inputDim: d * H,
    maxSteps: env.maxSteps,
    initial: (shape) => tf.fill([...shape, d], 0),
    encode(states) {
      const flat = tf.reshape(tf.cast(states, "int32"), [-1]);
      return tf.reshape(tf.oneHot(flat, H, 1, 0, "float32"), [...states.shape.slice(0, -1), d * H]);
    },
    validMask: (states) =>
      tf.concat([tf.cast(tf.less(states, top), "float32"), tf.onesLike(lastSlice(tf, states, 0, 1))], -1),
    parentMask: (states) =>
      tf.concat(
        [tf.cast(tf.greater(states, zero), "float32"), tf.zerosLike(lastSlice(tf, states, 0, 1))],
        -1,
      ),
    apply: (states, oh) => tf.add(states, lastSlice(tf, oh, 0, d)),
    revert: (states, oh) => tf.sub(states, lastSlice(tf, oh, 0, d)),
    statesBefore: (oh) => tf.cumsum(lastSlice(tf, oh, 0, d), oh.rank - 2, true),
    logBackward(after, oh) {
      const move = tf.sum(lastSlice(tf, oh, 0, d), -1);
      const parents = tf.sum(tf.cast(tf.greater(after, zero), "float32"), -1);
      return tf.mul(tf.neg(tf.log(tf.maximum(parents, one))), move);
    },
    logReward(x) {
      const idx = tf.cast(tf.sum(tf.mul(x, strides), -1), "int32");
      return tf.reshape(tf.gather(logRT, tf.reshape(idx, [-1])), idx.shape);
    },
    sampleData(u) {
      const lead = u.shape.slice(0, -1);
      const idx = drawEnumerated(tf, target, tf.reshape(u, [-1, 2]));
      const coords = powI.map((p) => tf.mod(tf.floorDiv(idx, p), HI));
      return tf.reshape(tf.cast(tf.stack(coords, 1), "float32"), [...lead, d]);
    },
    dispose() {
      target.dispose();
      for (const t of [logRT, strides, zero, one, top, HI, ...powI]) t.dispose();
    },
  };
}

/** The hypergrid's device sampler, which also tracks the modes the training forward batches found (per seed). */
export interface HypergridDeviceSampler extends DiscreteDeviceSampler {
  /**
   * The modes found by the training forward batches so far (`observe`), of seed k: their states (n × d). Reads
   * back K·M flags (per evaluation, not per step).
   */
  modesFound(k?: number): Promise<{ n: number; states: Int32Array }>;
}

/** The masked-softmax sampler over `hypergridDeviceEnv` (disposing it disposes the environment). */
export function hypergridDeviceSampler(tf: Tf, env: Hypergrid): HypergridDeviceSampler {
  const base = discreteDeviceSampler(tf, hypergridDeviceEnv(tf, env));
  let tracker: ReturnType<typeof hypergridModeTracker> | undefined;
  return {
    ...base,
    observe(batch) {
      tracker ??= hypergridModeTracker(tf, env, batch.K);
      tracker.observe(batch.x);
    },
    modesFound: (k = 0) => tracker ? tracker.found(k) : Promise.resolve({ n: 0, states: new Int32Array(0) }),
    dispose() {
      tracker?.dispose();
      base.dispose();
    },
  };
}

/**
 * The modes found by training forward batches, per seed, tracked on the device (core/tasks/runtime.ts's
 * modes_found): `observe` marks the modes among a batch's terminal states x [K, B, d] (no read back); `found(k)`
 * reads back the K·M flags (per evaluation, not per step) and returns seed k's found modes' states (n × d).
 */
export function hypergridModeTracker(tf: Tf, env: Hypergrid, K = 1) {
  const { d, H } = env.params;
  const M = env.modes.length;
  const modes = tf.tensor3d(Float32Array.from(env.modes), [1, M, 1]);
  const strides = tf.tensor2d(Array.from({ length: d }, (_, i) => H ** i), [d, 1]);
  const one = tf.scalar(1);
  let flags: T = tf.fill([K, M], 0);
  return {
    observe(x: T): void {
      const [Kx, B] = x.shape;
      const next = tf.tidy(() => {
        const idx = tf.reshape(tf.matMul(tf.reshape(x, [Kx * B, d]), strides), [Kx, 1, B]);
        // 1 where idx = the mode's index (integer-valued floats), reduced over the batch (the last axis)
        const hit = tf.relu(tf.sub(one, tf.abs(tf.sub(idx, modes)))); // [K, M, B]
        return tf.maximum(flags, tf.max(hit, 2));
      });
      flags.dispose();
      flags = next;
    },
    async found(k = 0): Promise<{ n: number; states: Int32Array }> {
      const f = ((await flags.data()) as Float32Array).subarray(k * M, (k + 1) * M);
      const ids = [...env.modes].filter((_, m) => f[m] > 0);
      const states = new Int32Array(ids.length * d);
      ids.forEach((s, j) => {
        for (let i = 0, r = s; i < d; i++, r = Math.floor(r / H)) states[j * d + i] = r % H;
      });
      return { n: ids.length, states };
    },
    dispose(): void {
      modes.dispose(), strides.dispose(), one.dispose(), flags.dispose();
    },
  };
}
