/**
 * Aggregation of stored job records into what the reports show (docs/spec.md). Pure: no I/O.
 *
 * - Groups: records that share every varying config axis except the ignored ones (by default only `seed`, and
 *   axes derived one-to-one from it such as a per-seed test seed) form one group; a group's final metrics are summarised as mean ± sample std (n − 1) over its finished seeds.
 * - Curves: per group, a history metric over `step`, mean ± std at each step.
 * - Pivots: one generic table driven by a `ReportLayout` (rows × columns of config axes, one final metric per
 *   cell). Axes that vary but are in neither rows nor columns split the table into slices, so a cell always
 *   holds exactly one group and averages over seeds only.
 *
 * Only `done` records contribute numbers; failed, cancelled, queued and running ones are counted.
 */
import type { JobRecord, JobStatus, MetricRecord, ReportLayout } from "./job.ts";
import { canonicalJson } from "../canonical.ts";

/** Mean ± sample standard deviation of n values. `mean` is NaN when n = 0, `std` is NaN when n < 2. */
export interface Stat {
  mean: number;
  std: number;
  n: number;
}

/** Axes never used to group by default: the seed is what we average over. */
export const DEFAULT_IGNORED_AXES: readonly string[] = ["seed"];

/** Final metrics shown first (in this order) when present; other numeric metrics follow alphabetically. */
export const MAIN_METRICS: readonly string[] = [
  "e_logw",
  "log_z_hat",
  "exact_log_z",
  "exact_e_logw",
  "exact_kl",
  "exact_kl_terminal",
  "nll",
  "mmd",
  "tv",
  "exact_tv",
  "jsd",
  "log_z_param",
  "ms_per_step",
];

/** Metrics for which "exact log Z" and the gap exact_log_z − metric are meaningful (log-weight estimates). */
export const LOG_WEIGHT_METRICS: readonly string[] = ["e_logw", "log_z_hat", "exact_e_logw", "log_z_param"];

/** Keys of a record (final or history) that are bookkeeping, not metrics (the test seed names the test set). */
const NON_METRICS = new Set(["step", "seconds", "final", "steps", "test_seed"]);

export interface StatusCounts {
  total: number;
  done: number;
  failed: number;
  cancelled: number;
  queued: number;
  running: number;
}

export interface Group {
  /** Canonical JSON of the group's values of the varying axes (ignored and derived ones left out): its identity. */
  key: string;
  /** Values of the varying axes (see `varyingAxes`) for this group, in axis order. */
  axes: Record<string, unknown>;
  /** Human-readable label, e.g. `cv=learned, beta=0.4` (`all` when nothing varies). */
  label: string;
  /** Every record of the group, whatever its status. */
  records: JobRecord[];
  /** The finished records, the only ones whose numbers count. */
  done: JobRecord[];
  status: StatusCounts;
}

export interface GroupSummary extends Group {
  /** Mean ± std over the finished seeds of every numeric final metric present in the run. */
  final: Record<string, Stat>;
}

export interface Aggregate {
  /** Config axes (ignored ones excluded) whose value differs between records, in first-seen key order. */
  axes: string[];
  /** Config axes with a single value across all records. */
  constants: Record<string, unknown>;
  /** Numeric final metrics present in at least one finished record, main metrics first. */
  metrics: string[];
  groups: GroupSummary[];
  status: StatusCounts;
}

export interface CurvePoint {
  step: number;
  mean: number;
  std: number;
  n: number;
}

export interface Curve {
  key: string;
  axes: Record<string, unknown>;
  label: string;
  metric: string;
  points: CurvePoint[];
}

export interface PivotCell {
  stat: Stat;
  /** Failed (or cancelled) jobs of this cell; their seeds are missing from `stat`. */
  failed: number;
}

export interface PivotTable {
  layout: ReportLayout;
  metric: string;
  /** Values of the varying axes that are neither rows nor columns, fixed within this table. */
  slice: Record<string, unknown>;
  rowAxes: string[];
  colAxes: string[];
  /** Distinct row / column value tuples, ordered (numeric axes ascending, others by first appearance). */
  rowKeys: unknown[][];
  colKeys: unknown[][];
  /** cells[r][c]; an empty cell has stat.n = 0. */
  cells: PivotCell[][];
  /**
   * Only for log-weight metrics when `exact_log_z` is in the finals: exact log Z per column (mean over the
   * column's finished records) and the gap exact_log_z − metric per cell, computed per record.
   */
  exactLogZ?: Stat[];
  gap?: PivotCell[][];
}

// ---------------------------------------------------------------------------------------------------------
// Statistics

/** Mean and sample standard deviation (n − 1, two-pass). */
export function meanStd(values: readonly number[]): Stat {
  const n = values.length;
  if (n === 0) return { mean: NaN, std: NaN, n: 0 };
  let sum = 0;
  for (const v of values) sum += v;
  const mean = sum / n;
  if (n < 2) return { mean, std: NaN, n };
  let ss = 0;
  for (const v of values) ss += (v - mean) * (v - mean);
  return { mean, std: Math.sqrt(ss / (n - 1)), n };
}

/** A finite numeric metric value, or undefined. */
export function metricValue(rec: MetricRecord | undefined, metric: string): number | undefined {
  const v = rec?.[metric];
  return typeof v === "number" && Number.isFinite(v) ? v : undefined;
}

/** Numeric metrics present in any of the records, main metrics first then the rest alphabetically. */
export function numericMetrics(recs: readonly (MetricRecord | undefined)[]): string[] {
  const seen = new Set<string>();
  for (const r of recs) {
    if (!r) continue;
    for (const [k, v] of Object.entries(r)) {
      if (!NON_METRICS.has(k) && typeof v === "number" && Number.isFinite(v)) seen.add(k);
    }
  }
  const main = MAIN_METRICS.filter((m) => seen.has(m));
  const rest = [...seen].filter((m) => !MAIN_METRICS.includes(m)).sort();
  return [...main, ...rest];
}

// ---------------------------------------------------------------------------------------------------------
// Axes and grouping

/** The value of a config axis; a dotted name reaches into nested objects (`energy.kind`). */
export function axisValue(config: Record<string, unknown>, axis: string): unknown {
  if (axis in config) return config[axis];
  let cur: unknown = config;
  for (const part of axis.split(".")) {
    if (cur === null || typeof cur !== "object" || !(part in (cur as Record<string, unknown>))) {
      return undefined;
    }
    cur = (cur as Record<string, unknown>)[part];
  }
  return cur;
}

/** Canonical string of an axis value (undefined is its own value). */
export function valueKey(v: unknown): string {
  return v === undefined ? "\u2205undefined" : canonicalJson(v);
}

/** Display form of an axis value: numbers and strings as they are, others as compact JSON, unset as —. */
export function formatAxisValue(v: unknown): string {
  if (v === undefined || v === null) return "—";
  if (typeof v === "string") return v;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  return canonicalJson(v);
}

/**
 * Config axes whose values differ between records (ignored axes excluded), and the constant ones. An axis that
 * is a one-to-one function of the ignored axes (a test seed derived from `seed`, say) is derived from them, not
 * varied by the user: it is neither an axis nor a constant, so it never splits a group (issue 10, item 1).
 */
export function varyingAxes(
  records: readonly JobRecord[],
  ignore: readonly string[] = DEFAULT_IGNORED_AXES,
): { axes: string[]; constants: Record<string, unknown>; derived: string[] } {
  const order: string[] = [];
  const values = new Map<string, Set<string>>();
  const first = new Map<string, unknown>();
  for (const r of records) {
    for (const k of Object.keys(r.config)) {
      if (ignore.includes(k) || values.has(k)) continue;
      order.push(k);
      values.set(k, new Set());
      first.set(k, r.config[k]);
    }
  }
  for (const r of records) {
    for (const k of order) values.get(k)!.add(valueKey(r.config[k]));
  }
  const ignoredKey = (r: JobRecord) => canonicalJson(ignore.map((k) => valueKey(r.config[k])));
  const ignoredVary = new Set(records.map(ignoredKey)).size > 1;
  const derived = ignoredVary
    ? order.filter((k) => values.get(k)!.size > 1 && oneToOne(records, k, ignoredKey))
    : [];
  const axes = order.filter((k) => values.get(k)!.size > 1 && !derived.includes(k));
  const constants: Record<string, unknown> = {};
  for (const k of order) if (values.get(k)!.size === 1) constants[k] = first.get(k);
  return { axes, constants, derived };
}

/** True when the value of `axis` and the ignored-axes tuple determine each other across the records. */
function oneToOne(
  records: readonly JobRecord[],
  axis: string,
  ignoredKey: (r: JobRecord) => string,
): boolean {
  const fwd = new Map<string, string>();
  const back = new Map<string, string>();
  for (const r of records) {
    const i = ignoredKey(r), v = valueKey(r.config[axis]);
    if ((fwd.get(i) ?? v) !== v || (back.get(v) ?? i) !== i) return false;
    fwd.set(i, v);
    back.set(v, i);
  }
  return true;
}

/**
 * The axes to average over when the axes the user varied are known (the sweep plan's `varied`): the default
 * ignored ones plus every config key the user did not vary. Keys derived from a varied one (a task's own
 * options, a test seed) then never become grouping keys.
 */
export function ignoredAxes(
  records: readonly JobRecord[],
  varied?: readonly string[],
  ignore: readonly string[] = DEFAULT_IGNORED_AXES,
): string[] {
  if (!varied) return [...ignore];
  const out = new Set(ignore);
  for (const r of records) for (const k of Object.keys(r.config)) if (!varied.includes(k)) out.add(k);
  return [...out];
}

function countStatus(records: readonly JobRecord[]): StatusCounts {
  const c: StatusCounts = { total: records.length, done: 0, failed: 0, cancelled: 0, queued: 0, running: 0 };
  for (const r of records) c[r.status as JobStatus]++;
  return c;
}

export function groupLabel(axes: Record<string, unknown>): string {
  const parts = Object.entries(axes).map(([k, v]) => `${k}=${formatAxisValue(v)}`);
  return parts.length ? parts.join(", ") : "all";
}

/**
 * Groups records by their values of the varying axes (`varyingAxes`: ignored and seed-derived axes left out,
 * constant ones equal anyway). Groups come out in the order of their first
 * record; every status is kept in `records`, the finished ones also in `done`.
 */
export function groupRecords(
  records: readonly JobRecord[],
  ignore: readonly string[] = DEFAULT_IGNORED_AXES,
): Group[] {
  const { axes } = varyingAxes(records, ignore);
  const byKey = new Map<string, JobRecord[]>();
  for (const r of records) {
    const ax: Record<string, unknown> = {};
    for (const a of axes) ax[a] = r.config[a];
    const key = canonicalJson(ax);
    let list = byKey.get(key);
    if (!list) byKey.set(key, list = []);
    list.push(r);
  }
  return [...byKey].map(([key, recs]) => {
    const ax: Record<string, unknown> = {};
    for (const a of axes) ax[a] = recs[0].config[a];
    return {
      key,
      axes: ax,
      label: groupLabel(ax),
      records: recs,
      done: recs.filter((r) => r.status === "done"),
      status: countStatus(recs),
    };
  });
}

/** Groups and mean ± std over seeds of every numeric final metric. */
export function aggregateFinal(
  records: readonly JobRecord[],
  ignore: readonly string[] = DEFAULT_IGNORED_AXES,
): Aggregate {
  const { axes, constants } = varyingAxes(records, ignore);
  const done = records.filter((r) => r.status === "done");
  const metrics = numericMetrics(done.map((r) => r.final));
  const groups = sortGroups(groupRecords(records, ignore), axes, records).map((g) => {
    const final: Record<string, Stat> = {};
    for (const m of metrics) {
      final[m] = meanStd(g.done.map((r) => metricValue(r.final, m)).filter((v) => v !== undefined));
    }
    return { ...g, final };
  });
  return { axes, constants, metrics, groups, status: countStatus(records) };
}

// ---------------------------------------------------------------------------------------------------------
// Ordering

/**
 * Ordering of the values of one axis: numbers ascending (before anything else), then the other values in order
 * of first appearance (a sweep's expansion order, e.g. the spec's list of control variates).
 */
export function axisOrder(records: readonly JobRecord[], axis: string): Map<string, number> {
  const nums: number[] = [];
  const others: string[] = [];
  const seen = new Set<string>();
  for (const r of records) {
    const v = axisValue(r.config, axis);
    const k = valueKey(v);
    if (seen.has(k)) continue;
    seen.add(k);
    if (typeof v === "number") nums.push(v);
    else others.push(k);
  }
  nums.sort((a, b) => a - b);
  const rank = new Map<string, number>();
  [...nums.map((v) => valueKey(v)), ...others].forEach((k, i) => rank.set(k, i));
  return rank;
}

function compareTuples(a: number[], b: number[]): number {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return 0;
}

function sortGroups<G extends Group>(groups: G[], axes: string[], records: readonly JobRecord[]): G[] {
  const ranks = axes.map((a) => axisOrder(records, a));
  const rankOf = (g: G) => axes.map((a, i) => ranks[i].get(valueKey(g.axes[a])) ?? 0);
  return [...groups].sort((x, y) => compareTuples(rankOf(x), rankOf(y)));
}

// ---------------------------------------------------------------------------------------------------------
// Curves

/** Numeric metrics present in the histories of finished records (`step`, `seconds` excluded). */
export function historyMetrics(records: readonly JobRecord[]): string[] {
  return numericMetrics(records.filter((r) => r.status === "done").flatMap((r) => r.history));
}

/**
 * Per group, `metric` over training: at each step, mean ± std over the group's finished seeds. When a job's
 * history holds the same step more than once (a retried attempt), the last record counts.
 */
export function aggregateCurves(
  records: readonly JobRecord[],
  metric: string,
  ignore: readonly string[] = DEFAULT_IGNORED_AXES,
): Curve[] {
  const { axes } = varyingAxes(records, ignore);
  const curves: Curve[] = [];
  for (const g of sortGroups(groupRecords(records, ignore), axes, records)) {
    const bySteps = new Map<number, number[]>();
    for (const r of g.done) {
      const last = new Map<number, number>();
      for (const h of r.history) {
        const step = metricValue(h, "step");
        const v = metricValue(h, metric);
        if (step === undefined) continue;
        if (v === undefined) last.delete(step);
        else last.set(step, v);
      }
      for (const [step, v] of last) {
        let list = bySteps.get(step);
        if (!list) bySteps.set(step, list = []);
        list.push(v);
      }
    }
    if (bySteps.size === 0) continue;
    const points = [...bySteps].sort(([a], [b]) => a - b).map(([step, vs]) => ({ step, ...meanStd(vs) }));
    curves.push({ key: g.key, axes: g.axes, label: g.label, metric, points });
  }
  return curves;
}

// ---------------------------------------------------------------------------------------------------------
// Pivot tables

function distinctTuples(
  records: readonly JobRecord[],
  axes: string[],
  ranks: Map<string, number>[],
): unknown[][] {
  const seen = new Map<string, unknown[]>();
  for (const r of records) {
    const t = axes.map((a) => axisValue(r.config, a));
    const k = canonicalJson(t.map(valueKey));
    if (!seen.has(k)) seen.set(k, t);
  }
  const rankOf = (t: unknown[]) => t.map((v, i) => ranks[i].get(valueKey(v)) ?? 0);
  return [...seen.values()].sort((x, y) => compareTuples(rankOf(x), rankOf(y)));
}

/**
 * The layout's pivot tables over the records that have every column axis and the first row axis (later row
 * axes may be missing: shown as "—"): one table per combination
 * of the varying axes that are neither rows, columns nor ignored (a single table when there are none; none
 * when no record has the axes). Rows and columns list only the value tuples that occur.
 */
export function pivot(
  records: readonly JobRecord[],
  layout: ReportLayout,
  ignore: readonly string[] = DEFAULT_IGNORED_AXES,
): PivotTable[] {
  const rowAxes = [...layout.rows];
  const colAxes = [...layout.columns];
  // A layout speaks about the records that have its column axes and its first row axis (a run may hold stages
  // or tasks without them); a later row axis an objective does not use (e.g. div_alpha of atb) shows as "—".
  records = records.filter((r) =>
    [...rowAxes.slice(0, 1), ...colAxes].every((a) => axisValue(r.config, a) !== undefined)
  );
  if (records.length === 0) return [];
  const { axes } = varyingAxes(records, ignore);
  const used = new Set([...rowAxes, ...colAxes, ...ignore]);
  const sliceAxes = axes.filter((a) => !used.has(a));

  const slices = new Map<string, JobRecord[]>();
  for (const r of records) {
    const k = canonicalJson(sliceAxes.map((a) => valueKey(r.config[a])));
    let list = slices.get(k);
    if (!list) slices.set(k, list = []);
    list.push(r);
  }
  const sliceRanks = sliceAxes.map((a) => axisOrder(records, a));
  const sliceList = [...slices.values()].sort((x, y) =>
    compareTuples(
      sliceAxes.map((a, i) => sliceRanks[i].get(valueKey(x[0].config[a])) ?? 0),
      sliceAxes.map((a, i) => sliceRanks[i].get(valueKey(y[0].config[a])) ?? 0),
    )
  );

  const rowRanks = rowAxes.map((a) => axisOrder(records, a));
  const colRanks = colAxes.map((a) => axisOrder(records, a));
  const withGap = LOG_WEIGHT_METRICS.includes(layout.metric);

  return sliceList.map((recs) => {
    const slice: Record<string, unknown> = {};
    for (const a of sliceAxes) slice[a] = recs[0].config[a];
    const rowKeys = distinctTuples(recs, rowAxes, rowRanks);
    const colKeys = distinctTuples(recs, colAxes, colRanks);
    const rIndex = new Map(rowKeys.map((t, i) => [canonicalJson(t.map(valueKey)), i]));
    const cIndex = new Map(colKeys.map((t, i) => [canonicalJson(t.map(valueKey)), i]));
    const values = rowKeys.map(() => colKeys.map(() => [] as number[]));
    const gaps = rowKeys.map(() => colKeys.map(() => [] as number[]));
    const failed = rowKeys.map(() => colKeys.map(() => 0));
    const exact = colKeys.map(() => [] as number[]);
    for (const r of recs) {
      const ri = rIndex.get(canonicalJson(rowAxes.map((a) => valueKey(axisValue(r.config, a)))))!;
      const ci = cIndex.get(canonicalJson(colAxes.map((a) => valueKey(axisValue(r.config, a)))))!;
      if (r.status === "failed" || r.status === "cancelled") failed[ri][ci]++;
      if (r.status !== "done") continue;
      const v = metricValue(r.final, layout.metric);
      if (v !== undefined) values[ri][ci].push(v);
      const z = metricValue(r.final, "exact_log_z");
      if (z !== undefined) {
        exact[ci].push(z);
        if (v !== undefined) gaps[ri][ci].push(z - v);
      }
    }
    const table: PivotTable = {
      layout,
      metric: layout.metric,
      slice,
      rowAxes,
      colAxes,
      rowKeys,
      colKeys,
      cells: values.map((row, ri) => row.map((vs, ci) => ({ stat: meanStd(vs), failed: failed[ri][ci] }))),
    };
    if (withGap && exact.some((e) => e.length > 0)) {
      table.exactLogZ = exact.map((e) => meanStd(e));
      table.gap = gaps.map((row, ri) => row.map((vs, ci) => ({ stat: meanStd(vs), failed: failed[ri][ci] })));
    }
    return table;
  });
}
