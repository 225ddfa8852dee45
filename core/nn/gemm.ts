/**
 * The one dense kernel the engine needs: a row-major GEMM. The elementwise work around it (bias + activation,
 * gathers, column sums, score sums) goes through the kernels a backend attaches (`kernels`, core/nn/kernels.ts;
 * the pure-TypeScript ones when absent). Backends (`backends/`) provide faster implementations of the same contract; this file
 * holds the contract and the portable pure-TypeScript implementation (also usable with Float64Array, which the
 * tests use for finite-difference checks).
 */
import type { Kernels } from "./kernels.ts";
import type { Vec } from "./vec.ts";

export type { Vec };

export interface Gemm {
  /** Backend name as shown in outputs (`cpu`, `blas`, `wasm`, `tensorflow`). */
  readonly name: string;
  /** The elementwise kernels chosen with this backend (core/nn/kernels.ts `kernelsOf`); default TypeScript. */
  readonly kernels?: Kernels;
  /**
   * C (m×n) ← op(A)·op(B) + beta·C, all row-major.
   * op(A) is m×k: A is stored m×k, or k×m when `transA`. op(B) is k×n: B is stored k×n, or n×k when `transB`.
   * Buffers may be subarray views. beta is 0 (overwrite) or 1 (accumulate).
   */
  gemm(
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    a: Vec,
    b: Vec,
    c: Vec,
    beta: 0 | 1,
  ): void;
}

/** Room for the transposed operands of one call (no module-level scratch: calls share no state). */
function scratch(f64: boolean, len: number): Vec {
  return f64 ? new Float64Array(len) : new Float32Array(len);
}

/** dst[dstOff + j*rows + i] = src[i*cols + j]: transpose of a rows×cols matrix, in 32×32 tiles. */
function transposeTo(src: Vec, rows: number, cols: number, dst: Vec, dstOff: number): void {
  for (let i0 = 0; i0 < rows; i0 += 32) {
    const i1 = Math.min(i0 + 32, rows);
    for (let j0 = 0; j0 < cols; j0 += 32) {
      const j1 = Math.min(j0 + 32, cols);
      for (let j = j0; j < j1; j++) {
        const d = dstOff + j * rows;
        for (let i = i0; i < i1; i++) dst[d + i] = src[i * cols + j];
      }
    }
  }
}

/**
 * C += A·B for row-major A (m×k, from a[aOff]), B (k×n, from b[bOff]), C (m×n). Register-blocked: two rows of C
 * per pass and four steps of p per sweep over a row, so each loaded B element feeds 8 multiply-adds and each C
 * element is loaded/stored k/4 times instead of k times. Blocks of A that are all zero are skipped (0/1 inputs).
 */
function gemmNN(m: number, n: number, k: number, a: Vec, aOff: number, b: Vec, bOff: number, c: Vec): void {
  const k4 = k - (k & 3);
  let i = 0;
  for (; i + 1 < m; i += 2) {
    const c0 = i * n, c1 = c0 + n, r0 = aOff + i * k, r1 = r0 + k;
    let p = 0;
    for (; p < k4; p += 4) {
      const x0 = a[r0 + p], x1 = a[r0 + p + 1], x2 = a[r0 + p + 2], x3 = a[r0 + p + 3];
      const y0 = a[r1 + p], y1 = a[r1 + p + 1], y2 = a[r1 + p + 2], y3 = a[r1 + p + 3];
      if (x0 === 0 && x1 === 0 && x2 === 0 && x3 === 0 && y0 === 0 && y1 === 0 && y2 === 0 && y3 === 0) {
        continue;
      }
      const b0 = bOff + p * n, b1 = b0 + n, b2 = b1 + n, b3 = b2 + n;
      for (let j = 0; j < n; j++) {
        const v0 = b[b0 + j], v1 = b[b1 + j], v2 = b[b2 + j], v3 = b[b3 + j];
        c[c0 + j] += x0 * v0 + x1 * v1 + x2 * v2 + x3 * v3;
        c[c1 + j] += y0 * v0 + y1 * v1 + y2 * v2 + y3 * v3;
      }
    }
    for (; p < k; p++) {
      const x0 = a[r0 + p], y0 = a[r1 + p];
      if (x0 === 0 && y0 === 0) continue;
      const b0 = bOff + p * n;
      for (let j = 0; j < n; j++) {
        const v = b[b0 + j];
        c[c0 + j] += x0 * v;
        c[c1 + j] += y0 * v;
      }
    }
  }
  if (i < m) {
    const c0 = i * n, r0 = aOff + i * k;
    let p = 0;
    for (; p < k4; p += 4) {
      const x0 = a[r0 + p], x1 = a[r0 + p + 1], x2 = a[r0 + p + 2], x3 = a[r0 + p + 3];
      if (x0 === 0 && x1 === 0 && x2 === 0 && x3 === 0) continue;
      const b0 = bOff + p * n, b1 = b0 + n, b2 = b1 + n, b3 = b2 + n;
      for (let j = 0; j < n; j++) {
        c[c0 + j] += x0 * b[b0 + j] + x1 * b[b1 + j] + x2 * b[b2 + j] + x3 * b[b3 + j];
      }
    }
    for (; p < k; p++) {
      const x0 = a[r0 + p];
      if (x0 === 0) continue;
      const b0 = bOff + p * n;
      for (let j = 0; j < n; j++) c[c0 + j] += x0 * b[b0 + j];
    }
  }
}

/**
 * Portable GEMM in plain TypeScript. Transposed operands are first transposed into a reused scratch buffer
 * (O(mk + kn) moves against O(mnk) flops), then one register-blocked no-transpose kernel runs.
 */
export const jsGemm: Gemm = {
  name: "cpu",
  gemm(transA, transB, m, n, k, a, b, c, beta) {
    if (beta === 0) c.fill(0, 0, m * n);
    if (m === 0 || n === 0 || k === 0) return;
    let A = a, B = b, bOff = 0;
    if (transA || transB) {
      const f64 = a instanceof Float64Array || b instanceof Float64Array;
      const s = scratch(f64, (transA ? m * k : 0) + (transB ? k * n : 0));
      let off = 0;
      if (transA) {
        transposeTo(a, k, m, s, 0);
        A = s;
        off = m * k;
      }
      if (transB) {
        transposeTo(b, n, k, s, off);
        B = s;
        bOff = off;
      }
    }
    gemmNN(m, n, k, A, 0, B, bOff, c);
  },
};
