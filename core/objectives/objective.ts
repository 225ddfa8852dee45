/**
 * What an objective is (docs/math.md §"Objectives"): a value that owns its name, its parameters and their
 * validation, its scalar parameter (log Z_ψ, c_ψ, log Ẑ) if any, what it needs (a value network), how it turns
 * sampled batches into gradient coefficients (on log P_F for φ, on log P_B for a learned backward policy θ), and
 * the exact gradient those estimates target (so tests/estimators_test.ts checks every registered entry).
 *
 * Every surrogate is Σ sg(coef) · log P_F (per trajectory or per step) and is descended; α is the backward ratio
 * (weights 1−α on the forward batch τ ~ Q and α on the backward batch τ ~ P; paper Eq. 6).
 */
import type { z } from "zod";
import type { Gemm, Vec } from "../nn/gemm.ts";
import type { Mlp } from "../nn/mlp.ts";
import type { Batch, TrajectoryBatch } from "../gfn/batch.ts";
import type { ControlVariate } from "../baselines/registry.ts";
import { type Algebra, float64 } from "../algebra.ts";

/** A parameter an objective reads from the run's config (a top-level config key), with its validation. */
export interface ObjectiveParam {
  key: string;
  /** How reports write the axis (report/labels.ts), e.g. "λ". */
  label?: string;
  schema: z.ZodType;
  description: string;
}

export type ObjectiveParams = Readonly<Record<string, number>>;

export interface GradientContext {
  /** Backward ratio at this step. */
  alpha: number;
  cv: ControlVariate;
  /** Current value of the objective's scalar parameter (0 when it has none). */
  scalar: number;
  params: ObjectiveParams;
  gemm: Gemm;
  /** τ ~ Q (absent when α = 1) and τ ~ P (absent when α = 0). */
  forward?: Batch;
  backward?: Batch;
  /** The value network V(s) (objectives with `needsValue`). */
  value?: Mlp;
  /** φ-gradient accumulator. */
  grads: Vec[];
}

export interface GradientResult {
  /** ∂/∂ scalar (0 when the objective has none). */
  dScalar: number;
  /** The sampled loss where one is defined (αTB), else NaN. */
  loss: number;
  valueGrads?: Vec[];
  valueLoss?: number;
}

/**
 * What an objective's per-trajectory gradient reads, over an array algebra (core/algebra.ts) and any engine's
 * batches (core/gfn/batch.ts `TrajectoryBatch`): the CPU engine's (V = Float64Array, G = its gradient arrays)
 * and the device engine's (V = a device tensor; backends/device/coefficients.ts).
 */
export interface TrajectoryContext<V, G> {
  alg: Algebra<V>;
  /** Backward ratio at this step. */
  alpha: number;
  cv: ControlVariate;
  /** The objective's scalar parameter (length-1; 0 when it has none). */
  scalar: V;
  params: ObjectiveParams;
  /** τ ~ Q (absent when α = 1) and τ ~ P (absent when α = 0). */
  forward?: TrajectoryBatch<V, G>;
  backward?: TrajectoryBatch<V, G>;
  /** The engine's φ-gradient target, handed to the batches' `accumulate`. */
  grads: G;
}

/** ∂/∂ scalar and the sampled loss (NaN where none is defined), length-1 values of the algebra. */
export interface TrajectoryResult<V> {
  dScalar: V;
  loss: V;
}

/**
 * An objective's φ-gradient as per-trajectory coefficients on log P_F (Σ_s sg(coef_s)·log P_F(τ_s) into the
 * batches' `accumulate`), the scalar's gradient and the loss, written once over the algebra.
 */
export type TrajectoryGradient = <V, G>(ctx: TrajectoryContext<V, G>) => TrajectoryResult<V>;

/** A `TrajectoryGradient` on the CPU engine's batches: the Float64 algebra, host numbers in and out. */
export function onHost(gradient: TrajectoryGradient): (ctx: GradientContext) => GradientResult {
  return ({ alpha, cv, scalar, params, forward, backward, grads }) => {
    const r = gradient<Float64Array, Vec[]>({
      alg: float64,
      alpha,
      cv,
      scalar: float64.scalar(scalar),
      params,
      forward,
      backward,
      grads,
    });
    return { dScalar: r.dScalar[0], loss: r.loss[0] };
  };
}

/**
 * Exact quantities over an enumerated trajectory set (tests): Q(τ), P(τ) = R(x)·P_B(τ|x)/Z, log w(τ) under the
 * backward policy in use, log Z.
 */
export interface ExactTrajectories {
  Q: Float64Array;
  P: Float64Array;
  logw: Float64Array;
  logZ: number;
}

/** Weights ω(τ) of an exact gradient Σ_τ ω(τ)·∇ log P_F(τ) (φ) and Σ_τ ω(τ)·∇ log P_B(τ|x) (θ). */
export interface ExactWeights {
  phi: Float64Array;
  theta: Float64Array;
}

export interface Objective {
  readonly name: string;
  /** How the paper writes it (tables and plots, report/labels.ts). */
  readonly label: string;
  readonly description: string;
  /** Config keys it reads (besides the shared ones), with their validation and defaults. */
  readonly params: readonly ObjectiveParam[];
  /** Whether it reads `cv` (the score-function objectives with a control variate). */
  readonly usesCv: boolean;
  /** Its scalar parameter, and whether it is trained with this control variate. */
  readonly scalar?: { readonly symbol: string; trained(cv: ControlVariate): boolean };
  /** Needs a value network V(s) (state input → 1), trained by the objective's regression. */
  readonly needsValue: boolean;
  /** Whether the estimate is unbiased for `exact` (with these params and this control variate). */
  unbiased(cv: ControlVariate, params: ObjectiveParams): boolean;
  /** φ-gradient (into ctx.grads) and the scalar's and value network's gradients, on the CPU engine's batches. */
  gradient(ctx: GradientContext): GradientResult;
  /**
   * The objectives whose φ-gradient is per-trajectory coefficients on log P_F (all but pg): that gradient over
   * any array algebra and engine. Their `gradient` is this on the Float64 algebra (`onHost`); the device engine
   * runs it on device tensors (backends/device/coefficients.ts).
   */
  readonly trajectoryGradient?: TrajectoryGradient;
  /**
   * Per-trajectory coefficients on log P_B(τ|x; θ) for a learned backward policy (surrogate descended), for the
   * forward part (τ ~ Q, weight 1−α) or the backward part (τ ~ P, weight α).
   */
  backwardCoefficients(
    part: "forward" | "backward",
    logw: Float64Array,
    weight: number,
    scalar: number,
    params: ObjectiveParams,
  ): Float64Array;
  /** The exact gradient the estimates target (paper equations cited per entry). */
  exact(ex: ExactTrajectories, alpha: number, scalar: number, params: ObjectiveParams): ExactWeights;
}

/** Forward-KL (data) coefficients on log P_F: −weight/S each, shaped like log w (αKL's FKL term; paper Eq. 6). */
export function fklCoefficientsOf<V>(alg: Algebra<V>, logw: V, weight: number): V {
  return alg.fill(logw, -weight / alg.count(logw));
}

/** `fklCoefficientsOf` for a host batch of S trajectories. */
export function fklCoefficients(S: number, weight: number): Float64Array {
  return new Float64Array(S).fill(-weight / S);
}

/**
 * θ-coefficients of the forward KL on backward samples τ ~ P(θ): weight·(log w_s − b_s)/S with the leave-one-out
 * mean b (score function under P(θ); Table 1).
 */
export function fklBackwardCoefficients(logw: Float64Array, weight: number): Float64Array {
  const S = logw.length;
  let sum = 0;
  for (let i = 0; i < S; i++) sum += logw[i];
  const coef = new Float64Array(S);
  for (let s = 0; s < S; s++) coef[s] = weight * (logw[s] - (sum - logw[s]) / (S - 1)) / S;
  return coef;
}

/** ∂/∂c of mean_s ½(c − log w_s)² = Σ_s (c − log w_s)/S: the learned c_ψ (or pg's log Z_ψ) tracks E_Q[log w]. */
export function learnedBaselineGradOf<V>(alg: Algebra<V>, c: V, logw: V): V {
  return alg.sum(alg.div(alg.sub(c, logw), alg.count(logw)));
}

/** `learnedBaselineGradOf` on host numbers. */
export function learnedBaselineGrad(c: number, logw: Float64Array): number {
  return learnedBaselineGradOf(float64, float64.scalar(c), logw)[0];
}

/** E_P[log w] and the FKL θ-target α·P(τ)(log w − E_P[log w]) (shared by the data terms). */
export function exactFklTheta(ex: ExactTrajectories, weight: number): Float64Array {
  let m = 0;
  for (let n = 0; n < ex.P.length; n++) m += ex.P[n] * ex.logw[n];
  return ex.P.map((p, n) => weight * p * (ex.logw[n] - m));
}

/** The control variate's per-sample baseline for the importance-weighted forms (scalar baselines only). */
export function offPolicyBaseline<V>(alg: Algebra<V>, cv: ControlVariate, logw: V, scalar: V): V {
  if (!cv.baseline) {
    throw new Error(`cv ${cv.name} needs per-sample scores: not available with a behaviour policy`);
  }
  return cv.baseline(alg, logw, scalar);
}

/** Adds a to out in place (same length) and returns out. */
export function addInto(out: Float64Array, a: ArrayLike<number>): Float64Array {
  for (let i = 0; i < out.length; i++) out[i] += a[i];
  return out;
}
