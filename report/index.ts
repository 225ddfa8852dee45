/**
 * Reports of a sweep run: tables (Markdown, CSV, LaTeX), plots (SVG, PNG) and one self-contained index.html.
 *
 * `renderReport(records, layouts)` builds every file in memory from job records (no store, no file writes
 * except reading the resvg wasm and a font when PNGs are asked for); `writeReport(runDir)` reads the run's
 * results store and writes the files under `RUN_DIR/report/`.
 */
import {
  type Aggregate,
  aggregateCurves,
  aggregateFinal,
  type Curve,
  DEFAULT_IGNORED_AXES,
  groupLabel,
  historyMetrics,
  ignoredAxes,
  MAIN_METRICS,
  pivot,
  type PivotTable,
  type StatusCounts,
} from "../core/sweep/aggregate.ts";
import type { JobRecord, ReportLayout } from "../core/sweep/job.ts";
import { curvesCsv, groupsCsv, pivotCsv } from "./csv.ts";
import { type HtmlPlot, reportToHtml } from "./html.ts";
import { tableToLatex } from "./latex.ts";
import { tableToMarkdown } from "./markdown.ts";
import { gapTable, groupsTable, pivotTable, pivotTitle, type TableModel } from "./model.ts";
import { curveSpec, pivotSpec, specToSvg, type VlSpec } from "./plots.ts";
import { svgToPng } from "./png.ts";
import { axisName } from "./labels.ts";

export interface ReportOptions {
  /** Heading of tables.md and index.html. Default: `flowsweep report: <sweep name>`. */
  title?: string;
  /** Render PNGs beside the SVGs (default true). */
  png?: boolean;
  /** PNG pixels per SVG pixel (default 2). */
  pngScale?: number;
  /** Decimals of the all-groups table (default 3); layout tables use `layout.decimals` (default 2). */
  decimals?: number;
  /** Final metrics of the all-groups table (default: the main metrics present, else every numeric one). */
  metrics?: string[];
  /** History metrics to plot over training (default: every numeric one present except exact_log_z). */
  curveMetrics?: string[];
  /** Config axes averaged over instead of grouped by (default ["seed"]). */
  ignore?: string[];
  /**
   * The keys the user varied (the sweep plan's `varied`, kept in the run's store): when given, every other
   * config key is averaged over too, so nothing derived (a test seed, a task's own options) splits a cell.
   */
  varied?: string[];
  /** A line saying when the report was made (left out when absent, keeping renders reproducible). */
  generatedAt?: string;
}

export interface RenderedPlot {
  id: string;
  title: string;
  spec: VlSpec;
  svg: string;
  /** Size of the PNG (when rendered). */
  png?: { width: number; height: number };
}

export interface RenderedReport {
  /** Report files by path relative to the report directory (`tables.md`, `plots/curve-e_logw.svg`, ...). */
  files: Map<string, string | Uint8Array>;
  aggregate: Aggregate;
  /** One entry per layout: its tables (one per slice of the axes that are neither rows nor columns). */
  pivots: PivotTable[][];
  tables: TableModel[];
  plots: RenderedPlot[];
  curves: Curve[];
}

export interface WriteReportOptions extends ReportOptions {
  /** Layouts to render instead of the ones stored with the sweep. */
  layouts?: ReportLayout[];
  /** Output directory (default RUN_DIR/report). */
  outDir?: string;
}

export interface WrittenReport {
  dir: string;
  /** Written paths relative to `dir`, sorted. */
  files: string[];
  records: number;
  status: StatusCounts;
}

/** A file-name slug: lower case, [a-z0-9-]. */
export function slugify(s: string): string {
  return s.toLowerCase().normalize("NFKD").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60);
}

function uniqueSlug(base: string, used: Set<string>): string {
  let s = base;
  for (let i = 2; used.has(s); i++) s = `${base}-${i}`;
  used.add(s);
  return s;
}

function svgWidth(svg: string): number | undefined {
  const m = /^<svg[^>]*\swidth="([\d.]+)"/.exec(svg);
  return m ? Number(m[1]) : undefined;
}

function statusLine(s: StatusCounts): string {
  const parts = [`${s.done} done`];
  if (s.failed) parts.push(`${s.failed} failed`);
  if (s.cancelled) parts.push(`${s.cancelled} cancelled`);
  if (s.running) parts.push(`${s.running} running`);
  if (s.queued) parts.push(`${s.queued} queued`);
  return `${s.total} jobs: ${parts.join(", ")}. Only finished jobs enter the statistics; failed ones are ` +
    `counted per group.`;
}

/** Builds every report file in memory from job records and layouts. */
export async function renderReport(
  records: readonly JobRecord[],
  layouts: readonly ReportLayout[] = [],
  opts: ReportOptions = {},
): Promise<RenderedReport> {
  const ignore = ignoredAxes(records, opts.varied, opts.ignore ?? DEFAULT_IGNORED_AXES);
  const files = new Map<string, string | Uint8Array>();
  const agg = aggregateFinal(records, ignore);
  const sweepNames = [...new Set(records.map((r) => r.sweep))];
  const title = opts.title ?? `flowsweep report${sweepNames.length ? `: ${sweepNames.join(", ")}` : ""}`;

  // ---- tables
  const mainMetrics = opts.metrics ?? (() => {
    const main = agg.metrics.filter((m) => MAIN_METRICS.includes(m));
    return main.length ? main : agg.metrics;
  })();
  const groups = groupsTable(agg, mainMetrics, opts.decimals ?? 3);
  const tables: TableModel[] = [groups];
  files.set("groups.csv", groupsCsv(agg));
  files.set("groups.tex", tableToLatex(groups));

  const used = new Set(["groups", "curves", "tables", "index"]);
  const pivots: PivotTable[][] = [];
  const pivotPlots: { id: string; title: string; spec: VlSpec }[] = [];
  layouts.forEach((layout, li) => {
    const ps = pivot(records, layout, ignore);
    pivots.push(ps);
    const slug = uniqueSlug(slugify(layout.title ?? "") || `table${li + 1}-${slugify(layout.metric)}`, used);
    const tex: string[] = [];
    ps.forEach((p, si) => {
      const id = ps.length > 1 ? `${slug}-${si + 1}` : slug;
      const t = pivotTitle(p, li);
      const main = pivotTable(p, id, t);
      tables.push(main);
      tex.push(tableToLatex(main));
      const gap = gapTable(p, `${id}-gap`, `${t}: gap exact log Z − ${p.metric}`);
      if (gap) {
        tables.push(gap);
        tex.push(tableToLatex(gap));
      }
      const spec = pivotSpec(p, `${t}: mean ± std over seeds by ${p.colAxes.map(axisName).join(" × ")}`);
      if (spec) pivotPlots.push({ id, title: `${t}: ${p.metric} (mean ± std over seeds)`, spec });
    });
    files.set(`${slug}.csv`, pivotCsv(ps));
    files.set(`${slug}.tex`, tex.join("\n"));
  });

  // ---- curves over training
  const curveMetrics = opts.curveMetrics ?? historyMetrics(records).filter((m) => m !== "exact_log_z");
  // Small multiples: by the first layout's columns; without a layout, by the last varying axis when many
  // groups would share one panel.
  const facetAxes = layouts.length
    ? layouts[0].columns.filter((a) => agg.axes.includes(a))
    : agg.axes.length >= 2 && agg.groups.length > 10
    ? [agg.axes[agg.axes.length - 1]]
    : [];
  const allCurves: Curve[] = [];
  const curvePlots: { id: string; title: string; spec: VlSpec }[] = [];
  for (const m of curveMetrics) {
    const curves = aggregateCurves(records, m, ignore);
    if (curves.length === 0) continue;
    allCurves.push(...curves);
    curvePlots.push({
      id: `curve-${slugify(m)}`,
      title: `${m} over training: mean ± std over seeds per group`,
      spec: curveSpec(m, curves, { facetAxes }),
    });
  }
  if (allCurves.length) files.set("curves.csv", curvesCsv(agg.axes, allCurves));

  // ---- plots
  const plots: RenderedPlot[] = [];
  const scale = opts.pngScale ?? 2;
  for (const p of [...curvePlots, ...pivotPlots]) {
    const svg = await specToSvg(p.spec);
    const plot: RenderedPlot = { ...p, svg };
    files.set(`plots/${p.id}.svg`, svg);
    if (opts.png ?? true) {
      const w = svgWidth(svg);
      const png = await svgToPng(svg, w ? { width: Math.round(w * scale) } : {});
      files.set(`plots/${p.id}.png`, png);
      plot.png = pngSize(png);
    }
    plots.push(plot);
  }

  // ---- Markdown and HTML
  const summary = [statusLine(agg.status)];
  if (opts.generatedAt) summary.push(`Generated ${opts.generatedAt}.`);
  const failures = records.filter((r) => r.status === "failed").map((r) => ({
    id: r.id,
    label: groupLabel(
      Object.fromEntries(Object.entries(r.config).filter(([k]) => agg.axes.includes(k) || k === "seed")),
    ),
    error: (r.error ?? "").split("\n")[0],
  }));
  const md = [`# ${title}`, "", ...summary.map((s) => `${s}  `), ""];
  for (const t of tables) md.push(tableToMarkdown(t));
  if (plots.length) {
    md.push("## Plots", "", ...plots.map((p) => `- [${p.title}](plots/${p.id}.svg)`), "");
  }
  if (failures.length) {
    md.push(`## Failed jobs (${failures.length})`, "");
    for (const f of failures) md.push(`- \`${f.id}\` ${f.label}: ${f.error.replace(/\|/g, "\\|")}`);
    md.push("");
  }
  files.set("tables.md", md.join("\n"));
  const htmlPlots: HtmlPlot[] = plots.map((p) => ({ id: p.id, title: p.title, svg: p.svg }));
  files.set("index.html", reportToHtml({ title, summary, tables, plots: htmlPlots, failures }));

  return { files, aggregate: agg, pivots, tables, plots, curves: allCurves };
}

/** Width and height from a PNG's IHDR chunk (throws when the bytes are not a PNG). */
export function pngSize(png: Uint8Array): { width: number; height: number } {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (png.length < 24 || sig.some((b, i) => png[i] !== b)) throw new Error("not a PNG");
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  if (String.fromCharCode(...png.subarray(12, 16)) !== "IHDR") throw new Error("PNG without IHDR");
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
}

const GENERATED = /^(tables\.md|index\.html|[a-z0-9-]+\.(csv|tex))$/;

/** Reads RUN_DIR's results store and writes the report files (replacing an earlier report's files). */
export async function writeReport(runDir: string, opts: WriteReportOptions = {}): Promise<WrittenReport> {
  const { openStore } = await import("../coordinator/store.ts");
  const store = openStore(runDir, { readOnly: true });
  let records: JobRecord[];
  let layouts: ReportLayout[];
  try {
    records = store.records();
    layouts = opts.layouts ?? store.layouts();
    const varied = store.value("varied");
    if (opts.varied === undefined && Array.isArray(varied)) opts = { ...opts, varied: varied.map(String) };
  } finally {
    store.close();
  }
  const rendered = await renderReport(records, layouts, opts);
  const dir = opts.outDir ?? `${runDir.replace(/\/+$/, "")}/report`;
  await Deno.mkdir(`${dir}/plots`, { recursive: true });
  // Drop files of an earlier report (only names this module writes) so nothing stale stays behind.
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && GENERATED.test(e.name)) await Deno.remove(`${dir}/${e.name}`);
  }
  for await (const e of Deno.readDir(`${dir}/plots`)) {
    if (e.isFile && /\.(svg|png)$/.test(e.name)) await Deno.remove(`${dir}/plots/${e.name}`);
  }
  for (const [path, content] of rendered.files) {
    if (typeof content === "string") await Deno.writeTextFile(`${dir}/${path}`, content);
    else await Deno.writeFile(`${dir}/${path}`, content);
  }
  return {
    dir,
    files: [...rendered.files.keys()].sort(),
    records: records.length,
    status: rendered.aggregate.status,
  };
}
