/**
 * The table model every renderer (Markdown, LaTeX, HTML) draws from, and its number formatting.
 * Built from the aggregates in core/sweep/aggregate.ts; no I/O.
 */
import {
  type Aggregate,
  formatAxisValue,
  LOG_WEIGHT_METRICS,
  type PivotCell,
  type PivotTable,
  type Stat,
} from "../core/sweep/aggregate.ts";
import { axisName, headerName, valueName } from "./labels.ts";

/** A table cell: a statistic (mean ± std), a plain number, or text. */
export type Cell =
  | { kind: "stat"; stat: Stat; decimals: number; failed?: number; showN?: boolean }
  | { kind: "text"; text: string };

export interface HeaderCell {
  text: string;
  span: number;
}

export interface BodyRow {
  /** One label per stub column. */
  stub: string[];
  cells: Cell[];
  /** Rows of a new section get a rule above them. */
  section?: "exact";
}

export interface TableModel {
  /** Stable id used for anchors, e.g. `table1-nll-1`. */
  id: string;
  title: string;
  caption: string;
  /** Names of the stub (row label) columns. */
  stub: string[];
  /** Column header levels, outermost first; each level's spans add up to the number of data columns. */
  header: HeaderCell[][];
  body: BodyRow[];
  /** Footnotes for the markers used in the table (†, ‡). */
  footnotes: string[];
}

export const DAGGER = "†";
export const DDAGGER = "‡";
export const EMPTY = "—";

/** Fixed decimals; never prints a negative zero. */
export function formatNumber(x: number, decimals: number): string {
  if (!Number.isFinite(x)) return EMPTY;
  const s = x.toFixed(decimals);
  return /^-0(\.0*)?$/.test(s) ? s.slice(1) : s;
}

/** Parts of a formatted statistic: `mean`, `std` (absent when n < 2), and the markers it needs. */
export interface StatParts {
  empty: boolean;
  mean: string;
  std?: string;
  single: boolean;
  failed: boolean;
  n: number;
}

export function statParts(stat: Stat, decimals: number, failed = 0): StatParts {
  if (stat.n === 0) return { empty: true, mean: EMPTY, single: false, failed: failed > 0, n: 0 };
  return {
    empty: false,
    mean: formatNumber(stat.mean, decimals),
    std: stat.n >= 2 ? formatNumber(stat.std, decimals) : undefined,
    single: stat.n < 2,
    failed: failed > 0,
    n: stat.n,
  };
}

/** Plain-text form, as in the paper: `369.30 ± 0.90`; `20.14†` for n = 1; `—` when empty. */
export function formatStat(stat: Stat, decimals: number, failed = 0): string {
  const p = statParts(stat, decimals, failed);
  let s = p.empty ? EMPTY : p.std !== undefined ? `${p.mean} ± ${p.std}` : `${p.mean}${DAGGER}`;
  if (p.failed) s += DDAGGER;
  return s;
}

/** Plain-text form of any cell (Markdown and HTML use it; LaTeX formats stats itself). */
export function cellText(c: Cell): string {
  if (c.kind === "text") return c.text;
  const s = formatStat(c.stat, c.decimals, c.failed ?? 0);
  return c.showN && c.stat.n > 0 ? `${s} (n=${c.stat.n})` : s;
}

const SINGLE_NOTE = `${DAGGER} a single finished seed (n = 1): no standard deviation.`;
const FAILED_NOTE = `${DDAGGER} some seeds of this cell failed; the value is over the finished ones.`;
const EMPTY_NOTE = `${EMPTY} no finished job with this metric.`;

function notesFor(cells: Cell[]): string[] {
  const stats = cells.filter((c) => c.kind === "stat");
  const notes: string[] = [];
  if (stats.some((c) => c.stat.n === 1)) notes.push(SINGLE_NOTE);
  if (stats.some((c) => (c.failed ?? 0) > 0)) notes.push(FAILED_NOTE);
  if (stats.some((c) => c.stat.n === 0)) notes.push(EMPTY_NOTE);
  return notes;
}

function nRange(cells: PivotCell[][]): string {
  const ns = cells.flat().map((c) => c.stat.n).filter((n) => n > 0);
  if (ns.length === 0) return "no finished seeds";
  const lo = Math.min(...ns);
  const hi = Math.max(...ns);
  return lo === hi ? `n = ${lo} seeds per cell` : `n = ${lo}–${hi} seeds per cell`;
}

/** A column header cell: the paper's label (`β = 0.2`, `αKL`, `learned energy`; report/labels.ts). */
export function axisLabel(axis: string, value: unknown): string {
  return headerName(axis, value);
}

/** Multi-level column header from value tuples: equal consecutive prefixes merge into one spanning cell. */
export function headerLevels(axes: string[], keys: unknown[][]): HeaderCell[][] {
  const levels: HeaderCell[][] = [];
  for (let l = 0; l < axes.length; l++) {
    const row: HeaderCell[] = [];
    let prev = "";
    for (const k of keys) {
      const prefix = JSON.stringify(k.slice(0, l + 1).map(formatAxisValue));
      if (row.length > 0 && prefix === prev) row[row.length - 1].span++;
      else row.push({ text: axisLabel(axes[l], k[l]), span: 1 });
      prev = prefix;
    }
    levels.push(row);
  }
  return levels;
}

/** The generic table: every group (all varying axes as columns), its counts and every main metric. */
export function groupsTable(agg: Aggregate, metrics: string[], decimals: number): TableModel {
  const anyFailed = agg.groups.some((g) => g.status.failed + g.status.cancelled > 0);
  const stub = agg.axes.length ? agg.axes.map(axisName) : ["group"];
  const header: HeaderCell[][] = [[
    { text: "n", span: 1 },
    ...(anyFailed ? [{ text: "failed", span: 1 }] : []),
    ...metrics.map((m) => ({ text: m, span: 1 })),
  ]];
  const body: BodyRow[] = agg.groups.map((g) => ({
    stub: agg.axes.length ? agg.axes.map((a) => valueName(a, g.axes[a])) : ["all"],
    cells: [
      { kind: "text", text: String(g.status.done) },
      ...(anyFailed ? [{ kind: "text" as const, text: String(g.status.failed + g.status.cancelled) }] : []),
      ...metrics.map((m): Cell => ({
        kind: "stat",
        stat: g.final[m],
        decimals,
        showN: g.final[m].n > 0 && g.final[m].n !== g.status.done,
      })),
    ],
  }));
  const constants = Object.entries(agg.constants)
    .map(([k, v]) => `${k}=${formatAxisValue(v)}`)
    .join(", ");
  const notes = notesFor(body.flatMap((r) => r.cells));
  if (body.some((r) => r.cells.some((c) => c.kind === "stat" && c.showN))) {
    notes.push("(n=k) the metric is missing from some finished jobs of the group; k jobs have it.");
  }
  return {
    id: "groups",
    title: "All groups",
    caption: `Mean ± sample std over seeds, grouped by every other config axis; n = finished seeds.` +
      (constants ? ` Fixed: ${constants}.` : ""),
    stub,
    header,
    body,
    footnotes: notes,
  };
}

/** Title of a layout's table (with the slice values when the layout is split). */
export function pivotTitle(p: PivotTable, index: number): string {
  const base = p.layout.title ??
    `Table ${index + 1}: ${p.metric} by ${[...p.rowAxes, ...p.colAxes].map(axisName).join(" × ") || "all"}`;
  const slice = Object.entries(p.slice).map(([k, v]) => headerName(k, v)).join(", ");
  return slice ? `${base} (${slice})` : base;
}

/**
 * The layout's table (rows × columns, cell = metric) plus, for log-weight metrics with a known exact log Z,
 * an "exact log Z" row; `gapTable` makes the companion table of exact_log_z − metric.
 */
export function pivotTable(p: PivotTable, id: string, title: string, defaultDecimals = 2): TableModel {
  const decimals = p.layout.decimals ?? defaultDecimals;
  const stub = p.rowAxes.length ? p.rowAxes.map(axisName) : ["metric"];
  const header = p.colAxes.length ? headerLevels(p.colAxes, p.colKeys) : [[{ text: p.metric, span: 1 }]];
  const body: BodyRow[] = p.rowKeys.map((rk, ri) => ({
    stub: p.rowAxes.length ? rk.map((v, i) => valueName(p.rowAxes[i], v)) : [p.metric],
    cells: p.cells[ri].map((c): Cell => ({ kind: "stat", stat: c.stat, decimals, failed: c.failed })),
  }));
  if (p.exactLogZ) {
    body.push({
      stub: stub.map((_, i) => (i === 0 ? "exact log Z" : "")),
      cells: p.exactLogZ.map((s): Cell =>
        s.n === 0
          ? { kind: "text", text: EMPTY }
          : (s.n >= 2 && s.std > 1e-9 * Math.max(1, Math.abs(s.mean)))
          ? { kind: "stat", stat: s, decimals }
          : { kind: "text", text: formatNumber(s.mean, decimals) }
      ),
      section: "exact",
    });
  }
  const caption = `Cell: ${p.metric}, mean ± sample std over seeds (${nRange(p.cells)}).` +
    (p.exactLogZ ? " Last row: exact log Z of the target." : "");
  return {
    id,
    title,
    caption,
    stub,
    header,
    body,
    footnotes: notesFor(body.flatMap((r) => r.cells)),
  };
}

/** The gap exact_log_z − metric per cell (computed per seed), for log-weight metrics. */
export function gapTable(
  p: PivotTable,
  id: string,
  title: string,
  defaultDecimals = 2,
): TableModel | undefined {
  if (!p.gap || !LOG_WEIGHT_METRICS.includes(p.metric)) return undefined;
  const gapPivot: PivotTable = { ...p, cells: p.gap, exactLogZ: undefined, gap: undefined };
  const t = pivotTable(gapPivot, id, title, defaultDecimals);
  const kl = p.metric === "exact_e_logw"
    ? " = KL(Q‖P) ≥ 0"
    : p.metric === "e_logw"
    ? " (estimates KL(Q‖P) ≥ 0)"
    : "";
  t.caption = `Cell: exact log Z − ${p.metric}${kl}, mean ± sample std over seeds (${nRange(p.gap)}).`;
  return t;
}
