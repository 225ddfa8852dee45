/**
 * `status RUN_DIR [--json]` (or `status --nats URL SWEEP`): where a sweep stands — counts, ETA, each running
 * job's config summary, step and ETA, failures with their reasons. `--json` prints the run's snapshot
 * (coordinator/snapshot.ts): the counts, `etaMs`, and per job id, stage, status, attempts, config, summary,
 * step, steps, latest metrics, etaMs and error.
 *
 * Exit codes: 0 no job failed (the sweep may still be running), 1 some jobs failed, 2 bad input (no such run
 * directory, unreadable store, bad flags).
 */
import type { Command } from "commander";
import { formatDuration } from "../coordinator/progress.ts";
import { hasStore } from "../coordinator/rundir.ts";
import { openStore, type ResultStore, type StatusCounts, StoreError } from "../coordinator/store.ts";
import { runSnapshot } from "../coordinator/snapshot.ts";
import { UsageError } from "./usage.ts";
import { addNatsConnectionOptions, type NatsCliFlags, natsFlagsFrom } from "./worker.ts";
import type { NatsFlags } from "../transport/nats.ts";

export interface StatusReport extends StatusCounts {
  jobs: {
    id: string;
    status: string;
    attempts: number;
    stage?: string;
    worker?: string;
    latest?: Record<string, unknown>;
    error?: string;
  }[];
}

export function register(program: Command): void {
  const cmd = program
    .command("status")
    .description(
      "show where a sweep stands: counts, ETA, running jobs (config, step, ETA) and failures.\n" +
        "Exit codes: 0 no job failed, 1 some jobs failed, 2 bad input.",
    )
    .argument("[target]", "run directory (or, with --nats, the sweep name)")
    .option("--nats <url>", "ask NATS JetStream instead of a run directory")
    .option("--prefix <prefix>", "NATS prefix", "flowsweep")
    .option("--json", "print counts, ETA and per job its status, config, step and latest metrics as JSON");
  // The same connection flags as worker and sweep (token, user/password, files, env, TLS, creds).
  addNatsConnectionOptions(cmd)
    .action(async (target: string | undefined, flags: NatsCliFlags & { json?: boolean; prefix?: string }) => {
      if (flags.nats !== undefined && flags.nats.trim() === "") {
        throw new UsageError("--nats needs a server URL (omit it to read a run directory)");
      }
      if (!target) {
        throw new UsageError(flags.nats ? "status --nats URL SWEEP: missing sweep name" : "missing RUN_DIR");
      }
      const report = flags.nats
        ? await natsStatus(natsFlagsFrom({ ...flags, nats: flags.nats }), target, flags.prefix)
        : null;
      if (report) {
        const failed = report.jobs.filter((j) => j.status === "failed");
        console.log(
          flags.json ? JSON.stringify(report) : [
            formatCounts(report),
            ...failed.slice(0, 20).map((j) => `  failed  ${j.id} (${j.stage ?? "?"}): ${j.error ?? ""}`),
          ].join("\n"),
        );
        if (report.failed > 0) Deno.exit(1);
        return;
      }
      const { text, failed } = runDirStatus(target, flags.json ?? false);
      console.log(text);
      if (failed > 0) Deno.exit(1);
    });
}

async function natsStatus(conn: NatsFlags, sweep: string, prefix?: string): Promise<StatusReport> {
  const nats = await import("../transport/nats.ts");
  let nc;
  try {
    nc = await nats.connectNats({ ...conn, name: "flowsweep-status" });
  } catch (err) {
    if (err instanceof nats.NatsFlagError || err instanceof nats.NatsConnectError) {
      throw new UsageError(err.message);
    }
    throw err;
  }
  try {
    const states = await nats.readNatsStatus(nc, { sweep, prefix });
    const c = nats.countStatuses(states);
    return {
      total: states.length,
      done: c.done,
      failed: c.failed,
      running: c.running,
      queued: c.queued + c.cancelled,
      // the KV state has no config (that travels in the job message): stage, worker, final metrics and error
      jobs: states.map((s) => ({
        id: s.id,
        status: s.status,
        attempts: s.attempts,
        stage: s.stage,
        ...(s.worker !== undefined ? { worker: s.worker } : {}),
        ...(s.final !== undefined ? { latest: s.final } : {}),
        ...(s.error !== undefined ? { error: s.error } : {}),
      })),
    };
  } finally {
    await nc.close();
  }
}

function formatCounts(c: StatusCounts): string {
  return `${c.done}/${c.total} done, ${c.running} running, ${c.failed} failed, ${c.queued} queued`;
}

/** The status of a run directory as text (or JSON). Throws UsageError when there is no store. */
export function statusText(runDir: string, json: boolean, now = Date.now()): string {
  return runDirStatus(runDir, json, now).text;
}

/** The status text (or JSON) and the number of failed jobs (the exit code's reason). */
export function runDirStatus(
  runDir: string,
  json: boolean,
  now = Date.now(),
): { text: string; failed: number } {
  if (!hasStore(runDir)) throw new UsageError(`${runDir} holds no sweep (no results.sqlite)`);
  const st = openStore(runDir, { readOnly: true });
  try {
    return statusOf(st, runDir, json, now);
  } catch (err) {
    // A store that opened but fails while being read is as unreadable as one that did not open.
    if (err instanceof StoreError || err instanceof UsageError) throw err;
    throw new StoreError(
      `results store ${st.path} is unreadable: ${err instanceof Error ? err.message : err}`,
    );
  } finally {
    st.close();
  }
}

function statusOf(
  st: ResultStore,
  runDir: string,
  json: boolean,
  now: number,
): { text: string; failed: number } {
  const snap = runSnapshot(st, now);
  if (json) return { text: JSON.stringify(snap), failed: snap.failed };
  const lines = [
    `sweep ${snap.name} in ${runDir}: ${formatCounts(snap)}${
      snap.etaMs !== undefined ? `, ETA ${formatDuration(snap.etaMs)}` : ""
    }`,
    `coordinator: ${snap.coordinator}${
      snap.running && snap.coordinator !== "running"
        ? " (jobs marked running are stale; resume with --resume)"
        : ""
    }`,
  ];
  const stages = Object.entries(snap.stages);
  if (stages.length > 1) {
    for (const [name, c] of stages) {
      lines.push(`  stage ${name}: ${formatCounts(c)}`);
    }
  }
  for (const j of snap.jobs.filter((j) => j.status === "running")) {
    const step = j.step !== undefined
      ? `step ${j.step}${j.steps !== undefined ? `/${j.steps}` : ""}`
      : "starting";
    const eta = j.etaMs !== undefined ? `, ETA ${formatDuration(j.etaMs)}` : "";
    const since = j.elapsedMs !== undefined ? `, ${formatDuration(j.elapsedMs)}` : "";
    lines.push(
      `  running ${j.id} (${j.stage}) ${summaryText(j.summary)}: ${step}${eta} on ${j.worker ?? "?"}, ` +
        `attempt ${j.attempts}${since}`,
    );
  }
  const failed = snap.jobs.filter((j) => j.status === "failed");
  for (const j of failed.slice(0, 20)) {
    lines.push(
      `  failed  ${j.id} (${j.stage}) ${summaryText(j.summary)} after ${j.attempts} attempt(s): ${
        j.error ?? ""
      }`,
    );
  }
  if (failed.length > 20) lines.push(`  … and ${failed.length - 20} more failed`);
  return { text: lines.join("\n"), failed: snap.failed };
}

/** `objective=akl, cv=learned, seed=1` */
export function summaryText(summary: Record<string, unknown>): string {
  return Object.entries(summary).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`)
    .join(", ");
}
