import assert from "node:assert/strict";
import {
  aggregateCurves,
  aggregateFinal,
  groupRecords,
  ignoredAxes,
  meanStd,
  pivot,
  varyingAxes,
} from "../core/sweep/aggregate.ts";
import type { JobRecord, MetricRecord, ReportLayout } from "../core/sweep/job.ts";
import { curvesCsv, groupsCsv, pivotCsv } from "../report/csv.ts";
import { escapeLatex, tableToLatex } from "../report/latex.ts";
import { tableToMarkdown } from "../report/markdown.ts";
import { formatNumber, formatStat, gapTable, groupsTable, pivotTable } from "../report/model.ts";
import { pngSize, renderReport, writeReport } from "../report/index.ts";
import { svgToPng } from "../report/png.ts";
import { curveSpec, specToSvg } from "../report/plots.ts";
import { heatmapRects, heatmapSpec, heatmapSvg } from "../report/heatmap.ts";
import { loadSweep } from "../core/sweep/expand.ts";
import { syntheticDensities, syntheticIsing, TABLE2_LAYOUT, TABLE3_LAYOUT } from "../report/synthetic.ts";

let nextId = 0;
function rec(
  config: Record<string, unknown>,
  final: MetricRecord | undefined,
  status: JobRecord["status"] = "done",
  history: MetricRecord[] = [],
): JobRecord {
  return {
    id: `job${nextId++}`,
    sweep: "t",
    stage: "main",
    kind: "train",
    config,
    status,
    attempts: 1,
    ...(final ? { final } : {}),
    history,
  };
}

function close(actual: number, expected: number, tol = 1e-12) {
  assert.ok(Math.abs(actual - expected) <= tol, `${actual} != ${expected}`);
}

/** RFC 4180 parser (quoted fields, doubled quotes, newlines inside quotes). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") {
      row.push(field);
      field = "";
    } else if (c === "\n") {
      row.push(field);
      rows.push(row);
      row = [];
      field = "";
    } else if (c !== "\r") field += c;
  }
  if (field !== "" || row.length) {
    row.push(field);
    rows.push(row);
  }
  return rows;
}

// ------------------------------------------------------------------------------------------------ statistics

Deno.test("aggregate: meanStd is the mean and the sample (n−1) std", () => {
  const s = meanStd([1, 2, 3, 4]);
  assert.equal(s.n, 4);
  assert.equal(s.mean, 2.5);
  close(s.std, Math.sqrt(5 / 3));
  const t = meanStd([369.3, 370.2, 368.4]);
  close(t.mean, 369.3, 1e-9);
  close(t.std, 0.9, 1e-9);
  const one = meanStd([7]);
  assert.equal(one.mean, 7);
  assert.ok(Number.isNaN(one.std));
  const none = meanStd([]);
  assert.equal(none.n, 0);
  assert.ok(Number.isNaN(none.mean) && Number.isNaN(none.std));
});

Deno.test("aggregate: grouping ignores seed but separates every other axis", () => {
  const records: JobRecord[] = [];
  for (const cv of ["none", "learned"]) {
    for (const beta of [0.4, -0.4]) {
      for (let seed = 0; seed < 3; seed++) {
        records.push(
          rec({ cv, beta, lr: 0.001, seed }, { e_logw: 10 * beta + seed + (cv === "none" ? 0 : 100) }),
        );
      }
    }
  }
  // one more axis value on a single group: lr must separate it
  records.push(rec({ cv: "none", beta: 0.4, lr: 0.01, seed: 0 }, { e_logw: 1 }));
  const { axes, constants } = varyingAxes(records);
  assert.deepEqual(axes, ["cv", "beta", "lr"]);
  assert.deepEqual(constants, {});
  const agg = aggregateFinal(records);
  assert.equal(agg.groups.length, 5);
  // order: cv by first appearance, beta numerically ascending, lr ascending
  assert.deepEqual(
    agg.groups.map((g) => g.label),
    [
      "cv=none, beta=-0.4, lr=0.001",
      "cv=none, beta=0.4, lr=0.001",
      "cv=none, beta=0.4, lr=0.01",
      "cv=learned, beta=-0.4, lr=0.001",
      "cv=learned, beta=0.4, lr=0.001",
    ],
  );
  const g = agg.groups[3];
  assert.equal(g.done.length, 3);
  assert.deepEqual(g.done.map((r) => r.config.seed), [0, 1, 2]);
  close(g.final.e_logw.mean, 100 - 4 + 1);
  close(g.final.e_logw.std, 1);
  assert.equal(agg.groups[2].final.e_logw.n, 1);
  assert.equal(agg.groups[2].final.e_logw.mean, 1);
  // `seed` grouped on when not ignored: every record is its own group
  assert.equal(groupRecords(records, []).length, records.length);
});

Deno.test("aggregate: a missing or non-finite metric lowers n for that metric only", () => {
  const records = [
    rec({ a: 1, seed: 0 }, { e_logw: 1, nll: 10 }),
    rec({ a: 1, seed: 1 }, { e_logw: 2 }),
    rec({ a: 1, seed: 2 }, { e_logw: 3, nll: NaN }),
    rec({ a: 1, seed: 3 }, { e_logw: 4, nll: 14, backend: "cpu" }),
  ];
  const agg = aggregateFinal(records);
  assert.deepEqual(agg.metrics, ["e_logw", "nll"]);
  assert.equal(agg.groups.length, 1);
  const f = agg.groups[0].final;
  assert.deepEqual([f.e_logw.n, f.e_logw.mean], [4, 2.5]);
  assert.deepEqual([f.nll.n, f.nll.mean], [2, 12]);
  close(f.nll.std, Math.sqrt(8));
  // the generic table tells the per-metric n when it differs from the group's
  const t = groupsTable(agg, agg.metrics, 2);
  const md = tableToMarkdown(t);
  assert.ok(md.includes("| all | 4 | 2.50 ± 1.29 | 12.00 ± 2.83 (n=2) |"), md);
});

Deno.test("aggregate: failed, cancelled, queued and running jobs are excluded and counted", () => {
  const records = [
    rec({ a: 1, seed: 0 }, { e_logw: 1 }),
    rec({ a: 1, seed: 1 }, { e_logw: 3 }),
    rec({ a: 1, seed: 2 }, { e_logw: 1000 }, "failed"),
    rec({ a: 1, seed: 3 }, undefined, "queued"),
    rec({ a: 2, seed: 0 }, { e_logw: 1000 }, "running"),
    rec({ a: 2, seed: 1 }, undefined, "cancelled"),
  ];
  const agg = aggregateFinal(records);
  assert.deepEqual(agg.status, { total: 6, done: 2, failed: 1, cancelled: 1, queued: 1, running: 1 });
  assert.equal(agg.groups.length, 2);
  const [g1, g2] = agg.groups;
  assert.deepEqual([g1.final.e_logw.mean, g1.final.e_logw.n], [2, 2]);
  assert.deepEqual(g1.status, { total: 4, done: 2, failed: 1, cancelled: 0, queued: 1, running: 0 });
  assert.equal(g2.final.e_logw.n, 0);
  assert.deepEqual(g2.status, { total: 2, done: 0, failed: 0, cancelled: 1, queued: 0, running: 1 });
  const md = tableToMarkdown(groupsTable(agg, ["e_logw"], 1));
  assert.ok(md.includes("| 1 | 2 | 1 | 2.0 ± 1.4 |"), md);
  assert.ok(md.includes("| 2 | 0 | 1 | — |"), md);
  assert.ok(md.includes("— no finished job with this metric."), md);
  const p = pivot(records, { rows: ["a"], columns: [], metric: "e_logw" })[0];
  assert.deepEqual(p.cells.map((r) => r[0].failed), [1, 1]);
  assert.equal(formatStat(p.cells[0][0].stat, 2, p.cells[0][0].failed), "2.00 ± 1.41‡");
});

Deno.test("aggregate: curves are mean ± std per step over seeds; a repeated step keeps the last record", () => {
  const h = (pairs: [number, number][]) =>
    pairs.map(([step, v]) => ({ step, seconds: step / 10, e_logw: v }));
  const records = [
    rec({ cv: "a", seed: 0 }, { e_logw: 0 }, "done", h([[0, 1], [10, 2], [20, 3]])),
    rec({ cv: "a", seed: 1 }, { e_logw: 0 }, "done", h([[0, 3], [10, 99], [10, 4], [20, 5]])),
    rec({ cv: "a", seed: 2 }, { e_logw: 0 }, "failed", h([[0, 1000]])),
    rec({ cv: "b", seed: 0 }, { e_logw: 0 }, "done", h([[0, 7], [20, 9]])),
  ];
  const curves = aggregateCurves(records, "e_logw");
  assert.equal(curves.length, 2);
  assert.equal(curves[0].label, "cv=a");
  assert.deepEqual(curves[0].points.map((p) => [p.step, p.mean, p.n]), [[0, 2, 2], [10, 3, 2], [20, 4, 2]]);
  close(curves[0].points[1].std, Math.SQRT2);
  assert.deepEqual(curves[1].points.map((p) => [p.step, p.mean, p.n]), [[0, 7, 1], [20, 9, 1]]);
  assert.ok(Number.isNaN(curves[1].points[0].std));
  assert.deepEqual(aggregateCurves(records, "nope"), []);
  const csv = parseCsv(curvesCsv(["cv"], curves));
  assert.deepEqual(csv[0], ["cv", "metric", "step", "mean", "std", "n"]);
  assert.deepEqual(csv[2], ["a", "e_logw", "10", "3", String(Math.SQRT2), "2"]);
  assert.deepEqual(csv[4], ["b", "e_logw", "0", "7", "", "1"]);
});

// ------------------------------------------------------------------------------------------------ pivots

/** Table-2-shaped records whose NLL encodes where it belongs: 1000·row + 10·col + seed. */
function table2Records(seeds = 3): JobRecord[] {
  const out: JobRecord[] = [];
  const rows = [["atb", 0], ["atb", 0.5], ["akl", 0], ["akl", 0.5]] as const;
  const cols = [["2spirals", "learned"], ["2spirals", "fixed"], ["8gaussians", "learned"]] as const;
  rows.forEach(([objective, alpha], ri) =>
    cols.forEach(([task, energy], ci) => {
      for (let seed = 0; seed < seeds; seed++) {
        out.push(rec({ objective, alpha, task, energy, seed }, { nll: 1000 * ri + 10 * ci + seed }));
      }
    })
  );
  return out.reverse(); // the pivot's order must not depend on record order beyond first appearance
}

Deno.test("pivot: every cell lands in its row and column", () => {
  const layout: ReportLayout = { rows: ["objective", "alpha"], columns: ["task", "energy"], metric: "nll" };
  const tables = pivot(table2Records(), layout);
  assert.equal(tables.length, 1);
  const t = tables[0];
  // records were reversed: strings come in first-appearance order, numbers ascending
  assert.deepEqual(t.rowKeys, [["akl", 0], ["akl", 0.5], ["atb", 0], ["atb", 0.5]]);
  // per-axis ranks: task 8gaussians < 2spirals, energy learned < fixed (first appearance in the records)
  assert.deepEqual(t.colKeys, [["8gaussians", "learned"], ["2spirals", "learned"], ["2spirals", "fixed"]]);
  const rowIndex = [2, 3, 0, 1];
  const colIndex = [2, 0, 1];
  t.cells.forEach((row, r) =>
    row.forEach((c, k) => {
      assert.equal(c.stat.n, 3);
      assert.equal(c.stat.mean, 1000 * rowIndex[r] + 10 * colIndex[k] + 1);
      assert.equal(c.stat.std, 1);
    })
  );
  assert.equal(t.exactLogZ, undefined);
  assert.equal(t.gap, undefined);
  const md = tableToMarkdown(pivotTable(t, "t2", "Table 2", 2));
  assert.ok(
    md.includes(
      "| objective | α | 8 Gaussians · learned energy | 2 spirals · learned energy | 2 spirals · fixed energy |",
    ),
    md,
  );
  assert.ok(md.includes("| αKL | 0.5 | 3021.00 ± 1.00 | 3001.00 ± 1.00 | 3011.00 ± 1.00 |"), md);
});

Deno.test("pivot: empty cells, single seeds, slices and records without the layout's axes", () => {
  const records = [
    rec({ cv: "none", beta: 0.2, lr: 1, seed: 0 }, { e_logw: 1 }),
    rec({ cv: "none", beta: 0.2, lr: 1, seed: 1 }, { e_logw: 3 }),
    rec({ cv: "learned", beta: 0.4, lr: 1, seed: 0 }, { e_logw: 5 }),
    rec({ cv: "none", beta: 0.2, lr: 2, seed: 0 }, { e_logw: 9 }),
    rec({ task: "other", seed: 0 }, { e_logw: 1e6 }), // no cv / beta: not in this layout's tables
  ];
  const layout: ReportLayout = {
    rows: ["cv"],
    columns: ["beta"],
    metric: "e_logw",
    decimals: 1,
    title: "T3",
  };
  const tables = pivot(records, layout);
  assert.equal(tables.length, 2);
  assert.deepEqual(tables.map((t) => t.slice), [{ lr: 1 }, { lr: 2 }]);
  const t = tables[0];
  assert.deepEqual(t.rowKeys, [["none"], ["learned"]]);
  assert.deepEqual(t.colKeys, [[0.2], [0.4]]);
  assert.deepEqual(t.cells.map((r) => r.map((c) => c.stat.n)), [[2, 0], [0, 1]]);
  const md = tableToMarkdown(pivotTable(t, "t3", "T3 (lr=1)"));
  assert.ok(md.includes("| control variate | β = 0.2 | β = 0.4 |"), md);
  assert.ok(md.includes("| none | 2.0 ± 1.4 | — |"), md);
  assert.ok(md.includes("| learned | — | 5.0† |"), md);
  assert.ok(md.includes("† a single finished seed (n = 1): no standard deviation."), md);
  assert.ok(md.includes("(n = 1–2 seeds per cell)"), md);
  assert.deepEqual(tables[1].cells.map((r) => r.map((c) => c.stat.mean)), [[9]]);
  assert.deepEqual(pivot(records, { rows: ["absent"], columns: [], metric: "e_logw" }), []);
});

Deno.test("pivot: exact log Z row and the gap exact_log_z − e_logw per seed", () => {
  const records = [
    rec({ cv: "none", beta: 0.2, seed: 0 }, { e_logw: 6, exact_log_z: 10 }),
    rec({ cv: "none", beta: 0.2, seed: 1 }, { e_logw: 8, exact_log_z: 10 }),
    rec({ cv: "learned", beta: 0.2, seed: 0 }, { e_logw: 9.5, exact_log_z: 10 }),
    rec({ cv: "learned", beta: 0.2, seed: 1 }, { e_logw: 9.5, exact_log_z: 10 }),
    rec({ cv: "none", beta: 0.4, seed: 0 }, { e_logw: 20, exact_log_z: 21 }),
  ];
  const t = pivot(records, { rows: ["cv"], columns: ["beta"], metric: "e_logw" })[0];
  assert.deepEqual(t.exactLogZ!.map((s) => [s.mean, s.n]), [[10, 4], [21, 1]]);
  assert.deepEqual(t.gap!.map((r) => r.map((c) => [c.stat.mean, c.stat.n])), [[[3, 2], [1, 1]], [[0.5, 2], [
    NaN,
    0,
  ]]]);
  close(t.gap![0][0].stat.std, Math.SQRT2);
  const main = tableToMarkdown(pivotTable(t, "t", "T"));
  assert.ok(main.includes("| *exact log Z* | 10.00 | 21.00 |"), main);
  const gap = tableToMarkdown(gapTable(t, "g", "G")!);
  assert.ok(gap.includes("| none | 3.00 ± 1.41 | 1.00† |"), gap);
  assert.ok(gap.includes("| learned | 0.50 ± 0.00 | — |"), gap);
  // not for metrics that are not log-weight estimates
  assert.equal(pivot(records, { rows: ["cv"], columns: ["beta"], metric: "exact_log_z" })[0].gap, undefined);
});

// ------------------------------------------------------------------------------------------------ formats

Deno.test("format: paper-style mean ± std, dagger for n = 1, dash when empty, no negative zero", () => {
  assert.equal(formatStat(meanStd([369.3, 370.2, 368.4]), 2), "369.30 ± 0.90");
  assert.equal(formatStat(meanStd([-140.76]), 2), "-140.76†");
  assert.equal(formatStat(meanStd([]), 2), "—");
  assert.equal(formatNumber(-0.0001, 2), "0.00");
  assert.equal(formatNumber(-0.006, 2), "-0.01");
  assert.equal(formatNumber(NaN, 2), "—");
});

Deno.test("csv: groups and pivot CSVs parse back to the exact statistics, with quoting", () => {
  const records = [
    rec({ name: 'a,"b"', beta: 0.1, seed: 0 }, { e_logw: 1 / 3, exact_log_z: 2 }),
    rec({ name: 'a,"b"', beta: 0.1, seed: 1 }, { e_logw: 2 / 3, exact_log_z: 2 }),
    rec({ name: "line\nbreak", beta: 0.2, seed: 0 }, { e_logw: -5 }),
    rec({ name: "line\nbreak", beta: 0.2, seed: 1 }, undefined, "failed"),
  ];
  const agg = aggregateFinal(records);
  const rows = parseCsv(groupsCsv(agg));
  assert.deepEqual(rows[0], [
    "name",
    "beta",
    "done",
    "failed",
    "cancelled",
    "queued",
    "running",
    "e_logw_mean",
    "e_logw_std",
    "e_logw_n",
    "exact_log_z_mean",
    "exact_log_z_std",
    "exact_log_z_n",
  ]);
  assert.equal(rows.length, 3);
  assert.deepEqual(rows[1].slice(0, 7), ['a,"b"', "0.1", "2", "0", "0", "0", "0"]);
  assert.equal(Number(rows[1][7]), agg.groups[0].final.e_logw.mean);
  assert.equal(Number(rows[1][8]), agg.groups[0].final.e_logw.std);
  assert.deepEqual(rows[2], ["line\nbreak", "0.2", "1", "1", "0", "0", "0", "-5", "", "1", "", "", "0"]);

  const t = pivot(records, { rows: ["name"], columns: ["beta"], metric: "e_logw" });
  const p = parseCsv(pivotCsv(t));
  assert.deepEqual(p[0], ["name", "beta", "metric", "mean", "std", "n", "failed"]);
  const cell = p.find((r) => r[0] === 'a,"b"' && r[1] === "0.1" && r[2] === "e_logw")!;
  assert.equal(Number(cell[3]), t[0].cells[0][0].stat.mean);
  assert.equal(Number(cell[4]), t[0].cells[0][0].stat.std);
  assert.deepEqual(p.find((r) => r[2] === "exact_log_z" && r[1] === "0.1"), [
    "",
    "0.1",
    "exact_log_z",
    "2",
    "0",
    "2",
    "",
  ]);
  const gap = p.find((r) => r[0] === 'a,"b"' && r[1] === "0.1" && r[2] === "exact_log_z-e_logw")!;
  close(Number(gap[3]), 1.5);
  assert.deepEqual(p.find((r) => r[0] === "line\nbreak" && r[1] === "0.2" && r[2] === "e_logw"), [
    "line\nbreak",
    "0.2",
    "e_logw",
    "-5",
    "",
    "1",
    "1",
  ]);
});

Deno.test("latex: specials are escaped and the table is a booktabs tabular", () => {
  assert.equal(
    escapeLatex("a_b & 50% $x #1 {y} ~z ^w \\"),
    "a\\_b \\& 50\\% \\$x \\#1 \\{y\\} \\textasciitilde{}z \\textasciicircum{}w \\textbackslash{}",
  );
  assert.equal(escapeLatex("3 ± 1 — x"), "3 $\\pm$ 1 --- x");
  const records = [
    rec({ objective: "a_tb", alpha: 0, task: "2spirals", energy: "learned", seed: 0 }, { nll: 20.1 }),
    rec({ objective: "a_tb", alpha: 0, task: "2spirals", energy: "learned", seed: 1 }, { nll: 20.3 }),
    rec({ objective: "a_tb", alpha: 0, task: "2spirals", energy: "fixed", seed: 0 }, { nll: 20 }),
    rec({ objective: "a_tb", alpha: 0, task: "8gaussians", energy: "learned", seed: 0 }, { nll: 19 }),
  ];
  const layout: ReportLayout = { rows: ["objective", "alpha"], columns: ["task", "energy"], metric: "nll" };
  const tex = tableToLatex(pivotTable(pivot(records, layout)[0], "t2", "NLL & 100% of_it", 2));
  const lines = tex.split("\n");
  assert.ok(lines.includes("\\begin{tabular}{llccc}"), tex);
  assert.ok(
    lines.includes("\\toprule") && lines.includes("\\midrule") && lines.includes("\\bottomrule"),
    tex,
  );
  assert.ok(tex.includes("\\caption{NLL \\& 100\\% of\\_it. "), tex);
  assert.ok(lines.includes(" &  & \\multicolumn{2}{c}{2 spirals} & 8 Gaussians \\\\"), tex);
  assert.ok(lines.includes("\\cmidrule(lr){3-4}\\cmidrule(lr){5-5}"), tex);
  assert.ok(
    lines.includes("objective & α & learned energy & fixed energy & learned energy \\\\"),
    tex,
  );
  assert.ok(lines.includes("a\\_tb & 0 & $20.20 \\pm 0.14$ & $20.00^{\\dag}$ & $19.00^{\\dag}$ \\\\"), tex);
  assert.ok(tex.includes("\\textsuperscript{\\dag} a single finished seed"), tex);
});

// ------------------------------------------------------------------------------------------------ plots and files

Deno.test("png: resvg output has the PNG signature and the stated size", async () => {
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="80"><rect width="120" height="80" ` +
    `fill="white"/><circle cx="60" cy="40" r="30" fill="#4c78a8"/><text x="5" y="15">±</text></svg>`;
  const png = await svgToPng(svg, { width: 240 });
  assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  assert.deepEqual(pngSize(png), { width: 240, height: 160 });
  assert.deepEqual(pngSize(await svgToPng(svg)), { width: 120, height: 80 });
  assert.throws(() => pngSize(new TextEncoder().encode("not a png at all, really not")), /not a PNG/);
});

const NO_EXTERNAL = [
  /(?:src|href|action|poster|data)\s*=\s*["']?\s*(?:https?:)?\/\//i,
  /url\(\s*["']?\s*(?:https?:)?\/\//i,
  /@import/i,
  /<script/i,
  /<link/i,
  /<iframe/i,
];

Deno.test("renderReport: every file, plots inlined, self-contained HTML", async () => {
  const records = [...syntheticIsing({ fail: [["learned", 0.4, 1]] }), ...syntheticDensities(2)];
  const r = await renderReport(records, [TABLE3_LAYOUT, TABLE2_LAYOUT], { pngScale: 1.5 });
  const names = [...r.files.keys()].sort();
  assert.deepEqual(names, [
    "curves.csv",
    "groups.csv",
    "groups.tex",
    "index.html",
    "plots/curve-e-logw.png",
    "plots/curve-e-logw.svg",
    "plots/curve-exact-kl.png",
    "plots/curve-exact-kl.svg",
    "plots/curve-log-z-hat.png",
    "plots/curve-log-z-hat.svg",
    "plots/curve-nll.png",
    "plots/curve-nll.svg",
    "plots/table-2-nll.png",
    "plots/table-2-nll.svg",
    "plots/table-3-e-log-w.png",
    "plots/table-3-e-log-w.svg",
    "table-2-nll.csv",
    "table-2-nll.tex",
    "table-3-e-log-w.csv",
    "table-3-e-log-w.tex",
    "tables.md",
  ]);
  assert.deepEqual(r.tables.map((t) => t.id), [
    "groups",
    "table-3-e-log-w",
    "table-3-e-log-w-gap",
    "table-2-nll",
  ]);
  const html = r.files.get("index.html") as string;
  for (const re of NO_EXTERNAL) assert.ok(!re.test(html), `index.html matches ${re}`);
  for (const p of r.plots) {
    assert.ok(html.includes(p.svg), `plot ${p.id} inlined`);
    const svg = r.files.get(`plots/${p.id}.svg`) as string;
    assert.ok(svg.startsWith("<svg") && svg.includes("<path"), p.id);
    const png = r.files.get(`plots/${p.id}.png`) as Uint8Array;
    const w = Number(/^<svg[^>]*\swidth="([\d.]+)"/.exec(svg)![1]);
    assert.equal(pngSize(png).width, Math.round(w * 1.5), p.id);
  }
  assert.ok(html.includes('<th scope="col">β = -0.4</th>'), "Table 3 header");
  assert.ok(html.includes("synthetic failure: loss became NaN"));
  const md = r.files.get("tables.md") as string;
  assert.ok(md.includes("75 jobs: 74 done, 1 failed."), md.slice(0, 300));
  assert.ok(md.includes("## Table 3: E[log w]\n"));
  assert.ok(md.includes("## Table 2: NLL\n"));
  // the curve plot of e_logw has one line per control variate in each β panel
  const curve = r.plots.find((p) => p.id === "curve-e-logw")!;
  assert.ok(curve.svg.includes("β = -0.4") && curve.svg.includes(">log Z<"), "paper labels");
  // numeric facets in numeric order, legends not truncated (no "…"), KL on a log scale
  const at = (s: string) => curve.svg.indexOf(`>${s}<`);
  assert.ok(at("β = -0.4") < at("β = 0.2") && at("β = 0.2") < at("β = 0.4"), "facets sorted numerically");
  assert.ok(!curve.svg.includes("…"));
  const kl = r.plots.find((p) => p.id === "curve-exact-kl")!;
  // deno-lint-ignore no-explicit-any
  const klLayers = (kl.spec as any).spec?.layer ?? (kl.spec as any).layer;
  assert.equal(klLayers[1].encoding.y.scale.type, "log");
  // coinciding curves stay visible: each group its own stroke width and dash
  assert.ok(klLayers[1].encoding.strokeWidth && klLayers[1].encoding.strokeDash);
  // without PNGs
  const noPng = await renderReport(records.slice(0, 6), [], { png: false });
  assert.ok([...noPng.files.keys()].every((k) => !k.endsWith(".png")));
  assert.deepEqual(noPng.pivots, []);
});

Deno.test("writeReport: reads the run's results store and writes RUN_DIR/report; CLI does the same", async () => {
  const { openStore } = await import("../coordinator/store.ts");
  const runDir = await Deno.makeTempDir({ prefix: "flowsweep-report-" });
  try {
    const store = openStore(runDir);
    const records = syntheticIsing({
      cvs: ["none", "learned"],
      betas: [0.2, 0.4],
      seeds: 2,
      fail: [["none", 0.4, 0]],
    });
    store.addJobs(records.map((r, seq) => ({
      job: { id: r.id, sweep: r.sweep, stage: r.stage, kind: r.kind, config: r.config },
      deps: [],
      seq,
    })));
    for (const r of records) {
      store.markRunning(r.id, "w1", 1);
      for (const h of r.history) store.appendHistory(r.id, 1, h);
      if (r.status === "done") store.markDone(r.id, "w1", 1, r.final);
      else store.markFailed(r.id, "w1", 1, r.error!);
    }
    store.setMeta({ name: "synthetic-ising", layouts: [TABLE3_LAYOUT], createdAt: 1 });
    store.close();

    await Deno.mkdir(`${runDir}/report/plots`, { recursive: true });
    await Deno.writeTextFile(`${runDir}/report/plots/stale.svg`, "<svg/>");
    await Deno.writeTextFile(`${runDir}/report/keep.txt`, "not ours");
    const out = await writeReport(runDir);
    assert.equal(out.dir, `${runDir}/report`);
    assert.equal(out.records, 8);
    assert.deepEqual([out.status.done, out.status.failed], [7, 1]);
    const onDisk: string[] = [];
    for await (const e of Deno.readDir(out.dir)) if (e.isFile) onDisk.push(e.name);
    for await (const e of Deno.readDir(`${out.dir}/plots`)) onDisk.push(`plots/${e.name}`);
    assert.deepEqual(onDisk.sort(), [...out.files, "keep.txt"].sort());
    assert.ok(out.files.includes("table-3-e-log-w.tex") && out.files.includes("plots/curve-exact-kl.png"));
    const md = await Deno.readTextFile(`${out.dir}/tables.md`);
    // learned cv at beta=0.2 from the store equals the same aggregation of the in-memory records
    const expected = pivot(records, TABLE3_LAYOUT)[0];
    const row = expected.rowKeys.findIndex((k) => k[0] === "learned");
    assert.ok(
      md.includes(`| learned | ${expected.cells[row].map((c) => formatStat(c.stat, 2)).join(" | ")} |`),
      md,
    );
    assert.ok(md.includes("| none | ") && md.includes("‡"), md);

    // the CLI: `report RUN_DIR --out DIR --no-png`, and a usage error for a directory without a store
    const main = new URL("../main.ts", import.meta.url).pathname;
    const cli = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, "report", runDir, "--out", `${runDir}/r2`, "--no-png"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stdout = new TextDecoder().decode(cli.stdout);
    assert.equal(cli.code, 0, new TextDecoder().decode(cli.stderr));
    assert.ok(stdout.includes("report: 8 jobs (7 done, 1 failed"), stdout);
    assert.equal(
      await Deno.readTextFile(`${runDir}/r2/table-3-e-log-w.csv`),
      await Deno.readTextFile(`${out.dir}/table-3-e-log-w.csv`),
    );
    const bad = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", main, "report", `${runDir}/nope`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(bad.code, 2);
    assert.match(new TextDecoder().decode(bad.stderr), /^error: no results store at /);
  } finally {
    await Deno.remove(runDir, { recursive: true });
  }
});

Deno.test("pivot: a later row axis an objective does not use shows as —; a missing column axis excludes the record", () => {
  const layout: ReportLayout = { rows: ["objective", "div_alpha"], columns: ["task"], metric: "exact_tv" };
  const records = [
    rec({ objective: "atb", task: "ising", seed: 0 }, { exact_tv: 0.1 }),
    rec({ objective: "atb", task: "ising", seed: 1 }, { exact_tv: 0.3 }),
    rec({ objective: "renyi", div_alpha: 2, task: "ising", seed: 0 }, { exact_tv: 0.5 }),
    rec({ objective: "renyi", div_alpha: 2, seed: 0 }, { exact_tv: 9 }), // no task: not in this layout
  ];
  const [t] = pivot(records, layout);
  assert.deepEqual(t.rowKeys, [["atb", undefined], ["renyi", 2]]);
  assert.deepEqual(t.colKeys, [["ising"]]);
  assert.equal(t.cells[0][0].stat.n, 2);
  assert.ok(Math.abs(t.cells[0][0].stat.mean - 0.2) < 1e-12);
  assert.equal(t.cells[1][0].stat.mean, 0.5);
  assert.ok(tableToMarkdown(pivotTable(t, "tv", "TV")).includes("| αTB | — |"));
});

// ------------------------------------------------------------------------------- grouping (issue 10, item 1)

Deno.test("aggregate: an axis derived one-to-one from the seed is never a grouping key", () => {
  const records: JobRecord[] = [];
  for (const alpha of [0, 1]) {
    for (let seed = 0; seed < 3; seed++) {
      records.push(rec({ alpha, seed, test_seed: 1000 + seed }, { nll: alpha + seed }));
    }
  }
  const va = varyingAxes(records);
  assert.deepEqual(va.axes, ["alpha"]);
  assert.deepEqual(va.derived, ["test_seed"]);
  const agg = aggregateFinal(records);
  assert.deepEqual(agg.groups.map((g) => [g.label, g.final.nll.n]), [["alpha=0", 3], ["alpha=1", 3]]);
  // a key set for one job only (an include) is not derived from the seed: it still separates its group
  records.push(rec({ alpha: 0, seed: 0, test_seed: 1000, lr: 0.1 }, { nll: 5 }));
  assert.deepEqual(varyingAxes(records).axes, ["alpha", "lr"]);
  // with the keys the user varied known, nothing else splits a cell
  const p = pivot(
    records,
    { rows: ["alpha"], columns: [], metric: "nll" },
    ignoredAxes(records, ["alpha", "seed"]),
  );
  assert.equal(p.length, 1);
  assert.deepEqual(p[0].cells.map((r) => r[0].stat.n), [4, 3]);
});

Deno.test("report: a 2-seed density sweep has n = 2 cells, one test set and no test-seed axis", async () => {
  const spec = [
    "name: dens2",
    "base: { task: 8gaussians, bits: 4, steps: 10, batch: 8, hidden: [8], eval_every: 5, eval_samples: 16 }",
    "matrix: { alpha: [0, 1] }",
    "seeds: 2",
    "report: { rows: [alpha], columns: [task], metric: nll }",
  ].join("\n");
  const plan = loadSweep(spec, "dens2.yaml");
  assert.equal(plan.jobs.length, 4);
  // the held-out test set derives from the task: one test seed for every seed
  assert.equal(new Set(plan.jobs.map((j) => j.job.config.test_seed)).size, 1);
  const records = plan.jobs.map((j, i) =>
    rec(j.job.config, { nll: 10 + i, test_seed: j.job.config.test_seed as number }, "done", [
      { step: 5, nll: 11 + i, test_seed: j.job.config.test_seed as number },
    ])
  );
  for (const varied of [undefined, plan.varied]) {
    const out = await renderReport(records, plan.layouts, { png: false, varied });
    assert.deepEqual(out.aggregate.axes, ["alpha"]);
    assert.deepEqual(out.pivots[0][0].cells.map((r) => r.map((c) => c.stat.n)), [[2], [2]]);
    assert.ok(![...out.files.keys()].some((f) => /test-seed/.test(f)), [...out.files.keys()].join(" "));
  }
  // the seed-derived test seed of older runs is not an axis either
  const old = records.map((r) => ({
    ...r,
    config: { ...r.config, test_seed: 7 + (r.config.seed as number) },
  }));
  const agg = aggregateFinal(old);
  assert.deepEqual(agg.axes, ["alpha"]);
  assert.deepEqual(agg.groups.map((g) => g.final.nll.n), [2, 2]);
});

Deno.test("plots: facets of a numeric axis come in numeric order, whatever the order of the data", async () => {
  const curves = [0.8, -0.2, 1, -1].map((beta) => ({
    key: String(beta),
    axes: { beta, cv: "learned" },
    label: `beta=${beta}`,
    metric: "exact_kl",
    points: [{ step: 0, mean: 1, std: 0.1, n: 2 }, { step: 10, mean: 0.01, std: 0.001, n: 2 }],
  }));
  curves.push({ ...curves[0], key: "x", axes: { beta: 0.8, cv: "none" } });
  const svg = await specToSvg(curveSpec("exact_kl", curves, { facetAxes: ["beta"] }));
  const at = (s: string) => svg.indexOf(`>${s}<`);
  const order = ["β = -1", "β = -0.2", "β = 0.8", "β = 1"].map(at);
  assert.ok(order.every((p) => p >= 0), "every facet labelled");
  assert.deepEqual([...order].sort((a, b) => a - b), order);
});

Deno.test("heat maps are vega-lite rect marks: zero cells dropped, equal neighbours in a row merged", async () => {
  const grid = { nx: 3, ny: 2, values: Float64Array.of(0, 1, 1, 2, 0, 3), x0: 0, x1: 3, y0: -1, y1: 1 };
  assert.deepEqual(heatmapRects(grid), [
    { x: 1, x2: 3, y: -1, y2: 0, v: 1 },
    { x: 0, x2: 1, y: 0, y2: 1, v: 2 },
    { x: 2, x2: 3, y: 0, y2: 1, v: 3 },
  ]);
  const spec = heatmapSpec(grid, { title: "t<1>", scale: "log" });
  assert.equal((spec.mark as { type: string }).type, "rect");
  // deno-lint-ignore no-explicit-any
  assert.equal((spec.encoding as any).color.scale.type, "log");
  const svg = await heatmapSvg(grid, { title: "t<1>" });
  assert.ok(svg.startsWith("<svg") && svg.includes("t&lt;1&gt;"));
  assert.equal((svg.match(/aria-roledescription="rect mark"/g) ?? []).length, 3);
});
