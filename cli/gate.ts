/**
 * `gate RUN_DIR --baseline FILE [--update-baseline] [--markdown FILE]... [--json]`: the regression gate
 * (core/sweep/gate.ts, docs/regression.md).
 *
 * Compares a finished run with a baseline file, cell by cell, for the metrics the spec's `gate:` section names.
 * Exit 0: no regression (significant improvements are listed); 1: regression (cells named with baseline vs
 * now, effect size and Holm-adjusted p); 2: cannot compare (one line: other spec hash, failed or unfinished
 * jobs, missing cells or metrics, no `gate:` section, unreadable files). `--update-baseline` writes FILE from
 * the run instead (per cell the per-seed values, commit, environment, spec hash, backend).
 */
import type { Command } from "commander";
import { hasStore } from "../coordinator/rundir.ts";
import { openStore } from "../coordinator/store.ts";
import type { JobRecord } from "../core/sweep/job.ts";
import {
  type Baseline,
  BASELINE_FORMAT,
  cannotCompare,
  cannotCompareMarkdown,
  cellAxes,
  collectCells,
  compareToBaseline,
  constantChanges,
  formatBaseline,
  gateInputs,
  type GateOutcome,
  type GateSpec,
  parseBaseline,
  runConstants,
  verdictMarkdown,
  verdictText,
} from "../core/sweep/gate.ts";
import { UsageError } from "./usage.ts";

interface GateFlags {
  baseline: string;
  updateBaseline?: boolean;
  markdown?: string[];
  json?: boolean;
}

export function register(program: Command): void {
  program
    .command("gate")
    .description(
      "regression gate: compare a finished run with a baseline (exit 0 ok, 1 regressed, 2 cannot compare)",
    )
    .argument("<runDir>", "run directory of a finished sweep whose spec has a gate: section")
    .requiredOption("--baseline <file>", "baseline JSON, e.g. sweeps/baselines/regression.json")
    .option("--update-baseline", "write the baseline file from this run instead of comparing")
    .option(
      "--markdown <file>",
      'append the verdict as Markdown to this file (repeatable; e.g. "$GITHUB_STEP_SUMMARY")',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option("--json", "print the comparison as JSON instead of text")
    .addHelpText(
      "after",
      `
Per cell (report group) and gated metric: a one-sided Welch t test over seeds, shifted by the metric's
tolerance, Holm-adjusted over every cell × metric at the spec's alpha. Directions: lower, higher, or closer
(to a target metric of the same job, e.g. e_logw closer to exact_log_z). See docs/regression.md.`,
    )
    .action(async (runDir: string, flags: GateFlags) => {
      const code = await gateCommand(runDir, flags);
      if (code !== 0) Deno.exit(code);
    });
}

/** What the gate reads from a run directory. */
interface RunData {
  sweep: string;
  specHash: string | null;
  gate: GateSpec | null;
  records: JobRecord[];
  varied?: string[];
}

function readRun(runDir: string): RunData {
  if (!hasStore(runDir)) throw new UsageError(`${runDir} holds no sweep (no results.sqlite)`);
  const st = openStore(runDir, { readOnly: true });
  try {
    const meta = st.meta();
    const gate = st.value("gate") as GateSpec | undefined;
    const hash = st.value("spec_hash");
    const varied = st.value("varied");
    return {
      sweep: meta?.name ?? "",
      specHash: typeof hash === "string" ? hash : null,
      gate: gate && Array.isArray(gate.metrics) ? gate : null,
      records: st.records(),
      varied: Array.isArray(varied) ? varied.map(String) : undefined,
    };
  } finally {
    st.close();
  }
}

/** The git commit of the working directory (`-dirty` with uncommitted changes to tracked files), or "unknown". */
function gitCommit(): string {
  try {
    const run = (args: string[]) => {
      const out = new Deno.Command("git", { args, stdout: "piped", stderr: "null" }).outputSync();
      if (!out.success) throw new Error(args.join(" "));
      return new TextDecoder().decode(out.stdout).trim();
    };
    const head = run(["rev-parse", "HEAD"]);
    return run(["status", "--porcelain", "--untracked-files=no"]) ? `${head}-dirty` : head;
  } catch {
    return "unknown";
  }
}

function backends(records: readonly JobRecord[]): string[] {
  const s = new Set<string>();
  for (const r of records) if (typeof r.final?.backend === "string") s.add(r.final.backend);
  return [...s].sort();
}

async function appendMarkdown(files: readonly string[] | undefined, text: string): Promise<void> {
  for (const f of files ?? []) {
    try {
      const slash = f.lastIndexOf("/");
      if (slash > 0) await Deno.mkdir(f.slice(0, slash), { recursive: true });
      await Deno.writeTextFile(f, text + "\n", { append: true, create: true });
    } catch (err) {
      throw new UsageError(`cannot write --markdown ${f}: ${err instanceof Error ? err.message : err}`);
    }
  }
}

/** Writes FILE from a finished run; returns an error line instead when the run cannot serve as a baseline. */
export async function writeBaseline(runDir: string, file: string): Promise<string | null> {
  const run = readRun(runDir);
  if (!run.gate) return `the spec of ${runDir} has no gate: section (nothing to put in a baseline)`;
  if (run.specHash === null) return `${runDir} records no spec hash (run it with this version)`;
  const axes = cellAxes(run.records, run.varied);
  const cells = collectCells(run.records, axes, gateInputs(run.gate));
  const baseline: Baseline = {
    format: BASELINE_FORMAT,
    sweep: run.sweep,
    specHash: run.specHash,
    commit: gitCommit(),
    createdAt: new Date().toISOString(),
    environment: {
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      os: Deno.build.os,
      arch: Deno.build.arch,
      cpus: navigator.hardwareConcurrency ?? 0,
    },
    backend: backends(run.records),
    gate: run.gate,
    constants: runConstants(run.records),
    cells,
  };
  // A baseline must itself be comparable: every job done, every cell with ≥ 2 seeds per gated quantity.
  const problem = cannotCompare(run.gate, baseline, { ...run, cells });
  if (problem) return problem;
  try {
    await Deno.writeTextFile(file, formatBaseline(baseline));
  } catch (err) {
    return `cannot write ${file}: ${err instanceof Error ? err.message : err}`;
  }
  const n = baseline.cells.reduce((a, c) => a + c.seeds.length, 0);
  console.error(
    `gate: wrote ${file}: ${cells.length} cells × ${run.gate.metrics.length} metrics, ${n} jobs, spec hash ` +
      `${baseline.specHash}, commit ${baseline.commit.slice(0, 12)}, backend ${baseline.backend.join("+")}`,
  );
  return null;
}

export async function gateCommand(runDir: string, flags: GateFlags): Promise<number> {
  if (flags.updateBaseline) {
    const problem = await writeBaseline(runDir, flags.baseline);
    if (problem) {
      console.error(`gate: cannot write a baseline: ${problem}`);
      return 2;
    }
    return 0;
  }
  let text: string;
  try {
    text = await Deno.readTextFile(flags.baseline);
  } catch (err) {
    throw new UsageError(
      `cannot read baseline ${flags.baseline}: ${err instanceof Error ? err.message : err}`,
    );
  }
  const run = readRun(runDir);
  const refuse = async (reason: string) => {
    console.error(`gate: cannot compare: ${reason}`);
    await appendMarkdown(flags.markdown, cannotCompareMarkdown(run.sweep || runDir, reason));
    return 2;
  };
  let baseline: Baseline;
  try {
    baseline = parseBaseline(text);
  } catch (err) {
    return await refuse(`baseline ${flags.baseline} is not a flowsweep baseline: ${(err as Error).message}`);
  }
  if (!run.gate) return await refuse(`the spec of ${runDir} has no gate: section`);
  // The baseline fixes what a cell is (same spec hash: same axes), so a run short of a cell still names it.
  const axes = [...new Set(baseline.cells.flatMap((c) => Object.keys(c.axes ?? {})))];
  const cells = collectCells(run.records, axes, gateInputs(run.gate));
  const problem = cannotCompare(run.gate, baseline, { ...run, cells });
  if (problem) return await refuse(problem);

  const outcome = compareToBaseline(run.gate, baseline, cells);
  const runBackend = backends(run.records);
  const notes: string[] = [];
  if (baseline.backend.join("+") !== runBackend.join("+")) {
    notes.push(`backend differs: baseline ${baseline.backend.join("+") || "?"}, run ${runBackend.join("+")}`);
  }
  const changed = constantChanges(baseline.constants, runConstants(run.records));
  if (changed.length) notes.push(`resolved config differs from the baseline's: ${changed.join("; ")}`);
  const ctx = { sweep: run.sweep, baselineFile: flags.baseline, baseline, runDir, runBackend, notes };
  if (flags.json) console.log(JSON.stringify(jsonOutcome(outcome, ctx.notes)));
  else console.log(verdictText(outcome, ctx));
  await appendMarkdown(flags.markdown, verdictMarkdown(outcome, ctx));
  return outcome.status === "regressed" ? 1 : 0;
}

function jsonOutcome(o: GateOutcome, notes: string[]) {
  const std = (s: { variance: number }) => Math.sqrt(s.variance);
  return {
    status: o.status,
    alpha: o.alpha,
    tests: o.tests,
    notes,
    comparisons: o.comparisons.map((c) => ({
      cell: c.cell,
      axes: c.axes,
      metric: c.metric,
      quantity: c.quantity,
      direction: c.direction,
      baseline: { mean: c.baseline.mean, std: std(c.baseline), n: c.baseline.n },
      now: { mean: c.now.mean, std: std(c.now), n: c.now.n },
      worse: c.worse,
      rel_worse: c.relWorse,
      d: c.d,
      tolerance: c.tolerance,
      p_worse: c.pWorse,
      p_worse_holm: c.pWorseHolm,
      p_better: c.pBetter,
      p_better_holm: c.pBetterHolm,
      verdict: c.verdict,
    })),
  };
}
