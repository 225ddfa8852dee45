/**
 * The learned energy ξ_θ of the 2D-density tasks (docs/math.md §"Tasks"): an MLP D → 256 → 256 → 256 → 1 with ELU whose
 * output is read as log π̃(x) (an unnormalised log-probability; the paper's ξ is its negative). Inputs are the
 * terminal states x ∈ {−1, +1}^D as they are.
 *
 * Contrastive divergence (Hinton 2002; GFlowNet-EBM, Zhang et al. 2022):
 *   loss = −(mean_i log π̃(x_i) − mean_j log π̃(sg(x'_j))),
 * x_i data, x'_j negatives from the back-and-forth MH chains of ./mh.ts started at the data. Its gradient is
 * −mean ∇log π̃(x_data) + mean ∇log π̃(x'): one backward pass over the 2B stacked rows with output gradients
 * −1/B (data) and +1/B (negatives).
 */
import type { Gemm, Vec } from "../nn/gemm.ts";
import { ctorOf, initMlp, type Mlp, mlpForward, zerosLike } from "../nn/mlp.ts";
import { mlpBackward, mlpForwardCached } from "../nn/backprop.ts";
import { allocRaw } from "../nn/arena.ts";
import type { Rng } from "../rng.ts";
import { logSumExp } from "../math.ts";

export const ENERGY_ACTIVATION = "elu";

/** A fresh energy network [D, ...hidden, 1] (ELU, He-uniform weights, zero biases). */
export function initEnergy(D: number, hidden: number[], rng: Rng): Mlp {
  return initMlp([D, ...hidden, 1], ENERGY_ACTIVATION, "he-uniform", rng);
}

/** ±1 rows as network inputs. */
function asInput(net: Mlp, x: Int8Array, from: number, n: number, D: number): Vec {
  const F = ctorOf(net);
  const out = allocRaw(F, n * D);
  for (let i = 0; i < n * D; i++) out[i] = x[from * D + i];
  return out;
}

/** log π̃(x) for each of the n rows of x (chunked forward passes, no cache). */
export function energyLogProb(net: Mlp, gemm: Gemm, x: Int8Array, n: number, chunk = 4096): Float64Array {
  const D = net.sizes[0];
  if (net.sizes[net.sizes.length - 1] !== 1) throw new Error("an energy network has one output");
  if (x.length < n * D) throw new RangeError(`need ${n * D} entries, got ${x.length}`);
  const out = new Float64Array(n);
  for (let s = 0; s < n; s += chunk) {
    const m = Math.min(chunk, n - s);
    const y = mlpForward(net, gemm, asInput(net, x, s, m, D), m);
    for (let i = 0; i < m; i++) out[s + i] = y[i];
  }
  return out;
}

export interface CdGradient {
  grads: Vec[];
  /** The CD loss −(mean log π̃(data) − mean log π̃(negatives)). */
  loss: number;
  meanData: number;
  meanNeg: number;
}

/** Gradient of the contrastive-divergence loss for B data rows and B negative rows. */
export function cdGradient(net: Mlp, gemm: Gemm, data: Int8Array, neg: Int8Array, B: number): CdGradient {
  const D = net.sizes[0];
  const F = ctorOf(net);
  const x = allocRaw(F, 2 * B * D);
  for (let i = 0; i < B * D; i++) {
    x[i] = data[i];
    x[B * D + i] = neg[i];
  }
  const cache = mlpForwardCached(net, gemm, x, 2 * B);
  const dOut = allocRaw(F, 2 * B);
  let meanData = 0, meanNeg = 0;
  for (let i = 0; i < B; i++) {
    meanData += cache.out[i] / B;
    meanNeg += cache.out[B + i] / B;
    dOut[i] = -1 / B;
    dOut[B + i] = 1 / B;
  }
  const grads = zerosLike(net);
  mlpBackward(net, gemm, cache, dOut, grads);
  return { grads, loss: -(meanData - meanNeg), meanData, meanNeg };
}

/** All 2^D terminal states as ±1 rows, index bit d set ⇔ x_d = +1 (the order of core/eval/exact.ts). */
export function allStates(D: number): Int8Array {
  if (D > 20) throw new RangeError(`enumeration needs D ≤ 20, got ${D}`);
  const n = 1 << D;
  const x = new Int8Array(n * D);
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) x[i * D + d] = (i >> d) & 1 ? 1 : -1;
  return x;
}

/**
 * Exact NLL of the normalised energy on test points (small D): −mean_i (log π̃(x_i) − log Σ_y π̃(y)), the sum
 * over all 2^D states. Returns the NLL and log Z_θ.
 */
export function energyExactNll(
  net: Mlp,
  gemm: Gemm,
  test: Int8Array,
  n: number,
): { nll: number; logZ: number } {
  const D = net.sizes[0];
  const logZ = logSumExp(energyLogProb(net, gemm, allStates(D), 1 << D));
  const lp = energyLogProb(net, gemm, test, n);
  let s = 0;
  for (let i = 0; i < n; i++) s += lp[i] - logZ;
  return { nll: -s / n, logZ };
}
