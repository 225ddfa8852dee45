/**
 * The masked-softmax device sampler (docs/device.md §"Discrete environments"; the DeviceSampler contract of
 * backends/device/sampler.ts; the CPU twin is core/gfn/discrete_sampler.ts over core/gfn/discrete.ts): variable-
 * length trajectories ending in stop, for any environment with a device description (`DeviceDiscreteEnv`; the
 * hypergrid's is backends/device/hypergrid.ts).
 *
 * A batch holds the terminal states x [K, B, S] and the forward actions [K, B, T] (int32, −1 after the stop
 * action: every trajectory padded to T = maxSteps), with the seed dimension K leading.
 *   - Forward: T steps, each one MLP pass over the K·B current states; P_F(a|s) = softmax of the logits over the
 *     valid actions (the invalid ones at −10³⁰); the action is the first whose cumulative probability exceeds a
 *     uniform u (the CPU runner's inverse CDF); a trajectory that stopped takes −1 for the remaining steps.
 *   - Backward (α > 0): x ~ π by the environment's device data sampler, then T − 1 steps of the uniform P_B (the
 *     ⌊u·#parents⌋-th parent move, until s₀); the forward actions are the moves reversed, then stop.
 *   - Rows (trajectory-major, row b·T + t per seed, R = B·T; padding rows have a zero action one-hot and
 *     rowMask 0): the states before every step (`statesBefore`), their network inputs, valid-action masks,
 *     log P_B of every transition; log P_F per row = the masked log-softmax at the action; log w = log R(x) +
 *     Σ_t log P_B − Σ_t log P_F; the output signal of Σ_r c_r log P_F(row r) is c_r·([a' = a] − softmax_{a'}).
 * Per call nothing is read back and nothing is uploaded: the constants (scalars, tables) are made once.
 */
import type * as tfc from "@tensorflow/tfjs-core";
import {
  type DeviceBatch,
  type DevicePolicy,
  type DeviceRandom,
  type DeviceSampler,
  stackSeeds,
  type T,
  type Tf,
} from "./sampler.ts";

/**
 * A discrete environment on the device: states are float32 tensors [..., S] (integer-valued), actions one-hot
 * [..., A] (an all-zero row is "no action": padding after stop, or s₀ in the backward walk). The stop action is
 * A − 1 and must be valid in every state (the hypergrid's is). Methods read nothing back and upload nothing
 * (constants made once).
 */
export interface DeviceDiscreteEnv {
  readonly name: string;
  readonly stateSize: number;
  readonly nActions: number;
  readonly inputDim: number;
  /** Upper bound on the actions of a trajectory, stop included: the padded length T. */
  readonly maxSteps: number;
  /** s₀ for every index of `shape`: [...shape, S]. */
  initial(shape: number[]): T;
  /** The network input of the states [..., S] → [..., inputDim]. */
  encode(states: T): T;
  /** 1 where the forward action is valid: [..., S] → [..., A]. */
  validMask(states: T): T;
  /** 1 where the non-stop action a leads into `states` from a parent (0 at stop): [..., S] → [..., A]. */
  parentMask(states: T): T;
  /** The states after the actions (stop and no-action rows unchanged). */
  apply(states: T, oh: T): T;
  /** The parents: `apply` undone. */
  revert(states: T, oh: T): T;
  /** The states before each step of forward action one-hots [..., T, A] from s₀: [..., T, S]. */
  statesBefore(oh: T): T;
  /** log P_B(s | s') of the transitions into s' = `after` (uniform P_B; 0 at stop and no-action rows): [...]. */
  logBackward(after: T, oh: T): T;
  /** log R of terminal states [..., S] → [...]. */
  logReward(x: T): T;
  /** Exact samples x ~ π from two uniforms each, u [..., 2] → [..., S], when the target can be sampled. */
  sampleData?(u: T): T;
  dispose(): void;
}

/** A discrete batch: also the forward actions [K, B, T] (int32, −1 after stop). */
export interface DiscreteDeviceBatch extends DeviceBatch {
  readonly actions: T;
}

export interface DiscreteDeviceSampler extends DeviceSampler {
  readonly env: DeviceDiscreteEnv;
  /** Padded trajectory length T (rows per trajectory). */
  readonly T: number;
  forward(policy: DevicePolicy, B: number, rng: DeviceRandom): DiscreteDeviceBatch;
  backward(policy: DevicePolicy, B: number, rng: DeviceRandom): DiscreteDeviceBatch;
  /** Host trajectories → a device batch (tests, fixed batches): x [K][B·S], actions [K][B·T] (−1 after stop). */
  upload(xs: readonly Int32Array[], actions: readonly Int32Array[], B: number): DiscreteDeviceBatch;
  /** A batch of device trajectories x [K, B, S] and actions [K, B, T] (int32); takes ownership. */
  batch(x: T, actions: T): DiscreteDeviceBatch;
}

/** One-hot rows of int32 actions of any shape (−1 → a zero row): [...] → [..., A] (flattened first: WebGPU). */
export function actionOneHot(tf: Tf, actions: T, A: number): T {
  return tf.reshape(tf.oneHot(tf.reshape(actions, [-1]), A, 1, 0, "float32"), [...actions.shape, A]);
}

export function discreteDeviceSampler(tf: Tf, env: DeviceDiscreteEnv): DiscreteDeviceSampler {
  const A = env.nActions, T = env.maxSteps, S = env.stateSize, Tb = T - 1;
  // constants, made once
  const zero = tf.scalar(0), one = tf.scalar(1), big = tf.scalar(1e30);
  const stopI = tf.scalar(A - 1, "int32");
  const ids1 = tf.range(1, A + 1, 1, "float32"); // action a ↦ a + 1 (0: no action)
  const steps = tf.reshape(tf.range(0, T, 1, "float32"), [1, T]);

  /** Logits with the invalid actions at −10³⁰ (exp underflows to 0; no −∞ arithmetic). */
  const masked = (logits: T, mask: T) => tf.add(logits, tf.mul(tf.sub(mask, one), big));
  /** Column t of uniforms [K, B, n] → [K, B]. */
  const column = (u: T, t: number) => {
    const [K, B] = u.shape;
    return tf.reshape(tf.slice(u, [0, 0, t], [K, B, 1]), [K, B]);
  };

  function makeBatch(x: T, actions: T): DiscreteDeviceBatch {
    const [K, B] = x.shape as number[];
    const R = B * T;
    const c = tf.tidy(() => {
      const oh4 = actionOneHot(tf, actions, A); // [K, B, T, A]
      const before = env.statesBefore(oh4); // [K, B, T, S]
      const after = env.apply(before, oh4);
      const oh = tf.reshape(oh4, [K, R, A]);
      return {
        inputs: tf.reshape(env.encode(before), [K, R, env.inputDim]),
        mask: tf.reshape(env.validMask(before), [K, R, A]),
        oh,
        rowMask: tf.sum(oh, 2),
        logPBRows: tf.reshape(env.logBackward(after, oh4), [K, R]),
        logR: env.logReward(x),
      };
    });
    const { inputs, mask, oh, rowMask, logPBRows, logR } = c;
    const rowLogPF = (logits: T) => tf.sum(tf.mul(oh, tf.logSoftmax(masked(logits, mask))), 2);
    const perTrajectory = (rv: T) => tf.sum(tf.reshape(tf.mul(rv, rowMask), [K, B, T]), 2);
    return {
      K,
      B,
      rows: R,
      rowOrder: "trajectory-major",
      x,
      actions,
      inputs,
      logR,
      logPBRows,
      rowMask,
      rowLogPF,
      logw: (logits) => tf.add(logR, perTrajectory(tf.sub(logPBRows, rowLogPF(logits)))),
      perRow: (coef) => tf.mul(tf.reshape(tf.tile(tf.reshape(coef, [K, B, 1]), [1, 1, T]), [K, R]), rowMask),
      perTrajectory,
      logitSignal(logits, cr) {
        // ∂ log P_F(a|s)/∂l_{a'} = [a' = a] − softmax_{a'} over the valid actions, on real rows only
        const g = tf.sub(oh, tf.mul(tf.softmax(masked(logits, mask)), tf.expandDims(rowMask, 2)));
        return tf.mul(g, tf.expandDims(cr, 2));
      },
      dispose() {
        for (const t of [x, actions, inputs, mask, oh, rowMask, logPBRows, logR]) t.dispose();
      },
    };
  }

  return {
    name: env.name,
    env,
    T,
    inputDim: env.inputDim,
    policyOutputs: A,
    stateSize: S,
    hasData: env.sampleData !== undefined,
    batch: makeBatch,
    forward(policy, B, rng) {
      const K = policy.K;
      const u = rng.uniform([B, T]);
      let s = env.initial([K, B]);
      let done: T = tf.fill([K, B], 0);
      const acts: T[] = [];
      for (let t = 0; t < T; t++) {
        const [a, next, nextDone] = tf.tidy(() => {
          const mask = env.validMask(s);
          const logits = policy.logits(env.encode(s)); // [K, B, A]
          const cdf = tf.cumsum(tf.softmax(masked(logits, mask)), 2);
          // the first action whose cumulative probability exceeds u (at most A − 1: rounding of the sum)
          const first = tf.sum(tf.cast(tf.lessEqual(cdf, tf.expandDims(column(u, t), 2)), "int32"), 2);
          const a = tf.where(tf.greater(done, zero), tf.fill([K, B], -1, "int32"), tf.minimum(first, stopI));
          const oh = actionOneHot(tf, a, A);
          const stopped = tf.reshape(tf.slice(oh, [0, 0, A - 1], [K, B, 1]), [K, B]);
          return [a, env.apply(s, oh), tf.maximum(done, stopped)];
        });
        acts.push(a);
        s.dispose(), done.dispose();
        s = next, done = nextDone;
      }
      u.dispose(), done.dispose();
      const actions = tf.stack(acts, 2);
      for (const a of acts) a.dispose();
      return makeBatch(s, actions);
    },
    backward(_policy, B, rng) {
      if (!env.sampleData) throw new Error(`${env.name} has no data sampler: backward trajectories need one`);
      const K = rng.K;
      const u = rng.uniform([B, T + 1]); // columns 0, 1: x ~ π; columns 2..T: the backward steps
      const x = tf.tidy(() => env.sampleData!(tf.slice(u, [0, 0, 0], [K, B, 2])));
      const actions = tf.tidy(() => {
        let s = x;
        const back: T[] = []; // backward step k's move + 1 (0 once at s₀): [K, B]
        for (let k = 0; k < Tb; k++) {
          const pm = env.parentMask(s);
          const count = tf.sum(pm, 2);
          // the j-th parent move, j = ⌊u·count⌋ ≤ count − 1: where the running count of parent moves is j + 1
          const j1 = tf.add(tf.minimum(tf.floor(tf.mul(column(u, k + 2), count)), tf.sub(count, one)), one);
          const oh = tf.mul(pm, tf.cast(tf.equal(tf.cumsum(pm, 2), tf.expandDims(j1, 2)), "float32"));
          back.push(tf.sum(tf.mul(oh, ids1), 2));
          s = env.revert(s, oh);
        }
        // n moves; forward step t < n is backward step n − 1 − t (a one-hot matMul per trajectory), step n stops
        const moves = tf.reshape(tf.stack(back, 2), [K * B, Tb, 1]);
        const n = tf.reshape(tf.sum(tf.cast(tf.greater(moves, zero), "float32"), [1, 2]), [K * B, 1]);
        const src = tf.cast(tf.clipByValue(tf.sub(tf.sub(n, one), steps), 0, Tb - 1), "int32"); // [K·B, T]
        // (one-hot of depth Tb + 1, the last column never set: tfjs' oneHot needs a depth ≥ 2, and Tb = 1 at d = 1, H = 2)
        const pick = tf.slice(
          tf.reshape(tf.oneHot(tf.reshape(src, [-1]), Tb + 1, 1, 0, "float32"), [K * B, T, Tb + 1]),
          [0, 0, 0],
          [K * B, T, Tb],
        );
        const moved = tf.sub(tf.reshape(tf.matMul(pick, moves), [K * B, T]), one);
        const tt = tf.tile(steps, [K * B, 1]), nn = tf.tile(n, [1, T]);
        const fwd = tf.where(
          tf.less(tt, nn),
          moved,
          tf.where(tf.equal(tt, nn), tf.fill([K * B, T], A - 1), tf.fill([K * B, T], -1)),
        );
        return tf.cast(tf.reshape(fwd, [K, B, T]), "int32");
      });
      u.dispose();
      return makeBatch(x, actions);
    },
    upload(xs, actions, B) {
      return makeBatch(stackSeeds(tf, xs, B, S, "float32"), stackSeeds(tf, actions, B, T, "int32"));
    },
    dispose() {
      for (const t of [zero, one, big, stopI, ids1, steps] as tfc.Tensor[]) t.dispose();
      env.dispose();
    },
  };
}
