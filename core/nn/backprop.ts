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

/**
 * Per-group gradients without one backward pass per group: one pass gives every row's signals δ_l (for the
 * output gradient dOut, n × out), then group g's gradient of Σ_{rows of g} dOut ⊙ out is, per layer, the sum of
 * outer products A_l[rows of g]ᵀ δ_l[rows of g] (one small GEMM per layer and group). Calls fn(g, grads) for
 * g = 0..groups.length − 1; `grads` (order of `params(m)`) is reused between calls.
 */
export function forEachGroupGrad(
  m: Mlp,
  gemm: Gemm,
  cache: MlpCache,
  dOut: Vec,
  groups: readonly Int32Array[],
  fn: (g: number, grads: Vec[]) => void,
): void {
  const F = ctorOf(m);
  const k = m.sizes.length - 2, n = cache.n;
  const signals: Vec[] = new Array(k + 1);
  signals[k] = dOut;
  let dA = new F(n * m.sizes[k]);
  gemm.gemm(false, true, n, m.sizes[k], m.sizes[k + 1], dOut, m.W[k], dA, 0);
  for (let l = k - 1; l >= 0; l--) {
    const h = m.sizes[l + 1], da = cache.dacts[l];
    for (let i = 0; i < n * h; i++) dA[i] *= da[i];
    signals[l] = dA;
    if (l > 0) {
      const next = new F(n * m.sizes[l]);
      gemm.gemm(false, true, n, m.sizes[l], h, dA, m.W[l], next, 0);
      dA = next;
    }
  }
  const inputs = [cache.X, ...cache.acts];
  const grads: Vec[] = [];
  for (let l = 0; l <= k; l++) grads.push(new F(m.sizes[l] * m.sizes[l + 1]), new F(m.sizes[l + 1]));
  const maxRows = Math.max(1, ...groups.map((g) => g.length));
  const gatherIn = m.sizes.slice(0, k + 1).map((w) => new F(maxRows * w));
  const gatherZ = m.sizes.slice(1).map((w) => new F(maxRows * w));
  for (let g = 0; g < groups.length; g++) {
    const rows = groups[g], T = rows.length;
    for (let l = 0; l <= k; l++) {
      const nin = m.sizes[l], nout = m.sizes[l + 1];
      const gi = gatherIn[l], gz = gatherZ[l], src = inputs[l], dz = signals[l], db = grads[2 * l + 1];
      db.fill(0);
      for (let t = 0; t < T; t++) {
        const r = rows[t];
        gi.set(src.subarray(r * nin, (r + 1) * nin), t * nin);
        const zrow = dz.subarray(r * nout, (r + 1) * nout);
        gz.set(zrow, t * nout);
        for (let j = 0; j < nout; j++) db[j] += zrow[j];
      }
      gemm.gemm(true, false, nin, nout, T, gi, gz, grads[2 * l], 0);
    }
    fn(g, grads);
  }
}
