/**
 * Native TensorFlow GEMM through `@tensorflow/tfjs-node`, used where that package is installed (cluster images).
 * It cannot install on the development machine (its install script downloads libtensorflow), so there this
 * backend reports "not installed".
 *
 * The package is looked up in node_modules with Node's resolver and loaded with `require`, instead of
 * `import("npm:@tensorflow/tfjs-node")`: under `nodeModulesDir: "auto"` that dynamic import would download the
 * package and its dependencies on the fly and rewrite deno.lock on every machine where it is absent. To enable
 * it: `deno add npm:@tensorflow/tfjs-node && deno install --allow-scripts=npm:@tensorflow/tfjs-node` (or any
 * `npm install` that leaves it in ./node_modules with its native binding built).
 *
 * Native TF handles transposed operands well, so the transpose flags are passed straight to matMul.
 * Float64Array operands go to the pure-TypeScript `jsGemm` (TF computes this in float32).
 */
import { createRequire } from "node:module";
import type { Gemm } from "../core/nn/gemm.ts";
import { type DescribedGemm, guardedGemm, type Probe } from "./blas.ts";

/** The parts of the tfjs API used here. */
export interface TensorLike {
  dataSync(): Float32Array;
  dispose(): void;
}
export interface TfjsApi {
  version?: Record<string, string>;
  ready(): Promise<void>;
  getBackend(): string;
  setBackend(name: string): Promise<boolean>;
  tidy<T>(f: () => T): T;
  tensor2d(values: Float32Array, shape: [number, number], dtype: "float32"): TensorLike;
  matMul(a: TensorLike, b: TensorLike, transposeA: boolean, transposeB: boolean): TensorLike;
}

const PACKAGE = "@tensorflow/tfjs-node";

let loading: Promise<Probe> | null = null;

/** Tries to load tfjs-node; never throws. Cached. */
export function probeTensorflow(): Promise<Probe> {
  loading ??= init().catch((err) => ({ gemm: null, reason: `tfjs-node: ${firstLine(err)}` }));
  return loading;
}

function firstLine(err: unknown): string {
  const msg = err instanceof Error ? err.message : String(err);
  return msg.split("\n")[0].trim();
}

async function init(): Promise<Probe> {
  const require = createRequire(import.meta.url);
  try {
    require.resolve(PACKAGE);
  } catch {
    return { gemm: null, reason: `${PACKAGE} is not installed (not found in node_modules)` };
  }
  const tf = require(PACKAGE) as TfjsApi;
  await tf.ready();
  if (tf.getBackend() !== "tensorflow" && !(await tf.setBackend("tensorflow"))) {
    return { gemm: null, reason: `${PACKAGE} loaded but its "tensorflow" backend did not initialise` };
  }
  const gemm = makeTfjsGemm(tf, "tensorflow");
  return { gemm, reason: `loaded ${gemm.detail}` };
}

/**
 * GEMM (name "tensorflow") on a tfjs module whose backend `tfBackend` is registered and initialised: tfjs-node's
 * "tensorflow" in production; the tests run the same wrapper on tfjs-core's "cpu" backend.
 */
export function makeTfjsGemm(tf: TfjsApi, tfBackend: string): DescribedGemm {
  const v = tf.version?.["tfjs-node"] ?? tf.version?.["tfjs-core"];
  return {
    name: "tensorflow",
    detail: `${tfBackend === "tensorflow" ? PACKAGE : `tfjs "${tfBackend}" backend`}${v ? ` ${v}` : ""}`,
    gemm: guardedGemm("tensorflow", (transA, transB, m, n, k, a, b, c, beta) => {
      const mn = m * n;
      // The active tfjs backend is global; another part of the process may have switched it. setBackend on an
      // already-initialised backend takes effect synchronously (no await inside before the switch).
      if (tf.getBackend() !== tfBackend) void tf.setBackend(tfBackend);
      const av = a.length === m * k ? a : a.subarray(0, m * k);
      const bv = b.length === k * n ? b : b.subarray(0, k * n);
      const r = tf.tidy(() =>
        tf.matMul(
          tf.tensor2d(av, transA ? [k, m] : [m, k], "float32"),
          tf.tensor2d(bv, transB ? [n, k] : [k, n], "float32"),
          transA,
          transB,
        )
      );
      try {
        const out = r.dataSync();
        if (beta === 0) c.set(out.length === mn ? out : out.subarray(0, mn));
        else for (let i = 0; i < mn; i++) c[i] += out[i];
      } finally {
        r.dispose();
      }
    }),
  };
}

/** tfjs-node GEMM (name "tensorflow"), or null when `@tensorflow/tfjs-node` is not installed or fails to load. */
export async function loadTensorflowGemm(): Promise<Gemm | null> {
  return (await probeTensorflow()).gemm;
}
