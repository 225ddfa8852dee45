/**
 * One gradient estimate of a training objective: samples the batches the objective needs, computes log w, and
 * returns the φ-gradient and the gradient of the scalar parameter (log Z_ψ for αTB, c_ψ for αKL + learned).
 */
import type { Gemm, Vec } from "../nn/gemm.ts";
import { zerosLike } from "../nn/mlp.ts";
import {
  accumulateGrads,
  logWeights,
  type Policy,
  randomOrders,
  runTrajectories,
  type TrajBatch,
} from "../gfn/trajectories.ts";
import type { Rng } from "../rng.ts";
import type { BitTask } from "../tasks/task.ts";
import type { ControlVariate, Objective } from "./config.ts";
import { tbTerm } from "../objectives/atb.ts";
import { fklCoefficients, learnedBaselineGrad } from "../objectives/akl.ts";
import { addRklGradient } from "../baselines/estimator.ts";
import { addCompanionGradient, type CompanionOptions } from "./companion.ts";
import { backwardPolicyGradient, sampleBackwardLearned, withLearnedWeights } from "./learned_pb.ts";
import type { Mlp } from "../nn/mlp.ts";
import type { StepBehaviour } from "../gfn/behaviour.ts";
import { type BitReplay, sampleBitBehaviour } from "../gfn/behaviour_bits.ts";
import { scalarBaseline } from "../baselines/cv.ts";
import { logImportance, rklOffPolicyCoefficients, weightedMeanGrad } from "../objectives/offpolicy.ts";

export interface ObjectiveSpec {
  objective: Objective;
  /** Backward ratio at this step. */
  alpha: number;
  cv: ControlVariate;
  /** renyi / tsallis / fkl-is / pg options (core/train/companion.ts). */
  companion?: CompanionOptions;
  /** A learned backward policy P_B(θ) (core/train/learned_pb.ts); absent = uniform P_B. */
  backwardPolicy?: Mlp;
  /**
   * Draw the forward batch from a behaviour (per-step ε / T, and a replay buffer) instead of Q
   * (core/gfn/behaviour_bits.ts, docs/offpolicy.md). Needs the uniform P_B and a scalar control variate.
   */
  behaviour?: StepBehaviour;
  replay?: BitReplay;
}

export interface GradientEstimate {
  grads: Vec[];
  /** ∂/∂ of the scalar parameter (log Z_ψ or c_ψ); 0 when the objective has none. */
  dScalar: number;
  /** Value of the sampled loss where it is defined (αTB), else NaN. */
  loss: number;
  /** logRho: log ρ = log q_φ − log β per trajectory when the forward batch came from a behaviour. */
  forward?: { batch: TrajBatch; logw: Float64Array; logRho?: Float64Array };
  backward?: { batch: TrajBatch; logw: Float64Array };
  /** pg: gradient and loss of the value network's regression. */
  valueGrads?: Vec[];
  valueLoss?: number;
  /** ∇_θ of the learned backward policy (when spec.backwardPolicy is set). */
  backwardGrads?: Vec[];
}

/** Draws B forward trajectories from Q with the cache needed for a backward pass. */
export function sampleForward(pol: Policy, gemm: Gemm, task: BitTask, B: number, rng: Rng) {
  const batch = runTrajectories(pol, gemm, B, rng, { cache: true });
  return { batch, logw: logWeights(batch, task).logw };
}

/** B backward trajectories: x from the task's data/exact sampler, uniformly random orders. */
export function sampleBackward(pol: Policy, gemm: Gemm, task: BitTask, B: number, rng: Rng) {
  if (!task.sampleData) {
    throw new Error(`task ${task.name} has no data sampler: backward trajectories (α > 0) need one`);
  }
  const x = task.sampleData(B, rng);
  const batch = runTrajectories(pol, gemm, B, rng, {
    cache: true,
    given: { x, order: randomOrders(B, pol.D, rng) },
  });
  return { batch, logw: logWeights(batch, task).logw };
}

/**
 * The φ-gradient of the objective on freshly sampled batches.
 * αTB: (1−α)·∇ mean_F (log Z_ψ − log w)² + α·∇ mean_B (log Z_ψ − log w)². With cv ≠ learned, the forward part
 *   uses that control variate in place of log Z_ψ (2·RKL estimator; paper §3.2), log Z_ψ still fits both batches.
 * αKL: (1−α)·RKL estimator with the control variate + α·FKL; c_ψ (cv = learned) fits E_Q[log w].
 */
export function estimateGradient(
  pol: Policy,
  gemm: Gemm,
  task: BitTask,
  B: number,
  rng: Rng,
  spec: ObjectiveSpec,
  scalar: number,
): GradientEstimate {
  const grads = zerosLike(pol.net);
  const { alpha, cv } = spec;
  const pb = spec.backwardPolicy;
  const offPolicy = spec.behaviour !== undefined || spec.replay !== undefined;
  if (offPolicy && (pb || cv.startsWith("opt-"))) {
    throw new Error("a behaviour policy needs the uniform backward policy and a scalar control variate");
  }
  const forward: { batch: TrajBatch; logw: Float64Array; logRho?: Float64Array } | undefined = alpha < 1
    ? (offPolicy
      ? sampleBehaviourForward(pol, gemm, task, B, rng, spec.behaviour, spec.replay)
      : sampleForward(pol, gemm, task, B, rng))
    : undefined;
  const backward = alpha > 0
    ? (pb ? sampleBackwardLearned(pol, pb, gemm, task, B, rng) : sampleBackward(pol, gemm, task, B, rng))
    : undefined;
  if (pb && forward) withLearnedWeights(pb, gemm, forward);
  const backwardGrads = pb
    ? backwardPolicyGradient(spec.objective, pb, gemm, alpha, scalar, forward, backward)
    : undefined;
  let dScalar = 0, loss = NaN;
  if (spec.objective === "atb") {
    loss = 0;
    if (forward) {
      const tb = tbTerm(scalar, forward.logw, 1 - alpha);
      loss += tb.loss;
      dScalar += tb.dLogZ;
      // TB is valid under any behaviour as is; its cv ≠ learned form is 2·RKL, importance-weighted off-policy
      if (cv === "learned") accumulateGrads(pol, gemm, forward.batch, tb.coef, grads);
      else if (forward.logRho) addWeightedRkl(pol, gemm, forward, cv, scalar, 2 * (1 - alpha), grads);
      else addRklGradient(pol, gemm, forward.batch, forward.logw, cv, scalar, 2 * (1 - alpha), grads);
    }
    if (backward) {
      const tb = tbTerm(scalar, backward.logw, alpha);
      loss += tb.loss;
      dScalar += tb.dLogZ;
      accumulateGrads(pol, gemm, backward.batch, tb.coef, grads);
    }
  } else if (spec.objective !== "akl") {
    const r = addCompanionGradient(
      spec.objective,
      pol,
      gemm,
      forward,
      backward,
      alpha,
      scalar,
      spec.companion ?? {},
      grads,
    );
    return {
      grads,
      dScalar: r.dScalar,
      loss,
      forward,
      backward,
      valueGrads: r.valueGrads,
      valueLoss: r.valueLoss,
      backwardGrads,
    };
  } else {
    if (forward?.logRho) {
      addWeightedRkl(pol, gemm, forward, cv, scalar, 1 - alpha, grads);
      if (cv === "learned") dScalar = weightedMeanGrad(scalar, forward.logw, forward.logRho);
    } else if (forward) {
      addRklGradient(pol, gemm, forward.batch, forward.logw, cv, scalar, 1 - alpha, grads);
      if (cv === "learned") dScalar = learnedBaselineGrad(scalar, forward.logw);
    }
    if (backward) accumulateGrads(pol, gemm, backward.batch, fklCoefficients(B, alpha), grads);
  }
  return { grads, dScalar, loss, forward, backward, backwardGrads };
}

/** B forward trajectories from a behaviour, with log w and the importance log-weights log ρ = log q − log β. */
export function sampleBehaviourForward(
  pol: Policy,
  gemm: Gemm,
  task: BitTask,
  B: number,
  rng: Rng,
  behaviour: StepBehaviour | undefined,
  replay: BitReplay | undefined,
) {
  const { batch, logBeta } = sampleBitBehaviour(pol, gemm, B, rng, behaviour, replay);
  return {
    batch,
    logw: logWeights(batch, task).logw,
    logRho: logBeta ? logImportance(batch.logq, logBeta) : undefined,
  };
}

/** Importance-weighted RKL: grads += ∇ Σ_i weight·ρ_i(b_i − log w_i)/N log q_i (core/objectives/offpolicy.ts). */
function addWeightedRkl(
  pol: Policy,
  gemm: Gemm,
  forward: { batch: TrajBatch; logw: Float64Array; logRho?: Float64Array },
  cv: ControlVariate,
  scalar: number,
  weight: number,
  grads: Vec[],
) {
  const b = scalarBaseline(cv as "none" | "learned" | "loo-logw" | "loo-logz", forward.logw, scalar);
  const coef = rklOffPolicyCoefficients(forward.logw, forward.logRho!, b, weight);
  accumulateGrads(pol, gemm, forward.batch, coef, grads);
}
