/**
 * Backend selection: `auto` picks the fastest GEMM that loads here (tensorflow > blas > wasm > cpu).
 * An explicitly requested backend that cannot load is an error with a one-line reason.
 * Every backend but `cpu` carries the WebAssembly SIMD step kernels (backends/kernels.ts) when they load;
 * `cpu` is the portable pure-TypeScript path (GEMM and kernels). FLOWSWEEP_KERNELS=ts keeps the TypeScript
 * kernels with any GEMM (for before/after comparisons).
 */
import { type Gemm, jsGemm } from "../core/nn/gemm.ts";
import { type DescribedGemm, type Probe, probeBlas } from "./blas.ts";
import { probeWasm } from "./wasm.ts";
import { probeTensorflow } from "./tensorflow.ts";
import { loadWasmKernels } from "./kernels.ts";

export type BackendName = "auto" | "blas" | "wasm" | "cpu" | "tensorflow";

/** Accepted `--backend` values, in `auto` preference order after "auto". */
export const BACKEND_NAMES: readonly BackendName[] = ["auto", "tensorflow", "blas", "wasm", "cpu"];

export interface SelectOptions {
  /**
   * OpenBLAS threads (process-wide `openblas_set_num_threads`); default 1 (`DEFAULT_BLAS_THREADS`: results must
   * not depend on the thread count). Benchmarks only.
   */
  threads?: number;
}

function probe(name: Exclude<BackendName, "auto">, opts: SelectOptions): Promise<Probe> | Probe {
  switch (name) {
    case "cpu":
      return { gemm: jsGemm, reason: "pure TypeScript" };
    case "blas":
      return withKernels(probeBlas({ threads: opts.threads }));
    case "wasm":
      return probeWasm().then(withKernels);
    case "tensorflow":
      return probeTensorflow().then(withKernels);
  }
}

const withKernelsCache = new Map<Gemm, DescribedGemm>();

/** The probed GEMM with the wasm step kernels attached (same object for the same GEMM). */
function withKernels(p: Probe): Probe {
  if (!p.gemm || kernelsDisabled()) return p;
  const k = loadWasmKernels().kernels;
  if (!k) return p;
  let g = withKernelsCache.get(p.gemm);
  if (!g) {
    const base = p.gemm;
    g = { name: base.name, detail: base.detail, kernels: k, gemm: base.gemm };
    withKernelsCache.set(base, g);
  }
  return { gemm: g, reason: `${p.reason}, ${k.name} kernels` };
}

function kernelsDisabled(): boolean {
  try {
    return Deno.env.get("FLOWSWEEP_KERNELS") === "ts";
  } catch {
    return false;
  }
}

/**
 * Returns the GEMM for `name`. `auto` never fails (cpu always loads). Any other name that cannot load rejects
 * with an Error whose message is one line, e.g. `backend "blas" unavailable: libopenblas not found (...)`.
 */
export async function selectGemm(name: BackendName, opts: SelectOptions = {}): Promise<Gemm> {
  if (name === "auto") {
    for (const candidate of ["tensorflow", "blas", "wasm"] as const) {
      const p = await probe(candidate, opts);
      if (p.gemm) return p.gemm;
    }
    return jsGemm;
  }
  if (!(BACKEND_NAMES as readonly string[]).includes(name)) {
    throw new Error(`unknown backend "${name}" (expected one of ${BACKEND_NAMES.join(", ")})`);
  }
  const p = await probe(name, opts);
  if (!p.gemm) throw new Error(`backend "${name}" unavailable: ${p.reason}`);
  return p.gemm;
}

/** Names of the backends that load in this process, in `auto` preference order (always ends with "cpu"). */
export async function availableBackends(opts: SelectOptions = {}): Promise<string[]> {
  const out: string[] = [];
  for (const name of ["tensorflow", "blas", "wasm"] as const) {
    if ((await probe(name, opts)).gemm) out.push(name);
  }
  out.push("cpu");
  return out;
}

/** Why each backend does or does not load here (one line each); for `--verbose` output and bug reports. */
export async function backendReport(opts: SelectOptions = {}): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const name of ["tensorflow", "blas", "wasm", "cpu"] as const) {
    const p = await probe(name, opts);
    out[name] = p.gemm ? `ok: ${p.reason.replace(/^loaded /, "")}` : `unavailable: ${p.reason}`;
  }
  return out;
}

/** One line naming the backend and how it runs, e.g. `blas (libopenblas.so.0 (OpenBLAS 0.3.21 ...), 2 thread(s))`. */
export function describeGemm(g: Gemm): string {
  const detail = (g as DescribedGemm).detail ?? (g === jsGemm ? "pure TypeScript" : undefined);
  const kernels = g.kernels ? `, ${g.kernels.name} kernels` : "";
  return detail ? `${g.name} (${detail}${kernels})` : g.name;
}
