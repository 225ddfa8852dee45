/**
 * The generic masked-softmax sampler (docs/math.md §"Batches"): the batch contract of core/gfn/batch.ts over the
 * discrete-action runner of core/gfn/discrete.ts, for any `DiscreteEnv` (the hypergrid, …): forward batches from
 * P_F or a behaviour (core/gfn/behaviour_discrete.ts), backward batches from data under the uniform or a learned
 * P_B, per-sample scores, and the learned P_B's θ-scores.
 */
import type { Gemm } from "../nn/gemm.ts";
import type { Mlp } from "../nn/mlp.ts";
import type { Batch, Sampler } from "./batch.ts";
import {
  accumulateDiscreteGrads,
  type DiscreteBatch,
  type DiscreteEnv,
  discreteLayout,
  evaluateDiscreteBackward,
  forEachDiscreteScore,
  runDiscrete,
  sampleDiscreteBackward,
} from "./discrete.ts";
import { type DiscreteReplay, sampleDiscreteBehaviour } from "./behaviour_discrete.ts";
import { addOptimalGradient } from "../baselines/estimator.ts";

/**
 * The batch contract over a discrete batch; log w under the learned P_B when `pb` is given; `logBeta` the
 * behaviour's log-density when the batch came from one.
 */
export function discreteContract(
  env: DiscreteEnv,
  net: Mlp,
  gemm: Gemm,
  batch: DiscreteBatch,
  pb?: Mlp,
  logBeta?: Float64Array,
): Batch {
  const logR = env.logReward(batch.x, batch.B);
  const ev = pb ? evaluateDiscreteBackward(env, pb, gemm, batch) : undefined;
  const logPB = ev ? ev.logPB : batch.logPBTraj;
  const logw = logR.map((r, b) => r + logPB[b] - batch.logq[b]);
  return {
    B: batch.B,
    net,
    gemm,
    layout: discreteLayout(batch),
    x: batch.x,
    logR,
    logw,
    logPFRows: batch.logp,
    logPBRows: ev ? ev.logPBRows : batch.logPB,
    stateInputs: () => batch.cache.X,
    accumulate: (coef, grads) => accumulateDiscreteGrads(net, gemm, batch, coef, grads),
    forEachScore: (fn) => forEachDiscreteScore(net, gemm, batch, fn),
    addOptimalBaselineGradient(baseline, logw, weight, grads) {
      addOptimalGradient(this, baseline, logw, weight, grads);
    },
    pb: ev ? { logPB: ev.logPB, accumulate: ev.accumulate } : undefined,
    logRho: logBeta ? batch.logq.map((q, b) => q - logBeta[b]) : undefined,
  };
}

/** The generic masked-softmax sampler of a discrete environment (core/gfn/batch.ts contract). */
export function discreteSampler(env: DiscreteEnv): Sampler {
  return {
    name: env.name,
    inputDim: env.inputDim,
    policyOutputs: env.nActions,
    backwardOutputs: env.nActions,
    hasData: env.sampleData !== undefined,
    stateSize: env.stateSize,
    prepare: (net) => ({ net }),
    forward(pol, gemm, B, rng, opts = {}) {
      if (opts.behaviour || opts.replay) {
        const { batch, logBeta } = sampleDiscreteBehaviour(
          env,
          pol.net,
          gemm,
          B,
          rng,
          opts.behaviour,
          opts.replay as DiscreteReplay | undefined,
        );
        return discreteContract(env, pol.net, gemm, batch, opts.pb, logBeta);
      }
      return discreteContract(env, pol.net, gemm, runDiscrete(env, pol.net, gemm, B, rng), opts.pb);
    },
    backward(pol, gemm, B, rng, pb) {
      if (!env.sampleData) {
        throw new Error(`${env.name} has no data sampler: backward trajectories (α > 0) need one`);
      }
      const x = env.sampleData(B, rng);
      const actions = sampleDiscreteBackward(env, pb, gemm, x, B, rng);
      return discreteContract(
        env,
        pol.net,
        gemm,
        runDiscrete(env, pol.net, gemm, B, rng, { given: actions }),
        pb,
      );
    },
  };
}
