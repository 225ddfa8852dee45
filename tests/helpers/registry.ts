/**
 * Exact enumeration of every trajectory of a small environment as one teacher-forced batch (the batch contract of
 * core/gfn/batch.ts), for checking registered objectives and control variates against their exact gradients:
 * the bit-vector task (all 2^D·D! trajectories) and the hypergrid (all monotone paths to every state, then stop).
 */
import { jsGemm, type Vec } from "../../core/nn/gemm.ts";
import { initMlp, type Mlp, zerosLike } from "../../core/nn/mlp.ts";
import type { Batch, PolicyView, Sampler } from "../../core/gfn/batch.ts";
import { bitVectorBatch, bitVectorSampler } from "../../core/gfn/bitvector.ts";
import { runDiscrete } from "../../core/gfn/discrete.ts";
import { discreteContract, discreteSampler } from "../../core/gfn/discrete_sampler.ts";
import { preparePolicy, runTrajectories } from "../../core/gfn/trajectories.ts";
import { hypergrid } from "../../core/tasks/hypergrid.ts";
import { isingTask } from "../../core/tasks/ising.ts";
import { Rng } from "../../core/rng.ts";
import { logSumExp } from "../../core/math.ts";
import type { ExactTrajectories } from "../../core/objectives/objective.ts";
import { allTrajectories } from "./engine.ts";

export interface SmallEnv {
  name: string;
  sampler: Sampler;
  pol: PolicyView;
  /** A learned backward policy with a non-uniform P_B. */
  pb: Mlp;
  /** Every trajectory, evaluated under P_F and (optionally) the learned P_B. */
  enumerate(pb?: Mlp): Batch;
}

/** Q(τ), P(τ) = Q(τ)·w(τ)/Z and log Z = log E_Q[w] of an enumeration batch (exact: Σ_τ Q(τ) = 1). */
export function exactTrajectories(batch: Batch): ExactTrajectories {
  const { layout } = batch;
  const logQ = new Float64Array(batch.B);
  for (let b = 0; b < batch.B; b++) {
    for (let t = 0; t < layout.len(b); t++) logQ[b] += batch.logPFRows[layout.row(b, t)];
  }
  const logZ = logSumExp(logQ.map((q, b) => q + batch.logw[b]));
  const Q = logQ.map(Math.exp);
  return { Q, P: Q.map((q, b) => q * Math.exp(batch.logw[b] - logZ)), logw: batch.logw, logZ };
}

/** A non-uniform backward-policy network (non-zero output layer). */
function pbNet(inputDim: number, outputs: number, seed: number): Mlp {
  const net = initMlp([inputDim, 6, outputs], "tanh", "he-uniform", new Rng(seed), Float64Array);
  for (const b of net.b) for (let i = 0; i < b.length; i++) b[i] = 0.4 * Math.cos(3 * i + seed);
  return net;
}

/** Ising 2×2 (D = 4): 16 terminal states, 384 trajectories. */
export function bitVectorEnv(): SmallEnv {
  const task = isingTask(2, 0.4), D = 4;
  const net = initMlp([D, 8, 2 * D], "swish", "he-uniform", new Rng(17), Float64Array);
  for (const b of net.b) for (let i = 0; i < b.length; i++) b[i] = 0.3 * Math.sin(7 * i + 17);
  const pol = preparePolicy(net);
  const { x, order, N } = allTrajectories(D);
  return {
    name: "bit vectors (Ising 2×2)",
    sampler: bitVectorSampler(task),
    pol,
    pb: pbNet(D, D, 5),
    enumerate(pb) {
      const traj = runTrajectories(pol, jsGemm, N, new Rng(0), { cache: true, given: { x, order } });
      return bitVectorBatch(pol, jsGemm, traj, task, pb);
    },
  };
}

/** Hypergrid d = 2, H = 4: 16 states, 69 trajectories. */
export function hypergridEnv(): SmallEnv {
  const env = hypergrid({ d: 2, H: 4, R0: 0.1, R1: 0.5, R2: 2 });
  const net = initMlp([env.inputDim, 8, env.nActions], "swish", "he-uniform", new Rng(23), Float64Array);
  for (const b of net.b) for (let i = 0; i < b.length; i++) b[i] = 0.3 * Math.sin(5 * i + 23);
  const T = env.maxSteps, stop = env.nActions - 1;
  const paths: number[][] = [];
  const walk = (state: number[], path: number[]) => {
    paths.push([...path, stop]);
    for (let i = 0; i < 2; i++) {
      if (state[i] < 3) {
        state[i]++;
        walk(state, [...path, i]);
        state[i]--;
      }
    }
  };
  walk([0, 0], []);
  const actions = new Int32Array(paths.length * T).fill(-1);
  paths.forEach((p, b) => actions.set(p, b * T));
  return {
    name: "hypergrid d=2 H=4",
    sampler: discreteSampler(env),
    pol: { net },
    pb: pbNet(env.inputDim, env.nActions, 6),
    enumerate(pb) {
      const batch = runDiscrete(env, net, jsGemm, paths.length, new Rng(0), { given: actions });
      return discreteContract(env, net, jsGemm, batch, pb);
    },
  };
}

/** Σ_τ ω(τ) ∇_φ log P_F(τ) and Σ_τ ω(τ) ∇_θ log P_B(τ|x) over an enumeration batch. */
export function exactScores(
  batch: Batch,
  net: Mlp,
  pb: Mlp | undefined,
  phi: Float64Array,
  theta: Float64Array,
): { phi: Vec[]; theta: Vec[] } {
  const gPhi = zerosLike(net);
  batch.accumulate(phi, gPhi);
  const gTheta = pb ? zerosLike(pb) : [];
  if (pb) batch.pb!.accumulate(theta, gTheta);
  return { phi: gPhi, theta: gTheta };
}
