/** `flowsweep train`: one training run, evaluation records as JSON lines or a readable table. */
import type { Command } from "commander";
import cliProgress from "cli-progress";
import process from "node:process";
import { ACTIVATIONS } from "../core/nn/mlp.ts";
import { objectiveParams } from "../core/objectives/registry.ts";
import { BACKEND_NAMES as BACKENDS } from "../backends/select.ts";

/** The device engine's backends (backends/device/select.ts; its own `auto` is not offered here: `auto` = CPU). */
import { DEVICE_JOB_BACKENDS as DEVICE_BACKENDS } from "../workers/train_job.ts";
import {
  ALPHA_SCHEDULES,
  CONTROL_VARIATES,
  type EvalRecord,
  OBJECTIVES,
  TASKS,
  type TrainConfig,
  TrainConfigSchema,
} from "../core/train/config.ts";
import { parseChoice, parseNumber, parsePositiveInt, UsageError } from "./usage.ts";
import { isDensityName } from "../core/tasks/densities.ts";
import { trainOverrides } from "../core/sweep/overrides.ts";
import { suggest } from "../core/sweep/spec.ts";
import {
  addDensityOptions,
  configErrorLine,
  type DensityFlags,
  densityRawFromFlags,
  prepareDensityRun,
} from "./train_density.ts";

interface TrainFlags extends DensityFlags {
  task: string;
  L: string;
  beta: string;
  objective: string;
  alpha: string;
  alphaSchedule: string;
  /** The objectives' parameters (core/objectives/registry.ts), by camel-cased config key. */
  [objectiveParam: string]: unknown;
  backwardPolicy: string;
  gridDim: string;
  gridSize: string;
  r0: string;
  r1: string;
  r2: string;
  cv: string;
  steps: string;
  batch: string;
  lr: string;
  lrLogz: string;
  hidden: string;
  activation: string;
  seed: string;
  seeds?: string;
  seedBatch?: string;
  evalEvery: string;
  evalSamples: string;
  backend: string;
  json?: boolean;
  out?: string;
  exact: boolean;
}

/** `div_alpha` → `--div-alpha` (flag) and `divAlpha` (commander's property). */
const flagOf = (key: string) => `--${key.replaceAll("_", "-")}`;
const propOf = (key: string) => key.replace(/_(.)/g, (_, c: string) => c.toUpperCase());

export function register(program: Command): void {
  const train = program
    .command("train")
    .summary("train one GFlowNet (Ising, 2D densities, hypergrid) and print evaluation records")
    .description(
      "Train one GFlowNet and print an evaluation record every --eval-every steps.\n" +
        "Records: step, seconds, e_logw (E_Q[log w]), log_z_hat; for D ≤ 12 also exact_log_z, exact_e_logw, " +
        "exact_kl (trajectory KL(Q‖P) = log Z − E_Q[log w]), exact_kl_terminal, exact_tv.",
    )
    .option("--task <name>", `task: ${TASKS.join("|")}`, "ising")
    .option("--L <n>", "Ising lattice side (D = L²)", "3")
    .option("--beta <x>", "Ising inverse temperature β (negative: antiferromagnetic)", "0.4")
    .option("--objective <name>", `training objective: ${OBJECTIVES.join("|")}`, "atb")
    .option("--alpha <x>", "backward ratio α ∈ [0,1] (share of backward trajectories / forward KL)", "0")
    .option(
      "--alpha-schedule <s>",
      `α schedule: ${ALPHA_SCHEDULES.join("|")} (anneal: α, then → 0 in 2nd half)`,
      "constant",
    )
    .option("--cv <name>", `control variate: ${CONTROL_VARIATES.join("|")}`, "learned");
  for (const p of objectiveParams()) train.option(`${flagOf(p.key)} <x>`, p.description);
  train
    .option("--grid-dim <d>", "hypergrid dimension d", "2")
    .option("--grid-size <H>", "hypergrid side H", "8")
    .option("--r0 <x>", "hypergrid reward R0 (> 0)", "0.001")
    .option("--r1 <x>", "hypergrid reward R1", "0.5")
    .option("--r2 <x>", "hypergrid reward R2", "2")
    .option(
      "--backward-policy <kind>",
      "backward policy P_B: uniform|learned (a network trained with the objective)",
      "uniform",
    )
    .option("--steps <n>", "training steps", "2000")
    .option("--batch <n>", "batch size B (trajectories per batch)", "256")
    .option("--lr <x>", "Adam learning rate of the policy", "0.001")
    .option("--lr-logz <x>", "Adam learning rate of log Z_ψ / c_ψ", "0.1")
    .option("--hidden <sizes>", "hidden layer sizes, comma separated", "256,256,256")
    .option("--activation <name>", `hidden activation: ${ACTIVATIONS.join("|")}`, "swish")
    .option("--seed <n>", "random seed", "0")
    .option(
      "--seeds <list>",
      "several runs, one per seed (comma separated, replaces --seed): each record carries its seed",
    )
    .option(
      "--seed-batch <K>",
      "with --seeds on a device backend: K seeds trained in one program (default: all of them)",
    )
    .option("--eval-every <n>", "steps between evaluations", "100")
    .option("--eval-samples <n>", "forward samples per evaluation (reference 4000)", "4000")
    .option(
      "--backend <name>",
      `compute backend: ${BACKENDS.join("|")} (CPU engine), or the device engine on ${
        DEVICE_BACKENDS.join("|")
      } ` +
        "(Ising, docs/device.md)",
      "auto",
    )
    .option("--no-exact", "skip exact metrics even when D ≤ 12")
    .option("--json", "print one JSON object per evaluation and a final summary object")
    .option("--out <file>", "also write the evaluation history as JSONL")
    .argument(
      "[overrides...]",
      "KEY=VALUE training options, as in a sweep's base (e.g. steps=200 hidden=[64,64])",
    )
    .action(async (overrides: string[], flags: TrainFlags) => {
      const config = trainConfigFromFlags(flags, overrides);
      const backend = parseChoice("--backend", flags.backend, [...BACKENDS, ...DEVICE_BACKENDS]);
      const seeds = trainSeeds(flags, backend, config);
      if (seeds) await runSeedsCommand(config, backend, flags, seeds);
      else await runTrainCommand(config, backend, flags);
    });
  addDensityOptions(program.commands.find((c) => c.name() === "train")!);
}

/** Turns CLI flags into a validated TrainConfig; every problem becomes a one-line UsageError. */
export function trainConfigFromFlags(f: TrainFlags, overrideTexts: readonly string[] = []): TrainConfig {
  let overrides: ReturnType<typeof trainOverrides>;
  try {
    overrides = trainOverrides(overrideTexts);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const hidden = f.hidden.split(",").map((h) => parsePositiveInt("--hidden", h.trim()));
  const alpha = parseNumber("--alpha", f.alpha);
  if (alpha < 0 || alpha > 1) throw new UsageError(`--alpha must be in [0, 1], got ${f.alpha}`);
  const L = parseNumber("--L", f.L);
  if (!Number.isInteger(L) || L < 2) throw new UsageError(`--L must be an integer ≥ 2, got "${f.L}"`);
  const raw = {
    task: parseChoice("--task", f.task, TASKS),
    L,
    beta: parseNumber("--beta", f.beta),
    objective: parseChoice("--objective", f.objective, OBJECTIVES),
    alpha,
    alpha_schedule: parseChoice("--alpha-schedule", f.alphaSchedule, ALPHA_SCHEDULES),
    cv: parseChoice("--cv", f.cv, CONTROL_VARIATES),
    ...Object.fromEntries(
      objectiveParams().filter((p) => f[propOf(p.key)] !== undefined)
        .map((p) => [p.key, parseNumber(flagOf(p.key), String(f[propOf(p.key)]))]),
    ),
    backward_policy: parseChoice("--backward-policy", f.backwardPolicy, ["uniform", "learned"] as const),
    grid_dim: parsePositiveInt("--grid-dim", f.gridDim),
    grid_size: parsePositiveInt("--grid-size", f.gridSize),
    r0: parsePositiveNumber("--r0", f.r0),
    r1: parseNumber("--r1", f.r1),
    r2: parseNumber("--r2", f.r2),
    steps: parsePositiveInt("--steps", f.steps),
    batch: parsePositiveInt("--batch", f.batch),
    lr: parsePositiveNumber("--lr", f.lr),
    lr_logz: parsePositiveNumber("--lr-logz", f.lrLogz),
    hidden,
    activation: parseChoice("--activation", f.activation, ACTIVATIONS),
    seed: parseNonNegativeInt("--seed", f.seed),
    eval_every: parsePositiveInt("--eval-every", f.evalEvery),
    eval_samples: parsePositiveInt("--eval-samples", f.evalSamples),
    ...densityRawFromFlags(f),
  };
  if (raw.batch < 2) throw new UsageError(`--batch must be at least 2, got ${raw.batch}`);
  const merged = { ...raw, ...overrides.raw };
  const checked = TrainConfigSchema.safeParse(merged);
  if (checked.success) return checked.data;
  // a problem with a key an override set names the override, as a sweep spec names its line
  for (const issue of checked.error.issues) {
    const keys = issue.code === "unrecognized_keys" ? issue.keys : [String(issue.path[0] ?? "")];
    const by = keys.map((k) => overrides.by.get(k)).find((t) => t !== undefined);
    if (by === undefined) continue;
    if (issue.code === "unrecognized_keys") {
      const k = keys.find((k) => overrides.by.has(k))!;
      throw new UsageError(
        `override ${by}: unknown training option "${k}"${suggest(k, Object.keys(TrainConfigSchema.shape))}`,
      );
    }
    throw new UsageError(`override ${by}: ${issue.path.join(".")}: ${issue.message}`);
  }
  throw new UsageError(`invalid configuration: ${configErrorLine(checked.error)}`);
}

function parsePositiveNumber(flag: string, raw: string): number {
  const v = parseNumber(flag, raw);
  if (v <= 0) throw new UsageError(`${flag} must be positive, got ${raw}`);
  return v;
}

function parseNonNegativeInt(flag: string, raw: string): number {
  const v = parseNumber(flag, raw);
  if (!Number.isInteger(v) || v < 0) {
    throw new UsageError(`${flag} must be a non-negative integer, got "${raw}"`);
  }
  return v;
}

/**
 * The engines a run needs: the CPU GEMM (the device engine evaluates on the host with the CPU engine's fastest
 * one) and, on a device backend, its tfjs (after checking the config runs there). Failures are usage errors.
 */
async function selectEngines(
  config: TrainConfig,
  backend: typeof BACKENDS[number] | typeof DEVICE_BACKENDS[number],
) {
  const device = (DEVICE_BACKENDS as readonly string[]).includes(backend);
  if (device) {
    const { deviceRunUnsupported } = await import("../backends/device/train.ts");
    const why = deviceRunUnsupported(config);
    if (why) throw new UsageError(`--backend ${backend}: ${why}`);
  }
  try {
    const { selectGemm } = await import("../backends/select.ts");
    const gemm = await selectGemm(device ? "auto" : backend as typeof BACKENDS[number]);
    if (!device) return { gemm, tf: undefined };
    const { selectDevice } = await import("../backends/device/select.ts");
    return { gemm, tf: (await selectDevice(backend as typeof DEVICE_BACKENDS[number])).tf };
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
}

async function runTrainCommand(
  config: TrainConfig,
  backend: typeof BACKENDS[number] | typeof DEVICE_BACKENDS[number],
  flags: TrainFlags,
) {
  const { gemm, tf: deviceTf } = await selectEngines(config, backend);
  if (config.alpha > 0 && !isDensityName(config.task)) {
    const { makeTaskRuntime } = await import("../core/train/tasks.ts");
    if (!makeTaskRuntime(config, { exact: false }).sampler.hasData) {
      throw new UsageError(
        `α > 0 needs data (backward trajectories); task ${config.task} has none at this size`,
      );
    }
  }
  const density = await prepareDensityRun(config, flags, gemm);
  const { trainRun } = await import("../core/train/trainer.ts");
  const out = flags.out ? await Deno.open(flags.out, { write: true, create: true, truncate: true }) : null;
  const enc = new TextEncoder();
  const bar = !flags.json && Deno.stderr.isTerminal()
    ? new cliProgress.SingleBar({
      format: "train |{bar}| {value}/{total} steps | {eta_formatted} left | E[log w] {elogw}",
      stream: process.stderr,
    }, cliProgress.Presets.shades_classic)
    : null;
  bar?.start(config.steps, 0, { elogw: "—" });
  const abort = new AbortController();
  const onSigint = () => abort.abort(new DOMException("interrupted", "AbortError"));
  Deno.addSignalListener("SIGINT", onSigint);
  const show = (r: EvalRecord) => {
    const line = JSON.stringify(r);
    out?.writeSync(enc.encode(line + "\n"));
    if (flags.json) console.log(line);
    else if (bar) bar.update({ elogw: r.e_logw.toFixed(3) });
    else console.log(formatRecord(r));
  };
  try {
    const summary = deviceTf
      ? await (await import("../backends/device/train.ts")).deviceTrainRun(deviceTf, backend, config, {
        gemm,
        exact: flags.exact,
        signal: abort.signal,
        onEval: show,
        onStep: (s) => bar?.update(s),
      })
      : await trainRun(config, {
        gemm,
        exact: flags.exact,
        ...density,
        signal: abort.signal,
        onEval: show,
        onStep: (s) => bar?.update(s),
      });
    bar?.stop();
    if (bar) console.log(formatRecord(summary));
    if (flags.json) console.log(JSON.stringify(summary));
    else {console.log(
        `done: ${summary.steps} steps, ${summary.ms_per_step.toFixed(1)} ms/step on ${summary.backend}`,
      );}
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
    out?.close();
  }
}

/**
 * `--seeds` and `--seed-batch`, checked: the seeds (distinct non-negative integers) in chunks of the seed batch
 * (all at once by default on a device backend, one at a time on the CPU engine), or null without `--seeds`.
 */
export function trainSeeds(
  f: Pick<TrainFlags, "seeds" | "seedBatch">,
  backend: string,
  config: Pick<TrainConfig, "task">,
): number[][] | null {
  const device = (DEVICE_BACKENDS as readonly string[]).includes(backend);
  if (f.seeds === undefined) {
    if (f.seedBatch !== undefined) throw new UsageError("--seed-batch needs --seeds (the seeds to batch)");
    return null;
  }
  const seeds = f.seeds.split(",").map((s) => parseNonNegativeInt("--seeds", s.trim()));
  if (new Set(seeds).size !== seeds.length) throw new UsageError(`--seeds lists a seed twice: ${f.seeds}`);
  let K = device ? seeds.length : 1;
  if (f.seedBatch !== undefined) {
    if (!device) {
      throw new UsageError(
        `--seed-batch needs a device backend (${DEVICE_BACKENDS.join("|")}); backend ${backend} trains one ` +
          "seed at a time",
      );
    }
    K = parsePositiveInt("--seed-batch", f.seedBatch);
  }
  if (isDensityName(config.task)) {
    throw new UsageError(`--seeds: task ${config.task} trains one seed per run (use a sweep with seeds:)`);
  }
  const chunks: number[][] = [];
  for (let i = 0; i < seeds.length; i += K) chunks.push(seeds.slice(i, i + K));
  return chunks;
}

/** `--seeds`: the runs of several seeds (device: `seed_batch` at a time in one program), records tagged `seed`. */
async function runSeedsCommand(
  config: TrainConfig,
  backend: typeof BACKENDS[number] | typeof DEVICE_BACKENDS[number],
  flags: TrainFlags,
  chunks: number[][],
) {
  const { gemm, tf } = await selectEngines(config, backend);
  const out = flags.out ? await Deno.open(flags.out, { write: true, create: true, truncate: true }) : null;
  const enc = new TextEncoder();
  const abort = new AbortController();
  const onSigint = () => abort.abort(new DOMException("interrupted", "AbortError"));
  Deno.addSignalListener("SIGINT", onSigint);
  const show = (seed: number, r: EvalRecord) => {
    const line = JSON.stringify({ seed, ...r });
    out?.writeSync(enc.encode(line + "\n"));
    console.log(flags.json ? line : `seed ${seed}  ${formatRecord(r)}`);
  };
  try {
    for (const chunk of chunks) {
      let summaries;
      if (tf) {
        const { deviceTrainSeedsRun } = await import("../backends/device/train.ts");
        summaries = await deviceTrainSeedsRun(tf, backend, config, chunk, {
          gemm,
          exact: flags.exact,
          signal: abort.signal,
          onEval: (k, r) => show(chunk[k], r),
        });
      } else {
        const { trainRun } = await import("../core/train/trainer.ts");
        summaries = [
          await trainRun({ ...config, seed: chunk[0] }, {
            gemm,
            exact: flags.exact,
            signal: abort.signal,
            onEval: (r) => show(chunk[0], r),
          }),
        ];
      }
      summaries.forEach((s, k) => {
        if (flags.json) console.log(JSON.stringify({ seed: chunk[k], ...s }));
        else {
          console.log(
            `seed ${chunk[k]} done: ${s.steps} steps, ${s.ms_per_step.toFixed(1)} ms/step on ${s.backend}` +
              (chunk.length > 1 ? ` (${chunk.length} seeds in one program)` : ""),
          );
        }
      });
    }
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
    out?.close();
  }
}

function formatRecord(r: EvalRecord): string {
  const parts = [`step ${r.step}`, `${r.seconds.toFixed(1)}s`, `E[log w] ${r.e_logw.toFixed(4)}`];
  parts.push(`log Ẑ ${r.log_z_hat.toFixed(4)}`);
  if (r.exact_log_z !== undefined) parts.push(`log Z ${r.exact_log_z.toFixed(4)}`);
  if (r.exact_kl !== undefined) parts.push(`KL(Q‖P) ${r.exact_kl.toFixed(5)}`);
  if (r.exact_kl_terminal !== undefined) parts.push(`KL(Q_T‖π) ${r.exact_kl_terminal.toFixed(5)}`);
  if (typeof r.nll === "number") parts.push(`NLL ${r.nll.toFixed(4)}`);
  if (typeof r.mmd === "number") parts.push(`MMD ${r.mmd.toExponential(3)}`);
  return parts.join("  ");
}
