/**
 * The elementwise kernels of a training step, beside the one GEMM (./gemm.ts): everything the step does to its
 * buffers that is not a matrix product. A backend attaches its implementation to its Gemm (`gemm.kernels`);
 * `kernelsOf` falls back to the portable TypeScript ones below. backends/kernels.ts runs the same contract in
 * WebAssembly SIMD on buffers that live in its linear memory (the step arena, ./arena.ts).
 *
 * Layouts: matrices are row-major and flat; `pos` holds the chosen position d of each row (the 2 logits of d
 * are output columns 2d (v = −1) and 2d+1 (v = +1), core/gfn/trajectories.ts); `Wt` is the output layer
 * transposed (2D × h_k) so both columns of a position are contiguous rows.
 *
 * Float32 accumulators (score sums of the optimal vector baseline, `scoreSums`): each accumulator is a sum of
 * S ≤ batch terms (one per trajectory), so its rounding error is at most S·u·Σ|terms|, u = 2^−24 (6e−8): for
 * S = 256, 1.5e−5 relative to Σ|terms|. For Σh² and Σ log w·h² the terms of a coordinate mostly share a sign and
 * the baseline b_d = Σ log w h² / Σ h² is a weighted mean of log w, so b_d moves by at most ~1.5e−5·max|log w|;
 * the Monte Carlo standard error of the estimate it enters is O(1/√S) ≈ 6e−2 relative, four orders larger.
 * tests/kernels_test.ts checks float32 against float64 sums on a real batch.
 */
import type { Vec } from "./vec.ts";
import type { Activation } from "./activation.ts";
import { alloc, Arena, jsArenaMemory } from "./arena.ts";

export interface Kernels {
  /** Shown in bench output (`ts`, `wasm-simd`). */
  readonly name: string;
  /**
   * The 2-column output kernels (pairLogits / pairSignal / pairGrad) beat a dense output-layer GEMM at every D:
   * the bit-vector policy then never runs its output layer densely (core/gfn/trajectories.ts `denseOutput`).
   */
  readonly sparseOutput: boolean;
  /**
   * Fused bias + activation + derivative over n rows of width h: v = z + bias (bias null: v = z), a = act(v),
   * da = act'(v) (skipped when null). `a` may be `z`.
   */
  biasAct(kind: Activation, z: Vec, bias: Vec | null, a: Vec, da: Vec | null, n: number, h: number): void;
  /** x[i] *= y[i], i < n. */
  mulInPlace(x: Vec, y: Vec, n: number): void;
  /** out[j] += Σ_r a[r·cols + j]: bias gradients as column sums. */
  colSumAdd(a: Vec, rows: number, cols: number, out: Vec): void;
  /** a[i] *= y[i] (i < rows·cols), then out[j] += Σ_r a[r·cols + j]: mulInPlace and colSumAdd in one pass. */
  mulColSumAdd(a: Vec, y: Vec, rows: number, cols: number, out: Vec): void;
  /** out[r·h + j] = s[r mod period] · x[r·h + j]. */
  scaleRows(x: Vec, s: Vec, period: number, rows: number, h: number, out: Vec): void;
  /** z[b·h + j] += val[b] · W[pos[b]·h + j] for b < n, val ∈ {−1, +1} (incremental first layer). */
  addSignedRows(z: Vec, W: Vec, pos: Int32Array, val: Int8Array, n: number, h: number): void;
  /** lm[b] = bout[2d] + top_b·Wt[2d], lp[b] = bout[2d+1] + top_b·Wt[2d+1], d = pos[b], b < n. */
  pairLogits(top: Vec, Wt: Vec, bout: Vec, pos: Int32Array, n: number, hk: number, lm: Vec, lp: Vec): void;
  /** top[r] = c[r] · (Wt[2d+1] − Wt[2d]), d = pos[r], r < rows. */
  pairSignal(c: Vec, pos: Int32Array, Wt: Vec, rows: number, hk: number, top: Vec): void;
  /**
   * pairSignal then mulColSumAdd with dact, without writing the unit signal: out[r] = (c[r]·(Wt[2d+1] − Wt[2d]))
   * ⊙ dact[r], d = pos[r], and dbias[j] += Σ_r out[r·hk + j] (the top hidden layer's δ and bias gradient).
   */
  pairSignalAct(
    c: Vec,
    pos: Int32Array,
    Wt: Vec,
    dact: Vec,
    rows: number,
    hk: number,
    out: Vec,
    dbias: Vec,
  ): void;
  /**
   * The sparse output layer's gradient in its own layout (dW: hk × 2D, dbout: 2D): with S_d = Σ_{r: pos[r] = d}
   * c[r]·top_r and s_d = Σ_{r: pos[r] = d} c[r] (each summed from 0 in row order), dW[j·2D + 2d+1] += S_d[j],
   * dW[j·2D + 2d] −= S_d[j], dbout[2d+1] += s_d, dbout[2d] −= s_d.
   */
  pairGrad(c: Vec, pos: Int32Array, top: Vec, rows: number, hk: number, D: number, dW: Vec, dbout: Vec): void;
  /** out[group[r]·h + j] += x[r·h + j] for r < rows (rows of one shared state summed, in row order). */
  rowGroupSum(x: Vec, group: Int32Array, rows: number, h: number, out: Vec): void;
  /**
   * dW (D × h) += Σ_r s_rᵀ dz_r for the bit-vector rows r = t·B + b (t < T) whose input is the state
   * s_t = Σ_{t'<t} val e_pos of trajectory b: per trajectory a backward sweep over t with a running suffix sum of
   * dz, rows·h work instead of the rows·D·h of a GEMM with the state matrix.
   */
  stateGrad(dz: Vec, pos: Int32Array, val: Int8Array, T: number, B: number, h: number, dW: Vec): void;
  /**
   * One time step of the first layer's backward sweep (stateGrad's, one step at a time so a backward can run step
   * by step in cache), called for t = T−1 down to 0, each once, with the same running sums `acc` (B·h, zero before
   * the first call; `stateGradScratch(B, h)` elements with the kernel's own scratch): for each row b of the step,
   * dW[pos_b] += val_b·acc_b (the later steps' signal reaching the entry set at t), then δ_b = dz_b ⊙ dact_b (in
   * the precision of acc) is added to acc_b and to dbias, without writing δ. dz, dact: the step's B rows, or null
   * for a step without signal; pos, val: its B entries.
   */
  stateGradStep(
    dz: Vec | null,
    dact: Vec | null,
    pos: Int32Array,
    val: Int8Array,
    B: number,
    h: number,
    acc: Vec,
    dW: Vec,
    dbias: Vec,
  ): void;
  /** H2 += h², W2 += lw·h², and when given G1 += h, G2 += lw·h (elements i < n). */
  scoreSums(h: Vec, n: number, lw: number, H2: Vec, W2: Vec, G1: Vec | null, G2: Vec | null): void;
  /** Σ_i h[i]², i < n. */
  sumSquares(h: Vec, n: number): number;
  /** A fresh arena (one per model shape) in the memory these kernels work on. */
  createArena(): Arena;
}

/** Elements of `stateGradStep`'s `acc` for B rows of width h: the B·h running sums, then the kernel's scratch. */
export function stateGradScratch(B: number, h: number): number {
  return B * h + 3 * h;
}

/** The kernels chosen with a backend's GEMM (the TypeScript ones when it brings none). */
export function kernelsOf(gemm: { readonly kernels?: Kernels }): Kernels {
  return gemm.kernels ?? jsKernels;
}

/** The portable kernels in plain TypeScript (the `cpu` backend; also any float64 operands). */
export const jsKernels: Kernels = {
  name: "ts",
  sparseOutput: false,
  biasAct(kind, z, bias, a, da, n, h) {
    for (let r = 0; r < n; r++) {
      const o = r * h;
      switch (kind) {
        case "swish":
          for (let j = 0; j < h; j++) {
            const v = bias ? z[o + j] + bias[j] : z[o + j];
            const s = 1 / (1 + Math.exp(-v));
            a[o + j] = v * s;
            if (da) da[o + j] = s * (1 + v * (1 - s));
          }
          break;
        case "relu":
          for (let j = 0; j < h; j++) {
            const v = bias ? z[o + j] + bias[j] : z[o + j];
            a[o + j] = v > 0 ? v : 0;
            if (da) da[o + j] = v > 0 ? 1 : 0;
          }
          break;
        case "elu":
          for (let j = 0; j < h; j++) {
            const v = bias ? z[o + j] + bias[j] : z[o + j];
            const e = v > 0 ? 0 : Math.expm1(v);
            a[o + j] = v > 0 ? v : e;
            if (da) da[o + j] = v > 0 ? 1 : e + 1;
          }
          break;
        case "tanh":
          for (let j = 0; j < h; j++) {
            const t = Math.tanh(bias ? z[o + j] + bias[j] : z[o + j]);
            a[o + j] = t;
            if (da) da[o + j] = 1 - t * t;
          }
          break;
      }
    }
  },
  mulInPlace(x, y, n) {
    for (let i = 0; i < n; i++) x[i] *= y[i];
  },
  colSumAdd(a, rows, cols, out) {
    for (let r = 0; r < rows; r++) {
      const o = r * cols;
      for (let j = 0; j < cols; j++) out[j] += a[o + j];
    }
  },
  mulColSumAdd(a, y, rows, cols, out) {
    jsKernels.mulInPlace(a, y, rows * cols);
    jsKernels.colSumAdd(a, rows, cols, out);
  },
  scaleRows(x, s, period, rows, h, out) {
    for (let r = 0, p = 0; r < rows; r++, p = p + 1 === period ? 0 : p + 1) {
      const c = s[p], o = r * h;
      for (let j = 0; j < h; j++) out[o + j] = c * x[o + j];
    }
  },
  addSignedRows(z, W, pos, val, n, h) {
    for (let b = 0; b < n; b++) {
      const o = b * h, w = pos[b] * h;
      if (val[b] > 0) { for (let j = 0; j < h; j++) z[o + j] += W[w + j]; }
      else for (let j = 0; j < h; j++) z[o + j] -= W[w + j];
    }
  },
  pairLogits(top, Wt, bout, pos, n, hk, lm, lp) {
    for (let b = 0; b < n; b++) {
      const d = pos[b], ta = b * hk, wm = 2 * d * hk, wp = wm + hk;
      let m = bout[2 * d], p = bout[2 * d + 1];
      for (let j = 0; j < hk; j++) {
        const a = top[ta + j];
        m += a * Wt[wm + j];
        p += a * Wt[wp + j];
      }
      lm[b] = m;
      lp[b] = p;
    }
  },
  pairSignal(c, pos, Wt, rows, hk, top) {
    for (let r = 0; r < rows; r++) {
      const cr = c[r], o = r * hk;
      if (cr === 0) {
        top.fill(0, o, o + hk);
        continue;
      }
      const wm = 2 * pos[r] * hk, wp = wm + hk;
      for (let j = 0; j < hk; j++) top[o + j] = cr * (Wt[wp + j] - Wt[wm + j]);
    }
  },
  pairSignalAct(c, pos, Wt, dact, rows, hk, out, dbias) {
    jsKernels.pairSignal(c, pos, Wt, rows, hk, out);
    jsKernels.mulColSumAdd(out, dact, rows, hk, dbias);
  },
  pairGrad(c, pos, top, rows, hk, D, dW, dbout) {
    const F = dW instanceof Float64Array ? Float64Array : Float32Array;
    const S = alloc(F, D * hk), s = alloc(F, D);
    for (let r = 0; r < rows; r++) {
      const cr = c[r];
      if (cr === 0) continue;
      const d = pos[r], o = r * hk, a = d * hk;
      for (let j = 0; j < hk; j++) S[a + j] += cr * top[o + j];
      s[d] += cr;
    }
    for (let d = 0; d < D; d++) {
      for (let j = 0, w = 2 * d; j < hk; j++, w += 2 * D) {
        dW[w + 1] += S[d * hk + j];
        dW[w] -= S[d * hk + j];
      }
      dbout[2 * d + 1] += s[d];
      dbout[2 * d] -= s[d];
    }
  },
  rowGroupSum(x, group, rows, h, out) {
    for (let r = 0; r < rows; r++) {
      const o = group[r] * h, xr = r * h;
      for (let j = 0; j < h; j++) out[o + j] += x[xr + j];
    }
  },
  stateGrad(dz, pos, val, T, B, h, dW) {
    const acc = alloc(dW instanceof Float64Array ? Float64Array : Float32Array, h);
    for (let b = 0; b < B; b++) {
      acc.fill(0);
      for (let t = T - 1; t >= 0; t--) {
        const r = t * B + b, w = pos[r] * h, o = r * h;
        if (val[r] > 0) { for (let j = 0; j < h; j++) dW[w + j] += acc[j]; }
        else for (let j = 0; j < h; j++) dW[w + j] -= acc[j];
        for (let j = 0; j < h; j++) acc[j] += dz[o + j];
      }
    }
  },
  stateGradStep(dz, dact, pos, val, B, h, acc, dW, dbias) {
    const round = acc instanceof Float32Array ? Math.fround : (v: number) => v; // δ in acc's precision
    const sums = dz && dact ? alloc(Float64Array, h) : null;
    for (let b = 0; b < B; b++) {
      const w = pos[b] * h, o = b * h;
      if (val[b] > 0) { for (let j = 0; j < h; j++) dW[w + j] += acc[o + j]; }
      else for (let j = 0; j < h; j++) dW[w + j] -= acc[o + j];
      if (!sums) continue;
      for (let j = 0; j < h; j++) {
        const v = round(dz![o + j] * dact![o + j]);
        acc[o + j] += v;
        sums[j] += v;
      }
    }
    if (sums) { for (let j = 0; j < h; j++) dbias[j] += sums[j]; }
  },
  scoreSums(h, n, lw, H2, W2, G1, G2) {
    for (let i = 0; i < n; i++) {
      const v = h[i], sq = v * v;
      H2[i] += sq;
      W2[i] += lw * sq;
    }
    if (G1 && G2) {
      for (let i = 0; i < n; i++) {
        G1[i] += h[i];
        G2[i] += lw * h[i];
      }
    }
  },
  sumSquares(h, n) {
    let s = 0;
    for (let i = 0; i < n; i++) s += h[i] * h[i];
    return s;
  },
  createArena: () => new Arena(jsArenaMemory()),
};
