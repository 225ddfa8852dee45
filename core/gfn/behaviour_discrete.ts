/**
 * Behaviour sampling for the generic discrete-action runner (core/gfn/discrete.ts): a per-step behaviour
 * (ε-uniform / tempered) and, optionally, a replay buffer replayed through P_B, with the exact behaviour
 * log-density of every trajectory (core/gfn/behaviour.ts):
 *   log β(τ) = log[(1 − r)·β_fwd(τ) + r·B(x)·P_B(τ|x)],   β_fwd = Π_t β(a_t|s_t)  (= P_F on-policy).
 * Each trajectory is replayed with probability r (when the buffer is not empty), else drawn forward.
 */
import type { Gemm } from "../nn/gemm.ts";
import type { Mlp } from "../nn/mlp.ts";
import type { Rng } from "../rng.ts";
import { type DiscreteBatch, type DiscreteEnv, runDiscrete } from "./discrete.ts";
import type { StepBehaviour } from "./behaviour.ts";
import type { ReplayBuffer } from "./replay.ts";

export interface DiscreteReplay {
  buffer: ReplayBuffer<Int32Array>;
  /** Probability r that a trajectory is replayed. */
  ratio: number;
}

export interface BehaviourBatch {
  batch: DiscreteBatch;
  /** log β(τ) per trajectory; undefined when the batch is on-policy (β = P_F). */
  logBeta?: Float64Array;
  /** Trajectories replayed from the buffer. */
  replayed: number;
}

export function sampleDiscreteBehaviour(
  env: DiscreteEnv,
  net: Mlp,
  gemm: Gemm,
  B: number,
  rng: Rng,
  behaviour: StepBehaviour | undefined,
  replay?: DiscreteReplay,
): BehaviourBatch {
  const useReplay = replay && replay.ratio > 0 && replay.buffer.size > 0;
  if (!useReplay) {
    const batch = runDiscrete(env, net, gemm, B, rng, { behaviour });
    return { batch, logBeta: batch.logb, replayed: 0 };
  }
  if (!env.backwardActions) throw new Error(`${env.name} cannot replay: it has no backward sampler`);
  const T = env.maxSteps, S = env.stateSize;
  const given = new Int32Array(B * T).fill(-1);
  const x = new Int32Array(S);
  let replayed = 0;
  for (let b = 0; b < B; b++) {
    if (rng.uniform() >= replay.ratio) continue;
    replay.buffer.sample(1, rng, x);
    given.set(env.backwardActions(x, rng), b * T);
    replayed++;
  }
  const batch = runDiscrete(env, net, gemm, B, rng, { behaviour, given });
  return { batch, logBeta: replayLogBeta(batch, replay), replayed };
}

/**
 * log β(τ) = log[(1 − r)·β_fwd(τ) + r·B(x)·P_B(τ|x)] of every trajectory of a batch evaluated under the per-step
 * behaviour (batch.logb, or log P_F on-policy).
 */
export function replayLogBeta(batch: DiscreteBatch, replay: DiscreteReplay): Float64Array {
  const B = batch.B, fwd = batch.logb ?? batch.logq;
  const logBuf = replay.buffer.logProb(batch.x, B);
  const lr = Math.log(replay.ratio), l1r = Math.log1p(-replay.ratio);
  const logBeta = new Float64Array(B);
  for (let b = 0; b < B; b++) logBeta[b] = logAddExp(l1r + fwd[b], lr + logBuf[b] + batch.logPBTraj[b]);
  return logBeta;
}

function logAddExp(a: number, b: number): number {
  if (a === -Infinity) return b;
  if (b === -Infinity) return a;
  const m = Math.max(a, b);
  return m + Math.log(Math.exp(a - m) + Math.exp(b - m));
}
