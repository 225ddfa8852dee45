/**
 * The bit-vector sampler (docs/math.md §"Bit vectors"): the batch contract of core/gfn/batch.ts over the fast
 * kernels of core/gfn/trajectories.ts (2-logit gather, incremental first layer) and the learned backward policy
 * of core/gfn/backward.ts. The kernels are wrapped, not rewritten: this file only maps their arrays onto the
 * contract.
 *
 * Per-trajectory log P_F here is log q_φ = Σ_t log p_φ(v_t|s_t,d_t) (the ordering terms −log(D−t) cancel the
 * uniform P_B's −log D!); per row, log P_F = log p_φ − log(D − t) and the uniform log P_B = −log(t + 1).
 */
import type { Gemm } from "../nn/gemm.ts";
import type { Mlp } from "../nn/mlp.ts";
import type { BitTask } from "../tasks/task.ts";
import { type Batch, type PolicyView, type Sampler, stepMajorLayout } from "./batch.ts";
import { type BitReplay, sampleBitBehaviour } from "./behaviour_bits.ts";
import { addOptimalGradient } from "../baselines/estimator.ts";
import {
  accumulateGrads,
  forEachSampleGrad,
  logWeights,
  type Policy,
  preparePolicy,
  randomOrders,
  runTrajectories,
  type TrajBatch,
} from "./trajectories.ts";
import {
  accumulateBackwardGrads,
  type BackwardEval,
  evaluateBackward,
  learnedLogWeights,
  sampleBackwardOrders,
} from "./backward.ts";

/** A bit-vector batch: the contract plus the raw kernel batch (for callers that need positions and values). */
export interface BitVectorBatch extends Batch {
  readonly traj: TrajBatch;
  readonly pbEval?: BackwardEval;
}

/**
 * Wraps a kernel batch (sampled with cache) into the batch contract; log w under `pb` when given; `logBeta` the
 * behaviour's log-density when the batch came from one.
 */
export function bitVectorBatch(
  pol: Policy,
  gemm: Gemm,
  traj: TrajBatch,
  task: BitTask,
  pb?: Mlp,
  logBeta?: Float64Array,
): BitVectorBatch {
  const { D, B } = traj;
  const { logR, logw: logwUniform } = logWeights(traj, task);
  const ev = pb ? evaluateBackward(pb, gemm, traj) : undefined;
  const logw = ev ? learnedLogWeights(logwUniform, ev) : logwUniform;
  // the per-row step log-probabilities are built when an objective reads them (pg), not on every step
  let stepRows: { pf: Float64Array; pb: Float64Array } | null = null;
  const rowsOf = () => {
    if (stepRows) return stepRows;
    const rows = D * B;
    const pfRows = new Float64Array(rows), pbRows = new Float64Array(rows);
    for (let t = 0; t < D; t++) {
      const pf = -Math.log(D - t), pbU = -Math.log(t + 1);
      for (let b = 0; b < B; b++) {
        const r = t * B + b;
        pfRows[r] = traj.logp[r] + pf;
        pbRows[r] = ev ? ev.logPBRows[r] : pbU;
      }
    }
    return stepRows = { pf: pfRows, pb: pbRows };
  };
  return {
    B,
    net: pol.net,
    gemm,
    layout: stepMajorLayout(B, D),
    x: traj.x,
    logR,
    logw,
    get logPFRows() {
      return rowsOf().pf;
    },
    get logPBRows() {
      return rowsOf().pb;
    },
    traj,
    pbEval: ev,
    stateInputs() {
      if (!traj.cache) throw new Error("this batch was sampled without cache");
      return traj.cache.X;
    },
    accumulate: (coef, grads) => accumulateGrads(pol, gemm, traj, coef, grads),
    forEachScore: (fn) => forEachSampleGrad(pol, gemm, traj, fn),
    addOptimalBaselineGradient(baseline, logw, weight, grads) {
      addOptimalGradient(this, baseline, logw, weight, grads);
    },
    pb: ev && pb
      ? { logPB: ev.logPB, accumulate: (coef, grads) => accumulateBackwardGrads(pb, gemm, ev, coef, grads) }
      : undefined,
    logRho: logBeta ? traj.logq.map((q, b) => q - logBeta[b]) : undefined,
  };
}

/** The sampler of a bit-vector task: states {−1,0,+1}^D, policy D → … → 2D, backward policy D → … → D. */
export function bitVectorSampler(task: BitTask): Sampler {
  const D = task.D;
  const asPolicy = (p: PolicyView) => p as Policy;
  return {
    name: task.name,
    inputDim: D,
    policyOutputs: 2 * D,
    backwardOutputs: D,
    hasData: task.sampleData !== undefined,
    stateSize: D,
    prepare: (net) => preparePolicy(net),
    forward(pol, gemm, B, rng, opts = {}) {
      if (opts.behaviour || opts.replay) {
        const { batch, logBeta } = sampleBitBehaviour(
          asPolicy(pol),
          gemm,
          B,
          rng,
          opts.behaviour,
          opts.replay as BitReplay | undefined,
        );
        return bitVectorBatch(asPolicy(pol), gemm, batch, task, opts.pb, logBeta);
      }
      const traj = runTrajectories(asPolicy(pol), gemm, B, rng, { cache: true });
      return bitVectorBatch(asPolicy(pol), gemm, traj, task, opts.pb);
    },
    backward(pol, gemm, B, rng, pb) {
      if (!task.sampleData) {
        throw new Error(`task ${task.name} has no data sampler: backward trajectories (α > 0) need one`);
      }
      const x = task.sampleData(B, rng);
      const order = pb ? sampleBackwardOrders(pb, gemm, x, B, D, rng) : randomOrders(B, D, rng);
      const traj = runTrajectories(asPolicy(pol), gemm, B, rng, { cache: true, given: { x, order } });
      return bitVectorBatch(asPolicy(pol), gemm, traj, task, pb);
    },
  };
}
