/**
 * `sweep SPEC [KEY=VALUE ...] [--run-dir DIR] [--workers N] [--nats URL] [--resume] [--extend] [--rerun-failed] [--dry-run]`
 *
 * Validates and expands the spec (a bad spec: errors naming file:line:column, exit 2, nothing written), then
 * runs the sweep: embedded by default (in-process queue, N local worker threads), or over NATS JetStream
 * with `--nats`. Ctrl-C cancels cleanly (exit 130; resume with `--resume`). Resuming with an edited spec is
 * refused (exit 2, with a diff of the spec) unless `--extend` adds its new jobs (core/sweep/resume.ts).
 * Exit 0 when every job is done, 1 when some failed. Writes the report to RUN_DIR/report/ when report/index.ts provides `writeReport`.
 */
import type { Command } from "commander";
import { loadSweep, type SweepPlan } from "../core/sweep/expand.ts";
import { type Override, parseOverride, textWithOverrides } from "../core/sweep/overrides.ts";
import { checkResume, resumeRefusal } from "../core/sweep/resume.ts";
import { SpecError } from "../core/sweep/spec.ts";
import { createProgress, type ProgressMode } from "../coordinator/progress.ts";
import { defaultRunDir, hasStore } from "../coordinator/rundir.ts";
import { newRunId, RunDirError, runSweep, type SweepOutcome } from "../coordinator/run.ts";
import { engineVersion } from "../workers/version.ts";
import { openStore } from "../coordinator/store.ts";
import { MemoryQueue } from "../transport/memory.ts";
import type { JobQueue, JobSource } from "../transport/types.ts";
import { parseChoice, parsePositiveInt, UsageError } from "./usage.ts";
import { parsePort, startDashboard } from "./serve.ts";
import { BACKEND_NAMES } from "../backends/select.ts";
import { DEVICE_JOB_BACKENDS, isDeviceBackend } from "../workers/train_job.ts";
import { MAX_SEED_BATCH } from "../core/sweep/limits.ts";

/** What `--backend` / spec `backend:` take: the CPU engine's backends and the device engine's. */
const JOB_BACKENDS = [...BACKEND_NAMES, ...DEVICE_JOB_BACKENDS] as const;
import { addNatsConnectionOptions, type NatsCliFlags, natsFlagsFrom } from "./worker.ts";

export interface SweepFlags extends NatsCliFlags {
  runDir?: string;
  prefix?: string;
  workers?: string;
  resume?: boolean;
  extend?: boolean;
  rerunFailed?: boolean;
  dryRun?: boolean;
  backend?: string;
  seedBatch?: string;
  progress?: string;
  report?: boolean;
  /** `--serve [PORT]`: true without a port. */
  serve?: string | true;
  /** KEY=VALUE overrides of the spec (core/sweep/overrides.ts). */
  overrides?: string[];
  writeBaseline?: string;
  reuse?: boolean;
}

export function register(program: Command): void {
  const cmd = program
    .command("sweep")
    .description("expand a sweep spec into jobs and run them (embedded by default, or over NATS)")
    .argument("<spec>", "sweep spec (YAML), e.g. sweeps/smoke.yaml")
    .argument(
      "[overrides...]",
      "KEY=VALUE overrides of the spec, e.g. steps=200 matrix.beta=[0.2,0.4] seeds=3 (value: YAML)",
    )
    .option("--run-dir <dir>", "run directory (default: runs/<name>)")
    .option("--workers <n>", "local workers (default: number of cores; with --nats: 0)")
    .option("--nats <url>", "use NATS JetStream at this URL instead of the in-process queue")
    .option(
      "--resume",
      "continue a run: finished jobs are never re-run; refused (exit 2) if the spec changed",
    )
    .option("--extend", "resume a run whose spec was edited to add jobs: the new jobs join the run")
    .option("--rerun-failed", "run only the jobs that failed")
    .option(
      "--reuse",
      "with --nats: take results that other runs on the broker already computed for the same jobs " +
        "(each is stored with where it came from); by default every new run computes anew",
    )
    .option("--dry-run", "print the expanded job table and counts; run nothing, write nothing")
    .option(
      "--backend <name>",
      `compute backend of the local workers' train jobs: ${JOB_BACKENDS.join("|")} ` +
        "(default: the spec's backend:, else auto)",
    )
    .option(
      "--seed-batch <K>",
      "device backends: train the seeds of each cell K at a time in one program (default: the spec's " +
        "seed_batch:, else 1); each seed is stored as its own job",
    )
    .option("--progress <mode>", "auto | bar | lines | none", "auto")
    .option("--no-report", "do not write RUN_DIR/report/ at the end")
    .option(
      "--write-baseline <file>",
      "when every job is done, write the regression gate's baseline (see gate)",
    )
    .option("--prefix <prefix>", "NATS subject/stream/bucket prefix", "flowsweep")
    .option(
      "--serve [port]",
      "serve a live dashboard on 127.0.0.1 (default port 8787) while the sweep runs, and after it until Ctrl-C",
    );
  addNatsConnectionOptions(cmd)
    .action(async (specPath: string, overrides: string[], flags: SweepFlags) => {
      const code = await sweepCommand(specPath, { ...flags, overrides });
      if (code !== 0) Deno.exit(code);
    });
}

/** Reads and expands a spec with its overrides; `text` is what the run keeps (the file text + overrides). */
export function readPlan(
  specPath: string,
  overrideTexts: readonly string[] = [],
): { plan: SweepPlan; text: string } {
  let overrides: Override[];
  try {
    overrides = overrideTexts.map(parseOverride);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  let text: string;
  try {
    text = Deno.readTextFileSync(specPath);
  } catch (err) {
    throw new UsageError(`cannot read spec ${specPath}: ${err instanceof Error ? err.message : err}`);
  }
  try {
    return { plan: loadSweep(text, specPath, { overrides }), text: textWithOverrides(text, overrides) };
  } catch (err) {
    if (err instanceof SpecError) throw new UsageError(err.message);
    throw err;
  }
}

function cell(v: unknown): string {
  return v === undefined ? "" : typeof v === "string" ? v : JSON.stringify(v);
}

/** The dry-run table: one line per job, then counts. With `statuses`, a status column from an existing run. */
export function jobTable(
  plan: SweepPlan,
  statuses?: Map<string, { status: string; attempts: number }>,
): string {
  const head = ["#", "id", "stage", "kind", ...plan.axes, "deps"];
  if (statuses) head.push("status");
  const rows = plan.jobs.map((p, i) => {
    const r = [String(i + 1), p.job.id, p.job.stage, p.job.kind, ...plan.axes.map((k) => cell(p.axes[k]))];
    r.push(p.deps.length ? p.deps.join(",") : "-");
    if (statuses) r.push(statuses.get(p.job.id)?.status ?? "new");
    return r;
  });
  const widths = head.map((h, c) => Math.max(h.length, ...rows.map((r) => r[c].length)));
  const fmt = (r: string[]) => r.map((x, c) => x.padEnd(widths[c])).join("  ").trimEnd();
  const lines = [fmt(head), ...rows.map(fmt)];
  const byStage = plan.stages.map((s) => `${s.name}: ${s.jobs}`).join(", ");
  lines.push(
    "",
    `${plan.counts.total} jobs (${byStage}); excluded ${plan.counts.excluded}, included ${plan.counts.included}, ` +
      `duplicates dropped ${plan.counts.duplicates}`,
  );
  if (statuses) {
    const c: Record<string, number> = {};
    for (const p of plan.jobs) {
      const s = statuses.get(p.job.id)?.status ?? "new";
      c[s] = (c[s] ?? 0) + 1;
    }
    lines.push(`in the run directory: ${Object.entries(c).map(([k, v]) => `${v} ${k}`).join(", ")}`);
  }
  return lines.join("\n");
}

/** Calls `writeReport(runDir)` from report/index.ts if it exists. */
async function writeReportIfAvailable(runDir: string): Promise<boolean> {
  const url = new URL("../report/index.ts", import.meta.url);
  try {
    Deno.statSync(url);
  } catch {
    console.error("report: skipped (report/index.ts is not available)");
    return true;
  }
  const mod = await import(url.href) as { writeReport?: (runDir: string) => unknown };
  if (typeof mod.writeReport !== "function") {
    console.error("report: skipped (report/index.ts does not export writeReport)");
    return true;
  }
  try {
    console.error(`report: aggregating the results into tables and plots in ${runDir}/report/ …`);
    await mod.writeReport(runDir);
    console.error(`report: ${runDir}/report/`);
    return true;
  } catch (err) {
    console.error(`report failed: ${err instanceof Error ? err.stack ?? err.message : err}`);
    return false;
  }
}

function readStored(runDir: string) {
  const st = openStore(runDir, { readOnly: true });
  try {
    return { meta: st.meta(), ids: st.jobs().map((j) => j.id), runId: st.value("runId") };
  } finally {
    st.close();
  }
}

/** A JobSource that connects on first use (the pool's source factory is synchronous). */
function lazySource(open: () => Promise<JobSource>): JobSource {
  let src: JobSource | null = null;
  return {
    async *leases(signal: AbortSignal) {
      src = await open();
      yield* src.leases(signal);
    },
    close: async () => {
      await src?.close();
    },
  };
}

/**
 * The run directory to write: refused when empty, when it is a file, or when it cannot be created. Checks only;
 * creates nothing (the coordinator creates it once every other input is checked).
 */
export function checkRunDir(runDir: string): string {
  if (runDir.trim() === "") throw new UsageError("--run-dir must not be empty");
  let info: Deno.FileInfo | null = null;
  try {
    info = Deno.statSync(runDir);
  } catch (err) {
    if (err instanceof Deno.errors.NotADirectory) {
      // Some ancestor is a file: name it.
      let p = runDir.replace(/\/+$/, "");
      while (p.includes("/")) {
        p = p.slice(0, p.lastIndexOf("/")) || "/";
        try {
          if (Deno.statSync(p).isFile) {
            throw new UsageError(`--run-dir ${runDir}: ${p} is a file, not a directory`);
          }
        } catch (e) {
          if (e instanceof UsageError) throw e;
        }
        if (p === "/") break;
      }
    }
    if (!(err instanceof Deno.errors.NotFound)) {
      throw new UsageError(`--run-dir ${runDir}: ${err instanceof Error ? err.message.split(":")[0] : err}`);
    }
  }
  if (info && !info.isDirectory) throw new UsageError(`--run-dir ${runDir} is a file, not a directory`);
  if (!info) {
    // The nearest existing ancestor must be a writable directory.
    let p = runDir.replace(/\/+$/, "");
    while (true) {
      const i = p.lastIndexOf("/");
      p = i > 0 ? p.slice(0, i) : i === 0 ? "/" : ".";
      try {
        const a = Deno.statSync(p);
        if (!a.isDirectory) throw new UsageError(`--run-dir ${runDir}: ${p} is a file, not a directory`);
        if (p.startsWith("/proc") || p.startsWith("/sys")) {
          throw new UsageError(`--run-dir ${runDir}: ${p} is not writable`);
        }
        break;
      } catch (err) {
        if (err instanceof UsageError) throw err;
        if (!(err instanceof Deno.errors.NotFound)) {
          throw new UsageError(`--run-dir ${runDir}: ${err instanceof Error ? err.message : err}`);
        }
        if (p === "." || p === "/") break;
      }
    }
  }
  return runDir;
}

/**
 * The backend and seed batch a sweep runs with (flags over the spec's keys), checked: `seed_batch` > 1 needs a
 * device backend, and every train job must be one the device engine runs when the backend is one.
 */
export async function sweepBackend(
  plan: SweepPlan,
  flags: Pick<SweepFlags, "backend" | "seedBatch">,
): Promise<{ backend: string; seedBatch: number }> {
  const backend = flags.backend !== undefined
    ? parseChoice("--backend", flags.backend, JOB_BACKENDS)
    : plan.backend !== undefined
    ? parseChoice(`${plan.file}: backend`, plan.backend, JOB_BACKENDS)
    : "auto";
  let seedBatch = plan.seedBatch ?? 1;
  if (flags.seedBatch !== undefined) {
    const k = Number(flags.seedBatch);
    if (!Number.isInteger(k) || k < 1 || k > MAX_SEED_BATCH) {
      throw new UsageError(
        `--seed-batch must be an integer in [1, ${MAX_SEED_BATCH}], got "${flags.seedBatch}"`,
      );
    }
    seedBatch = k;
  }
  if (seedBatch > 1 && !isDeviceBackend(backend)) {
    throw new UsageError(
      `seed_batch ${seedBatch} needs a device backend (${DEVICE_JOB_BACKENDS.join("|")}: --backend or the ` +
        `spec's backend:); backend ${backend} trains one seed per job`,
    );
  }
  if (isDeviceBackend(backend)) {
    const { deviceRunUnsupported } = await import("../backends/device/train.ts");
    for (const p of plan.jobs) {
      if (p.job.kind !== "train") continue;
      const why = deviceRunUnsupported(p.job.config as Parameters<typeof deviceRunUnsupported>[0]);
      if (why) throw new UsageError(`backend ${backend}: job ${p.job.id} (stage ${p.job.stage}): ${why}`);
    }
  }
  return { backend, seedBatch };
}

export async function sweepCommand(specPath: string, flags: SweepFlags): Promise<number> {
  if (flags.nats !== undefined && flags.nats.trim() === "") {
    throw new UsageError("--nats needs a server URL (omit it to run embedded)");
  }
  if (flags.runDir !== undefined) checkRunDir(flags.runDir);
  const { plan, text } = readPlan(specPath, flags.overrides ?? []);
  const { backend, seedBatch } = await sweepBackend(plan, flags);
  if (flags.writeBaseline !== undefined && !plan.gate) {
    throw new UsageError(
      `--write-baseline: ${specPath} has no gate: section (what would the baseline hold?)`,
    );
  }
  const progressMode = parseChoice(
    "--progress",
    flags.progress ?? "auto",
    ["auto", "bar", "lines", "none"] as const,
  );
  const workers = flags.workers !== undefined
    ? (flags.workers === "0" && flags.nats ? 0 : parsePositiveInt("--workers", flags.workers))
    : flags.nats
    ? 0
    : navigator.hardwareConcurrency || 1;
  const runDir = checkRunDir(flags.runDir ?? defaultRunDir(plan.name));
  const servePort = flags.serve !== undefined ? parsePort("--serve", flags.serve) : undefined;
  if (flags.extend && !flags.rerunFailed) flags = { ...flags, resume: true };
  if (flags.resume && flags.rerunFailed) {
    throw new UsageError("use either --resume or --rerun-failed, not both");
  }

  if (flags.dryRun) {
    let statuses: Map<string, { status: string; attempts: number }> | undefined;
    if (hasStore(runDir)) {
      const st = openStore(runDir, { readOnly: true });
      statuses = new Map(st.jobs().map((j) => [j.id, { status: j.status, attempts: j.attempts }]));
      st.close();
    }
    console.log(jobTable(plan, statuses));
    if (seedBatch > 1) {
      const { groupSeeds } = await import("../core/sweep/seed_batch.ts");
      const { publish, units } = groupSeeds(plan.jobs.map((p) => p.job), seedBatch);
      console.log(
        `seed_batch ${seedBatch} on ${backend}: the ${plan.counts.total} jobs run as ${publish.length} unit(s) ` +
          `(${units.size} of several seeds, each one program; every seed stored as its own job)`,
      );
    }
    return 0;
  }

  if (flags.reuse && !flags.nats) {
    throw new UsageError(
      "--reuse needs --nats (results are reused from other runs on the broker; an embedded run computes anew)",
    );
  }
  // The sweep run's id: scopes this run on a shared broker; a resumed run keeps its own.
  let runId = newRunId();
  // A store without a sweep in it (a first run that could not even store its jobs: disk full) is empty.
  const stored = hasStore(runDir) ? readStored(runDir) : null;
  if (stored && (stored.meta?.name || stored.ids.length > 0)) {
    if (!flags.resume && !flags.rerunFailed) {
      throw new UsageError(
        `${runDir} already holds a sweep; pass --resume or --rerun-failed, or another --run-dir`,
      );
    }
    const { meta, ids: storedIds, runId: storedRun } = stored;
    if (typeof storedRun === "string" && storedRun !== "") runId = storedRun;
    if (meta?.name && meta.name !== plan.name) {
      throw new UsageError(`${runDir} holds sweep "${meta.name}", not "${plan.name}"`);
    }
    const refusal = resumeRefusal(
      checkResume({ ids: storedIds, specText: meta?.specText }, {
        ids: plan.jobs.map((p) => p.job.id),
        specText: text,
      }),
      { runDir, specPath, extend: flags.extend ?? false },
    );
    if (refusal) throw new UsageError(refusal);
  } else if (flags.rerunFailed) {
    throw new UsageError(`--rerun-failed: ${runDir} holds no sweep to re-run`);
  }

  let queue: JobQueue;
  let source: ((worker: string) => JobSource) | undefined;
  if (flags.nats) {
    const nats = await import("../transport/nats.ts");
    const conn = natsFlagsFrom({ ...flags, nats: flags.nats });
    const settings = { prefix: flags.prefix, maxAttempts: plan.maxAttempts };
    const codeVersion = engineVersion();
    try {
      queue = await nats.NatsJobQueue.connect({ ...conn, name: "flowsweep-coordinator" }, {
        ...settings,
        sweep: plan.name,
        run: runId,
      });
    } catch (err) {
      if (err instanceof nats.NatsFlagError || err instanceof nats.NatsConnectError) {
        throw new UsageError(err.message);
      }
      throw new UsageError(
        `NATS at ${nats.redactUrl(flags.nats)}: ${(err as Error).message?.split("\n")[0] ?? err}`,
      );
    }
    const host = Deno.hostname();
    source = (worker) =>
      lazySource(() =>
        nats.NatsJobSource.connect({ ...conn, name: `flowsweep-worker-${host}-${worker}` }, {
          ...settings,
          worker: `${host}-${worker}`,
          codeVersion,
        })
      );
  } else {
    const mq = new MemoryQueue({ maxAttempts: plan.maxAttempts, codeVersion: engineVersion() });
    queue = mq;
    source = (worker) => mq.source(worker);
  }

  // The live dashboard reads the run's store beside the coordinator (report/serve.ts).
  const dashboardStop = new AbortController();
  const dashboard = servePort !== undefined
    ? await startDashboard(runDir, servePort, dashboardStop.signal, workers)
    : undefined;

  const ac = new AbortController();
  let interrupts = 0;
  const onSigint = () => {
    interrupts++;
    if (interrupts === 1) {
      console.error("\ncancelling (Ctrl-C again to quit at once)…");
      ac.abort(new Error("cancelled"));
    } else Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSigint);
  const display = createProgress(progressMode as ProgressMode);
  const mode = flags.nats ? `NATS ${flags.nats}` : "embedded";
  const banner = () =>
    console.error(
      `sweep ${plan.name}: ${plan.counts.total} jobs, ${mode}, ${workers} local worker(s), run dir ${runDir}`,
    );
  let outcome: SweepOutcome;
  try {
    outcome = await runSweep({
      spec: plan,
      runDir,
      queue,
      workers: workers > 0 ? { count: workers, source: source!, backend } : undefined,
      resume: flags.resume,
      rerunFailed: flags.rerunFailed,
      runId,
      reuse: flags.reuse,
      seedBatch,
      signal: ac.signal,
      progress: (p) => display.update(p),
      specText: text,
      specPath,
      log: (line) => console.error(line),
      onLocked: banner,
    });
  } catch (err) {
    if (err instanceof RunDirError) throw new UsageError(err.message);
    throw err;
  } finally {
    display.stop();
    Deno.removeSignalListener("SIGINT", onSigint);
    await queue.close();
  }
  const c = outcome.counts;
  console.error(
    `sweep ${plan.name}: ${outcome.status} — ${c.done} done, ${c.failed} failed, ${c.running} running, ` +
      `${c.queued} queued of ${c.total}; ran ${outcome.finished}/${outcome.target} this session in ` +
      `${outcome.seconds.toFixed(1)}s`,
  );
  if (outcome.status === "cancelled") {
    console.error(
      `cancelled; resume with: npx -y deno@2 task sweep ${
        [specPath, ...(flags.overrides ?? [])].join(" ")
      } ` +
        `--run-dir ${runDir} --resume`,
    );
    dashboardStop.abort();
    return 130;
  }
  if (c.failed > 0) {
    const st = openStore(runDir, { readOnly: true });
    const failed = st.jobs().filter((j) => j.status === "failed");
    st.close();
    for (const j of failed.slice(0, 10)) console.error(`  failed ${j.id} (${j.stage}): ${j.error ?? ""}`);
    if (failed.length > 10) {
      console.error(`  … and ${failed.length - 10} more (npx -y deno@2 task status ${runDir})`);
    }
  }
  const reportOk = flags.report === false ? true : await writeReportIfAvailable(runDir);
  let baselineOk = true;
  if (flags.writeBaseline !== undefined && c.failed === 0) {
    const problem = await (await import("./gate.ts")).writeBaseline(runDir, flags.writeBaseline);
    if (problem) console.error(`sweep: no baseline written: ${problem}`);
    baselineOk = problem === null;
  }
  const code = c.failed > 0 || !reportOk || !baselineOk ? 1 : 0;
  if (dashboard) {
    // --serve: the finished run stays on the dashboard (with its report) until Ctrl-C.
    console.error(`sweep finished; the dashboard stays at ${dashboard.url} — Ctrl-C to stop`);
    const stop = () => dashboardStop.abort();
    Deno.addSignalListener("SIGINT", stop);
    await dashboard.finished;
    Deno.removeSignalListener("SIGINT", stop);
  }
  return code;
}
