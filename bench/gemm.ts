/**
 * GEMM throughput per backend for the shapes the engine uses, and per-call time for tiny GEMMs.
 *
 *   deno run -A bench/gemm.ts [--json] [--backends cpu,blas,wasm,tensorflow] [--threads 1,2] [--budget 0.6]
 *                             [--stat median|best]
 *
 * blas is measured once per entry of --threads (default 1 and 2; `openblas_set_num_threads`, process-wide).
 * Each figure comes from 5 rounds of repeated calls, each round lasting about budget/5 seconds (at least one
 * call): the table shows the median round (or the best with `--stat best`, which is less sensitive to other
 * load on a shared machine); --json rows carry both. GFLOP/s counts 2·m·n·k flops per call.
 */
import { Option } from "commander";
import { benchCommand, parseBench, positiveInt, positiveNumber } from "./cli.ts";
import { type Gemm, jsGemm } from "../core/nn/gemm.ts";
import { loadBlasGemm } from "../backends/blas.ts";
import { loadWasmGemm } from "../backends/wasm.ts";
import { loadTensorflowGemm } from "../backends/tensorflow.ts";

interface Shape {
  label: string;
  m: number;
  n: number;
  k: number;
  tA: boolean;
  tB: boolean;
  note: string;
}

const SHAPES: Shape[] = [
  { label: "256x256x256 NN", m: 256, n: 256, k: 256, tA: false, tB: false, note: "square" },
  { label: "8192x256x256 NN", m: 8192, n: 256, k: 256, tA: false, tB: false, note: "forward, batch 8192" },
  {
    label: "8192x256x256 TN",
    m: 8192,
    n: 256,
    k: 256,
    tA: true,
    tB: false,
    note: "same, A stored transposed",
  },
  { label: "8192x256x256 NT", m: 8192, n: 256, k: 256, tA: false, tB: true, note: "input grad dX = dY·Wᵀ" },
  { label: "256x256x8192 TN", m: 256, n: 256, k: 8192, tA: true, tB: false, note: "weight grad dW = Xᵀ·dY" },
  { label: "256x32x256 NN", m: 256, n: 32, k: 256, tA: false, tB: false, note: "small layer" },
  { label: "8192x256x64 NN", m: 8192, n: 256, k: 64, tA: false, tB: false, note: "first layer, D=64" },
];
const TINY: Shape[] = [
  { label: "16x16x16 NN", m: 16, n: 16, k: 16, tA: false, tB: false, note: "per-call time" },
  { label: "1x1x1 NN", m: 1, n: 1, k: 1, tA: false, tB: false, note: "per-call time" },
];

const list = (v: string) => v.split(",").map((x) => x.trim()).filter(Boolean);
const cmd = benchCommand(
  "gemm.ts",
  "GEMM throughput per backend for the engine's shapes, and per-call time for tiny GEMMs",
)
  .option("--json", "one JSON object per row")
  .option("--backends <list>", "backends, comma-separated", list, ["cpu", "blas", "wasm", "tensorflow"])
  .option(
    "--threads <list>",
    "OpenBLAS thread counts, comma-separated",
    (v: string) => list(v).map(positiveInt),
    [1, 2],
  )
  .option("--budget <s>", "seconds per figure (5 rounds)", positiveNumber, 0.6)
  .addOption(
    new Option("--stat <s>", "figure shown: the median round or the best").choices(["median", "best"])
      .default("median"),
  );
const opts = parseBench<
  { json?: boolean; backends: string[]; threads: number[]; budget: number; stat: "median" | "best" }
>(
  cmd,
);
opts.json ??= false;

function fill(len: number, seed: number): Float32Array {
  const out = new Float32Array(len);
  let x = seed;
  for (let i = 0; i < len; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    out[i] = (x / 2 ** 32) - 0.5;
  }
  return out;
}

/** Seconds per call: median and best round. */
function timeCalls(g: Gemm, s: Shape, budget: number): { median: number; best: number; calls: number } {
  const a = fill(s.m * s.k, 1), b = fill(s.k * s.n, 2), c = new Float32Array(s.m * s.n);
  const call = () => g.gemm(s.tA, s.tB, s.m, s.n, s.k, a, b, c, 0);
  call(); // warm-up (JIT, allocator, library init)
  const ROUNDS = 5;
  const round = budget / ROUNDS;
  const rates: number[] = [];
  let calls = 0;
  for (let r = 0; r < ROUNDS; r++) {
    let n = 0;
    const t0 = performance.now();
    let t = t0;
    do {
      // batches of calls between clock reads keep timer overhead out of tiny-GEMM figures
      const batch = n === 0 ? 1 : Math.max(1, n);
      for (let i = 0; i < batch; i++) call();
      n += batch;
      t = performance.now();
    } while (t - t0 < round * 1000);
    rates.push((t - t0) / 1000 / n);
    calls += n;
  }
  rates.sort((x, y) => x - y);
  return { median: rates[(ROUNDS - 1) / 2], best: rates[0], calls };
}

/** 1-minute load average (the figures are only meaningful on an otherwise idle machine). */
const load = () => {
  try {
    return Deno.loadavg()[0];
  } catch {
    return null;
  }
};
const loadBefore = load();
const rows: Record<string, unknown>[] = [];

const emit = (
  backend: string,
  threads: number | null,
  s: Shape,
  t: { median: number; best: number },
  calls: number,
) => {
  const flops = 2 * s.m * s.n * s.k;
  const row = {
    backend,
    threads,
    shape: s.label,
    m: s.m,
    n: s.n,
    k: s.k,
    transA: s.tA,
    transB: s.tB,
    gflops: Number((flops / t.median / 1e9).toFixed(3)),
    gflopsBest: Number((flops / t.best / 1e9).toFixed(3)),
    usPerCall: Number((t.median * 1e6).toFixed(2)),
    usPerCallBest: Number((t.best * 1e6).toFixed(2)),
    calls,
  };
  rows.push(row);
  if (opts.json) console.log(JSON.stringify(row));
};

const runs: { name: string; threads: number | null; get: () => Promise<Gemm | null> }[] = [];
for (const name of opts.backends) {
  if (name === "cpu") runs.push({ name, threads: null, get: () => Promise.resolve(jsGemm) });
  else if (name === "blas") {
    for (const t of opts.threads) {
      runs.push({ name, threads: t, get: () => Promise.resolve(loadBlasGemm({ threads: t })) });
    }
  } else if (name === "wasm") runs.push({ name, threads: 1, get: loadWasmGemm });
  else if (name === "tensorflow") runs.push({ name, threads: null, get: loadTensorflowGemm });
  else {
    console.error(`error: unknown backend ${name}`);
    Deno.exit(2);
  }
}

for (const run of runs) {
  const g = await run.get();
  if (!g) {
    if (opts.json) console.log(JSON.stringify({ backend: run.name, available: false }));
    else console.log(`# ${run.name}: not available here`);
    continue;
  }
  for (const s of [...SHAPES, ...TINY]) {
    const { calls, ...t } = timeCalls(g, s, opts.budget);
    emit(run.name, run.threads, s, t, calls);
  }
}

const loadAfter = load();
if (opts.json) console.log(JSON.stringify({ loadavgBefore: loadBefore, loadavgAfter: loadAfter }));
else {
  const label = (r: Record<string, unknown>) => `${r.backend}${r.threads !== null ? `/${r.threads}t` : ""}`;
  const cols = [...new Set(rows.map(label))];
  const pad = (s: string, w: number) => s.padStart(w);
  const w0 = Math.max(...[...SHAPES, ...TINY].map((s) => s.label.length + s.note.length + 3));
  console.log(
    `GEMM GFLOP/s (${opts.stat} of 5 rounds, ~${opts.budget}s per figure; ` +
      `1-min load average ${loadBefore?.toFixed(2)} before, ${
        loadAfter?.toFixed(2)
      } after, on ${navigator.hardwareConcurrency} CPUs)`,
  );
  console.log(`${"shape (m x n x k, op A/B)".padEnd(w0)}${cols.map((c) => pad(c, 11)).join("")}`);
  for (const s of SHAPES) {
    const cells = cols.map((c) => {
      const r = rows.find((x) => label(x) === c && x.shape === s.label);
      return pad(r ? (r[opts.stat === "best" ? "gflopsBest" : "gflops"] as number).toFixed(2) : "-", 11);
    });
    console.log(`${`${s.label} (${s.note})`.padEnd(w0)}${cells.join("")}`);
  }
  console.log(`\nper-call time, microseconds (${opts.stat})`);
  for (const s of TINY) {
    const cells = cols.map((c) => {
      const r = rows.find((x) => label(x) === c && x.shape === s.label);
      return pad(
        r ? (r[opts.stat === "best" ? "usPerCallBest" : "usPerCall"] as number).toFixed(2) : "-",
        11,
      );
    });
    console.log(`${s.label.padEnd(w0)}${cells.join("")}`);
  }
}
