/**
 * Behaviour sampling for the bit-vector GFlowNet (core/gfn/trajectories.ts; docs/offpolicy.md): a per-step
 * behaviour on the value choice (ε-uniform / tempered) and, optionally, a replay buffer of terminal states
 * replayed through the uniform P_B (a uniformly random order). The exact behaviour log-density in the units of
 * log q (the ordering factor 1/D! is common to Q, β_fwd and P_B(τ|x) and cancels in ρ):
 *   log β(τ) = log[(1 − r)·β_fwd(τ) + r·B(x)],   β_fwd = Π_t β(v_t|s_t, d_t)   (= q_φ on-policy).
 * With replay the fresh trajectories are drawn first (without cache), then the whole batch is evaluated in one
 * teacher-forced pass with cache.
 */
import type { Gemm } from "../nn/gemm.ts";
import type { Rng } from "../rng.ts";
import { type Policy, runTrajectories, type TrajBatch } from "./trajectories.ts";
import type { StepBehaviour } from "./behaviour.ts";
import type { ReplayBuffer } from "./replay.ts";

export interface BitReplay {
  buffer: ReplayBuffer<Int8Array>;
  /** Probability r that a trajectory is replayed. */
  ratio: number;
}

export interface BitBehaviourBatch {
  batch: TrajBatch;
  /** log β(τ) per trajectory (without the common −log D!); undefined when β = P_F. */
  logBeta?: Float64Array;
  replayed: number;
}

export function sampleBitBehaviour(
  pol: Policy,
  gemm: Gemm,
  B: number,
  rng: Rng,
  behaviour: StepBehaviour | undefined,
  replay?: BitReplay,
): BitBehaviourBatch {
  if (!replay || replay.ratio === 0 || replay.buffer.size === 0) {
    const batch = runTrajectories(pol, gemm, B, rng, { cache: true, behaviour });
    return { batch, logBeta: batch.logb, replayed: 0 };
  }
  const D = pol.D;
  const replayedRow = new Uint8Array(B);
  let nR = 0;
  for (let b = 0; b < B; b++) if (rng.uniform() < replay.ratio) replayedRow[b] = 1, nR++;
  const x = new Int8Array(B * D), order = new Int32Array(B * D);
  const nF = B - nR;
  const fresh = nF > 0 ? runTrajectories(pol, gemm, nF, rng, { cache: false, behaviour }) : null;
  const one = new Int8Array(D), perm = new Int32Array(D);
  for (let b = 0, f = 0; b < B; b++) {
    if (replayedRow[b]) {
      replay.buffer.sample(1, rng, one);
      x.set(one, b * D);
      order.set(rng.permutation(perm), b * D);
    } else {
      x.set(fresh!.x.subarray(f * D, (f + 1) * D), b * D);
      for (let t = 0; t < D; t++) order[b * D + t] = fresh!.pos[t * nF + f];
      f++;
    }
  }
  const batch = runTrajectories(pol, gemm, B, rng, { cache: true, given: { x, order }, behaviour });
  return { batch, logBeta: bitReplayLogBeta(batch, replay), replayed: nR };
}

/** log[(1 − r)·β_fwd(τ) + r·B(x)] per trajectory of a batch evaluated under the per-step behaviour. */
export function bitReplayLogBeta(batch: TrajBatch, replay: BitReplay): Float64Array {
  const fwd = batch.logb ?? batch.logq;
  const logBuf = replay.buffer.logProb(batch.x, batch.B);
  const lr = Math.log(replay.ratio), l1r = Math.log1p(-replay.ratio);
  return Float64Array.from(fwd, (f, b) => {
    const a = l1r + f, c = lr + logBuf[b];
    if (c === -Infinity) return a;
    const m = Math.max(a, c);
    return m + Math.log(Math.exp(a - m) + Math.exp(c - m));
  });
}
