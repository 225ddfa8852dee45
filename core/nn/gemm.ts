/**
 * The one dense kernel the engine needs: a row-major GEMM. Everything else (activations, gathers, optimiser)
 * is plain TypeScript. Backends (`backends/`) provide faster implementations of the same contract; this file
 * holds the contract and the portable pure-TypeScript implementation (also usable with Float64Array, which the
 * tests use for finite-difference checks).
 */

/** A dense vector/matrix buffer. Row-major matrices are stored flat. */
export type Vec = Float32Array | Float64Array;

export interface Gemm {
  /** Backend name as shown in outputs (`cpu`, `blas`, `wasm`, `tensorflow`). */
  readonly name: string;
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

/** Portable GEMM in plain TypeScript (i-p-j loop order so the inner loop is contiguous). */
export const jsGemm: Gemm = {
  name: "cpu",
  gemm(transA, transB, m, n, k, a, b, c, beta) {
    if (beta === 0) c.fill(0, 0, m * n);
    if (!transB) {
      for (let i = 0; i < m; i++) {
        const ci = i * n;
        for (let p = 0; p < k; p++) {
          const aip = transA ? a[p * m + i] : a[i * k + p];
          if (aip === 0) continue;
          const bp = p * n;
          for (let j = 0; j < n; j++) c[ci + j] += aip * b[bp + j];
        }
      }
    } else {
      for (let i = 0; i < m; i++) {
        const ci = i * n;
        for (let j = 0; j < n; j++) {
          const bj = j * k;
          let s = 0;
          if (transA) { for (let p = 0; p < k; p++) s += a[p * m + i] * b[bj + p]; }
          else {
            const ai = i * k;
            for (let p = 0; p < k; p++) s += a[ai + p] * b[bj + p];
          }
          c[ci + j] += s;
        }
      }
    }
  },
};
