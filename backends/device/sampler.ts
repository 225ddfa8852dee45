/**
 * The device sampler contract (docs/device.md §"One engine"): what the device engine's step driver
 * (backends/device/engine.ts) needs from a task, mirroring core/gfn/batch.ts's Sampler / Batch for the CPU engine.
 * The driver never asks which sampler it got: it runs the policy on `batch.inputs`, asks the batch for log w and
 * the per-row log P_F from those logits, gets coefficients, turns them into an output signal with
 * `batch.logitSignal`, back-propagates through the MLP and applies Adam. Implementations:
 *   - the bit-vector sampler (backends/device/bitvector.ts): Ising (uniform positions, 2-logit gather, fixed
 *     length D, step-major rows t·B + b);
 *   - the masked-softmax sampler of the hypergrid (backends/device/discrete.ts, variable length, padded rows).
 *
 * Shapes. Everything is batched over K seeds (K independent models in one program; a single run is K = 1):
 *   - K: seeds, leading dimension of every tensor; B: trajectories per seed; R = `batch.rows`: step rows per
 *     seed (bit vectors: R = D·B; variable-length samplers pad to a fixed R and say which rows are real in
 *     `rowMask`);
 *   - the policy maps inputs [K, n, inputDim] → logits [K, n, policyOutputs] (backends/device/engine.ts mlpLogits).
 * All tensors here are device tensors (tfjs). Methods are synchronous and read nothing back: a sampler must not
 * call `data()`/`dataSync()` or create tensors from host arrays per call (make constants once, in the
 * constructor, and keep them), so that the bytes crossing per step stay independent of B and D
 * (TransferCounter, backends/device/engine.ts). Randomness comes only from the `DeviceRandom` passed in.
 *
 * Conventions (core/gfn/batch.ts, docs/math.md): log w(τ) = log R(x) + log P_B(τ|x) − log P_F(τ); per-trajectory
 * values may drop φ-independent terms that cancel in log w (the bit vectors drop ±log D!), per-row values are the
 * true step log-probabilities. Gradients are of Σ_k Σ_b cTraj[k,b]·log P_F(τ_{k,b}) + Σ_k Σ_r cRow[k,r]·log P_F(row
 * r of seed k): per-trajectory coefficients (the score-function objectives) and per-row coefficients (pg's
 * per-step advantages) both arrive as tensors; `perRow` spreads the former onto rows, the driver adds the two.
 */
import type * as tfc from "@tensorflow/tfjs-core";

export type Tf = typeof tfc;
export type T = tfc.Tensor;

/** K models on the device: inputs [K, n, inputDim] → logits [K, n, outputs]. */
export interface DevicePolicy {
  readonly K: number;
  logits(X: T): T;
  /**
   * The same pass keeping every layer's input A_l (A_0 = X) and pre-activation Z_l (the logits are the last Z):
   * a sampler that runs the policy on exactly its rows' states may keep these while sampling (`DeviceBatch.cache`)
   * so that the step driver needs no second forward pass.
   */
  forwardCached?(X: T): LayerCache;
}

/** Per layer l: the input A_l [K, n, in_l] (A_0 = the network input) and the pre-activation Z_l [K, n, out_l]. */
export interface LayerCache {
  As: T[];
  Zs: T[];
}

/** K independent streams of U(0, 1) on the device (backends/device/rng.ts). */
export interface DeviceRandom {
  readonly K: number;
  /**
   * iid uniforms in (0, 1), shape [K, ...shape]; slice k comes from seed k's stream alone, so K seeds batched draw
   * exactly what K separate runs draw. The caller disposes the result.
   */
  uniform(shape: readonly number[]): T;
}

/** A batch of K × B trajectories resident on the device, with the teacher-forced step rows the backward pass needs. */
/**
 * How a batch's R = T·B rows are ordered per seed: step-major (row t·B + b: the bit vectors) or trajectory-major
 * (row b·T + t: the padded variable-length samplers). The per-sample scores (backends/device/scores.ts) and pg's
 * per-step terms (backends/device/value.ts) read a trajectory's rows through it.
 */
export type RowOrder = "step-major" | "trajectory-major";

export interface DeviceBatch {
  readonly K: number;
  readonly B: number;
  /** Step rows per seed (R). */
  readonly rows: number;
  readonly rowOrder: RowOrder;
  /** Terminal states [K, B, stateSize] (bit vectors: ±1 float32; grids: coordinates). */
  readonly x: T;
  /** Network inputs of the rows' states s_t: [K, R, inputDim]. */
  readonly inputs: T;
  /** log R(x): [K, B]. */
  readonly logR: T;
  /** Per row log P_B(s_t | s_{t+1}) (true values, 0 on padding): [K, R]. */
  readonly logPBRows: T;
  /** 1 on rows that are steps, 0 on padding: [K, R]; absent when every row is a step. */
  readonly rowMask?: T;
  /**
   * The policy's layers on `inputs` (As[0] = `inputs`), kept while sampling with the current parameters; the step
   * driver then uses them instead of its own forward pass over the rows. Owned (and disposed) by the batch.
   */
  readonly cache?: LayerCache;
  /** Per row the true log P_F(s_{t+1} | s_t) from the rows' logits [K, R, out] → [K, R] (0 on padding). */
  rowLogPF(logits: T): T;
  /** log w per trajectory (under the uniform/fixed P_B) from the rows' logits → [K, B]. */
  logw(logits: T): T;
  /** Per-trajectory values [K, B] → per row [K, R] (each row gets its trajectory's; 0 on padding). */
  perRow(coef: T): T;
  /** Per-row values [K, R] → per-trajectory sums [K, B] (padding ignored). */
  perTrajectory(rowValues: T): T;
  /**
   * The output signal of the backward pass: ∂/∂logits of Σ_r c[k, r] · log P_F(row r), given the rows' logits
   * [K, R, out] and row coefficients c [K, R] → [K, R, out].
   */
  logitSignal(logits: T, c: T): T;
  dispose(): void;
}

/** A task's sampler on the device. */
export interface DeviceSampler {
  readonly name: string;
  /** Width of a state's network input, and of the policy's output. */
  readonly inputDim: number;
  readonly policyOutputs: number;
  /** Numbers per terminal state (the last dimension of `batch.x`). */
  readonly stateSize: number;
  /** Whether terminal states can be drawn from the target (backward trajectories, α > 0). */
  readonly hasData: boolean;
  /** B trajectories per seed from each seed's P_F. */
  forward(policy: DevicePolicy, B: number, rng: DeviceRandom): DeviceBatch;
  /** B backward trajectories per seed from x ~ π under the uniform P_B, teacher-forced. */
  backward(policy: DevicePolicy, B: number, rng: DeviceRandom): DeviceBatch;
  /**
   * Sees every training forward batch (DeviceEngine.step; not evaluation samples), like core/tasks/runtime.ts's
   * TaskRuntime.observe: the hypergrid marks the modes found. Device work only.
   */
  observe?(batch: DeviceBatch): void;
  /** Frees the constants the sampler keeps on the device. */
  dispose(): void;
}

/**
 * Host rows of K seeds (the first B·width entries of each array) as one device tensor [K, B, width]: float32 for
 * states, int32 for orders / actions (`upload` of fixed batches in tests).
 */
export function stackSeeds(
  tf: Tf,
  rows: readonly ArrayLike<number>[],
  B: number,
  width: number,
  dtype: "float32" | "int32",
): T {
  const K = rows.length, n = B * width;
  const out = dtype === "int32" ? new Int32Array(K * n) : new Float32Array(K * n);
  rows.forEach((v, k) => {
    for (let i = 0; i < n; i++) out[k * n + i] = v[i];
  });
  return tf.tensor3d(out, [K, B, width], dtype);
}
