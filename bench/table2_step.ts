/**
 * Per-step cost of the paper's Table 2 runs (2D densities, D = 2·bits, paper MLPs): a learned-energy step
 * (GFlowNet update + back-and-forth MH negatives + CD update of the energy) and a fixed-energy step, and the
 * cost of one IS-NLL evaluation (Eq. 7) and one MMD. Prints figures; used for docs/table2-profile.md.
 *
 *   npx -y deno@2 run -A bench/table2_step.ts [--backend blas] [--steps 10] [--batch 256] [--bits 16] [--alpha 0.5]
 *                                            [--objective atb] [--task 2spirals] [--json]
 * The K schedule runs over --steps, so the learned step's mean K is ≈ D/2, as over a whole run.
 */
import { InvalidArgumentError, Option } from "commander";
import { benchCommand, parseBench, positiveInt } from "./cli.ts";
import { BACKEND_NAMES as BACKENDS } from "../backends/select.ts";
import { DENSITY_NAMES } from "../core/tasks/densities.ts";
import { selectGemm } from "../backends/select.ts";
import { parseTrainConfig } from "../core/train/config.ts";
import { trainRun } from "../core/train/trainer.ts";
import { initEnergy } from "../core/energy/model.ts";
import { energyCheckpoint } from "../core/energy/checkpoint.ts";
import { makeScheme } from "../core/tasks/discretise.ts";
import { initMlp } from "../core/nn/mlp.ts";
import { preparePolicy, runTrajectories } from "../core/gfn/trajectories.ts";
import { Rng } from "../core/rng.ts";
import { isLogLikelihoods } from "../core/eval/nll.ts";
import { mmdExpHamming } from "../core/eval/mmd.ts";

const v = parseBench<
  {
    backend: string;
    steps: number;
    batch: number;
    bits: number;
    alpha: number;
    objective: string;
    task: string;
    json?: boolean;
  }
>(
  benchCommand(
    "table2_step.ts",
    "per-step cost of the paper's Table 2 runs (learned and fixed energy), IS NLL and MMD",
  )
    .addOption(new Option("--backend <name>", "compute backend").choices(BACKENDS).default("blas"))
    .option("--steps <n>", "steps measured", positiveInt, 10)
    .option("--batch <n>", "batch size", positiveInt, 256)
    .option("--bits <n>", "bits per coordinate (D = 2·bits)", positiveInt, 16)
    .option("--alpha <x>", "backward ratio α", (x: string) => {
      const a = Number(x);
      if (x.trim() === "" || !(a >= 0 && a <= 1)) {
        throw new InvalidArgumentError(`must be in [0, 1], got "${x}"`);
      }
      return a;
    }, 0.5)
    .addOption(new Option("--objective <name>", "objective").choices(["atb", "akl"]).default("atb"))
    .addOption(new Option("--task <name>", "2D density").choices(DENSITY_NAMES).default("2spirals"))
    .option("--json", "one JSON object"),
);
const gemm = await selectGemm(v.backend as "blas");
const { steps, batch, bits } = v;
const base = {
  task: v.task,
  bits,
  objective: v.objective,
  alpha: v.alpha,
  cv: "learned",
  steps,
  batch,
  eval_every: 1_000_000,
  eval_samples: 2,
  nll_points: 0,
  mmd_samples: 0,
  seed: 0,
};
const load = () => {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).map(Number);
  } catch {
    return [];
  }
};
const loadBefore = load();
const learned = await trainRun(parseTrainConfig({ ...base, energy: "learned" }), { gemm, exact: false });
const scheme = makeScheme(v.task as string, bits);
const net = initEnergy(scheme.D, [256, 256, 256], new Rng(1));
const energy = {
  checkpoint: energyCheckpoint(net, { task: v.task as string, bits, intScale: scheme.intScale, config: {} }),
  net,
};
const fixed = await trainRun(parseTrainConfig({ ...base, energy: "fixed" }), { gemm, energy, exact: false });

// evaluation: IS NLL on 1000 points × 20 trajectories, MMD on 4000 × 4000
const D = scheme.D;
const pol = preparePolicy(initMlp([D, 256, 256, 256, 2 * D], "swish", "he-uniform", new Rng(2)));
const rng = new Rng(3);
const pts = runTrajectories(pol, gemm, 1000, rng, { cache: false }).x;
let t = performance.now();
isLogLikelihoods(pol, gemm, pts, 1000, 20, rng);
const nllMsPer1000 = performance.now() - t;
const a = runTrajectories(pol, gemm, 4000, rng, { cache: false }).x;
const b = runTrajectories(pol, gemm, 4000, rng, { cache: false }).x;
t = performance.now();
mmdExpHamming(a, 4000, b, 4000, D);
const mmdMs = performance.now() - t;

const out = {
  backend: gemm.name,
  task: v.task,
  D,
  batch,
  steps,
  alpha: v.alpha,
  objective: v.objective,
  learned_ms_per_step: learned.ms_per_step,
  fixed_ms_per_step: fixed.ms_per_step,
  nll_eval_ms_per_1000_points_x20: nllMsPer1000,
  mmd_ms_4000x4000: mmdMs,
  loadavg_before: loadBefore,
  loadavg_after: load(),
};
if (v.json) console.log(JSON.stringify(out));
else {for (const [k, x] of Object.entries(out)) {
    console.log(`${k.padEnd(34)} ${typeof x === "number" ? x.toFixed(1) : x}`);
  }}
