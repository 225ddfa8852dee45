/** Shared fixtures for engine tests: float64 policies, trajectory enumeration, exact expected gradients. */
import { jsGemm, type Vec } from "../../core/nn/gemm.ts";
import { type Activation, initMlp, zerosLike } from "../../core/nn/mlp.ts";
import {
  accumulateGrads,
  logWeights,
  type Policy,
  preparePolicy,
  runTrajectories,
} from "../../core/gfn/trajectories.ts";
import { Rng } from "../../core/rng.ts";
import type { BitTask } from "../../core/tasks/task.ts";
import { logFactorial, logSumExp } from "../../core/math.ts";

/** A float64 policy with hidden sizes `hidden`, weights scaled so the policy is clearly non-uniform. */
export function policy64(
  D: number,
  hidden: number[],
  seed: number,
  activation: Activation = "swish",
): Policy {
  const net = initMlp([D, ...hidden, 2 * D], activation, "he-uniform", new Rng(seed), Float64Array);
  for (const b of net.b) for (let i = 0; i < b.length; i++) b[i] = 0.3 * Math.sin(7 * i + seed);
  return preparePolicy(net);
}

/** Every trajectory of the D-bit DAG: all 2^D terminal states × all D! orders. */
export function allTrajectories(D: number): { x: Int8Array; order: Int32Array; N: number } {
  const perms: number[][] = [];
  const rec = (prefix: number[], rest: number[]) => {
    if (rest.length === 0) return void perms.push(prefix);
    rest.forEach((d, i) => rec([...prefix, d], [...rest.slice(0, i), ...rest.slice(i + 1)]));
  };
  rec([], Array.from({ length: D }, (_, d) => d));
  const N = (1 << D) * perms.length;
  const x = new Int8Array(N * D), order = new Int32Array(N * D);
  let n = 0;
  for (let i = 0; i < 1 << D; i++) {
    for (const p of perms) {
      for (let d = 0; d < D; d++) x[n * D + d] = (i >> d) & 1 ? 1 : -1;
      order.set(p, n * D);
      n++;
    }
  }
  return { x, order, N };
}

/** All trajectories evaluated under the policy, with Q(τ), P(τ) = π(x)/D!, log w. */
export function enumerate(pol: Policy, task: BitTask) {
  const { x, order, N } = allTrajectories(pol.D);
  const batch = runTrajectories(pol, jsGemm, N, new Rng(0), { cache: true, given: { x, order } });
  const { logR, logw } = logWeights(batch, task);
  const logZ = logSumExp(logR) - logFactorial(pol.D); // each x appears D! times
  const lf = logFactorial(pol.D);
  const Q = new Float64Array(N), P = new Float64Array(N);
  for (let n = 0; n < N; n++) {
    Q[n] = Math.exp(batch.logq[n] - lf);
    P[n] = Math.exp(logR[n] - logZ - lf);
  }
  return { batch, logw, logR, logZ, Q, P, N };
}

/** ∇_φ Σ_n weight[n] log q_φ(τ_n) over the enumerated trajectories. */
export function weightedScore(pol: Policy, e: ReturnType<typeof enumerate>, weight: Float64Array): Vec[] {
  const g = zerosLike(pol.net);
  accumulateGrads(pol, jsGemm, e.batch, weight, g);
  return g;
}

export function flatten(arrays: ArrayLike<number>[]): Float64Array {
  const n = arrays.reduce((s, a) => s + a.length, 0);
  const out = new Float64Array(n);
  let o = 0;
  for (const a of arrays) for (let i = 0; i < a.length; i++) out[o++] = a[i];
  return out;
}

/** Mean, standard error and variance trace of N independent draws of a gradient vector. */
export interface GradientMoments {
  mean: Float64Array;
  se: Float64Array;
  trace: number;
}

export function gradientMoments(N: number, draw: () => Float64Array): GradientMoments {
  let sum: Float64Array | null = null, sq: Float64Array | null = null;
  for (let i = 0; i < N; i++) {
    const g = draw();
    sum ??= new Float64Array(g.length);
    sq ??= new Float64Array(g.length);
    for (let d = 0; d < g.length; d++) {
      sum[d] += g[d];
      sq[d] += g[d] * g[d];
    }
  }
  const mean = sum!.map((v) => v / N);
  const variance = sq!.map((v, d) => (v / N - mean[d] ** 2) * N / (N - 1));
  return { mean, se: variance.map((v) => Math.sqrt(v / N)), trace: variance.reduce((a, b) => a + b, 0) };
}
