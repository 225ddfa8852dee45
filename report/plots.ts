/**
 * Plots as vega-lite specs, rendered to SVG headlessly (vega-lite compile → vega.View, renderer "none" →
 * toSVG). Two kinds: a metric over training steps (mean line ± std band per group) and a layout's metric over
 * its column axis (mean ± std per row). Data is inlined into the specs; nothing is fetched.
 */
import * as vega from "vega";
import * as vl from "vega-lite";
import type { Curve, PivotTable } from "../core/sweep/aggregate.ts";
import { axisName, groupName, headerName, valueName } from "./labels.ts";

/** A vega-lite spec (kept loose: the specs are built here and validated by vega-lite's compiler). */
export type VlSpec = Record<string, unknown>;

export interface CurvePlotOptions {
  /** Axes of `curve.axes` to facet by (one small panel per value tuple); the others colour the lines. */
  facetAxes?: string[];
  title?: string;
}

function labelOf(axes: Record<string, unknown>, keys: string[]): string {
  return groupName(axes, keys);
}

/**
 * Rank of each value tuple of `keys` among the curves: numbers ascending, other values in first-seen order, so
 * facets and legends of a numeric axis (β = −1 … 1) come out in numeric order, not as sorted strings.
 */
function tupleRanks(curves: Curve[], keys: string[]): Map<string, number> {
  const tuples = new Map<string, unknown[]>();
  for (const c of curves) {
    const t = keys.map((k) => c.axes[k]);
    const id = JSON.stringify(t);
    if (!tuples.has(id)) tuples.set(id, t);
  }
  const cmp = (a: unknown, b: unknown) =>
    typeof a === "number" && typeof b === "number"
      ? a - b
      : typeof a === "number"
      ? -1
      : typeof b === "number"
      ? 1
      : 0;
  const sorted = [...tuples].sort(([, a], [, b]) => {
    for (let i = 0; i < a.length; i++) {
      const d = cmp(a[i], b[i]);
      if (d !== 0) return d;
    }
    return 0;
  });
  return new Map(sorted.map(([id], i) => [id, i]));
}

/**
 * Curves that coincide (αTB and αKL at α = 0 take identical steps) would hide each other: each group gets its
 * own stroke width, widest first, and its own dash, so a curve drawn over another leaves it visible.
 */
function strokeEncodings(n: number): Record<string, unknown> {
  const widths = Array.from({ length: n }, (_, i) => (n === 1 ? 2 : 6 - (4.5 * i) / (n - 1)));
  const dashes = [[1, 0], [6, 3], [2, 2], [8, 3, 2, 3], [1, 0], [4, 4]];
  return {
    strokeWidth: {
      field: "rank",
      type: "ordinal",
      scale: { domain: widths.map((_, i) => i), range: widths },
      legend: null,
    },
    strokeDash: {
      field: "rank",
      type: "ordinal",
      scale: { domain: widths.map((_, i) => i), range: widths.map((_, i) => dashes[i % dashes.length]) },
      legend: null,
    },
  };
}

function band(mean: number, std: number): [number, number] {
  return Number.isFinite(std) ? [mean - std, mean + std] : [mean, mean];
}

function colorScale(n: number): Record<string, unknown> {
  return { scheme: n > 10 ? "category20" : "tableau10" };
}

/** Metric over `step`: per group a line (mean over seeds) and a band (mean ± std). */
export function curveSpec(metric: string, curves: Curve[], opts: CurvePlotOptions = {}): VlSpec {
  // Only axes that vary among these curves label them (the run's other varying axes are constant here).
  const varies = (a: string) => new Set(curves.map((c) => JSON.stringify(c.axes[a] ?? null))).size > 1;
  const allAxes = [...new Set(curves.flatMap((c) => Object.keys(c.axes)))].filter(varies);
  const facetAxes = (opts.facetAxes ?? []).filter((a) => allAxes.includes(a));
  const colorAxes = allAxes.filter((a) => !facetAxes.includes(a));
  const colorRanks = tupleRanks(curves, colorAxes);
  const facetRanks = tupleRanks(curves, facetAxes);
  const rankOf = (c: Curve, keys: string[], ranks: Map<string, number>) =>
    ranks.get(JSON.stringify(keys.map((k) => c.axes[k]))) ?? 0;
  const means = curves.flatMap((c) => c.points.map((p) => p.mean));
  const yscale = yScale(metric, means);
  const log = yscale.type === "log";
  // on a log scale a band reaching 0 or below is cut at the smallest mean / 10
  const floor = log ? Math.min(...means) / 10 : -Infinity;
  const values = curves.flatMap((c) =>
    c.points.map((p) => {
      const [lo, hi] = band(p.mean, p.std);
      return {
        group: labelOf(c.axes, colorAxes),
        rank: rankOf(c, colorAxes, colorRanks),
        facet: labelOf(c.axes, facetAxes),
        facetRank: rankOf(c, facetAxes, facetRanks),
        step: p.step,
        mean: p.mean,
        lo: Math.max(lo, floor),
        hi,
        n: p.n,
      };
    })
  );
  const groupNames = [...new Set([...values].sort((a, b) => a.rank - b.rank).map((v) => v.group))];
  const groups = groupNames.length;
  const color = {
    field: "group",
    type: "nominal",
    title: colorAxes.map(axisName).join(", ") || "group",
    sort: groupNames,
    scale: colorScale(groups),
    legend: { labelLimit: 0, symbolType: "stroke", symbolStrokeWidth: 3, symbolOpacity: 1 },
  };
  const x = { field: "step", type: "quantitative", title: "step" };
  const yTitle = log ? `${metric} (log scale)` : metric;
  const layer = [
    {
      mark: { type: "area", opacity: 0.15 },
      encoding: {
        x,
        y: { field: "lo", type: "quantitative", title: yTitle, scale: yscale },
        y2: { field: "hi" },
        color,
      },
    },
    {
      mark: { type: "line", opacity: 0.9 },
      encoding: {
        x,
        y: { field: "mean", type: "quantitative", title: yTitle, scale: yscale },
        color,
        ...strokeEncodings(groups),
      },
    },
  ];
  const title = opts.title ?? `${metric} over training (mean ± std over seeds)`;
  const base = {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    data: { values },
    background: "white",
  };
  if (facetAxes.length && new Set(values.map((v) => v.facet)).size > 1) {
    return {
      ...base,
      facet: { field: "facet", type: "nominal", title: null, sort: { field: "facetRank", op: "min" } },
      columns: 3,
      spec: { width: 240, height: 160, layer },
      resolve: { scale: { y: "independent" } },
    };
  }
  return { ...base, width: 520, height: 280, layer };
}

/**
 * The layout's metric over its column axes: x = column value (quantitative when a single numeric axis), one
 * line per row key, points at the means, rules for ± std. Undefined when the table has no columns or data.
 */
export function pivotSpec(t: PivotTable, title: string): VlSpec | undefined {
  if (t.colAxes.length === 0) return undefined;
  const numericX = t.colAxes.length === 1 && t.colKeys.every((k) => typeof k[0] === "number");
  const values: Record<string, unknown>[] = [];
  t.rowKeys.forEach((rk, ri) =>
    t.colKeys.forEach((ck, ci) => {
      const s = t.cells[ri][ci].stat;
      if (s.n === 0) return;
      const [lo, hi] = band(s.mean, s.std);
      values.push({
        row: t.rowAxes.map((a, i) => headerName(a, rk[i])).join(", ") || t.metric,
        x: numericX ? ck[0] : ck.map((v, i) => valueName(t.colAxes[i], v)).join(" · "),
        order: ci,
        rank: ri,
        mean: s.mean,
        lo,
        hi,
        n: s.n,
      });
    })
  );
  if (values.length === 0) return undefined;
  const logY = yScale(t.metric, values.map((v) => v.mean as number)).type === "log";
  if (logY) {
    const floor = Math.min(...values.map((v) => v.mean as number)) / 10;
    for (const v of values) v.lo = Math.max(v.lo as number, floor);
  }
  const groups = new Set(values.map((v) => v.row)).size;
  const x = numericX
    ? { field: "x", type: "quantitative", title: axisName(t.colAxes[0]), scale: { zero: false, padding: 24 } }
    : {
      field: "x",
      type: "ordinal",
      title: t.colAxes.map(axisName).join(" · "),
      sort: { field: "order" },
      axis: { labelAngle: -30, labelLimit: 0 },
    };
  const color = {
    field: "row",
    type: "nominal",
    title: t.rowAxes.map(axisName).join(", ") || "metric",
    sort: null,
    scale: colorScale(groups),
    legend: { labelLimit: 0 },
  };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    title,
    background: "white",
    width: 520,
    height: 280,
    data: { values },
    layer: [
      {
        mark: { type: "rule", strokeWidth: 1.5 },
        encoding: {
          x,
          y: { field: "lo", type: "quantitative", title: logY ? `${t.metric} (log scale)` : t.metric },
          y2: { field: "hi" },
          color,
        },
      },
      {
        mark: { type: "line", point: true, opacity: 0.9 },
        encoding: {
          x,
          y: {
            field: "mean",
            type: "quantitative",
            title: logY ? `${t.metric} (log scale)` : t.metric,
            scale: yScale(t.metric, values.map((v) => v.mean as number)),
          },
          color,
          order: { field: "order" },
          ...strokeEncodings(t.rowKeys.length),
        },
      },
    ],
  };
}

/**
 * Metrics drawn on a log scale: divergences (KL, TV, JSD, MMD) are positive and span orders of magnitude as
 * training converges; on a linear axis the end of every curve is a flat line at 0.
 */
export function logScaleMetric(metric: string): boolean {
  return /(^|_)(kl|tv|jsd|mmd)(_|$)/.test(metric);
}

/** A y scale for `metric` over these values: log for positive divergences, otherwise linear, not from zero. */
export function yScale(metric: string, values: number[]): Record<string, unknown> {
  return logScaleMetric(metric) && values.length > 0 && values.every((v) => v > 0)
    ? { type: "log" }
    : { zero: false };
}

/** The live dashboard's curves: `metric` over step, one line per job, running jobs dashed (report/serve.ts). */
export function liveCurveSpec(
  metric: string,
  lines: { label: string; running: boolean; points: { step: number; value: number }[] }[],
): VlSpec {
  const values = lines.flatMap((l) =>
    l.points.map((p) => ({
      job: l.label,
      state: l.running ? "running" : "finished",
      step: p.step,
      value: p.value,
    }))
  );
  const log = yScale(metric, values.map((v) => v.value));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    background: "white",
    width: 760,
    height: 300,
    data: { values },
    mark: { type: "line", strokeWidth: 2, point: { size: 18 } },
    encoding: {
      x: { field: "step", type: "quantitative", title: "step" },
      y: {
        field: "value",
        type: "quantitative",
        title: log.type === "log" ? `${metric} (log scale)` : metric,
        scale: log,
      },
      color: {
        field: "job",
        type: "nominal",
        title: "job",
        sort: null,
        scale: colorScale(lines.length),
        legend: {
          labelLimit: 0,
          columns: lines.length > 12 ? 2 : 1,
          symbolType: "stroke",
          symbolStrokeWidth: 3,
        },
      },
      strokeDash: {
        field: "state",
        type: "nominal",
        title: null,
        scale: { domain: ["finished", "running"], range: [[1, 0], [5, 3]] },
        legend: null,
      },
      detail: { field: "job" },
    },
  };
}

/** Renders a vega-lite spec to a standalone SVG string (no DOM, no network). */
export async function specToSvg(spec: VlSpec): Promise<string> {
  // deno-lint-ignore no-explicit-any
  const compiled = vl.compile(spec as any).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
