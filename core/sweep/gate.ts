/**
 * The regression gate (docs/regression.md): compares a finished sweep run with a stored baseline, cell by
 * cell, and says "regressed", "no regression" or "cannot compare". Pure: records and baselines in, verdicts
 * and text out; the CLI (cli/gate.ts) reads and writes the files.
 *
 * - A cell is one group of the report: the jobs that share every varied key of the spec except the seed.
 * - Each gated metric has a direction. `lower` (exact_kl, exact_tv, nll, …) and `higher` compare the metric
 *   itself; `closer` compares the per-seed distance |target − metric| (e_logw closer to exact_log_z).
 *   The compared quantity is oriented so that larger is worse.
 * - Per cell and metric, a one-sided Welch t test over seeds shifted by the practical tolerance δ
 *   (core/stats/welch.ts) asks "worse by more than δ?", another "better by more than δ?". δ = max(tolerance,
 *   rel_tolerance · |baseline mean|).
 * - The p-values of all cells × metrics form one family, adjusted with Holm (core/stats/holm.ts): the chance
 *   that a rerun of unchanged code is called a regression anywhere is at most α. Improvements are a second
 *   family, reported so a maintainer knows when to refresh the baseline.
 * - A baseline records the spec hash (`specHash`), the per-seed values of every cell, the commit, the
 *   environment and the backend; a baseline of another spec hash cannot be compared.
 */
import type { JobRecord } from "./job.ts";
import type { SweepSpec } from "./spec.ts";
import { canonicalJson } from "../canonical.ts";
import { sha256Hex } from "../sha256.ts";
import { formatAxisValue, varyingAxes } from "./aggregate.ts";
import { holmAdjust } from "../stats/holm.ts";
import { cohensD, type Sample, sample, welchGreater } from "../stats/welch.ts";

// What is gated: core/sweep/gate_spec.ts
export {
  DEFAULT_ALPHA,
  DEFAULT_DIRECTIONS,
  type Direction,
  DIRECTIONS,
  gateInputs,
  type GateMetric,
  type GateSpec,
  quantityName,
} from "./gate_spec.ts";
import { DEFAULT_ALPHA, type Direction, type GateMetric, type GateSpec, quantityName } from "./gate_spec.ts";

// ---------------------------------------------------------------------------------------------------------
// Spec hash

/**
 * SHA-256 (first 16 hex digits) of what a spec measures: name, kind, base, matrix, exclusions, inclusions and
 * stages as parsed (values only, no positions). Not hashed: description, seeds (a rerun with other seeds
 * is the same experiment), max_attempts, report layouts and the gate section itself. Defaults that the code
 * fills in are not part of it: a changed default is a change of the code, which is what the gate is for.
 */
export function specHash(spec: SweepSpec): string {
  const values = (a: Map<string, { value: unknown }>) =>
    Object.fromEntries([...a].map(([k, v]) => [k, v.value]));
  const axes = (l: SweepSpec["matrix"]) =>
    l.map((a) => ({ key: a.key, values: a.values.map((v) => v.value) }));
  const content = {
    name: spec.name,
    kind: spec.kind.value,
    base: values(spec.base),
    matrix: axes(spec.matrix),
    exclude: spec.exclude.map((r) => values(r.entries)),
    include: spec.include.map((e) => ({ stage: e.stage?.value, values: values(e.values) })),
    stages: spec.stages.map((st) => ({
      name: st.name,
      kind: st.kind?.value,
      set: values(st.set),
      matrix: axes(st.matrix),
      needs: st.needs.map((n) => n.value),
      match: st.match?.value,
      inputs: values(st.inputs),
      artifacts: st.artifacts.map((a) => a.value),
    })),
  };
  return sha256Hex(canonicalJson(content)).slice(0, 16);
}

// ---------------------------------------------------------------------------------------------------------
// Cells and baselines

/** One cell's per-seed values: `values[metric][i]` belongs to `seeds[i]` (null: the job did not report it). */
export interface CellValues {
  /** Canonical JSON of `axes`: the cell's identity. */
  key: string;
  /** `objective=akl, cv=learned, beta=0.4`. */
  label: string;
  axes: Record<string, unknown>;
  seeds: number[];
  values: Record<string, (number | null)[]>;
}

export const BASELINE_FORMAT = "flowsweep-baseline/1";

/** A baseline file (sweeps/baselines/*.json): small, reviewable, one line of values per cell and metric. */
export interface Baseline {
  format: typeof BASELINE_FORMAT;
  sweep: string;
  specHash: string;
  /** Git commit the values came from (`-dirty` when the work tree had changes), or "unknown". */
  commit: string;
  createdAt: string;
  /** Deno/V8 version, OS, arch, cores: where the values came from. */
  environment: Record<string, string | number>;
  /** Compute backends the jobs reported. */
  backend: string[];
  /** The gate section the baseline was written for (for reviewers; the run's spec decides what is gated). */
  gate: GateSpec;
  /** Resolved config keys with one value across the run (lr, steps, …): what a code default change shows in. */
  constants: Record<string, unknown>;
  cells: CellValues[];
}

/**
 * The keys that identify a cell: what the spec varies (minus the seed) and takes more than one value within a
 * stage, plus the stage itself when the run has several (keys a stage `set`s are then implied by it).
 */
export function cellAxes(records: readonly JobRecord[], varied?: readonly string[]): string[] {
  const stages = new Map<string, JobRecord[]>();
  for (const r of records) stages.set(r.stage, [...(stages.get(r.stage) ?? []), r]);
  const within = new Set([...stages.values()].flatMap((recs) => varyingAxes(recs).axes));
  const axes = (varied ?? varyingAxes(records).axes).filter((k) => k !== "seed" && within.has(k));
  return stages.size > 1 ? ["stage", ...axes] : axes;
}

function axisOf(r: JobRecord, k: string): unknown {
  return k === "stage" ? r.stage : r.config[k];
}

/** Per-cell, per-seed values of `metrics` from the finished records, cells in the order they first appear. */
export function collectCells(
  records: readonly JobRecord[],
  axes: readonly string[],
  metrics: readonly string[],
) {
  const cells = new Map<string, CellValues>();
  for (const r of records) {
    if (r.status !== "done") continue;
    const ax: Record<string, unknown> = {};
    for (const k of axes) ax[k] = axisOf(r, k);
    const key = canonicalJson(ax);
    let c = cells.get(key);
    if (!c) {
      const label = axes.filter((k) => ax[k] !== undefined).map((k) => `${k}=${formatAxisValue(ax[k])}`)
        .join(", ") || "all";
      c = { key, label, axes: ax, seeds: [], values: Object.fromEntries(metrics.map((m) => [m, []])) };
      cells.set(key, c);
    }
    c.seeds.push(typeof r.config.seed === "number" ? r.config.seed : c.seeds.length);
    for (const m of metrics) {
      const v = r.final?.[m];
      c.values[m].push(typeof v === "number" && Number.isFinite(v) ? v : null);
    }
  }
  return [...cells.values()];
}

/**
 * Config keys with a single value over the run's records (per stage, as `stage.key`, when there are several
 * stages): where a changed code default (lr, …) shows up.
 */
export function runConstants(records: readonly JobRecord[]): Record<string, unknown> {
  const stages = [...new Set(records.map((r) => r.stage))];
  if (stages.length < 2) return varyingAxes(records).constants;
  const out: Record<string, unknown> = {};
  for (const st of stages) {
    const c = varyingAxes(records.filter((r) => r.stage === st)).constants;
    for (const [k, v] of Object.entries(c)) out[`${st}.${k}`] = v;
  }
  return out;
}

/**
 * Writes a baseline as JSON: two-space indent, each list of numbers on one line (reviewable diffs; deno fmt
 * leaves sweeps/baselines/ alone, deno.json, so the file stays as the gate writes it).
 */
export function formatBaseline(b: Baseline): string {
  const scalar = String.raw`(?:-?[0-9.eE+-]+|null|"[^"\\,\[\]{}]*")`;
  const list = new RegExp(String.raw`\[\s*(${scalar}(?:,\s*${scalar})*)\s*\]`, "g");
  return JSON.stringify(b, null, 2).replace(
    list,
    (_m, items: string) => `[${items.split(/,\s*/).join(", ")}]`,
  ) +
    "\n";
}

/** Parses and checks a baseline file's text; throws an Error with a one-line message. */
export function parseBaseline(text: string): Baseline {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`not JSON (${err instanceof Error ? err.message.split("\n")[0] : err})`);
  }
  const o = raw as Record<string, unknown>;
  if (o === null || typeof o !== "object" || Array.isArray(o)) throw new Error("not a JSON object");
  if (o.format !== BASELINE_FORMAT) {
    throw new Error(`"format" must be "${BASELINE_FORMAT}", got ${JSON.stringify(o.format)}`);
  }
  for (const k of ["sweep", "specHash", "commit", "createdAt"]) {
    if (typeof o[k] !== "string" || o[k] === "") throw new Error(`"${k}" must be a non-empty string`);
  }
  if (!Array.isArray(o.cells) || o.cells.length === 0) throw new Error(`"cells" must be a non-empty list`);
  (o.cells as unknown[]).forEach((c, i) => {
    const cell = c as Record<string, unknown>;
    const where = `cells[${i}]`;
    if (cell === null || typeof cell !== "object") throw new Error(`${where} must be an object`);
    if (typeof cell.key !== "string" || typeof cell.label !== "string") {
      throw new Error(`${where} needs "key" and "label" strings`);
    }
    if (cell.axes === null || typeof cell.axes !== "object" || Array.isArray(cell.axes)) {
      throw new Error(`${where}.axes must be an object`);
    }
    if (!Array.isArray(cell.seeds) || !cell.seeds.every((s) => Number.isInteger(s))) {
      throw new Error(`${where}.seeds must be a list of integers`);
    }
    const vals = cell.values as Record<string, unknown>;
    if (vals === null || typeof vals !== "object") throw new Error(`${where}.values must be an object`);
    for (const [m, l] of Object.entries(vals)) {
      if (
        !Array.isArray(l) || l.length !== cell.seeds.length ||
        !l.every((v) => v === null || (typeof v === "number" && Number.isFinite(v)))
      ) {
        throw new Error(`${where}.values.${m} must list one number (or null) per seed`);
      }
    }
  });
  const b = o as unknown as Baseline;
  return {
    ...b,
    environment: b.environment ?? {},
    backend: Array.isArray(b.backend) ? b.backend : [],
    constants: b.constants ?? {},
    gate: b.gate ?? { alpha: DEFAULT_ALPHA, metrics: [] },
  };
}

// ---------------------------------------------------------------------------------------------------------
// Can the run be compared at all?

export interface RunFacts {
  sweep: string;
  /** The run's spec hash (null when the run directory does not record one). */
  specHash: string | null;
  records: readonly JobRecord[];
  cells: CellValues[];
}

function listLabels(labels: string[], max = 3): string {
  const shown = labels.slice(0, max).map((l) => `(${l})`).join(", ");
  return labels.length > max ? `${shown} and ${labels.length - max} more` : shown;
}

/** Why the run cannot be compared with the baseline (one line), or null when it can. */
export function cannotCompare(gate: GateSpec, baseline: Baseline, run: RunFacts): string | null {
  if (baseline.sweep !== run.sweep) {
    return `the baseline is of sweep "${baseline.sweep}", the run of sweep "${run.sweep}"`;
  }
  if (run.specHash === null) return "the run directory records no spec hash (run it with this version)";
  if (baseline.specHash !== run.specHash) {
    return `the baseline is of spec hash ${baseline.specHash} (commit ${
      baseline.commit.slice(0, 12)
    }), the ` +
      `run's spec hashes to ${run.specHash}: the spec changed; refresh the baseline (gate --update-baseline)`;
  }
  const failed = run.records.filter((r) => r.status === "failed" || r.status === "cancelled");
  if (failed.length) {
    const e = failed[0];
    return `${failed.length} of ${run.records.length} jobs failed (first: ${e.id}: ${
      (e.error ?? e.status).split("\n")[0]
    }); rerun them (sweep --rerun-failed) before gating`;
  }
  const open = run.records.filter((r) => r.status !== "done");
  if (open.length) {
    return `${open.length} of ${run.records.length} jobs have not finished (${open[0].status}); ` +
      `finish the run (sweep --resume) before gating`;
  }
  const have = new Set(run.cells.map((c) => c.key));
  const want = new Set(baseline.cells.map((c) => c.key));
  const missing = baseline.cells.filter((c) => !have.has(c.key)).map((c) => c.label);
  if (missing.length) {
    return `${missing.length} baseline cell(s) missing from the run: ${listLabels(missing)}`;
  }
  const extra = run.cells.filter((c) => !want.has(c.key)).map((c) => c.label);
  if (extra.length) return `${extra.length} run cell(s) not in the baseline: ${listLabels(extra)}`;
  const runByKey = new Map(run.cells.map((c) => [c.key, c]));
  for (const m of gate.metrics) {
    for (const b of baseline.cells) {
      const r = runByKey.get(b.key)!;
      for (const [side, cell] of [["baseline", b], ["run", r]] as const) {
        const n = quantities(m, cell).length;
        if (!(m.metric in cell.values) || (m.target && !(m.target in cell.values))) {
          return `the ${side} has no "${m.target && m.metric in cell.values ? m.target : m.metric}" values ` +
            `(cell ${cell.label})${
              side === "baseline" ? "; refresh the baseline (gate --update-baseline)" : ""
            }`;
        }
        if (n < 2) {
          return `cell (${cell.label}) has ${n} seed(s) with ${quantityName(m)} in the ${side}; ` +
            `the gate needs at least 2`;
        }
      }
    }
  }
  return null;
}

// ---------------------------------------------------------------------------------------------------------
// The comparison

export type Verdict = "regressed" | "improved" | "ok";

export interface Comparison {
  cell: string;
  axes: Record<string, unknown>;
  metric: string;
  direction: Direction;
  /** The compared quantity (`exact_kl`, `|exact_log_z − e_logw|`). */
  quantity: string;
  baseline: Sample;
  now: Sample;
  /** Mean change of the quantity, now − baseline. */
  change: number;
  /** The change oriented so that positive is worse (equal to `change` unless the direction is `higher`). */
  worse: number;
  /** worse / |baseline mean| (NaN when the baseline mean is 0). */
  relWorse: number;
  /** Cohen's d, oriented like `worse`. */
  d: number;
  /** The practical tolerance δ applied. */
  tolerance: number;
  /** One-sided shifted Welch p-values, raw and Holm-adjusted within their family. */
  pWorse: number;
  pBetter: number;
  pWorseHolm: number;
  pBetterHolm: number;
  verdict: Verdict;
}

export interface GateOutcome {
  alpha: number;
  /** Number of tests in each Holm family (cells × metrics). */
  tests: number;
  comparisons: Comparison[];
  regressions: Comparison[];
  improvements: Comparison[];
  status: "pass" | "regressed";
}

/** The per-seed compared quantity of one metric in one cell (seeds without a value are left out). */
export function quantities(m: GateMetric, cell: CellValues): number[] {
  const v = cell.values[m.metric] ?? [];
  const t = m.target ? cell.values[m.target] ?? [] : [];
  const out: number[] = [];
  v.forEach((x, i) => {
    if (x === null) return;
    if (m.direction !== "closer") out.push(x);
    else if (t[i] !== null && t[i] !== undefined) out.push(Math.abs(t[i]! - x));
  });
  return out;
}

/** Compares every cell × gated metric; call `cannotCompare` first. */
export function compareToBaseline(gate: GateSpec, baseline: Baseline, runCells: CellValues[]): GateOutcome {
  const runByKey = new Map(runCells.map((c) => [c.key, c]));
  const rows: Omit<Comparison, "pWorseHolm" | "pBetterHolm" | "verdict">[] = [];
  for (const b of baseline.cells) {
    const r = runByKey.get(b.key);
    if (!r) continue;
    for (const m of gate.metrics) {
      const base = sample(quantities(m, b)), now = sample(quantities(m, r));
      const sign = m.direction === "higher" ? -1 : 1;
      const ob: Sample = { ...base, mean: sign * base.mean }, on: Sample = { ...now, mean: sign * now.mean };
      const tolerance = Math.max(m.tolerance, m.relTolerance * Math.abs(base.mean));
      const worse = on.mean - ob.mean;
      rows.push({
        cell: b.label,
        axes: b.axes,
        metric: m.metric,
        direction: m.direction,
        quantity: quantityName(m),
        baseline: base,
        now,
        change: now.mean - base.mean,
        worse,
        relWorse: base.mean !== 0 ? worse / Math.abs(base.mean) : NaN,
        d: cohensD(ob, on),
        tolerance,
        pWorse: welchGreater(ob, on, tolerance).p,
        pBetter: welchGreater(on, ob, tolerance).p,
      });
    }
  }
  const hw = holmAdjust(rows.map((r) => r.pWorse));
  const hb = holmAdjust(rows.map((r) => r.pBetter));
  const comparisons: Comparison[] = rows.map((r, i) => ({
    ...r,
    pWorseHolm: hw[i],
    pBetterHolm: hb[i],
    verdict: hw[i] <= gate.alpha ? "regressed" : hb[i] <= gate.alpha ? "improved" : "ok",
  }));
  const regressions = comparisons.filter((c) => c.verdict === "regressed");
  return {
    alpha: gate.alpha,
    tests: rows.length,
    comparisons,
    regressions,
    improvements: comparisons.filter((c) => c.verdict === "improved"),
    status: regressions.length ? "regressed" : "pass",
  };
}

/** Config keys whose value differs between the baseline's constants and the run's (`lr: 0.001 → 5e-05`). */
export function constantChanges(before: Record<string, unknown>, after: Record<string, unknown>): string[] {
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  const show = (v: unknown) => (v === undefined ? "—" : formatAxisValue(v));
  return keys
    .filter((k) => canonicalJson(before[k] ?? null) !== canonicalJson(after[k] ?? null))
    .map((k) => `${k}: ${show(before[k])} → ${show(after[k])}`);
}

// ---------------------------------------------------------------------------------------------------------
// Text and Markdown

/** What the verdict text says about where the numbers come from. */
export interface VerdictContext {
  sweep: string;
  baselineFile: string;
  baseline: Baseline;
  runDir: string;
  runBackend: string[];
  /** Extra lines (backend or config differences). */
  notes: string[];
}

/** 4 significant digits, no exponent for ordinary magnitudes. */
export function fmtNum(x: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? "—" : x > 0 ? "∞" : "−∞";
  if (x === 0) return "0";
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-4) return x.toExponential(2);
  return String(Number(x.toPrecision(4)));
}

function fmtP(p: number): string {
  if (Number.isNaN(p)) return "—";
  if (p === 0) return "0";
  return p < 1e-3 ? p.toExponential(1) : p.toFixed(3);
}

function fmtStat(s: Sample): string {
  return `${fmtNum(s.mean)} ± ${fmtNum(Math.sqrt(s.variance))} (n=${s.n})`;
}

function signed(x: number): string {
  return (x > 0 ? "+" : "") + fmtNum(x);
}

/** One line naming a cell with baseline vs now, effect size and p. */
export function describeComparison(c: Comparison): string {
  const rel = Number.isFinite(c.relWorse) ? `, ${signed(100 * c.relWorse)}%` : "";
  const p = c.verdict === "improved" ? c.pBetterHolm : c.pWorseHolm;
  return `(${c.cell}) ${c.quantity}: ${fmtStat(c.baseline)} → ${fmtStat(c.now)}; ` +
    `worse by ${signed(c.worse)}${rel}, d = ${fmtNum(c.d)}, tolerance ${fmtNum(c.tolerance)}, ` +
    `p = ${fmtP(p)} (Holm)`;
}

function headline(o: GateOutcome): string {
  const what = o.status === "regressed"
    ? `REGRESSED: ${o.regressions.length} of ${o.tests} cell × metric tests worse`
    : `no regression in ${o.tests} cell × metric tests`;
  const imp = o.improvements.length
    ? `; ${o.improvements.length} significantly better (refresh the baseline?)`
    : "";
  return what + imp;
}

function method(o: GateOutcome): string {
  return `one-sided Welch t over seeds shifted by the tolerance, Holm over ${o.tests} tests, α = ${o.alpha}`;
}

function source(ctx: VerdictContext): string {
  const b = ctx.baseline;
  return `baseline ${ctx.baselineFile} (commit ${b.commit.slice(0, 12)}, ${b.createdAt.slice(0, 10)}, ` +
    `${b.backend.join("+") || "backend unknown"}); run ${ctx.runDir} (${ctx.runBackend.join("+") || "?"})`;
}

/** The verdict as plain text for a terminal or a CI log. */
export function verdictText(o: GateOutcome, ctx: VerdictContext): string {
  const lines = [`gate ${ctx.sweep}: ${headline(o)}`, `  ${source(ctx)}`, `  ${method(o)}`];
  for (const n of ctx.notes) lines.push(`  note: ${n}`);
  for (const c of o.regressions) lines.push(`  regressed ${describeComparison(c)}`);
  for (const c of o.improvements) lines.push(`  improved  ${describeComparison(c)}`);
  return lines.join("\n");
}

/** The verdict as Markdown (CI job summary, RUN_DIR/report/gate.md): headline, then every comparison. */
export function verdictMarkdown(o: GateOutcome, ctx: VerdictContext): string {
  const icon = o.status === "regressed" ? "❌" : "✅";
  const lines = [
    `## ${icon} Regression gate: ${ctx.sweep}`,
    "",
    `**${headline(o)}.**`,
    "",
    `${source(ctx)}. Test: ${method(o)}.`,
    "",
  ];
  for (const n of ctx.notes) lines.push(`- note: ${n}`);
  if (ctx.notes.length) lines.push("");
  lines.push(
    "| cell | quantity | baseline | now | worse by | d | tolerance | p worse (Holm) | p better (Holm) | verdict |",
    "| :-- | :-- | --: | --: | --: | --: | --: | --: | --: | :-- |",
  );
  const cell = (x: string) => x.replaceAll("|", "\\|");
  for (const c of o.comparisons) {
    const v = c.verdict === "regressed" ? "**regressed**" : c.verdict === "improved" ? "improved" : "ok";
    lines.push(
      `| ${cell(c.cell)} | ${cell(c.quantity)} | ${fmtStat(c.baseline)} | ${fmtStat(c.now)} | ${
        signed(c.worse)
      } | ` +
        `${fmtNum(c.d)} | ${fmtNum(c.tolerance)} | ${fmtP(c.pWorseHolm)} | ${fmtP(c.pBetterHolm)} | ${v} |`,
    );
  }
  return lines.join("\n") + "\n";
}

/** The Markdown of a run that cannot be compared. */
export function cannotCompareMarkdown(sweep: string, reason: string): string {
  return `## ⚠️ Regression gate: ${sweep}\n\n**Cannot compare:** ${reason}\n`;
}
