/**
 * `status RUN_DIR [--json]` (or `status --nats URL SWEEP`): where a sweep stands. `--json` prints
 * {"total","done","failed","running","queued","jobs":[{"id","status","attempts"}]}.
 */
import type { Command } from "commander";
import { formatDuration } from "../coordinator/progress.ts";
import { hasStore } from "../coordinator/rundir.ts";
import { openStore, type ResultStore, type StatusCounts, StoreError } from "../coordinator/store.ts";
import { UsageError } from "./usage.ts";

export interface StatusReport extends StatusCounts {
  jobs: { id: string; status: string; attempts: number }[];
}

export function register(program: Command): void {
  program
    .command("status")
    .description("show where a sweep stands: counts, running and failed jobs")
    .argument("[target]", "run directory (or, with --nats, the sweep name)")
    .option("--nats <url>", "ask NATS JetStream instead of a run directory")
    .option("--prefix <prefix>", "NATS prefix", "flowsweep")
    .option("--json", "print counts and per-job id, status and attempts as JSON")
    .action(async (target: string | undefined, flags: { nats?: string; json?: boolean; prefix?: string }) => {
      if (flags.nats !== undefined && flags.nats.trim() === "") {
        throw new UsageError("--nats needs a server URL (omit it to read a run directory)");
      }
      if (!target) {
        throw new UsageError(flags.nats ? "status --nats URL SWEEP: missing sweep name" : "missing RUN_DIR");
      }
      const report = flags.nats ? await natsStatus(flags.nats, target, flags.prefix) : null;
      if (report) {
        console.log(flags.json ? JSON.stringify(report) : formatCounts(report));
        return;
      }
      console.log(statusText(target, flags.json ?? false));
    });
}

async function natsStatus(url: string, sweep: string, prefix?: string): Promise<StatusReport> {
  const nats = await import("../transport/nats.ts");
  const nc = await nats.connectNats({ nats: url, name: "flowsweep-status" });
  try {
    const states = await nats.readNatsStatus(nc, { sweep, prefix });
    const c = nats.countStatuses(states);
    return {
      total: states.length,
      done: c.done,
      failed: c.failed,
      running: c.running,
      queued: c.queued + c.cancelled,
      jobs: states.map((s) => ({ id: s.id, status: s.status, attempts: s.attempts })),
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

function statusOf(st: ResultStore, runDir: string, json: boolean, now: number): string {
  {
    const jobs = st.jobs();
    const counts = st.counts();
    if (json) {
      const report: StatusReport = {
        ...counts,
        jobs: jobs.map((j) => ({ id: j.id, status: j.status, attempts: j.attempts })),
      };
      return JSON.stringify(report);
    }
    const meta = st.meta();
    const beat = Number(st.value("heartbeat") ?? 0);
    const alive = beat > 0 && now - beat < 5000;
    const lines = [
      `sweep ${meta?.name ?? "?"} in ${runDir}: ${formatCounts(counts)}`,
      `coordinator: ${alive ? "running" : "not running"}${
        counts.running && !alive ? " (jobs marked running are stale; resume with --resume)" : ""
      }`,
    ];
    const stages = new Map<string, StatusCounts>();
    for (const j of jobs) {
      let c = stages.get(j.stage);
      if (!c) stages.set(j.stage, c = { total: 0, done: 0, failed: 0, running: 0, queued: 0 });
      c.total++;
      if (j.status === "done" || j.status === "failed" || j.status === "running") c[j.status]++;
      else c.queued++;
    }
    if (stages.size > 1) {
      for (const [name, c] of stages) lines.push(`  stage ${name}: ${formatCounts(c)}`);
    }
    for (const j of jobs.filter((j) => j.status === "running")) {
      const since = j.startedAt ? `, ${formatDuration(now - j.startedAt)}` : "";
      lines.push(`  running ${j.id} (${j.stage}) on ${j.worker ?? "?"}, attempt ${j.attempts}${since}`);
    }
    const failed = jobs.filter((j) => j.status === "failed");
    for (const j of failed.slice(0, 20)) {
      lines.push(`  failed  ${j.id} (${j.stage}) after ${j.attempts} attempt(s): ${j.error ?? ""}`);
    }
    if (failed.length > 20) lines.push(`  … and ${failed.length - 20} more failed`);
    return lines.join("\n");
  }
}
