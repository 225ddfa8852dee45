/**
 * OpenBLAS through Deno FFI: `cblas_sgemm` (and `cblas_dgemm` for Float64Array operands).
 *
 * Needs `--allow-ffi` (tasks run with `-A`) and a libopenblas on the machine (Debian: `libopenblas0-pthread`).
 * When either is missing, `loadBlasGemm` returns null; `probeBlas` also says why.
 *
 * Typed-array arguments are passed as FFI `buffer`s: Deno passes the address of the view's first element
 * (buffer base + byteOffset), so subarray views work without copying.
 */
import { type Gemm, jsGemm, type Vec } from "../core/nn/gemm.ts";

/** A Gemm with an optional one-line description of how it runs (library, threads, ...). */
export type DescribedGemm = Gemm & { readonly detail?: string };

/** Outcome of trying to load a backend: the Gemm, or null and a one-line reason. */
export interface Probe {
  gemm: DescribedGemm | null;
  reason: string;
}

const CblasRowMajor = 101;
const CblasNoTrans = 111;
const CblasTrans = 112;

const GEMM_PARAMS = [
  "i32", // order
  "i32", // transA
  "i32", // transB
  "i32", // M
  "i32", // N
  "i32", // K
  "f32", // alpha
  "buffer", // A
  "i32", // lda
  "buffer", // B
  "i32", // ldb
  "f32", // beta
  "buffer", // C
  "i32", // ldc
] as const;

const SYMBOLS = {
  cblas_sgemm: { parameters: GEMM_PARAMS, result: "void", nonblocking: false },
  cblas_dgemm: {
    parameters: [
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "f64",
      "buffer",
      "i32",
      "buffer",
      "i32",
      "f64",
      "buffer",
      "i32",
    ],
    result: "void",
    nonblocking: false,
    optional: true,
  },
  openblas_set_num_threads: { parameters: ["i32"], result: "void", optional: true },
  openblas_get_num_threads: { parameters: [], result: "i32", optional: true },
  openblas_get_config: { parameters: [], result: "pointer", optional: true },
} as const;

type BlasLib = Deno.DynamicLibrary<typeof SYMBOLS>;

/** Library names/paths tried in order (after `FLOWSWEEP_BLAS` when set). */
export const BLAS_CANDIDATES: readonly string[] = [
  "libopenblas.so.0",
  "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
  "libopenblas.so",
];

let cached: { lib: BlasLib; path: string } | null = null;

function envBlasPath(): string | undefined {
  try {
    return Deno.env.get("FLOWSWEEP_BLAS") || undefined;
  } catch {
    return undefined; // no --allow-env: just skip the override
  }
}

function openLibrary(): { lib: BlasLib; path: string } | string {
  if (cached) return cached;
  if (typeof Deno === "undefined" || typeof Deno.dlopen !== "function") return "Deno.dlopen is not available";
  const env = envBlasPath();
  const candidates = env ? [env, ...BLAS_CANDIDATES] : [...BLAS_CANDIDATES];
  const failures: string[] = [];
  for (const path of candidates) {
    try {
      const lib = Deno.dlopen(path, SYMBOLS) as BlasLib;
      cached = { lib, path };
      return cached;
    } catch (err) {
      if (isPermissionError(err)) {
        return "FFI permission missing (run with --allow-ffi or -A)";
      }
      failures.push(`${path}: ${firstLine(err)}`);
    }
  }
  return `libopenblas not found (tried ${candidates.join(", ")}; install libopenblas0-pthread or set ` +
    `FLOWSWEEP_BLAS=/path/to/libopenblas.so)` + (failures.length ? ` [${failures[0]}]` : "");
}

function isPermissionError(err: unknown): boolean {
  const errors = Deno.errors as Record<string, unknown>;
  return ["NotCapable", "PermissionDenied"].some((k) => {
    const cls = errors[k];
    return typeof cls === "function" && err instanceof cls;
  });
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split("\n")[0].trim();
}

/** Throws a RangeError unless m, n, k are non-negative int32 and the buffers hold the operands. */
export function checkGemmArgs(m: number, n: number, k: number, a: Vec, b: Vec, c: Vec): void {
  if (!(m >= 0 && n >= 0 && k >= 0 && (m | 0) === m && (n | 0) === n && (k | 0) === k)) {
    throw new RangeError(`gemm: bad sizes m=${m} n=${n} k=${k}`);
  }
  if (a.length < m * k || b.length < k * n || c.length < m * n) {
    throw new RangeError(
      `gemm: buffer too small (m=${m} n=${n} k=${k}; a ${a.length}, b ${b.length}, c ${c.length})`,
    );
  }
}

/**
 * What the tfjs-based GEMMs share around their float32 kernel: float64 operands go to `jsGemm` (all three or
 * none), arguments are checked, and empty products (m·n = 0, or k = 0) are settled without calling the kernel.
 */
export function guardedGemm(
  name: string,
  kernel: (
    transA: boolean,
    transB: boolean,
    m: number,
    n: number,
    k: number,
    a: Float32Array,
    b: Float32Array,
    c: Float32Array,
    beta: 0 | 1,
  ) => void,
): Gemm["gemm"] {
  return (transA, transB, m, n, k, a, b, c, beta) => {
    if (a instanceof Float64Array || b instanceof Float64Array || c instanceof Float64Array) {
      if (!(a instanceof Float64Array && b instanceof Float64Array && c instanceof Float64Array)) {
        throw new TypeError(`${name}: a, b and c must all be Float32Array (or all Float64Array)`);
      }
      jsGemm.gemm(transA, transB, m, n, k, a, b, c, beta);
      return;
    }
    checkGemmArgs(m, n, k, a, b, c);
    const mn = m * n;
    if (mn === 0) return;
    if (k === 0) {
      if (beta === 0) c.fill(0, 0, mn);
      return;
    }
    kernel(transA, transB, m, n, k, a as Float32Array, b as Float32Array, c as Float32Array, beta);
  };
}

/**
 * OpenBLAS threads when the caller does not ask for a number. OpenBLAS's multi-threaded sgemm splits the
 * product differently from its single-threaded one, so C differs in the last bits (measured here: up to 1e-2
 * relative on near-zero entries of a 128×64×64 product with 1 vs 2 threads, 0.3.21 Haswell), and after a few
 * hundred training steps the final metrics differ (embedded sweeps used ⌊cores / workers⌋ threads, a NATS
 * worker all cores: the same job gave different numbers). One fixed count makes a job's result independent of
 * the machine's core count and of how many jobs share the process; parallelism comes from running jobs side
 * by side (sweep `--workers`, worker `--concurrency`). Benchmarks may still ask for more (`threads`).
 */
export const DEFAULT_BLAS_THREADS = 1;

/** Tries to load OpenBLAS; never throws. Sets the process-wide thread count (default DEFAULT_BLAS_THREADS). */
export function probeBlas(opts: { threads?: number } = {}): Probe {
  let opened: { lib: BlasLib; path: string } | string;
  try {
    opened = openLibrary();
  } catch (err) {
    opened = firstLine(err);
  }
  if (typeof opened === "string") return { gemm: null, reason: opened };
  const { lib, path } = opened;
  const sym = lib.symbols;
  const wanted = opts.threads ?? DEFAULT_BLAS_THREADS;
  if (!(Number.isInteger(wanted) && wanted >= 1)) {
    return { gemm: null, reason: `bad BLAS thread count ${opts.threads}` };
  }
  sym.openblas_set_num_threads?.(wanted);
  const threads = sym.openblas_get_num_threads?.() ?? wanted;
  let config = "";
  try {
    const p = sym.openblas_get_config?.();
    if (p) config = Deno.UnsafePointerView.getCString(p);
  } catch {
    config = "";
  }
  const sgemm = sym.cblas_sgemm;
  const dgemm = sym.cblas_dgemm;

  const gemm: DescribedGemm = {
    name: "blas",
    detail: `${path}${config ? ` (${config})` : ""}${threads ? `, ${threads} thread(s)` : ""}`,
    gemm(transA, transB, m, n, k, a, b, c, beta) {
      checkGemmArgs(m, n, k, a, b, c);
      if (m === 0 || n === 0) return;
      if (k === 0) {
        if (beta === 0) c.fill(0, 0, m * n);
        return;
      }
      const ta = transA ? CblasTrans : CblasNoTrans;
      const tb = transB ? CblasTrans : CblasNoTrans;
      const lda = transA ? m : k;
      const ldb = transB ? k : n;
      if (a instanceof Float32Array && b instanceof Float32Array && c instanceof Float32Array) {
        sgemm(CblasRowMajor, ta, tb, m, n, k, 1, a, lda, b, ldb, beta, c, n);
      } else if (a instanceof Float64Array && b instanceof Float64Array && c instanceof Float64Array) {
        if (!dgemm) throw new TypeError("blas: this library has no cblas_dgemm for Float64Array operands");
        dgemm(CblasRowMajor, ta, tb, m, n, k, 1, a, lda, b, ldb, beta, c, n);
      } else {
        throw new TypeError("blas: a, b and c must all be Float32Array (or all Float64Array)");
      }
    },
  };
  return { gemm, reason: `loaded ${gemm.detail}` };
}

/**
 * OpenBLAS GEMM (name "blas"), or null when the library or the FFI permission is missing.
 * `threads` calls `openblas_set_num_threads` (process-wide); without it the count is DEFAULT_BLAS_THREADS (1),
 * whatever OPENBLAS_NUM_THREADS says, so results do not depend on the machine.
 */
export function loadBlasGemm(opts: { threads?: number } = {}): Gemm | null {
  return probeBlas(opts).gemm;
}
