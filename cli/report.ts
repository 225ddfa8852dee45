/**
 * `flowsweep report RUN_DIR`: aggregate a run's results store into RUN_DIR/report/ (tables.md, CSV, LaTeX,
 * plots as SVG and PNG, and a self-contained index.html).
 */
import type { Command } from "commander";
import type { ReportLayout } from "../core/sweep/job.ts";
import { numericMetrics } from "../core/sweep/aggregate.ts";
import { suggest } from "../core/sweep/spec.ts";
import { jobMetrics } from "../core/train/metrics.ts";
import { openStore } from "../coordinator/store.ts";
import { UsageError } from "./usage.ts";

/** Parses `rows:columns:metric[:decimals]`, axes comma-separated, e.g. `objective,alpha:task,energy:nll:3`. */
export function parseLayout(raw: string): ReportLayout {
  const parts = raw.split(":");
  if (parts.length < 3 || parts.length > 4) {
    throw new UsageError(`--layout must be rows:columns:metric[:decimals], got "${raw}"`);
  }
  const axes = (s: string) => s.split(",").map((a) => a.trim()).filter((a) => a.length > 0);
  const [rows, columns, metric, decimals] = parts;
  if (metric.trim() === "") throw new UsageError(`--layout needs a metric, got "${raw}"`);
  const layout: ReportLayout = { rows: axes(rows), columns: axes(columns), metric: metric.trim() };
  if (decimals !== undefined) {
    const d = Number(decimals);
    if (!Number.isInteger(d) || d < 0 || d > 12) {
      throw new UsageError(`--layout decimals must be an integer 0..12, got "${decimals}"`);
    }
    layout.decimals = d;
  }
  return layout;
}

/**
 * `--layout` and `--metrics` must name what the run's jobs have: layout keys are config keys, metrics are
 * emitted by the jobs (core/train/metrics.ts) or present in their records. Otherwise a UsageError with a
 * suggestion (issue 10, item 4).
 */
function checkRequest(runDir: string, layouts: ReportLayout[], metrics: string[]): void {
  if (layouts.length === 0 && metrics.length === 0) return;
  const st = openStore(runDir, { readOnly: true });
  let records;
  try {
    records = st.records();
  } finally {
    st.close();
  }
  const known = new Set<string>();
  const keys = new Set<string>(["stage"]);
  for (const r of records) {
    for (const m of jobMetrics(r.kind, r.config)) known.add(m);
    for (const k of Object.keys(r.config)) keys.add(k);
  }
  for (const m of numericMetrics(records.flatMap((r) => [r.final, ...r.history]))) known.add(m);
  const list = [...known];
  for (const l of layouts) {
    for (const k of [...l.rows, ...l.columns]) {
      if (!keys.has(k)) {
        throw new UsageError(
          `--layout key "${k}" is not a config key of this run's jobs${suggest(k, [...keys])}`,
        );
      }
    }
    if (!known.has(l.metric)) {
      throw new UsageError(
        `--layout metric "${l.metric}" is not a metric of this run's jobs${suggest(l.metric, list)}`,
      );
    }
  }
  for (const m of metrics) {
    if (!known.has(m)) {
      throw new UsageError(`--metrics: "${m}" is not a metric of this run's jobs${suggest(m, list)}`);
    }
  }
}

export function register(program: Command): void {
  program
    .command("report")
    .description("write tables (Markdown, CSV, LaTeX), plots (SVG, PNG) and index.html into RUN_DIR/report")
    .argument("<runDir>", "run directory holding results.sqlite")
    .option("--out <dir>", "output directory (default RUN_DIR/report)")
    .option(
      "--layout <rows:columns:metric[:decimals]>",
      "table layout, repeatable (replaces the sweep's layouts), e.g. objective,alpha:task,energy:nll:3",
      (v: string, prev: ReportLayout[] = []) => [...prev, parseLayout(v)],
    )
    .option("--metrics <list>", "final metrics of the all-groups table, comma-separated")
    .option("--no-png", "skip PNG rendering (SVG only)")
    .action(
      async (
        runDir: string,
        o: { out?: string; layout?: ReportLayout[]; metrics?: string; png: boolean },
      ) => {
        const { storePath } = await import("../coordinator/store.ts");
        try {
          await Deno.stat(storePath(runDir));
        } catch {
          throw new UsageError(`no results store at ${storePath(runDir)} (is "${runDir}" a run directory?)`);
        }
        checkRequest(
          runDir,
          o.layout ?? [],
          o.metrics?.split(",").map((m) => m.trim()).filter(Boolean) ?? [],
        );
        const { writeReport } = await import("../report/index.ts");
        const t0 = performance.now();
        // Writing RUN_DIR/report writes the run directory: it takes the run's lock (a running sweep holds it).
        const { openStore } = await import("../coordinator/store.ts");
        const lockStore = o.out === undefined ? openStore(runDir) : null;
        let out;
        try {
          const token = lockStore?.acquireLock("report");
          try {
            out = await writeReport(runDir, {
              outDir: o.out,
              layouts: o.layout,
              metrics: o.metrics?.split(",").map((m) => m.trim()).filter(Boolean),
              png: o.png,
              generatedAt: new Date().toISOString(),
            });
          } finally {
            if (token !== undefined) lockStore?.releaseLock(token);
          }
        } finally {
          lockStore?.close();
        }
        const s = out.status;
        console.log(
          `report: ${out.records} jobs (${s.done} done, ${s.failed} failed, ${s.running} running, ${s.queued} ` +
            `queued) → ${out.dir}/ (${out.files.length} files, ${
              ((performance.now() - t0) / 1000).toFixed(1)
            } s)`,
        );
        console.log(`  ${out.dir}/index.html`);
        console.log(`  ${out.dir}/tables.md`);
      },
    );
}
