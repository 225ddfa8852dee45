/**
 * The masked-softmax device sampler (docs/device.md §"Discrete environments"): core/gfn/discrete.ts's
 * variable-length trajectories ending in stop, as a program over device-resident tfjs tensors, for any
 * environment with a device description (`DeviceDiscreteEnv`; the hypergrid: backends/device/hypergrid.ts).
 *
 * Trajectories live on the device as terminal states x [K, B, S] and forward actions [K, B, T] (int32, −1 after
 * the stop action: padded to T = maxSteps), with a leading seed dimension K (K = 1 for one model).
 *   - Forward: T steps, each one MLP pass over the K·B current states; P_F(a|s) = softmax of the logits over the
 *     valid actions; the action is the first a whose cumulative probability exceeds a uniform u (the CPU
 *     runner's inverse CDF); trajectories that stopped take −1 (no-op) for the remaining steps.
 *   - Backward (α > 0): x ~ π by the environment's device data sampler (the hypergrid: inverse CDF over the
 *     enumerated target, uploaded once), then T − 1 steps of the uniform P_B (a uniformly chosen parent move,
 *     until s₀); the forward actions are the backward moves reversed, then stop.
 *   - Teacher forcing (`rows`): the states before every step (trajectory-major rows b·T + t), their network
 *     inputs, valid-action masks, the action one-hots (zero on padding rows) and log P_B of every transition
 *     (the uniform P_B: −log #parents of s_{t+1}; 0 at stop); log P_F rows from the masked log-softmax of the
 *     logits; log w = log R(x) + Σ_t log P_B − Σ_t log P_F per trajectory.
 *   - ∇_φ Σ_b coef_b log P_F(τ_b): the output signal coef_b·([a' = a] − softmax_{a'}) on every real row (zero on
 *     padding rows), backpropagated through the MLP (`mlpRowsBackward`).
 * Random numbers: tfjs' seeded uniforms (one seed per model per call), as backends/device/engine.ts.
 */
import type * as tfc from "@tensorflow/tfjs-core";
import { jsGemm } from "../../core/nn/gemm.ts";
import type { Mlp } from "../../core/nn/mlp.ts";
import type { ControlVariate } from "../../core/baselines/registry.ts";
import type { Objective, ObjectiveParams } from "../../core/objectives/objective.ts";
import {
  act,
  actDeriv,
  CoefficientBatch,
  DeviceAdam,
  deviceSupports,
  mlpLogits,
  sumPartGrads,
  type Tf,
  TransferCounter,
} from "./engine.ts";

type T = tfc.Tensor;

/**
 * A discrete environment on the device: states are float32 tensors [..., S] (integer-valued), actions one-hot
 * [..., A] (an all-zero row is "no action": padding after stop, or s₀ in the backward walk). The stop action is
 * A − 1 and must be valid in every state (the hypergrid's is).
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
  /** Exact samples x ~ π from uniforms u [...] → [..., S], when the target can be sampled. */
  sampleData?(u: T): T;
  dispose(): void;
}

/** K·B trajectories on the device: x [K, B, S] terminal states, actions [K, B, T] int32 (−1 after stop). */
export interface DeviceDiscreteTrajectories {
  x: T;
  actions: T;
}

/** The teacher-forced rows of a batch (trajectory-major: row b·T + t), per model k. */
export interface DiscreteRows {
  /** Network inputs of the states before each step: [K, B·T, inputDim]. */
  X: T;
  /** Valid-action masks [K, B·T, A] and the taken actions' one-hots [K, B·T, A] (zero rows on padding). */
  mask: T;
  oh: T;
  /** log P_B of each transition [K, B, T] (0 at stop and padding). */
  logPB: T;
}

/** Logits with the invalid actions at −10³⁰ (exp underflows to 0; no −∞ arithmetic). */
function masked(tf: Tf, logits: T, mask: T): T {
  return tf.add(logits, tf.mul(tf.sub(mask, 1), 1e30));
}

/** One-hot rows of int32 actions of any shape (−1 → a zero row): [...] → [..., A] (flattened first: WebGPU). */
export function actionOneHot(tf: Tf, actions: T, A: number): T {
  return tf.reshape(tf.oneHot(tf.reshape(actions, [-1]), A, 1, 0, "float32"), [...actions.shape, A]);
}

/** The policy: network inputs [K, n, I] → logits [K, n, A]. */
export type DevicePolicy = (X: T) => T;

export class DeviceDiscreteSampler {
  readonly A: number;
  readonly T: number;
  readonly S: number;
  readonly counter: TransferCounter;

  constructor(readonly tf: Tf, readonly env: DeviceDiscreteEnv, counter?: TransferCounter) {
    this.A = env.nActions;
    this.T = env.maxSteps;
    this.S = env.stateSize;
    this.counter = counter ?? new TransferCounter();
  }

  /** Per model k the [B, n] uniforms seeded seeds[k], stacked [K, B, n] (tfjs draws on the host: counted). */
  private uniforms(B: number, n: number, seeds: readonly number[]): T {
    this.counter.written += 4 * seeds.length * B * n;
    const { tf } = this;
    return tf.tidy(() => tf.stack(seeds.map((s) => tf.randomUniform([B, n], 0, 1, "float32", s))));
  }

  /** Step t's column of uniforms [K, B, n] → [K, B]. */
  private column(u: T, t: number): T {
    const [K, B] = u.shape;
    return this.tf.reshape(this.tf.slice(u, [0, 0, t], [K, B, 1]), [K, B]);
  }

  /** B forward trajectories per model from P_F (`policy`), model k's uniforms seeded seeds[k]. */
  forward(policy: DevicePolicy, B: number, seeds: readonly number[]): DeviceDiscreteTrajectories {
    const { tf, env, A, T } = this;
    const K = seeds.length;
    const u = this.uniforms(B, T, seeds);
    let S = env.initial([K, B]);
    let done: T = tf.zeros([K, B]);
    const acts: T[] = [];
    for (let t = 0; t < T; t++) {
      const [a, next, nextDone] = tf.tidy(() => {
        const mask = env.validMask(S);
        const logits = tf.reshape(policy(tf.reshape(env.encode(S), [K, B, env.inputDim])), [K, B, A]);
        const cdf = tf.cumsum(tf.softmax(masked(tf, logits, mask)), 2);
        // the first action whose cumulative probability exceeds u (at most A − 1: float32 rounding of the sum)
        const first = tf.sum(tf.cast(tf.lessEqual(cdf, tf.expandDims(this.column(u, t), 2)), "int32"), 2);
        const a = tf.where(
          tf.greater(done, 0),
          tf.fill([K, B], -1, "int32"),
          tf.minimum(first, tf.scalar(A - 1, "int32")),
        );
        const oh = actionOneHot(tf, a, A);
        const stopped = tf.reshape(tf.slice(oh, [0, 0, A - 1], [K, B, 1]), [K, B]);
        return [a, env.apply(S, oh), tf.maximum(done, stopped)];
      });
      acts.push(a);
      S.dispose(), done.dispose();
      S = next, done = nextDone;
    }
    u.dispose(), done.dispose();
    const actions = tf.stack(acts, 2);
    for (const a of acts) a.dispose();
    return { x: S, actions };
  }

  /**
   * B backward trajectories per model: x ~ π (the environment's data sampler), then the uniform P_B back to s₀;
   * returned as forward actions (the backward moves reversed, then stop). Seeds as `forward`.
   */
  backward(B: number, seeds: readonly number[]): DeviceDiscreteTrajectories {
    const { tf, env, A, T } = this;
    if (!env.sampleData) throw new Error(`${env.name} has no data sampler: backward trajectories need one`);
    const K = seeds.length, Tb = T - 1;
    const u = this.uniforms(B, T, seeds); // column 0: x ~ π; columns 1..T−1: the backward steps
    const x = tf.tidy(() => env.sampleData!(this.column(u, 0)));
    const result = tf.tidy(() => {
      let S = x;
      const back: T[] = []; // backward step k's move (−1 once at s₀): [K, B]
      const ids = tf.range(1, A + 1, 1, "float32");
      for (let k = 0; k < Tb; k++) {
        const pm = env.parentMask(S);
        const count = tf.sum(pm, 2);
        // the j-th parent move, j = ⌊u·count⌋ (≤ count − 1): where the running count of parent moves is j + 1
        const j = tf.minimum(tf.floor(tf.mul(this.column(u, k + 1), count)), tf.sub(count, 1));
        const oh = tf.mul(pm, tf.cast(tf.equal(tf.cumsum(pm, 2), tf.expandDims(tf.add(j, 1), 2)), "float32"));
        back.push(tf.sub(tf.sum(tf.mul(oh, ids), 2), 1));
        S = env.revert(S, oh);
      }
      // n = number of moves; forward step t < n is backward step n − 1 − t, step n is stop, then −1
      const moves = tf.reshape(tf.stack(back, 2), [K * B, Tb, 1]);
      const n = tf.reshape(tf.sum(tf.cast(tf.greaterEqual(moves, 0), "float32"), [1, 2]), [K * B, 1]);
      const t = tf.reshape(tf.range(0, T, 1, "float32"), [1, T]);
      const src = tf.cast(tf.clipByValue(tf.sub(tf.sub(n, 1), t), 0, Tb - 1), "int32"); // [K·B, T]
      const pick = tf.reshape(tf.oneHot(tf.reshape(src, [-1]), Tb, 1, 0, "float32"), [K * B, T, Tb]);
      const moved = tf.reshape(tf.matMul(pick, moves), [K * B, T]);
      const tt = tf.tile(t, [K * B, 1]), nn = tf.tile(n, [1, T]);
      const fwd = tf.where(
        tf.less(tt, nn),
        moved,
        tf.where(tf.equal(tt, nn), tf.fill([K * B, T], A - 1), tf.fill([K * B, T], -1)),
      );
      return tf.cast(tf.reshape(fwd, [K, B, T]), "int32");
    });
    u.dispose();
    return { x, actions: result };
  }

  /** Uploads host trajectories per model (x: B × S, actions[b·T + t], −1 after stop) — counted. */
  upload(xs: Int32Array[], actions: Int32Array[], B: number): DeviceDiscreteTrajectories {
    const { tf, S, T } = this;
    const K = xs.length;
    const x = new Float32Array(K * B * S), a = new Int32Array(K * B * T);
    xs.forEach((v, k) => x.set(Float32Array.from(v.subarray(0, B * S)), k * B * S));
    actions.forEach((v, k) => a.set(v.subarray(0, B * T), k * B * T));
    this.counter.written += x.byteLength + a.byteLength;
    return { x: tf.tensor3d(x, [K, B, S]), actions: tf.tensor3d(a, [K, B, T], "int32") };
  }

  /** The teacher-forced rows of a batch (see `DiscreteRows`). */
  rows(traj: DeviceDiscreteTrajectories): DiscreteRows {
    const { tf, env, A, T } = this;
    const [K, B] = traj.x.shape;
    const oh4 = actionOneHot(tf, traj.actions, A); // [K, B, T, A]
    const before = env.statesBefore(oh4); // [K, B, T, S]
    const after = env.apply(before, oh4);
    const n = B * T;
    return {
      X: tf.reshape(env.encode(before), [K, n, env.inputDim]),
      mask: tf.reshape(env.validMask(before), [K, n, A]),
      oh: tf.reshape(oh4, [K, n, A]),
      logPB: env.logBackward(after, oh4),
    };
  }

  /** log P_F of each row [K, B, T] (0 on padding) from the logits of the rows [K, B·T, A]. */
  logPFRows(rows: DiscreteRows, logits: T): T {
    const { tf, T } = this;
    const [K, n] = rows.oh.shape;
    const lp = tf.sum(tf.mul(rows.oh, tf.logSoftmax(masked(tf, logits, rows.mask))), 2);
    return tf.reshape(lp, [K, n / T, T]);
  }

  /** log w = log R(x) + Σ_t log P_B − Σ_t log P_F per trajectory: [K, B]. */
  logw(policy: DevicePolicy, traj: DeviceDiscreteTrajectories): T {
    const { tf, env } = this;
    return tf.tidy(() => {
      const rows = this.rows(traj);
      const lpf = this.logPFRows(rows, policy(rows.X));
      return tf.add(env.logReward(traj.x), tf.sum(tf.sub(rows.logPB, lpf), 2));
    });
  }

  /** ∂ Σ_b coef_b log P_F(τ_b) / ∂ logits of the rows: coef_b·([a' = a] − softmax_{a'}) on real rows [K, B·T, A]. */
  outputSignal(rows: DiscreteRows, logits: T, coef: T): T {
    const { tf, T } = this;
    const [K, n, A] = rows.oh.shape;
    const real = tf.sum(rows.oh, 2, true); // 1 on real rows, 0 on padding
    const g = tf.sub(rows.oh, tf.mul(tf.softmax(masked(tf, logits, rows.mask)), real));
    const cRow = tf.reshape(tf.tile(tf.reshape(coef, [K, n / T, 1]), [1, 1, T]), [K, n, 1]);
    return tf.reshape(tf.mul(g, cRow), [K, n, A]);
  }
}

/**
 * The explicit backward pass of the MLP over rows X ([n, in] with 2D weights, or [K, n, in] with K batched
 * models) under the output signal `signal(logits)`: dW_l = A_lᵀ δ_l, db_l = Σ_rows δ_l,
 * δ_{l−1} = (δ_l W_lᵀ) ⊙ act'(Z_{l−1}). Returns [dW₀, db₀, …] shaped like the variables.
 */
export function mlpRowsBackward(
  tf: Tf,
  vars: readonly T[],
  activation: Mlp["activation"],
  X: T,
  signal: (logits: T) => T,
): T[] {
  const Lr = vars.length / 2;
  const batched = X.rank === 3;
  const As: T[] = [X], Zs: T[] = [];
  let a = X;
  for (let l = 0; l < Lr; l++) {
    const z = tf.add(tf.matMul(a, vars[2 * l]), vars[2 * l + 1]);
    Zs.push(z);
    if (l + 1 < Lr) As.push(a = act(tf, activation, z));
  }
  let delta = signal(Zs[Lr - 1]);
  const grads: T[] = new Array(2 * Lr);
  for (let l = Lr - 1; l >= 0; l--) {
    grads[2 * l] = tf.matMul(As[l], delta, true, false);
    grads[2 * l + 1] = batched ? tf.sum(delta, 1, true) : tf.sum(delta, 0);
    if (l > 0) {
      delta = tf.mul(tf.matMul(delta, vars[2 * l], false, true), actDeriv(tf, activation, Zs[l - 1], As[l]));
    }
  }
  return grads;
}

export interface DiscreteStepInput {
  objective: Objective;
  cv: ControlVariate;
  params: ObjectiveParams;
  alpha: number;
  scalar: number;
  forward?: DeviceDiscreteTrajectories;
  backward?: DeviceDiscreteTrajectories;
}

export interface DiscreteGradient {
  grads: T[];
  dScalar: number;
  loss: number;
  logwForward?: Float64Array;
}

/**
 * One policy on the device over a discrete environment: the step program of backends/device/engine.ts
 * (log w read back, B floats per batch; the registry's coefficients through `CoefficientBatch`; ∇_φ and Adam
 * on the device) with the masked-softmax sampler.
 */
export class DeviceDiscreteEngine {
  readonly tf: Tf;
  readonly sizes: number[];
  readonly activation: Mlp["activation"];
  readonly vars: tfc.Variable[];
  readonly counter: TransferCounter;
  readonly sampler: DeviceDiscreteSampler;
  private readonly adam: DeviceAdam;

  constructor(opts: { tf: Tf; net: Mlp; env: DeviceDiscreteEnv; lr: number; counter?: TransferCounter }) {
    const { tf, net, env } = opts;
    this.tf = tf;
    this.sizes = [...net.sizes];
    if (net.sizes[0] !== env.inputDim || net.sizes[net.sizes.length - 1] !== env.nActions) {
      throw new Error(`device engine: policy ${net.sizes.join("×")} does not fit ${env.name}`);
    }
    this.activation = net.activation;
    this.counter = opts.counter ?? new TransferCounter();
    this.sampler = new DeviceDiscreteSampler(tf, env, this.counter);
    this.vars = [];
    for (let l = 0; l < net.W.length; l++) {
      const fin = net.sizes[l], fout = net.sizes[l + 1];
      this.vars.push(tf.variable(tf.tensor2d(Float32Array.from(net.W[l]), [fin, fout]), true));
      this.vars.push(tf.variable(tf.tensor1d(Float32Array.from(net.b[l])), true));
    }
    this.adam = new DeviceAdam(tf, this.vars, opts.lr);
  }

  /** The policy over [1, n, I] rows (one model: the leading dimension is dropped for the 2D weights). */
  readonly policy: DevicePolicy = (X) => {
    const { tf } = this;
    const [K, n, I] = X.shape;
    const out = mlpLogits(tf, this.vars, this.activation, tf.reshape(X, [K * n, I]));
    return tf.reshape(out, [K, n, out.shape[1]!]);
  };

  sample(B: number, seed: number): DeviceDiscreteTrajectories {
    return this.sampler.forward(this.policy, B, [seed]);
  }

  sampleBackward(B: number, seed: number): DeviceDiscreteTrajectories {
    return this.sampler.backward(B, [seed]);
  }

  upload(x: Int32Array, actions: Int32Array, B: number): DeviceDiscreteTrajectories {
    return this.sampler.upload([x], [actions], B);
  }

  /** log w read back: B float32 (counted). */
  private async readLogw(traj: DeviceDiscreteTrajectories): Promise<Float64Array> {
    const t = this.sampler.logw(this.policy, traj);
    const data = (await t.data()) as Float32Array;
    this.counter.read += data.byteLength;
    t.dispose();
    return Float64Array.from(data);
  }

  /** ∇_φ Σ_b coef_b log P_F(τ_b) on the device. */
  private backwardPass(traj: DeviceDiscreteTrajectories, coef: T): T[] {
    const { tf, sampler } = this;
    const rows = sampler.rows(traj);
    const [, n, I] = rows.X.shape;
    return mlpRowsBackward(tf, this.vars, this.activation, tf.reshape(rows.X, [n, I]), (logits) => {
      const sig = sampler.outputSignal(rows, tf.reshape(logits, [1, n, this.sampler.A]), coef);
      return tf.reshape(sig, [n, this.sampler.A]);
    });
  }

  async gradient(input: DiscreteStepInput): Promise<DiscreteGradient> {
    const { tf } = this;
    const { objective, cv, forward, backward } = input;
    const why = deviceSupports(objective, cv);
    if (why) throw new Error(why);
    const T = this.sampler.T;
    const fw = forward
      ? new CoefficientBatch(forward.x.shape[1]!, T, await this.readLogw(forward))
      : undefined;
    const bw = backward
      ? new CoefficientBatch(backward.x.shape[1]!, T, await this.readLogw(backward))
      : undefined;
    const r = objective.gradient({
      alpha: input.alpha,
      cv,
      scalar: input.scalar,
      params: input.params,
      gemm: jsGemm,
      forward: fw,
      backward: bw,
      grads: [],
    });
    const parts: [DeviceDiscreteTrajectories, Float64Array][] = [];
    if (forward && fw) parts.push([forward, fw.coef]);
    if (backward && bw) parts.push([backward, bw.coef]);
    const coefs = parts.map(([, c]) => {
      this.counter.written += 4 * c.length;
      return tf.tensor2d(Float32Array.from(c), [1, c.length]);
    });
    const grads = sumPartGrads(tf, this.vars, parts.length, (i) => this.backwardPass(parts[i][0], coefs[i]));
    for (const c of coefs) c.dispose();
    return { grads, dScalar: r.dScalar, loss: r.loss, logwForward: fw?.logw };
  }

  apply(grads: T[]): void {
    this.adam.step(grads);
    for (const g of grads) g.dispose();
  }

  async toHost(): Promise<Mlp> {
    const W: Float32Array[] = [], b: Float32Array[] = [];
    for (let i = 0; i < this.vars.length; i++) {
      (i % 2 === 0 ? W : b).push(Float32Array.from((await this.vars[i].data()) as Float32Array));
    }
    return { sizes: [...this.sizes], activation: this.activation, W, b };
  }

  dispose(): void {
    this.adam.dispose();
    for (const v of this.vars) v.dispose();
  }
}
