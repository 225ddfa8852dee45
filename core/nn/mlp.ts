/**
 * The policy network f_φ: an MLP D → h₁ → … → h_k → 2D with explicit forward and backward passes.
 *
 * There is no general autodiff: every loss the engine trains is a sum over trajectory steps of a per-step
 * coefficient times log p_φ(v_t | s_t, d_t), so one backward signal per row (step) is all we ever need. The
 * backward pass is split accordingly:
 *   - `computeSignals`: per-row "unit" signals δ_l = ∂ log p_t / ∂ Z_l for every hidden pre-activation Z_l,
 *     computed once per batch;
 *   - `accumulateGrads`: ∇ Σ_s c_s log q(τ_s) = Σ_l A_lᵀ (c ⊙ δ_l) for any per-trajectory coefficients c
 *     (backprop is linear in the output gradient and rows are independent);
 *   - `forEachSampleGrad`: the per-trajectory score h_s = ∇ log q(τ_s) as per-layer sums of outer products
 *     A_l[rows of s]ᵀ δ_l[rows of s] — never S separate backward passes.
 * Parameters are [W₀, b₀, W₁, b₁, …, W_k, b_k], W_l row-major (in × out).
 */
import type { Gemm, Vec } from "./gemm.ts";
import type { Rng } from "../rng.ts";
import { kernelsOf } from "./kernels.ts";
import { alloc, allocRaw } from "./arena.ts";

import { type Activation, ACTIVATIONS } from "./activation.ts";

export { type Activation, ACTIVATIONS };
export type Init = "he-uniform" | "xavier-uniform";

export interface Mlp {
  /** [in, h₁, …, h_k, out] */
  sizes: number[];
  activation: Activation;
  W: Vec[];
  b: Vec[];
}

type FloatCtor = Float32ArrayConstructor | Float64ArrayConstructor;

/** A freshly initialised MLP. Biases start at 0; weights uniform with fan-in (He) or fan-avg (Xavier) scale. */
export function initMlp(
  sizes: number[],
  activation: Activation,
  init: Init,
  rng: Rng,
  F: FloatCtor = Float32Array,
): Mlp {
  const W: Vec[] = [];
  const b: Vec[] = [];
  for (let l = 0; l + 1 < sizes.length; l++) {
    const fanIn = sizes[l], fanOut = sizes[l + 1];
    const bound = init === "he-uniform" ? Math.sqrt(6 / fanIn) : Math.sqrt(6 / (fanIn + fanOut));
    const w = new F(fanIn * fanOut);
    for (let i = 0; i < w.length; i++) w[i] = (2 * rng.uniform() - 1) * bound;
    W.push(w);
    b.push(new F(fanOut));
  }
  return { sizes: [...sizes], activation, W, b };
}

/** Parameter arrays in canonical order [W₀, b₀, …]. These are the live arrays (updates write through). */
export function params(m: Mlp): Vec[] {
  const out: Vec[] = [];
  for (let l = 0; l < m.W.length; l++) out.push(m.W[l], m.b[l]);
  return out;
}

/** Zero arrays shaped like `params(m)` (from the step arena inside a step: gradients live for one step). */
export function zerosLike(
  m: Mlp,
  F: FloatCtor = m.W[0] instanceof Float64Array ? Float64Array : Float32Array,
): Vec[] {
  return params(m).map((p) => alloc(F, p.length));
}

export function numParams(m: Mlp): number {
  return params(m).reduce((n, p) => n + p.length, 0);
}

/**
 * Hidden stack from the first pre-activation: given Z₀ (n × h₁, bias included) computes A₁ = act(Z₀),
 * Z₁ = A₁W₁ + b₁, …, leaving the last hidden activation A_k in acts[k−1]. acts[l] / dacts[l] are n × sizes[l+1]
 * buffers (views are fine); dacts may be null entries when no backward pass will follow. Z₀ is read only;
 * `scratch` holds at least n × max(h) values. Each layer is one GEMM then one fused bias + activation +
 * derivative pass (core/nn/kernels.ts).
 */
export function hiddenForward(
  m: Mlp,
  gemm: Gemm,
  z0: Vec,
  n: number,
  acts: Vec[],
  dacts: (Vec | null)[],
  scratch: Vec,
): void {
  const K = kernelsOf(gemm);
  const k = m.sizes.length - 2; // number of hidden layers
  K.biasAct(m.activation, z0, null, acts[0], dacts[0], n, m.sizes[1]);
  for (let l = 1; l < k; l++) {
    const hin = m.sizes[l], hout = m.sizes[l + 1];
    const z = scratch.subarray(0, n * hout);
    gemm.gemm(false, false, n, hout, hin, acts[l - 1], m.W[l], z, 0);
    K.biasAct(m.activation, z, m.b[l], acts[l], dacts[l], n, hout);
  }
}

/**
 * Full forward pass: logits (n × out) for inputs x (n × in). No cache; used by sampling and exact enumeration.
 * Inside a step its buffers come from the step arena (core/nn/arena.ts).
 */
export function mlpForward(m: Mlp, gemm: Gemm, x: Vec, n: number): Vec {
  const F = ctorOf(m);
  const k = m.sizes.length - 2;
  const hidden = m.sizes.slice(1, k + 1);
  const z0 = allocRaw(F, n * hidden[0]);
  firstLayer(m, gemm, x, n, z0);
  const acts = hidden.map((h) => allocRaw(F, n * h));
  const scratch = allocRaw(F, n * maxOf(hidden));
  hiddenForward(m, gemm, z0, n, acts, acts.map(() => null), scratch);
  const out = allocRaw(F, n * m.sizes[k + 1]);
  outputLayer(m, gemm, acts[k - 1], n, out);
  return out;
}

/** Z₀ = X·W₀ + b₀ (n rows) into z0. */
export function firstLayer(m: Mlp, gemm: Gemm, x: Vec, n: number, z0: Vec): void {
  fillRows(z0, m.b[0], n);
  gemm.gemm(false, false, n, m.sizes[1], m.sizes[0], x, m.W[0], z0, 1);
}

/** out = A_k·W_k + b_k (n rows). */
export function outputLayer(m: Mlp, gemm: Gemm, top: Vec, n: number, out: Vec): void {
  const k = m.sizes.length - 2;
  fillRows(out, m.b[k], n);
  gemm.gemm(false, false, n, m.sizes[k + 1], m.sizes[k], top, m.W[k], out, 1);
}

/** The largest of a list of sizes (no spread: layer lists are short, but keep it allocation-free). */
export function maxOf(v: number[]): number {
  let m = 0;
  for (const x of v) if (x > m) m = x;
  return m;
}

/** Writes the bias row into each of the n rows of z. */
export function fillRows(z: Vec, bias: Vec, n: number): void {
  const h = bias.length;
  for (let r = 0; r < n; r++) z.set(bias, r * h);
}

export function ctorOf(m: Mlp): FloatCtor {
  return m.W[0] instanceof Float64Array ? Float64Array : Float32Array;
}

/** Transpose of a row-major r × c matrix into out (c × r). */
export function transpose(a: Vec, r: number, c: number, out: Vec): Vec {
  for (let i = 0; i < r; i++) {
    const ai = i * c;
    for (let j = 0; j < c; j++) out[j * r + i] = a[ai + j];
  }
  return out;
}
