/**
 * The device engine (docs/device.md): one training step of K policies f_φ (K seeds, the leading dimension of every
 * tensor; a single run is K = 1) as one program over device-resident tfjs tensors, the same program on every tfjs
 * backend (tfjs-backend-cpu in the tests, tfjs-backend-webgpu under Deno's WebGPU, tfjs-node-gpu where it
 * installs).
 *
 * The step driver (`DeviceEngine.gradient` / `step`) is task-agnostic: a DeviceSampler
 * (backends/device/sampler.ts; the bit-vector one is backends/device/bitvector.ts) draws the batches and knows
 * their rows; the driver takes the MLP's layers on each batch's teacher-forced rows (kept by the sampler while
 * sampling, `batch.cache`, or one forward pass here), asks the batch for log w, gets the objective's coefficients from a `CoefficientFn` (per trajectory and/or per row,
 * as tensors), turns them into the output signal (`batch.logitSignal`), back-propagates through the MLP
 * (tfjs-core registers no gradient functions; the backward of an MLP under a per-row output signal is a handful
 * of batched GEMMs, core/nn/mlp.ts) and applies Adam to φ and to the objective's scalar (log Z_ψ, c_ψ, log Ẑ: one
 * number per seed, a device variable [K]).
 *
 * The coefficients: by default `deviceCoefficients` (backends/device/coefficients.ts) runs the objective and
 * control-variate registry entries themselves (the shared pure code of core/objectives and core/baselines, over
 * the tensor algebra of backends/device/algebra.ts) on the device-resident log w: nothing is read back for them.
 * `hostCoefficients` runs the same entries per seed on log w read back, through a batch whose `accumulate`
 * records the coefficients instead of running a backward pass (`CoefficientBatch`).
 *
 * What crosses between host and device is counted by `TransferCounter.attach(tf)`, which wraps tfjs itself (every
 * upload and every read of the backend), not the engine's own bookkeeping. A step reads nothing back; evaluation
 * (`evaluateSampled`) reads 2·K floats. The network pieces (activations, MLP pass, Adam) are in ./nn.ts.
 */
import type * as tfc from "@tensorflow/tfjs-core";
import { jsGemm } from "../../core/nn/gemm.ts";
import type { Mlp } from "../../core/nn/mlp.ts";
import type { Batch } from "../../core/gfn/batch.ts";
import { stepMajorLayout } from "../../core/gfn/batch.ts";
import type { Objective, ObjectiveParams } from "../../core/objectives/objective.ts";
import type { ControlVariate } from "../../core/baselines/registry.ts";
import type { DeviceBatch, DevicePolicy, DeviceRandom, DeviceSampler, LayerCache, T, Tf } from "./sampler.ts";
import { DeviceAdam, keepOnDevice, layerGrads, mlpDeltas, mlpLogits, mlpPass, variableOf } from "./nn.ts";

export { act, actDeriv, DeviceAdam, keepOnDevice, mlpLogits, variableOf } from "./nn.ts";
import {
  DEVICE_OBJECTIVES as COEFFICIENT_OBJECTIVES,
  type DeviceCoefficientInput,
  deviceCoefficients,
  deviceCoefficientSupport,
  type OptimalRequest,
} from "./coefficients.ts";
import type { OptimalBaseline } from "../../core/gfn/batch.ts";
import { optimalBaselineGradient, type PolicySignals } from "./scores.ts";

export type { Tf } from "./sampler.ts";

// deno-lint-ignore no-explicit-any
type Any = any;

/**
 * Bytes that crossed host ↔ device while attached, counted inside tfjs: on WebGPU at the backend's uploads of
 * host data to GPU buffers (`uploadToGPU`) and its GPU → host buffer reads (`getBufferData`); on the other
 * backends (tfjs-cpu, tfjs-node-gpu) at the engine's API boundary (`makeTensor` from host values, `read` /
 * `readSync`). Kernel-launch parameters (shapes, scalar attributes in uniform buffers) are not data and are not
 * counted.
 */
export class TransferCounter {
  /** device → host */
  read = 0;
  /** host → device */
  written = 0;
  private undo: (() => void)[] = [];
  reset(): void {
    this.read = this.written = 0;
  }
  /** Starts counting every transfer of tf's current backend (until `detach`). */
  attach(tf: Tf): this {
    this.detach();
    // deno-lint-ignore no-this-alias
    const self = this;
    const patch = (obj: Any, name: string, wrap: (orig: Any) => Any) => {
      const orig = obj[name];
      if (typeof orig !== "function") return;
      const own = Object.prototype.hasOwnProperty.call(obj, name);
      obj[name] = wrap(orig);
      this.undo.push(() => own ? (obj[name] = orig) : delete obj[name]);
    };
    const bytesOf = (v: Any) =>
      v == null ? 0 : typeof v.byteLength === "number" ? v.byteLength : 4 * (v.length ?? 0);
    const backend = tf.backend() as Any;
    if (tf.getBackend() === "webgpu") {
      patch(backend, "uploadToGPU", (orig) =>
        function (this: Any, dataId: Any) {
          const d = this.tensorMap.get(dataId);
          if (d && d.resource == null && d.values) self.written += 4 * d.values.length;
          return orig.call(this, dataId);
        });
      patch(backend, "getBufferData", (orig) =>
        function (this: Any, buffer: Any) {
          self.read += buffer.size;
          return orig.call(this, buffer);
        });
    } else {
      const engine = tf.engine() as Any;
      patch(engine, "makeTensor", (orig) =>
        function (this: Any, values: Any, ...rest: Any[]) {
          self.written += bytesOf(values);
          return orig.call(this, values, ...rest);
        });
      patch(engine, "readSync", (orig) =>
        function (this: Any, dataId: Any) {
          const v = orig.call(this, dataId);
          self.read += bytesOf(v);
          return v;
        });
      patch(engine, "read", (orig) =>
        async function (this: Any, dataId: Any) {
          const v = await orig.call(this, dataId);
          self.read += bytesOf(v);
          return v;
        });
    }
    return this;
  }
  detach(): void {
    for (const u of this.undo.reverse()) u();
    this.undo = [];
  }
}

/**
 * The objectives the device engine runs: those with device coefficients (backends/device/coefficients.ts) and pg,
 * whose per-row coefficients and value network are backends/device/value.ts's `DevicePg`.
 */
export const DEVICE_OBJECTIVES: readonly string[] = [...COEFFICIENT_OBJECTIVES, "pg"];

/** Why the device engine cannot run this objective × control variate, or null. */
export function deviceSupports(objective: Objective, cv: ControlVariate): string | null {
  if (objective.name === "pg") return null; // DevicePg's coefficients (the train loop passes them)
  return deviceCoefficientSupport(objective, cv);
}

/**
 * A batch for the registry's gradient code that holds only log w (B floats of one seed) and records the
 * per-trajectory coefficients the objective asks for (Σ over calls), instead of running a backward pass.
 */
export class CoefficientBatch implements Batch {
  readonly coef: Float64Array;
  /** The optimal baselines asked for (their gradients need the per-sample scores: run on the device). */
  readonly optimal: OptimalRequest[] = [];
  readonly layout;
  constructor(readonly B: number, stepsPerTrajectory: number, readonly logw: Float64Array) {
    this.coef = new Float64Array(B);
    this.layout = stepMajorLayout(B, stepsPerTrajectory);
  }
  accumulate(coef: ArrayLike<number>): void {
    if (coef.length !== this.B) {
      throw new Error(`device engine: per-trajectory coefficients only (got ${coef.length}, B = ${this.B})`);
    }
    for (let s = 0; s < this.B; s++) this.coef[s] += coef[s];
  }
  /** Records weight · mean_s (b_s − log w_s) h_s with an optimal baseline, computed by the engine on the device. */
  addOptimalBaselineGradient(baseline: OptimalBaseline, _logw: Float64Array, weight: number): void {
    if (weight !== 0) this.optimal.push({ baseline, weight });
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

/** One part of a step (the forward or the backward batch) as the coefficient code sees it. */
export interface PartView {
  batch: DeviceBatch;
  /** log w [K, B] (device). */
  logw: T;
  /** The policy's logits on the batch's rows [K, R, out] (for per-row log P_F: `batch.rowLogPF(logits)`). */
  logits: T;
}

/** What a `CoefficientFn` reads: the registry's coefficient input, each part with its batch and logits. */
export interface CoefficientInput extends DeviceCoefficientInput {
  forward?: PartView;
  backward?: PartView;
}

/**
 * Coefficients on log P_F of one part: per trajectory [K, B] and/or per row [K, R] (device; consumed), and the
 * optimal baselines' gradients to add (per-sample scores, backends/device/scores.ts).
 */
export interface PartCoefficients {
  traj?: T;
  rows?: T;
  optimal?: OptimalRequest[];
}

export interface CoefficientOutput {
  forward?: PartCoefficients;
  backward?: PartCoefficients;
  /** ∂loss/∂scalar per seed [K] and the loss per seed [K] (device; the caller owns them). */
  dScalar: T;
  loss: T;
}

/**
 * Where a step's coefficients come from: the registry entries on the device (`deviceCoefficients`, the default),
 * on the host (`hostCoefficients`), or other device code.
 */
export type CoefficientFn = (input: CoefficientInput) => Promise<CoefficientOutput> | CoefficientOutput;

/**
 * The registry entries on the host: log w of each part and the scalar are read back (K·B floats per part, K for
 * the scalar), the objective's gradient code runs per seed on them (`CoefficientBatch`), and the per-trajectory
 * coefficients, ∂/∂scalar and the loss go back up.
 */
export const hostCoefficients: CoefficientFn = async (input) => {
  const { tf, objective, cv, params, alpha, scalar, forward, backward } = input;
  const K = scalar.shape[0]!;
  const read = async (t: T) => Float64Array.from((await t.data()) as Float32Array);
  const sc = await read(scalar);
  const lw = {
    forward: forward && await read(forward.logw),
    backward: backward && await read(backward.logw),
  };
  const coef = { forward: new Float32Array(0), backward: new Float32Array(0) };
  const dS = new Float32Array(K), loss = new Float32Array(K);
  const optimal: Record<string, OptimalRequest[]> = {};
  for (let k = 0; k < K; k++) {
    const batches: Record<string, CoefficientBatch | undefined> = {};
    for (const [name, part] of [["forward", forward], ["backward", backward]] as const) {
      if (!part) continue;
      const B = part.batch.B;
      if (k === 0) coef[name] = new Float32Array(K * B);
      batches[name] = new CoefficientBatch(B, part.batch.rows / B, lw[name]!.subarray(k * B, (k + 1) * B));
    }
    const r = objective.gradient({
      alpha,
      cv,
      scalar: sc[k],
      params,
      gemm: jsGemm,
      forward: batches.forward,
      backward: batches.backward,
      grads: [],
    });
    for (const name of ["forward", "backward"] as const) {
      const b = batches[name];
      if (b) coef[name].set(b.coef, k * b.B);
      if (b && k === 0) optimal[name] = b.optimal;
    }
    dS[k] = r.dScalar;
    loss[k] = r.loss;
  }
  const out: CoefficientOutput = { dScalar: tf.tensor1d(dS), loss: tf.tensor1d(loss) };
  if (forward) {
    out.forward = { traj: tf.tensor2d(coef.forward, [K, forward.batch.B]), optimal: optimal.forward };
  }
  if (backward) {
    out.backward = { traj: tf.tensor2d(coef.backward, [K, backward.batch.B]), optimal: optimal.backward };
  }
  return out;
};

export interface DeviceEngineOptions {
  tf: Tf;
  /** The K initial policies (host arrays, e.g. core/nn/mlp.ts initMlp with each seed): copied once. */
  nets: Mlp[];
  sampler: DeviceSampler;
  /** Adam learning rate of φ. */
  lr: number;
  /** Adam learning rate of the objective's scalar (default: lr). */
  lrScalar?: number;
}

export interface DeviceStepInput {
  objective: Objective;
  cv: ControlVariate;
  params: ObjectiveParams;
  alpha: number;
  forward?: DeviceBatch;
  backward?: DeviceBatch;
  /** Default: deviceCoefficients (backends/device/coefficients.ts). */
  coefficients?: CoefficientFn;
}

export interface DeviceGradient {
  /** ∇_φ per seed, [W₀ [K, in, out], b₀ [K, 1, out], …] (the caller disposes them or hands them to `apply`). */
  grads: T[];
  /** ∂loss/∂scalar [K] and the loss [K]. */
  dScalar: T;
  loss: T;
  /** log w [K, B] of each part. */
  logw: { forward?: T; backward?: T };
  dispose(): void;
}

/** K policies' parameters on the device and the step program over them. */
export class DeviceEngine implements DevicePolicy {
  readonly tf: Tf;
  readonly K: number;
  readonly sizes: number[];
  readonly activation: Mlp["activation"];
  readonly vars: tfc.Variable[];
  /** The objective's scalar per seed [K]. */
  readonly scalar: tfc.Variable;
  readonly sampler: DeviceSampler;
  private readonly adam: DeviceAdam;
  private readonly scalarAdam: DeviceAdam;
  private readonly one: T;

  constructor(opts: DeviceEngineOptions) {
    const { tf, nets, sampler } = opts;
    if (nets.length === 0) throw new Error("device engine: no policies");
    keepOnDevice(tf);
    this.tf = tf;
    this.sampler = sampler;
    const K = this.K = nets.length;
    const sizes = this.sizes = [...nets[0].sizes];
    if (sizes[0] !== sampler.inputDim || sizes[sizes.length - 1] !== sampler.policyOutputs) {
      throw new Error(
        `device engine: policy ${
          sizes.join("→")
        } does not fit ${sampler.name} (${sampler.inputDim} → ${sampler.policyOutputs})`,
      );
    }
    this.activation = nets[0].activation;
    this.vars = [];
    for (let l = 0; l + 1 < sizes.length; l++) {
      const fin = sizes[l], fout = sizes[l + 1];
      const W = new Float32Array(K * fin * fout), b = new Float32Array(K * fout);
      nets.forEach((n, k) => (W.set(n.W[l], k * fin * fout), b.set(n.b[l], k * fout)));
      this.vars.push(variableOf(tf, tf.tensor3d(W, [K, fin, fout]), true));
      this.vars.push(variableOf(tf, tf.tensor3d(b, [K, 1, fout]), true));
    }
    this.scalar = variableOf(tf, tf.tensor1d(new Float32Array(K)), true);
    this.adam = new DeviceAdam(tf, this.vars, opts.lr);
    this.scalarAdam = new DeviceAdam(tf, [this.scalar], opts.lrScalar ?? opts.lr);
    this.one = tf.scalar(1);
  }

  /** Logits [K, n, out] of the inputs X [K, n, in]. */
  logits(X: T): T {
    return mlpLogits(this.tf, this.vars, this.activation, X);
  }

  /** Sets the objective's scalar of every seed (an upload; tests and checkpoints). */
  setScalar(values: readonly number[]): void {
    this.tf.tidy(() => this.scalar.assign(this.tf.tensor1d(Float32Array.from(values))));
  }

  /** B forward trajectories per seed from the sampler. */
  sample(B: number, rng: DeviceRandom): DeviceBatch {
    return this.sampler.forward(this, B, rng);
  }

  /** The MLP over rows X with the pre-activations Z_l and inputs A_l of every layer kept. */
  forwardCached(X: T): LayerCache {
    const { inputs, zs } = mlpPass(this.tf, this.vars, this.activation, X);
    return { As: inputs, Zs: zs };
  }

  /** dW_l = A_lᵀ δ_l, db_l = Σ_rows δ_l, δ_{l−1} = (δ_l W_lᵀ) ⊙ act'(Z_{l−1}), from the output signal δ_L. */
  private backprop(As: T[], Zs: T[], signal: T): T[] {
    const pass = { inputs: As, zs: Zs, out: Zs[Zs.length - 1] };
    return layerGrads(
      this.tf,
      As,
      mlpDeltas(this.tf, this.vars, this.activation, pass, signal, this.one),
      null,
    );
  }

  /** The unit backward pass over a batch's rows (coefficient 1 on every row): δ_l per layer (scores.ts). */
  private signals(batch: DeviceBatch, As: T[], Zs: T[]): PolicySignals {
    const { tf } = this;
    const logits = Zs[Zs.length - 1];
    const unit = batch.logitSignal(logits, tf.onesLike(tf.sum(logits, 2)));
    const deltas = mlpDeltas(
      tf,
      this.vars,
      this.activation,
      { inputs: As, zs: Zs, out: logits },
      unit,
      this.one,
    );
    const { K, B, rows } = batch;
    return { K, B, T: rows / B, order: batch.rowOrder, inputs: As, deltas, logits };
  }

  /**
   * The gradient of one step on given device batches: the MLP over each batch's rows, log w, the coefficients
   * (per trajectory and per row), ∇_φ Σ c · log P_F by the explicit backward pass, all seeds at once.
   */
  async gradient(input: DeviceStepInput): Promise<DeviceGradient> {
    const { tf } = this;
    const { objective, cv } = input;
    const why = deviceSupports(objective, cv) ??
      (objective.needsValue && !input.coefficients
        ? `objective ${objective.name} needs the device value network: pass its coefficients (backends/device/value.ts DevicePg)`
        : null);
    if (why && !input.coefficients) throw new Error(why);
    const names = (["forward", "backward"] as const).filter((n) => input[n]);
    // the layers on each batch's rows: kept by the sampler while sampling (batch.cache, owned by the batch), or
    // one forward pass here (owned here)
    const cache = names.map((n) => {
      const batch = input[n]!;
      const owned = !batch.cache;
      const { As, Zs } = batch.cache ?? tf.tidy(() => {
        const c = this.forwardCached(batch.inputs);
        return { As: c.As, Zs: c.Zs };
      });
      const logits = Zs[Zs.length - 1];
      return { name: n, batch, As, Zs, logits, owned, logw: tf.tidy(() => batch.logw(logits)) };
    });
    const release = () => {
      for (const c of cache) if (c.owned) { for (const t of [...c.As.slice(1), ...c.Zs]) t.dispose(); }
    };
    const view = (n: "forward" | "backward"): PartView | undefined => {
      const c = cache.find((p) => p.name === n);
      return c && { batch: c.batch, logw: c.logw, logits: c.logits };
    };
    let coef: CoefficientOutput;
    try {
      coef = await (input.coefficients ?? deviceCoefficients)({
        tf,
        objective,
        cv,
        params: input.params,
        alpha: input.alpha,
        scalar: this.scalar,
        forward: view("forward"),
        backward: view("backward"),
      });
    } catch (err) {
      release();
      for (const c of cache) c.logw.dispose();
      throw err;
    }
    const grads = tf.tidy(() => {
      let total: T[] | null = null;
      const add = (g: T[]) => (total = total ? total.map((t, k) => tf.add(t, g[k])) : g);
      for (const c of cache) {
        const pc = coef[c.name];
        if (!pc) continue;
        const rowCoef = pc.traj && pc.rows
          ? tf.add(c.batch.perRow(pc.traj), pc.rows)
          : pc.traj
          ? c.batch.perRow(pc.traj)
          : pc.rows;
        if (pc.optimal?.length) {
          // the unit backward pass serves the coefficients and the per-sample scores of the optimal baselines
          const sig = this.signals(c.batch, c.As, c.Zs);
          if (rowCoef) add(layerGrads(tf, sig.inputs, sig.deltas, rowCoef));
          for (const o of pc.optimal) add(optimalBaselineGradient(tf, sig, c.logw, o.baseline, o.weight));
        } else if (rowCoef) add(this.backprop(c.As, c.Zs, c.batch.logitSignal(c.logits, rowCoef)));
      }
      return total ?? this.vars.map((v) => tf.zerosLike(v));
    });
    release();
    for (const n of names) for (const t of [coef[n]?.traj, coef[n]?.rows]) t?.dispose();
    const logw: DeviceGradient["logw"] = {};
    for (const c of cache) logw[c.name] = c.logw;
    return {
      grads,
      dScalar: coef.dScalar,
      loss: coef.loss,
      logw,
      dispose() {
        for (const t of [...grads, coef.dScalar, coef.loss, logw.forward, logw.backward]) t?.dispose();
      },
    };
  }

  /** One Adam step of φ along `grads` and, when given, of the scalar along `dScalar` (neither disposed). */
  apply(grads: readonly T[], dScalar?: T): void {
    this.adam.step(grads);
    if (dScalar) this.scalarAdam.step([dScalar]);
  }

  /**
   * A whole step: B forward trajectories per seed when α < 1, B backward trajectories from the data when α > 0,
   * the gradient, the update (the scalar too when `trainScalar`). Returns the gradient's outputs (caller
   * disposes); the batches are disposed.
   */
  async step(
    input: Omit<DeviceStepInput, "forward" | "backward"> & {
      B: number;
      rng: DeviceRandom;
      trainScalar: boolean;
    },
  ): Promise<DeviceGradient> {
    const forward = input.alpha < 1 ? this.sampler.forward(this, input.B, input.rng) : undefined;
    const backward = input.alpha > 0 ? this.sampler.backward(this, input.B, input.rng) : undefined;
    if (forward) this.sampler.observe?.(forward);
    try {
      const g = await this.gradient({ ...input, forward, backward });
      this.apply(g.grads, input.trainScalar ? g.dScalar : undefined);
      return g;
    } finally {
      forward?.dispose();
      backward?.dispose();
    }
  }

  /**
   * The sampled evaluation metrics of every seed, reduced on the device: M forward samples per seed from the
   * sampler (in chunks of `chunk` trajectories), log w of each, then E_Q[log w] = mean and log Ẑ = logsumexp(log
   * w) − log M (core/eval/estimates.ts logWeightSummary's definitions). Reads back 2·K floats, whatever M, D and
   * the network.
   */
  async evaluateSampled(
    M: number,
    rng: DeviceRandom,
    chunk = M,
  ): Promise<{ e_logw: number[]; log_z_hat: number[] }> {
    const { tf, K } = this;
    const parts: T[] = [];
    for (let done = 0; done < M; done += chunk) {
      const batch = this.sampler.forward(this, Math.min(chunk, M - done), rng);
      const logits = batch.cache?.Zs[batch.cache.Zs.length - 1];
      parts.push(tf.tidy(() => batch.logw(logits ?? this.logits(batch.inputs))));
      batch.dispose();
    }
    const red = tf.tidy(() => {
      const lw = parts.length === 1 ? parts[0] : tf.concat(parts, 1);
      return tf.stack([tf.mean(lw, 1), tf.sub(tf.logSumExp(lw, 1), tf.scalar(Math.log(M)))]);
    });
    for (const p of parts) p.dispose();
    const d = (await red.data()) as Float32Array;
    red.dispose();
    return { e_logw: Array.from(d.subarray(0, K)), log_z_hat: Array.from(d.subarray(K, 2 * K)) };
  }

  /** Seed k's parameters copied to the host (evaluation, checkpoints; not per step). */
  async toHost(k = 0): Promise<Mlp> {
    const W: Float32Array[] = [], b: Float32Array[] = [];
    for (let i = 0; i < this.vars.length; i++) {
      const d = (await this.vars[i].data()) as Float32Array;
      const per = d.length / this.K;
      (i % 2 === 0 ? W : b).push(Float32Array.from(d.subarray(k * per, (k + 1) * per)));
    }
    return { sizes: [...this.sizes], activation: this.activation, W, b };
  }

  /** The scalars of all seeds copied to the host. */
  async scalars(): Promise<number[]> {
    return Array.from((await this.scalar.data()) as Float32Array);
  }

  dispose(): void {
    this.adam.dispose();
    this.scalarAdam.dispose();
    for (const v of this.vars) v.dispose();
    this.scalar.dispose();
    this.one.dispose();
  }
}
