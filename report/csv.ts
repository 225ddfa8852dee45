/**
 * CSV exports (RFC 4180 via csv-stringify), with full-precision numbers for further analysis: one row per
 * group, one row per pivot cell, one row per curve point. Missing numbers are empty fields.
 */
import { stringify } from "csv-stringify/sync";
import {
  type Aggregate,
  type Curve,
  formatAxisValue,
  type PivotTable,
  type Stat,
} from "../core/sweep/aggregate.ts";

function num(x: number): string {
  return Number.isFinite(x) ? String(x) : "";
}

function axisField(v: unknown): string {
  return v === undefined || v === null ? "" : formatAxisValue(v);
}

function toCsv(header: string[], rows: string[][]): string {
  return stringify([header, ...rows]);
}

/** One row per group: varying axes, status counts, then `<metric>_mean`, `<metric>_std`, `<metric>_n`. */
export function groupsCsv(agg: Aggregate, metrics: string[] = agg.metrics): string {
  const header = [
    ...agg.axes,
    "done",
    "failed",
    "cancelled",
    "queued",
    "running",
    ...metrics.flatMap((m) => [`${m}_mean`, `${m}_std`, `${m}_n`]),
  ];
  const rows = agg.groups.map((g) => [
    ...agg.axes.map((a) => axisField(g.axes[a])),
    String(g.status.done),
    String(g.status.failed),
    String(g.status.cancelled),
    String(g.status.queued),
    String(g.status.running),
    ...metrics.flatMap((m) => {
      const s = g.final[m];
      return [num(s.mean), num(s.std), String(s.n)];
    }),
  ]);
  return toCsv(header, rows);
}

/**
 * One row per cell of a layout's tables: slice axes, row axes, column axes, `metric`, mean, std, n, failed.
 * Tables with an exact log Z add rows with metric `exact_log_z` (row axes empty) and `exact_log_z-<metric>`.
 */
export function pivotCsv(tables: PivotTable[]): string {
  if (tables.length === 0) return "";
  const sliceAxes = Object.keys(tables[0].slice);
  const { rowAxes, colAxes } = tables[0];
  const header = [...sliceAxes, ...rowAxes, ...colAxes, "metric", "mean", "std", "n", "failed"];
  const rows: string[][] = [];
  const stat = (s: Stat) => [num(s.mean), num(s.std), String(s.n)];
  for (const t of tables) {
    const slice = sliceAxes.map((a) => axisField(t.slice[a]));
    t.rowKeys.forEach((rk, ri) =>
      t.colKeys.forEach((ck, ci) => {
        const c = t.cells[ri][ci];
        rows.push([
          ...slice,
          ...rk.map(axisField),
          ...ck.map(axisField),
          t.metric,
          ...stat(c.stat),
          String(c.failed),
        ]);
      })
    );
    if (t.exactLogZ) {
      t.colKeys.forEach((ck, ci) =>
        rows.push([
          ...slice,
          ...rowAxes.map(() => ""),
          ...ck.map(axisField),
          "exact_log_z",
          ...stat(t.exactLogZ![ci]),
          "",
        ])
      );
    }
    if (t.gap) {
      t.rowKeys.forEach((rk, ri) =>
        t.colKeys.forEach((ck, ci) => {
          const c = t.gap![ri][ci];
          rows.push([
            ...slice,
            ...rk.map(axisField),
            ...ck.map(axisField),
            `exact_log_z-${t.metric}`,
            ...stat(c.stat),
            String(c.failed),
          ]);
        })
      );
    }
  }
  return toCsv(header, rows);
}

/** One row per curve point: group axes, metric, step, mean, std, n. */
export function curvesCsv(axes: string[], curves: Curve[]): string {
  const header = [...axes, "metric", "step", "mean", "std", "n"];
  const rows = curves.flatMap((c) =>
    c.points.map((p) => [
      ...axes.map((a) => axisField(c.axes[a])),
      c.metric,
      String(p.step),
      num(p.mean),
      num(p.std),
      String(p.n),
    ])
  );
  return toCsv(header, rows);
}
