/**
 * Generic dense MLP passes for networks whose whole output is used (value networks, learned backward policies,
 * policies over generic discrete actions). The bit-vector policy keeps its specialised path in
 * core/gfn/trajectories.ts (gathered output columns, incremental first layer); both share `hiddenForward` and the
 * hidden-layer backward `hiddenBackward` below.
 */
import type { Gemm, Vec } from "./gemm.ts";
import { ctorOf, firstLayer, hiddenForward, maxOf, type Mlp, outputLayer } from "./mlp.ts";
import { kernelsOf } from "./kernels.ts";
import { allocRaw } from "./arena.ts";

export interface MlpCache {
  n: number;
  /** Inputs (n × in); kept by reference. */
  X: Vec;
  /** acts[l] = A_{l+1} = act(Z_l), n × h_{l+1}. */
  acts: Vec[];
  dacts: Vec[];
  /** Outputs (n × out). */
  out: Vec;
}

/** Forward pass keeping what `mlpBackward` needs. */
export function mlpForwardCached(m: Mlp, gemm: Gemm, X: Vec, n: number): MlpCache {
  const F = ctorOf(m);
  const k = m.sizes.length - 2;
  const hidden = m.sizes.slice(1, k + 1);
  const z0 = allocRaw(F, n * hidden[0]);
  firstLayer(m, gemm, X, n, z0);
  const acts = hidden.map((h) => allocRaw(F, n * h));
  const dacts = hidden.map((h) => allocRaw(F, n * h));
  hiddenForward(m, gemm, z0, n, acts, dacts, allocRaw(F, n * maxOf(hidden)));
  const out = allocRaw(F, n * m.sizes[k + 1]);
  outputLayer(m, gemm, acts[k - 1], n, out);
  return { n, X, acts, dacts, out };
}

/** grads += ∂/∂params of Σ dOut ⊙ out (dOut: n × out), grads in the order of `params(m)`. */
export function mlpBackward(m: Mlp, gemm: Gemm, cache: MlpCache, dOut: Vec, grads: Vec[]): void {
  const F = ctorOf(m);
  const k = m.sizes.length - 2, n = cache.n;
  const hk = m.sizes[k], out = m.sizes[k + 1];
  gemm.gemm(true, false, hk, out, n, cache.acts[k - 1], dOut, grads[2 * k], 1);
  kernelsOf(gemm).colSumAdd(dOut, n, out, grads[2 * k + 1]);
  const dTop = allocRaw(F, n * hk);
  gemm.gemm(false, true, n, hk, out, dOut, m.W[k], dTop, 0);
  hiddenBackward(m, gemm, cache.X, cache.acts, cache.dacts, dTop, n, grads);
}

/**
 * The hidden-layer backward shared by every network: given dTop = ∂L/∂A_k (n × h_k, overwritten), accumulates
 * dW_l += A_lᵀ δ_l and db_l += Σ_rows δ_l for l = k−1 … 0 with δ_l = (∂L/∂A_{l+1}) ⊙ act'(Z_l),
 * ∂L/∂A_l = δ_l W_lᵀ (A_0 = X).
 */
export function hiddenBackward(
  m: Mlp,
  gemm: Gemm,
  X: Vec,
  acts: Vec[],
  dacts: Vec[],
  dTop: Vec,
  n: number,
  grads: Vec[],
): void {
  const F = ctorOf(m);
  const K = kernelsOf(gemm);
  const k = m.sizes.length - 2;
  let dA = dTop;
  for (let l = k - 1; l >= 0; l--) {
    const h = m.sizes[l + 1], da = dacts[l];
    K.mulInPlace(dA, da, n * h);
    const input = l === 0 ? X : acts[l - 1];
    gemm.gemm(true, false, m.sizes[l], h, n, input, dA, grads[2 * l], 1);
    K.colSumAdd(dA, n, h, grads[2 * l + 1]);
    if (l > 0) {
      const next = allocRaw(F, n * m.sizes[l]);
      gemm.gemm(false, true, n, m.sizes[l], h, dA, m.W[l], next, 0);
      dA = next;
    }
  }
}
