/**
 * Plots as vega-lite specs, rendered to SVG headlessly (vega-lite compile → vega.View, renderer "none" →
 * toSVG). Two kinds: a metric over training steps (mean line ± std band per group) and a layout's metric over
 * its column axis (mean ± std per row). Data is inlined into the specs; nothing is fetched.
 */
import * as vega from "vega";
import * as vl from "vega-lite";
import { type Curve, formatAxisValue, type PivotTable } from "../core/sweep/aggregate.ts";

/** A vega-lite spec (kept loose: the specs are built here and validated by vega-lite's compiler). */
export type VlSpec = Record<string, unknown>;

export interface CurvePlotOptions {
  /** Axes of `curve.axes` to facet by (one small panel per value tuple); the others colour the lines. */
  facetAxes?: string[];
  title?: string;
}

function labelOf(axes: Record<string, unknown>, keys: string[]): string {
  const parts = keys.map((k) => `${k}=${formatAxisValue(axes[k])}`);
  return parts.length ? parts.join(", ") : "all";
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
  const values = curves.flatMap((c) =>
    c.points.map((p) => {
      const [lo, hi] = band(p.mean, p.std);
      return {
        group: labelOf(c.axes, colorAxes),
        facet: labelOf(c.axes, facetAxes),
        step: p.step,
        mean: p.mean,
        lo,
        hi,
        n: p.n,
      };
    })
  );
  const groups = new Set(values.map((v) => v.group)).size;
  const color = {
    field: "group",
    type: "nominal",
    title: colorAxes.join(", ") || "group",
    sort: null,
    scale: colorScale(groups),
    legend: { labelLimit: 280, symbolType: "stroke", symbolStrokeWidth: 3, symbolOpacity: 1 },
  };
  const x = { field: "step", type: "quantitative", title: "step" };
  const layer = [
    {
      mark: { type: "area", opacity: 0.18 },
      encoding: {
        x,
        y: { field: "lo", type: "quantitative", title: metric },
        y2: { field: "hi" },
        color,
      },
    },
    {
      mark: { type: "line", strokeWidth: 2 },
      encoding: {
        x,
        y: { field: "mean", type: "quantitative", title: metric, scale: { zero: false } },
        color,
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
      facet: { field: "facet", type: "nominal", title: null, sort: null },
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
        row: t.rowAxes.map((a, i) => `${a}=${formatAxisValue(rk[i])}`).join(", ") || t.metric,
        x: numericX ? ck[0] : ck.map(formatAxisValue).join(" · "),
        order: ci,
        mean: s.mean,
        lo,
        hi,
        n: s.n,
      });
    })
  );
  if (values.length === 0) return undefined;
  const groups = new Set(values.map((v) => v.row)).size;
  const x = numericX
    ? { field: "x", type: "quantitative", title: t.colAxes[0], scale: { zero: false, padding: 24 } }
    : {
      field: "x",
      type: "ordinal",
      title: t.colAxes.join(" · "),
      sort: { field: "order" },
      axis: { labelAngle: -30, labelLimit: 160 },
    };
  const color = {
    field: "row",
    type: "nominal",
    title: t.rowAxes.join(", ") || "metric",
    sort: null,
    scale: colorScale(groups),
    legend: { labelLimit: 280 },
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
          y: { field: "lo", type: "quantitative", title: t.metric },
          y2: { field: "hi" },
          color,
        },
      },
      {
        mark: { type: "line", point: true },
        encoding: {
          x,
          y: { field: "mean", type: "quantitative", title: t.metric, scale: { zero: false } },
          color,
          order: { field: "order" },
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
        legend: { symbolType: "stroke", symbolStrokeWidth: 2, symbolStrokeColor: "#333" },
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
