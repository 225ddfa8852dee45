/**
 * The device engine for the bit-vector tasks (docs/device.md): one training step of the policy f_φ as a program
 * over device-resident tfjs tensors, the same program on every tfjs backend (tfjs-backend-cpu in the tests,
 * tfjs-backend-webgpu under Deno's WebGPU, tfjs-node-gpu where it installs).
 *
 * Per step, on the device: the uniformly random orders (top-k of iid uniforms: a uniform permutation, the same
 * law as choosing a uniform unset position per step; docs/math.md §"Bit vectors"), the D sampling steps of B
 * trajectories (each one MLP pass over B rows, value v = +1 with probability σ(l₊ − l₋) at the chosen position),
 * log q_φ(τ), log R(x) (Ising: a quadratic form), log w = log R − log q_φ; then, after the coefficients come
 * back, ∇_φ Σ_s coef_s · log q_φ(τ_s) by an explicit backward pass over the teacher-forced batch (all D·B step
 * rows in one pass, step-major rows t·B + b like the CPU engine; tfjs-core registers no gradient functions, and
 * the backward of an MLP under a per-row output signal is a handful of GEMMs, core/nn/mlp.ts) and the Adam
 * update, both on the device.
 *
 * What crosses between host and device per step (counted by `TransferCounter`):
 *   - device → host: log w per trajectory, B float32 per batch (forward, and backward when α > 0). Nothing
 *     else: no activation, logit or gradient tensor is read back, so the bytes read back do not depend on D or
 *     on the hidden sizes.
 *   - host → device: the objective's coefficients, B float32 per batch; the uniforms of the step (tfjs draws
 *     seeded uniforms on the host and uploads them: 2·B·D float32 for a forward batch); for α > 0 the data
 *     states x ~ π and their orders (the task's exact sampler runs on the host).
 * The coefficients are computed by the objective and control-variate registry entries themselves (the shared
 * pure code of core/objectives and core/baselines) on those B scalars, through a batch whose `accumulate`
 * records the coefficients instead of running a backward pass (`CoefficientBatch`).
 *
 * Supported: the objectives whose gradient is per-trajectory coefficients on log P_F (atb, akl, renyi, tsallis,
 * fkl-is) with the control variates that need no per-sample scores (none, learned, loo-logw, loo-logz), on-policy,
 * uniform P_B, α ≥ 0. Not on the device: pg (per-step coefficients and a value network), the optimal baselines
 * (per-sample scores), a learned P_B, behaviour policies, evaluation (the parameters are copied to the host for
 * the CPU evaluation), seed batching.
 */
import type * as tfc from "@tensorflow/tfjs-core";
import { jsGemm } from "../../core/nn/gemm.ts";
import type { Mlp } from "../../core/nn/mlp.ts";
import type { Batch } from "../../core/gfn/batch.ts";
import { stepMajorLayout } from "../../core/gfn/batch.ts";
import type { Objective, ObjectiveParams } from "../../core/objectives/objective.ts";
import type { ControlVariate } from "../../core/baselines/registry.ts";

export type Tf = typeof tfc;
type T = tfc.Tensor;

/** Bytes that crossed host ↔ device, counted at the engine's own reads and uploads. */
export class TransferCounter {
  /** device → host */
  read = 0;
  /** host → device */
  written = 0;
  reset(): void {
    this.read = this.written = 0;
  }
}

/** The objectives and control variates the device engine runs (see the header). */
export const DEVICE_OBJECTIVES: readonly string[] = ["atb", "akl", "renyi", "tsallis", "fkl-is"];

export function deviceSupports(objective: Objective, cv: ControlVariate): string | null {
  if (!DEVICE_OBJECTIVES.includes(objective.name)) {
    return `objective ${objective.name} is not on the device engine (per-trajectory coefficients only)`;
  }
  if (objective.usesCv && cv.needsScores) {
    return `control variate ${cv.name} needs per-sample scores: not on the device engine`;
  }
  return null;
}

/**
 * A batch for the registry's gradient code that holds only what crossed back (log w, B floats) and records the
 * per-trajectory coefficients the objective asks for (Σ over calls), instead of running a backward pass.
 */
export class CoefficientBatch implements Batch {
  readonly coef: Float64Array;
  readonly layout;
  constructor(readonly B: number, readonly D: number, readonly logw: Float64Array) {
    this.coef = new Float64Array(B);
    this.layout = stepMajorLayout(B, D);
  }
  accumulate(coef: ArrayLike<number>): void {
    if (coef.length !== this.B) {
      throw new Error(`device engine: per-trajectory coefficients only (got ${coef.length}, B = ${this.B})`);
    }
    for (let s = 0; s < this.B; s++) this.coef[s] += coef[s];
  }
  private missing(what: string): never {
    throw new Error(`device engine: ${what} stays on the device`);
  }
  get net(): Mlp {
    return this.missing("the policy network");
  }
  get gemm() {
    return jsGemm;
  }
  get x(): Int8Array {
    return this.missing("x");
  }
  get logR(): Float64Array {
    return this.missing("log R");
  }
  get logPFRows(): Float64Array {
    return this.missing("per-row log P_F");
  }
  get logPBRows(): Float64Array {
    return this.missing("per-row log P_B");
  }
  stateInputs(): never {
    return this.missing("the state inputs");
  }
  forEachScore(): never {
    return this.missing("per-sample scores");
  }
}

/** log R on the device: a function of the terminal states x (B × D, ±1 float32) → B. */
export type DeviceReward = (tf: Tf, x: T) => T;

/** Ising on the L×L torus (core/tasks/ising.ts): log R(x) = β Σ_a x_a (x_right(a) + x_down(a)) = β·Σ x ⊙ (x M). */
export function isingDeviceReward(
  tf: Tf,
  L: number,
  beta: number,
): { reward: DeviceReward; dispose(): void } {
  const D = L * L;
  const m = new Float32Array(D * D);
  for (let i = 0; i < L; i++) {
    for (let j = 0; j < L; j++) {
      const a = i * L + j;
      m[(i * L + ((j + 1) % L)) * D + a] += 1;
      m[(((i + 1) % L) * L + j) * D + a] += 1;
    }
  }
  const M = tf.tensor2d(m, [D, D]);
  return {
    reward: (tf, x) => tf.mul(beta, tf.sum(tf.mul(x, tf.matMul(x, M)), 1)),
    dispose: () => M.dispose(),
  };
}

/** act'(z) given z and a = act(z) (the CPU kernels' derivatives, core/nn/kernels.ts). */
export function actDeriv(tf: Tf, kind: Mlp["activation"], z: T, a: T): T {
  switch (kind) {
    case "swish": {
      const s = tf.sigmoid(z);
      return tf.mul(s, tf.add(1, tf.mul(z, tf.sub(1, s))));
    }
    case "relu":
      return tf.cast(tf.greater(z, 0), "float32");
    case "elu":
      return tf.where(tf.greater(z, 0), tf.onesLike(z), tf.add(a, 1));
    case "tanh":
      return tf.sub(1, tf.square(a));
  }
}

/**
 * Σ over the parts (forward, backward) of each part's explicit backward pass; zeros when there is none.
 * `backward(i)` gives the gradients of part i (one tensor per variable).
 */
export function sumPartGrads(tf: Tf, vars: readonly T[], parts: number, backward: (i: number) => T[]): T[] {
  return tf.tidy(() => {
    let total: T[] | null = null;
    for (let i = 0; i < parts; i++) {
      const g = backward(i);
      total = total ? total.map((t, k) => tf.add(t, g[k])) : g;
    }
    return total ?? vars.map((v) => tf.zerosLike(v));
  });
}

/**
 * The MLP's output for the rows X: vars = [W₁, b₁, …, W_L, b_L], activation between layers, none after the
 * last. Works for one model (X n × in, W in × out) and for K batched models (X K × n × in, W K × in × out).
 */
export function mlpLogits(tf: Tf, vars: readonly T[], activation: Mlp["activation"], X: T): T {
  let a = X;
  const L = vars.length / 2;
  for (let l = 0; l < L; l++) {
    const z = tf.add(tf.matMul(a, vars[2 * l]), vars[2 * l + 1]);
    a = l + 1 < L ? act(tf, activation, z) : z;
  }
  return a;
}

export function act(tf: Tf, kind: Mlp["activation"], z: T): T {
  switch (kind) {
    case "swish":
      return tf.mul(z, tf.sigmoid(z));
    case "relu":
      return tf.relu(z);
    case "elu":
      return tf.elu(z);
    case "tanh":
      return tf.tanh(z);
  }
}

/** A trajectory batch resident on the device: terminal states (B × D, ±1) and orders (B × D, step → position). */
export interface DeviceTrajectories {
  x: T;
  order: T;
}

/** Adam (core/nn/adam.ts, the same update and bias correction) over device variables. */
export class DeviceAdam {
  private readonly m: tfc.Variable[];
  private readonly v: tfc.Variable[];
  private t = 0;
  constructor(
    private readonly tf: Tf,
    private readonly vars: tfc.Variable[],
    private readonly lr: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly eps = 1e-8,
  ) {
    this.m = vars.map((p) => tf.variable(tf.zerosLike(p), false));
    this.v = vars.map((p) => tf.variable(tf.zerosLike(p), false));
  }
  step(grads: T[]): void {
    const { tf, beta1, beta2 } = this;
    this.t++;
    const c1 = 1 - beta1 ** this.t, c2 = 1 - beta2 ** this.t;
    const a = this.lr * Math.sqrt(c2) / c1;
    const epsHat = this.eps * Math.sqrt(c2);
    tf.tidy(() => {
      for (let k = 0; k < this.vars.length; k++) {
        const g = grads[k];
        const m = tf.add(tf.mul(beta1, this.m[k]), tf.mul(1 - beta1, g));
        const v = tf.add(tf.mul(beta2, this.v[k]), tf.mul(1 - beta2, tf.square(g)));
        this.m[k].assign(m);
        this.v[k].assign(v);
        this.vars[k].assign(tf.sub(this.vars[k], tf.div(tf.mul(a, m), tf.add(tf.sqrt(v), epsHat))));
      }
    });
  }
  dispose(): void {
    for (const x of [...this.m, ...this.v]) x.dispose();
  }
}

export interface DeviceEngineOptions {
  tf: Tf;
  /** The initial policy (host arrays, e.g. from core/nn/mlp.ts initMlp with the run's seed): copied once. */
  net: Mlp;
  reward: DeviceReward;
  /** Adam learning rate of φ (the scalar's optimiser stays on the host: one number). */
  lr: number;
  counter?: TransferCounter;
}

export interface DeviceStepInput {
  objective: Objective;
  cv: ControlVariate;
  params: ObjectiveParams;
  alpha: number;
  /** The objective's scalar (log Z_ψ, c_ψ, log Ẑ), kept on the host. */
  scalar: number;
  forward?: DeviceTrajectories;
  backward?: DeviceTrajectories;
}

export interface DeviceGradient {
  /** ∇_φ on the device, [W₀, b₀, …] (the caller disposes them or hands them to `apply`). */
  grads: T[];
  dScalar: number;
  loss: number;
  /** log w of the forward batch (the B floats that were read back), for metrics. */
  logwForward?: Float64Array;
}

/** The policy's parameters on the device and the step program over them. */
export class DeviceEngine {
  readonly tf: Tf;
  readonly D: number;
  readonly sizes: number[];
  readonly activation: Mlp["activation"];
  readonly vars: tfc.Variable[];
  readonly counter: TransferCounter;
  private readonly reward: DeviceReward;
  private readonly adam: DeviceAdam;

  constructor(opts: DeviceEngineOptions) {
    const { tf, net } = opts;
    this.tf = tf;
    this.sizes = [...net.sizes];
    this.D = net.sizes[0];
    if (net.sizes[net.sizes.length - 1] !== 2 * this.D) {
      throw new Error("device engine: policy output must be 2D");
    }
    this.activation = net.activation;
    this.reward = opts.reward;
    this.counter = opts.counter ?? new TransferCounter();
    this.vars = [];
    for (let l = 0; l < net.W.length; l++) {
      const fin = net.sizes[l], fout = net.sizes[l + 1];
      this.vars.push(tf.variable(tf.tensor2d(Float32Array.from(net.W[l]), [fin, fout]), true));
      this.vars.push(tf.variable(tf.tensor1d(Float32Array.from(net.b[l])), true));
    }
    this.adam = new DeviceAdam(tf, this.vars, opts.lr);
  }

  /** Logits (n × 2D) of the states X (n × D). */
  logits(X: T): T {
    return mlpLogits(this.tf, this.vars, this.activation, X);
  }

  /** The 2-logit difference l₊ − l₋ at each row's position (logits n × 2D, oneHot n × D) → n. */
  private pairDiff(logits: T, oneHot: T): T {
    const { tf } = this;
    const n = oneHot.shape[0];
    const l2 = tf.reshape(logits, [n, this.D, 2]);
    const [lm, lp] = tf.split(l2, 2, 2);
    return tf.sum(tf.mul(tf.sub(tf.reshape(lp, [n, this.D]), tf.reshape(lm, [n, this.D])), oneHot), 1);
  }

  /** Seeded uniforms of shape [B, D], drawn by tfjs on the host and uploaded (counted). */
  private uniforms(B: number, seed: number): T {
    this.counter.written += 4 * B * this.D;
    return this.tf.randomUniform([B, this.D], 0, 1, "float32", seed);
  }

  /**
   * B forward trajectories from Q on the device: orders = top-k of iid uniforms (a uniform permutation per
   * trajectory), then D steps, each one MLP pass over the B current states. `seed` seeds the step's uniforms.
   */
  sample(B: number, seed: number): DeviceTrajectories {
    const { tf, D } = this;
    const keys = this.uniforms(B, seed);
    const order = tf.tidy(() => tf.cast(tf.topk(keys, D).indices, "int32"));
    keys.dispose();
    const u = this.uniforms(B, seed ^ 0x3c6ef372);
    let S: T = tf.zeros([B, D]);
    for (let t = 0; t < D; t++) {
      const next = tf.tidy(() => {
        const pos = tf.reshape(tf.slice(order, [0, t], [B, 1]), [B]);
        const oh = tf.oneHot(pos, D, 1, 0, "float32") as T;
        const pPlus = tf.sigmoid(this.pairDiff(this.logits(S), oh));
        const ut = tf.reshape(tf.slice(u, [0, t], [B, 1]), [B]);
        const v = tf.sub(tf.mul(2, tf.cast(tf.less(ut, pPlus), "float32")), 1);
        return tf.add(S, tf.mul(oh, tf.reshape(v, [B, 1])));
      });
      S.dispose();
      S = next;
    }
    u.dispose();
    return { x: S, order };
  }

  /** Uploads host trajectories (x: B × D ±1; order[b·D + t] = position set at step t) — counted. */
  upload(x: Int8Array, order: Int32Array, B: number): DeviceTrajectories {
    const { tf, D } = this;
    this.counter.written += 4 * B * D * 2;
    return { x: tf.tensor2d(Float32Array.from(x), [B, D]), order: tf.tensor2d(order, [B, D], "int32") };
  }

  /**
   * The D·B step rows of teacher-forced trajectories (step-major rows t·B + b): the states s_t = x ⊙ [rank < t]
   * (rank[b, d] = the step position d is set at), the one-hot of the position set at each row, and its value.
   */
  private rows(traj: DeviceTrajectories): { states: T; ohPos: T; v: T } {
    const { tf, D } = this;
    const { x, order } = traj;
    const B = x.shape[0];
    const ohOrder = tf.oneHot(order, D, 1, 0, "float32") as T; // [B, T, D]: step t sets position order[b, t]
    const steps = tf.range(0, D, 1, "float32");
    const rank = tf.reshape(tf.matMul(tf.tile(tf.reshape(steps, [1, 1, D]), [B, 1, 1]), ohOrder), [B, D]);
    const before = tf.cast(tf.less(tf.expandDims(rank, 0), tf.reshape(steps, [D, 1, 1])), "float32"); // [T, B, D]
    const states = tf.reshape(tf.mul(before, tf.expandDims(x, 0)), [D * B, D]);
    // row t·B + b: a 2D int transpose, then one-hot (tfjs-backend-webgpu 4.22 mis-transposes 3D one-hot tensors)
    const ohPos = tf.oneHot(tf.reshape(tf.transpose(order), [D * B]), D, 1, 0, "float32") as T;
    const v = tf.sum(tf.mul(ohPos, tf.tile(x, [D, 1])), 1);
    return { states, ohPos, v };
  }

  /** log q_φ(τ) = Σ_t log p_φ(v_t | s_t, d_t) of teacher-forced trajectories (B). */
  logq(traj: DeviceTrajectories): T {
    const { tf, D } = this;
    const B = traj.x.shape[0];
    const { states, ohPos, v } = this.rows(traj);
    const logp = tf.logSigmoid(tf.mul(v, this.pairDiff(this.logits(states), ohPos)));
    return tf.sum(tf.reshape(logp, [D, B]), 0);
  }

  /**
   * ∇_φ Σ_b coef_b · log q_φ(τ_b) (coef: B, on the device) by an explicit backward pass: the output signal of
   * row (t, b) is coef_b · g at the two logits of its position, g = ∂ log p(v)/∂ l₊ = [v > 0] − σ(l₊ − l₋) and
   * −g at l₋; then dW_l = A_lᵀ δ_l, db_l = Σ_rows δ_l, δ_{l−1} = (δ_l W_lᵀ) ⊙ act'(Z_{l−1}).
   */
  private backward(traj: DeviceTrajectories, coef: T): T[] {
    const { tf, D } = this;
    const B = traj.x.shape[0], n = D * B;
    const { states, ohPos, v } = this.rows(traj);
    const Lr = this.vars.length / 2;
    const As: T[] = [states], Zs: T[] = [];
    let a = states;
    for (let l = 0; l < Lr; l++) {
      const z = tf.add(tf.matMul(a, this.vars[2 * l]), this.vars[2 * l + 1]);
      Zs.push(z);
      if (l + 1 < Lr) As.push(a = act(tf, this.activation, z));
    }
    const pPlus = tf.sigmoid(this.pairDiff(Zs[Lr - 1], ohPos));
    const g = tf.sub(tf.div(tf.add(v, 1), 2), pPlus); // [v > 0] − p₊
    const cRow = tf.reshape(tf.tile(tf.reshape(coef, [1, B]), [D, 1]), [n]);
    const G = tf.mul(ohPos, tf.reshape(tf.mul(cRow, g), [n, 1])); // n × D
    let delta: T = tf.reshape(tf.stack([tf.neg(G), G], 2), [n, 2 * D]); // columns (2d, 2d+1) = (l₋, l₊)
    const grads: T[] = new Array(2 * Lr);
    for (let l = Lr - 1; l >= 0; l--) {
      grads[2 * l] = tf.matMul(As[l], delta, true, false);
      grads[2 * l + 1] = tf.sum(delta, 0);
      if (l > 0) {
        delta = tf.mul(
          tf.matMul(delta, this.vars[2 * l], false, true),
          actDeriv(tf, this.activation, Zs[l - 1], As[l]),
        );
      }
    }
    return grads;
  }

  /** log w = log R(x) − log q_φ(τ) (uniform P_B), read back: B float32 (counted). */
  private async readLogw(traj: DeviceTrajectories): Promise<Float64Array> {
    const t = this.tf.tidy(() => this.tf.sub(this.reward(this.tf, traj.x), this.logq(traj)));
    const data = (await t.data()) as Float32Array; // asynchronous: WebGPU has no synchronous read
    this.counter.read += data.byteLength;
    t.dispose();
    return Float64Array.from(data);
  }

  /**
   * The gradient of one step on given device batches: log w read back, the objective's coefficients from the
   * registry entry, ∇_φ Σ coef · log q_φ on the device.
   */
  async gradient(input: DeviceStepInput): Promise<DeviceGradient> {
    const { tf, D } = this;
    const { objective, cv, forward, backward } = input;
    const why = deviceSupports(objective, cv);
    if (why) throw new Error(why);
    const fw = forward
      ? new CoefficientBatch(forward.x.shape[0], D, await this.readLogw(forward))
      : undefined;
    const bw = backward
      ? new CoefficientBatch(backward.x.shape[0], D, await this.readLogw(backward))
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
    const parts: [DeviceTrajectories, Float64Array][] = [];
    if (forward && fw) parts.push([forward, fw.coef]);
    if (backward && bw) parts.push([backward, bw.coef]);
    const coefs = parts.map(([, c]) => {
      this.counter.written += 4 * c.length;
      return tf.tensor1d(Float32Array.from(c));
    });
    const grads = sumPartGrads(tf, this.vars, parts.length, (i) => this.backward(parts[i][0], coefs[i]));
    for (const c of coefs) c.dispose();
    return {
      grads,
      dScalar: r.dScalar,
      loss: r.loss,
      logwForward: fw?.logw,
    };
  }

  /** One Adam step along `grads` (disposed). */
  apply(grads: T[]): void {
    this.adam.step(grads);
    for (const g of grads) g.dispose();
  }

  /** The parameters copied to the host (evaluation, checkpoints; not per step). */
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

/** Host orders (order[b·D + t]) from a CPU bit-vector batch's step-major positions (pos[t·B + b]). */
export function ordersOf(pos: Int32Array, B: number, D: number): Int32Array {
  const order = new Int32Array(B * D);
  for (let t = 0; t < D; t++) for (let b = 0; b < B; b++) order[b * D + t] = pos[t * B + b];
  return order;
}
