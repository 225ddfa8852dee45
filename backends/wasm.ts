/**
 * tfjs-backend-wasm (XNNPACK) GEMM.
 *
 * Measured facts this file is built around (docs/math.md §"Backends"): the wasm matmul is fast (~20 GFLOP/s) only when
 * neither operand is transposed, and threads do not work under Deno. So transposed operands are transposed in
 * JS straight into the wasm heap, and the plain (no-transpose) BatchMatMul kernel is called directly on the
 * wasm backend instance — no tf.Tensor objects, no engine bookkeeping, no dataSync copy. That also means the
 * GEMM does not depend on (or change) tfjs's globally active backend.
 *
 * Float64Array operands are handled by the pure-TypeScript `jsGemm` (tfjs-wasm only computes in float32).
 *
 * Wasm binaries: under Deno with `nodeModulesDir: "auto"`, the package's Node entry loads as CommonJS from
 * node_modules and Emscripten reads the `.wasm` next to it with `fs`; we additionally point `setWasmPaths` at
 * that directory when the package resolves to a `file:` URL.
 */
import type * as tfTypes from "@tensorflow/tfjs-core";
import type { Gemm, Vec } from "../core/nn/gemm.ts";
import { type DescribedGemm, guardedGemm, type Probe } from "./blas.ts";

/** The parts of tfjs-backend-wasm's `BackendWasm` (4.22) used here. */
interface BackendWasm {
  wasm: { HEAPU8: Uint8Array };
  write(values: null, shape: number[], dtype: "float32"): object;
  getMemoryOffset(dataId: object): number;
  disposeData(dataId: object): boolean;
}

type KernelFunc = (args: { inputs: unknown; backend: unknown; attrs: unknown }) => unknown;

/**
 * Writes the transpose of `src` (rows×cols, row-major, starting at src[0]) into dst[dstOff ...] as cols×rows.
 * Blocked so both sides stay in cache.
 */
export function transposeInto(src: Vec, rows: number, cols: number, dst: Vec, dstOff: number): void {
  const T = 32;
  for (let i0 = 0; i0 < rows; i0 += T) {
    const i1 = Math.min(i0 + T, rows);
    for (let j0 = 0; j0 < cols; j0 += T) {
      const j1 = Math.min(j0 + T, cols);
      for (let j = j0; j < j1; j++) {
        const d = dstOff + j * rows;
        for (let i = i0; i < i1; i++) dst[d + i] = src[i * cols + j];
      }
    }
  }
}

let loading: Promise<Probe> | null = null;

/** Tries to initialise tfjs-backend-wasm; never throws. Cached: later calls return the same Gemm. */
export function probeWasm(): Promise<Probe> {
  loading ??= init().catch((err) => ({ gemm: null, reason: `tfjs wasm: ${firstLine(err)}` }));
  return loading;
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : (err as { message?: string })?.message ?? String(err);
  return msg.split("\n")[0].trim();
}

async function init(): Promise<Probe> {
  const tf: typeof tfTypes = await import("@tensorflow/tfjs-core");
  const wasmPkg = await import("@tensorflow/tfjs-backend-wasm");
  try {
    const entry = import.meta.resolve("@tensorflow/tfjs-backend-wasm");
    if (entry.startsWith("file:")) {
      const dir = decodeURIComponent(new URL(".", entry).pathname);
      wasmPkg.setWasmPaths(dir);
    }
  } catch {
    // keep Emscripten's default (the directory of the loaded script)
  }
  const engine = tf.engine() as unknown as {
    registry: Record<string, unknown>;
    initializeBackend(name: string): { success: boolean | Promise<boolean>; asyncInit: boolean };
  };
  let backend = engine.registry["wasm"] as BackendWasm | undefined;
  if (!backend) {
    const { success, asyncInit } = engine.initializeBackend("wasm");
    const ok = asyncInit ? await success : success;
    backend = engine.registry["wasm"] as BackendWasm | undefined;
    if (!ok || !backend) return { gemm: null, reason: "tfjs wasm backend failed to initialise" };
  }
  // Kernel setup normally happens in tf.setBackend("wasm"); do it here without switching the active backend.
  for (const k of tf.getKernelsForBackend("wasm")) k.setupFunc?.(backend);
  const kernel = tf.getKernel("BatchMatMul", "wasm");
  if (!kernel) return { gemm: null, reason: "tfjs wasm has no BatchMatMul kernel" };
  const simd = await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT");
  const gemm = makeWasmGemm(backend, kernel.kernelFunc as unknown as KernelFunc, simd ? "simd" : "no simd");
  return { gemm, reason: `loaded ${gemm.detail}` };
}

function makeWasmGemm(be: BackendWasm, matmul: KernelFunc, detail: string): DescribedGemm {
  const attrs = { transposeA: false, transposeB: false };
  let f32 = new Float32Array(be.wasm.HEAPU8.buffer);
  /** Float32 view of the wasm heap; re-made when the memory has grown (its buffer is then replaced). */
  const heapF32 = (): Float32Array => {
    const buf = be.wasm.HEAPU8.buffer;
    if (f32.buffer !== buf) f32 = new Float32Array(buf);
    return f32;
  };
  return {
    name: "wasm",
    detail: `tfjs-backend-wasm (XNNPACK, ${detail}, 1 thread)`,
    gemm: guardedGemm("wasm", (transA, transB, m, n, k, a, b, c, beta) => {
      const mn = m * n;
      const aShape = [m, k];
      const bShape = [k, n];
      const aId = be.write(null, aShape, "float32");
      const bId = be.write(null, bShape, "float32");
      let outId: object | null = null;
      try {
        // Heap views are re-read after every allocation (the wasm memory may have grown).
        let heap = heapF32();
        const aOff = be.getMemoryOffset(aId) >>> 2;
        const bOff = be.getMemoryOffset(bId) >>> 2;
        if (transA) transposeInto(a, k, m, heap, aOff);
        else heap.set(a.length === m * k ? a : a.subarray(0, m * k), aOff);
        if (transB) transposeInto(b, n, k, heap, bOff);
        else heap.set(b.length === k * n ? b : b.subarray(0, k * n), bOff);
        const out = matmul({
          inputs: {
            a: { dataId: aId, shape: aShape, dtype: "float32" },
            b: { dataId: bId, shape: bShape, dtype: "float32" },
          },
          backend: be,
          attrs,
        }) as { dataId: object };
        outId = out.dataId;
        heap = heapF32();
        const off = be.getMemoryOffset(outId) >>> 2;
        if (beta === 0) c.set(heap.subarray(off, off + mn));
        else for (let i = 0; i < mn; i++) c[i] += heap[off + i];
      } finally {
        be.disposeData(aId);
        be.disposeData(bId);
        if (outId) be.disposeData(outId);
      }
    }),
  };
}

/** tfjs-wasm GEMM (name "wasm"), or null when tfjs-backend-wasm cannot initialise. */
export async function loadWasmGemm(): Promise<Gemm | null> {
  return (await probeWasm()).gemm;
}
