/**
 * Training with a learned backward policy P_B(θ) (core/gfn/backward.ts). Batches get log w under P_B(θ)
 * (log R + log P_B(τ|x; θ) + log D! − log q_φ); backward trajectories are drawn from P_B(θ) itself. The θ-gradients
 * follow the main paper's Table 1 (Z_ψ = the scalar, S = batch size, weights 1−α forward, α backward):
 *   αTB, both batches:   ∇_θ weight·mean (log Z_ψ − log w)² = weight·mean 2(log w − log Z_ψ)·∇_θ log P_B
 *   αKL, forward (RKL):  −(1−α)·mean ∇_θ log P_B            (maximise the likelihood of Q's samples under P)
 *   αKL, backward (FKL): α·mean (log w − b)·∇_θ log P_B,  b = LOO mean of log w (score function under P(θ))
 *   pg (coupled):        the θ-gradient of the same expected cost J = E_Q[Σ_t c_t], i.e. −(1−α)·mean ∇_θ log P_B
 * The φ-gradients keep their forms with the new log w (and pg's per-step costs use the per-row log P_B).
 */
import type { Gemm, Vec } from "../nn/gemm.ts";
import { type Mlp, zerosLike } from "../nn/mlp.ts";
import { type Policy, runTrajectories, type TrajBatch } from "../gfn/trajectories.ts";
import { logWeights } from "../gfn/trajectories.ts";
import {
  accumulateBackwardGrads,
  type BackwardEval,
  evaluateBackward,
  learnedLogWeights,
  sampleBackwardOrders,
} from "../gfn/backward.ts";
import { looMean } from "../baselines/cv.ts";
import type { Rng } from "../rng.ts";
import type { BitTask } from "../tasks/task.ts";
import type { Objective } from "./config.ts";

export interface PbBatch {
  batch: TrajBatch;
  logw: Float64Array;
  pb?: BackwardEval;
  /** Per-row log P_B (pg costs). */
  logPBRows?: Float64Array;
}

/** Objectives with θ-gradients defined here. */
export const LEARNED_PB_OBJECTIVES: readonly Objective[] = ["atb", "akl", "pg"];

/** B backward trajectories from data x drawn under P_B(θ), with log w under P_B(θ). */
export function sampleBackwardLearned(
  pol: Policy,
  pbNet: Mlp,
  gemm: Gemm,
  task: BitTask,
  B: number,
  rng: Rng,
): PbBatch {
  if (!task.sampleData) {
    throw new Error(`task ${task.name} has no data sampler: backward trajectories need one`);
  }
  const x = task.sampleData(B, rng);
  const order = sampleBackwardOrders(pbNet, gemm, x, B, pol.D, rng);
  const batch = runTrajectories(pol, gemm, B, rng, { cache: true, given: { x, order } });
  return withLearnedWeights(pbNet, gemm, { batch, logw: logWeights(batch, task).logw });
}

/** Replaces log w by its value under P_B(θ) (in place) and attaches the P_B evaluation. */
export function withLearnedWeights(pbNet: Mlp, gemm: Gemm, b: PbBatch): PbBatch {
  const ev = evaluateBackward(pbNet, gemm, b.batch);
  b.logw.set(learnedLogWeights(b.logw, ev));
  b.pb = ev;
  b.logPBRows = ev.logPBRows;
  return b;
}

/** ∇_θ of the objective (Table 1) from the already evaluated batches. */
export function backwardPolicyGradient(
  objective: Objective,
  pbNet: Mlp,
  gemm: Gemm,
  alpha: number,
  scalar: number,
  forward: PbBatch | undefined,
  backward: PbBatch | undefined,
): Vec[] {
  if (!LEARNED_PB_OBJECTIVES.includes(objective)) {
    throw new Error(`a learned backward policy is implemented for ${LEARNED_PB_OBJECTIVES.join(", ")}`);
  }
  const grads = zerosLike(pbNet);
  for (const [part, weight, isForward] of [[forward, 1 - alpha, true], [backward, alpha, false]] as const) {
    if (!part || !part.pb || weight === 0) continue;
    const S = part.logw.length;
    const coef = new Float64Array(S);
    if (objective === "atb") {
      for (let s = 0; s < S; s++) coef[s] = 2 * weight * (part.logw[s] - scalar) / S;
    } else if (isForward) {
      coef.fill(-weight / S);
    } else {
      const b = looMean(part.logw);
      for (let s = 0; s < S; s++) coef[s] = weight * (part.logw[s] - b[s]) / S;
    }
    accumulateBackwardGrads(pbNet, gemm, part.pb, coef, grads);
  }
  return grads;
}
