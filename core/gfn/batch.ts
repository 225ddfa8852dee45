/**
 * The batch contract every sampler implements (docs/math.md §"Batches"): what objectives and control variates
 * read and write, whatever the environment. Two implementations:
 *   - the bit-vector sampler (core/gfn/bitvector.ts over core/gfn/trajectories.ts): 2-logit gather and
 *     incremental first layer, fixed length D, step-major rows t·B + b;
 *   - the generic masked-softmax sampler (core/gfn/discrete.ts): variable-length trajectories ending in stop.
 * An objective never asks which one it got.
 *
 * Conventions (docs/math.md, paper Eq. 3–5): log w(τ) = log R(x) + log P_B(τ|x) − log P_F(τ). Per-trajectory
 * log P_F and log P_B may omit terms that cancel in log w and do not depend on φ (the bit vectors drop the
 * ordering terms ±log D!), so only `logw` is exposed per trajectory; per-row values are the true step log-probs.
 */
import type { Mlp } from "../nn/mlp.ts";
import type { Gemm, Vec } from "../nn/gemm.ts";
import type { Rng } from "../rng.ts";
import type { StepBehaviour } from "./behaviour.ts";
import type { ReplayBuffer } from "./replay.ts";

/** Rows of a batch: row(b, t) is the row of step t of trajectory b, t < len(b). */
export interface StepLayout {
  B: number;
  rows: number;
  len(b: number): number;
  row(b: number, t: number): number;
}

/** The fixed-length bit-vector layout: T steps per trajectory, step-major rows t·B + b. */
export function stepMajorLayout(B: number, T: number): StepLayout {
  return { B, rows: B * T, len: () => T, row: (b, t) => t * B + b };
}

/** A learned backward policy P_B(θ) evaluated on a batch's transitions. */
export interface BackwardScores {
  /** Per trajectory log P_B(τ|x; θ) (true value). */
  logPB: Float64Array;
  /** grads += ∇_θ Σ coef · log P_B: per trajectory (length B) or per row (length rows). */
  accumulate(coef: ArrayLike<number>, grads: Vec[]): void;
}

/**
 * How an optimal baseline is formed from the per-sample scores (docs/math.md §"Control variates"): one scalar
 * b = Σ log w_s ‖h_s‖² / Σ ‖h_s‖², or one per parameter element; global or leave-one-out.
 */
export interface OptimalBaseline {
  readonly kind: "scalar" | "vector";
  readonly leaveOneOut: boolean;
}

/**
 * The part of a batch that the objectives' per-trajectory coefficient math reads and writes (docs/math.md
 * §"Batches", §"Objectives"), over the vector type V of an array algebra (core/algebra.ts) and the gradient
 * target G of an engine: the CPU engine's `Batch` (V = Float64Array, G = the φ-gradient arrays) and the device
 * engine's batches (V = a device tensor; backends/device/coefficients.ts). The objectives' `trajectoryGradient`
 * and the control variates see only this.
 */
export interface TrajectoryBatch<V, G> {
  readonly B: number;
  /** log w per trajectory under the batch's backward policy. */
  readonly logw: V;
  /** log ρ = log P_F(τ) − log β(τ) when the batch was drawn from a behaviour β (docs/offpolicy.md). */
  readonly logRho?: V;
  /** grads += ∇_φ Σ_s coef_s · log P_F(τ_s) (per-trajectory coefficients, length B). */
  accumulate(coef: V, grads: G): void;
  /**
   * grads += weight · mean_s (b_s − log w_s) h_s with an optimal baseline b, h_s = ∇_φ log P_F(τ_s): it needs the
   * per-sample scores, so each engine implements it its own way (the CPU batches: core/baselines/estimator.ts
   * `addOptimalGradient` over `forEachScore`); absent on an engine without per-sample scores.
   */
  addOptimalBaselineGradient?(baseline: OptimalBaseline, logw: V, weight: number, grads: G): void;
}

export interface Batch extends TrajectoryBatch<Float64Array, Vec[]> {
  readonly B: number;
  /** The policy network the scores are taken with respect to, and the backend of its passes. */
  readonly net: Mlp;
  readonly gemm: Gemm;
  readonly layout: StepLayout;
  /** Terminal states (B × the environment's state size). */
  readonly x: Int8Array | Int32Array;
  /** log R(x) per trajectory. */
  readonly logR: Float64Array;
  /** log w per trajectory under the batch's backward policy (uniform, or P_B(θ) when `pb` is set). */
  readonly logw: Float64Array;
  /** Per row: log P_F(s_{t+1}|s_t) and log P_B(s_t|s_{t+1}) (true step log-probabilities). */
  readonly logPFRows: Float64Array;
  readonly logPBRows: Float64Array;
  /** Per row: the network input of s_t (rows × inputDim), for value networks. */
  stateInputs(): Vec;
  /** grads += ∇_φ Σ coef · log P_F: per trajectory (length B, on log P_F(τ_s)) or per row (length rows). */
  accumulate(coef: ArrayLike<number>, grads: Vec[]): void;
  /** fn(s, h) with the per-trajectory score h = ∇_φ log P_F(τ_s), s = 0..B−1 (h is reused between calls). */
  forEachScore(fn: (s: number, h: Vec[]) => void): void;
  /** The learned backward policy's view of this batch, when there is one. */
  readonly pb?: BackwardScores;
  /**
   * Drawn from a behaviour β ≠ P_F (docs/offpolicy.md): log ρ = log P_F(τ) − log β(τ) per trajectory, the
   * importance log-weights the objectives' off-policy forms use (core/objectives/offpolicy.ts).
   */
  readonly logRho?: Float64Array;
}

/** How a forward batch is drawn: under a learned P_B (log w), from a behaviour, with replay. */
export interface ForwardOptions {
  /** A learned backward policy P_B(θ): log w under it, and its θ-scores. */
  pb?: Mlp;
  /** A per-step behaviour (ε-uniform / tempered; core/gfn/behaviour.ts) instead of P_F. */
  behaviour?: StepBehaviour;
  /** Past terminal states replayed through the uniform P_B with probability `ratio` (core/gfn/replay.ts). */
  replay?: { buffer: ReplayBuffer<Int8Array | Int32Array>; ratio: number };
}

/** A policy network with the views a sampler derives from it once per parameter update. */
export interface PolicyView {
  readonly net: Mlp;
}

/**
 * A sampler over one environment: forward trajectories from P_F, backward trajectories from terminal states
 * under P_B (uniform, or a learned P_B(θ) network), both as `Batch`es with what the gradient needs.
 */
export interface Sampler {
  readonly name: string;
  /** Width of a state's network input (policy, value and backward-policy networks). */
  readonly inputDim: number;
  /** Output width of the policy network and of a learned backward policy's network. */
  readonly policyOutputs: number;
  readonly backwardOutputs: number;
  /** Whether terminal states can be drawn from the target (backward trajectories, α > 0). */
  readonly hasData: boolean;
  /** Integers (bit-vector entries, grid coordinates) per terminal state: a replay buffer's row width. */
  readonly stateSize: number;
  prepare(net: Mlp): PolicyView;
  /**
   * B trajectories from P_F (or a behaviour, with replay) with the cache a backward pass needs; log w under
   * `opts.pb` when given.
   */
  forward(pol: PolicyView, gemm: Gemm, B: number, rng: Rng, opts?: ForwardOptions): Batch;
  /** B backward trajectories from x ~ π (the task's data) under P_B (`pb`, or uniform), teacher-forced. */
  backward(pol: PolicyView, gemm: Gemm, B: number, rng: Rng, pb?: Mlp): Batch;
}
