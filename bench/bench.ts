/**
 * `deno task bench`: milliseconds per training step (sampling + update) and achieved GFLOP/s for the paper MLP
 * (D → 256 → 256 → 256 → 2D, Swish, B = 256) on the backend in use.
 *   npx -y deno@2 task bench [--backend auto|blas|wasm|cpu|tensorflow] [--threads N] [--steps N] [--warmup N]
 *                            [--case NAME]... [--json]        (--help lists the cases)
 * --threads sets OpenBLAS's thread count (blas backend).
 * GFLOP/s counts the GEMM work (2·m·n·k per call) over the whole step time; `gemm_share` is the fraction of
 * the step spent inside GEMM calls (the rest is sampling logic, activations, gathers and the optimiser).
 */
import { Option } from "commander";
import { benchCommand, benchUsageError, nonNegativeInt, parseBench, positiveInt } from "./cli.ts";
import { suggest } from "../core/sweep/spec.ts";
import { BACKENDS } from "../core/train/config.ts";
import type { Gemm } from "../core/nn/gemm.ts";
import { selectGemm } from "../backends/select.ts";
import { initMlp, params } from "../core/nn/mlp.ts";
import { Adam } from "../core/nn/adam.ts";
import { preparePolicy } from "../core/gfn/trajectories.ts";
import { estimateGradient, type ObjectiveSpec } from "../core/train/step.ts";
import { Rng } from "../core/rng.ts";
import type { BitTask } from "../core/tasks/task.ts";
import { isingTask } from "../core/tasks/ising.ts";

/** A D-bit task with a fixed random field, for D without an Ising lattice (reward cost is negligible). */
function fieldTask(D: number): BitTask {
  const rng = new Rng(1);
  const h = Float64Array.from({ length: D }, () => rng.normal());
  return {
    name: `field(D=${D})`,
    D,
    logReward(x, B) {
      const out = new Float64Array(B);
      for (let b = 0; b < B; b++) for (let d = 0; d < D; d++) out[b] += h[d] * x[b * D + d];
      return out;
    },
  };
}

interface BenchCase {
  name: string;
  task: BitTask;
  spec: ObjectiveSpec;
}
const CASES: BenchCase[] = [
  { name: "tb-learned-D32", task: fieldTask(32), spec: { objective: "atb", alpha: 0, cv: "learned" } },
  { name: "akl-optvector-D32", task: fieldTask(32), spec: { objective: "akl", alpha: 0, cv: "opt-vector" } },
  { name: "tb-learned-D225", task: isingTask(15, 0.4), spec: { objective: "atb", alpha: 0, cv: "learned" } },
  {
    name: "akl-optvector-D225",
    task: isingTask(15, 0.4),
    spec: { objective: "akl", alpha: 0, cv: "opt-vector" },
  },
];

const cmd = benchCommand("bench", "milliseconds per training step and GFLOP/s of the paper MLP (B = 256)")
  .addOption(new Option("--backend <name>", "compute backend").choices(BACKENDS).default("auto"))
  .option("--threads <n>", "OpenBLAS threads (blas backend)", positiveInt)
  .option("--steps <n>", "measured steps per case", positiveInt, 5)
  .option("--warmup <n>", "steps before measuring", nonNegativeInt, 2)
  .option(
    "--case <name>",
    "run only this case (repeatable; default: all)",
    (v: string, p: string[] = []) => [...p, v],
  )
  .option("--json", "one JSON object per case")
  .addHelpText(
    "after",
    `\nCases:\n${
      CASES.map((c) => `  ${c.name.padEnd(20)} D = ${c.task.D}, ${c.spec.objective}, cv ${c.spec.cv}`).join(
        "\n",
      )
    }`,
  );
const values = parseBench<
  { backend: string; threads?: number; steps: number; warmup: number; case?: string[]; json?: boolean }
>(cmd);
for (const name of values.case ?? []) {
  if (!CASES.some((c) => c.name === name)) {
    benchUsageError(
      `unknown --case "${name}"${suggest(name, CASES.map((c) => c.name))}; cases: ${
        CASES.map((c) => c.name).join(", ")
      }`,
    );
  }
}

/** Wraps a GEMM to count FLOPs and time spent inside it. */
function counting(g: Gemm) {
  const stats = { flops: 0, ms: 0 };
  const gemm: Gemm = {
    name: g.name,
    gemm(ta, tb, m, n, k, a, b, c, beta) {
      const t = performance.now();
      g.gemm(ta, tb, m, n, k, a, b, c, beta);
      stats.ms += performance.now() - t;
      stats.flops += 2 * m * n * k;
    },
  };
  return { gemm, stats };
}

const base = await selectGemm(values.backend as Parameters<typeof selectGemm>[0], {
  threads: values.threads,
});
const B = 256;
const { steps, warmup } = values;
const selected = values.case?.length ? CASES.filter((c) => values.case!.includes(c.name)) : CASES;
if (!values.json) {
  console.log(
    `backend ${base.name}, B = ${B}, paper MLP (3×256, swish), median of ${steps} steps after ${warmup}`,
  );
  console.log("case                 D     ms/step   GFLOP/s  gemm share");
}
for (const c of selected) {
  const D = c.task.D;
  const rng = new Rng(0);
  const net = initMlp([D, 256, 256, 256, 2 * D], "swish", "he-uniform", rng.fork());
  const adam = new Adam(params(net), 1e-3);
  const { gemm, stats } = counting(base);
  const times: number[] = [], flops: number[] = [], shares: number[] = [];
  for (let i = 0; i < warmup + steps; i++) {
    stats.flops = 0;
    stats.ms = 0;
    const t = performance.now();
    const est = estimateGradient(preparePolicy(net), gemm, c.task, B, rng, c.spec, 0);
    adam.step(est.grads);
    const ms = performance.now() - t;
    if (i >= warmup) {
      times.push(ms);
      flops.push(stats.flops);
      shares.push(stats.ms / ms);
    }
  }
  const ms = median(times);
  const gflops = median(flops) / (ms / 1000) / 1e9;
  const share = median(shares);
  if (values.json) {
    console.log(
      JSON.stringify({ case: c.name, D, B, backend: base.name, ms_per_step: ms, gflops, gemm_share: share }),
    );
  } else {
    console.log(
      `${c.name.padEnd(20)} ${String(D).padStart(3)} ${ms.toFixed(1).padStart(11)} ${
        gflops.toFixed(1).padStart(9)
      }` +
        `  ${(100 * share).toFixed(0).padStart(5)}%`,
    );
  }
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
