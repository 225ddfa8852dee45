/**
 * Where a run stands, read from its results store: counts, each job's config summary, step, latest metrics,
 * ETA (per-job step rates, core/sweep/eta.ts) and failures with their reasons. `status` prints it (text or
 * `--json`) and the live dashboard (report/serve.ts) streams it.
 */
import { varyingAxes } from "../core/sweep/aggregate.ts";
import { jobRemainingMs, sweepEtaMs } from "../core/sweep/eta.ts";
import type { MetricRecord } from "../core/sweep/job.ts";
import type { ResultStore, StatusCounts } from "./store.ts";

export interface JobSnapshot {
  id: string;
  stage: string;
  status: string;
  attempts: number;
  worker?: string;
  /** The job's values of the keys the user varied (`objective=akl, cv=learned, seed=1` in text). */
  summary: Record<string, unknown>;
  config: Record<string, unknown>;
  /** Step reached (latest record) and steps in all, for train jobs. */
  step?: number;
  steps?: number;
  /** Latest metrics: the final summary when done, else the latest evaluation record. */
  latest?: MetricRecord;
  /** Estimated milliseconds left (running jobs with a step rate). */
  etaMs?: number;
  /** Wall milliseconds since the job started (running) or that it took (finished). */
  elapsedMs?: number;
  error?: string;
}

export interface RunSnapshot extends StatusCounts {
  name: string;
  /** Coordinator heartbeat younger than 5 s. */
  coordinator: "running" | "not running";
  /** Keys in job summaries. */
  summaryKeys: string[];
  /** Estimated milliseconds until every running and queued job has finished (when something says). */
  etaMs?: number;
  stages: Record<string, StatusCounts>;
  jobs: JobSnapshot[];
}

const num = (v: unknown) => (typeof v === "number" && Number.isFinite(v) ? v : undefined);

/** The run's state now. `workers`: slots for the ETA (default: the number of running jobs, at least 1). */
export function runSnapshot(st: ResultStore, now = Date.now(), workers?: number): RunSnapshot {
  const jobs = st.jobs();
  const counts = st.counts();
  const meta = st.meta();
  const beat = Number(st.value("heartbeat") ?? 0);
  const varied = st.value("varied");
  const keys = Array.isArray(varied)
    ? varied.map(String).filter((k) => jobs.some((j) => j.config[k] !== undefined))
    : varyingAxes(jobs.map((j) => ({ ...j, history: [] })), []).axes;
  const out: JobSnapshot[] = jobs.map((j) => {
    const s: JobSnapshot = {
      id: j.id,
      stage: j.stage,
      status: j.status,
      attempts: j.attempts,
      summary: Object.fromEntries(keys.filter((k) => j.config[k] !== undefined).map((k) => [k, j.config[k]])),
      config: j.config,
    };
    if (j.worker !== undefined) s.worker = j.worker;
    if (j.error !== undefined) s.error = j.error;
    const steps = num(j.config.steps);
    if (steps !== undefined) s.steps = steps;
    if (j.status === "running" || j.status === "done") {
      const hist = j.status === "running" ? st.history(j.id) : [];
      const last = hist.length ? hist[hist.length - 1] : undefined;
      const latest = j.status === "done" ? j.final : last;
      if (latest) s.latest = latest;
      const step = num(latest?.step) ?? num(latest?.steps);
      if (step !== undefined) s.step = step;
      if (j.startedAt !== undefined) {
        s.elapsedMs = (j.status === "done" ? j.finishedAt ?? now : now) - j.startedAt;
      }
      if (j.status === "running") {
        const eta = jobRemainingMs({ steps, step, seconds: num(last?.seconds), elapsedMs: s.elapsedMs ?? 0 });
        if (eta !== undefined) s.etaMs = eta;
      }
    }
    return s;
  });
  const stages: Record<string, StatusCounts> = {};
  for (const j of jobs) {
    const c = stages[j.stage] ??= { total: 0, done: 0, failed: 0, running: 0, queued: 0 };
    c.total++;
    if (j.status === "done" || j.status === "failed" || j.status === "running") c[j.status]++;
    else c.queued++;
  }
  const running = out.filter((j) => j.status === "running");
  const snap: RunSnapshot = {
    name: meta?.name ?? "?",
    ...counts,
    coordinator: beat > 0 && now - beat < 5000 ? "running" : "not running",
    summaryKeys: keys,
    stages,
    jobs: out,
  };
  if (counts.running + counts.queued > 0) {
    const eta = sweepEtaMs({
      running: running.map((j) => ({
        steps: j.steps,
        step: j.step,
        seconds: num(j.latest?.seconds),
        elapsedMs: j.elapsedMs ?? 0,
      })),
      queued: counts.queued,
      finishedMs: out.filter((j) => j.status === "done" && j.elapsedMs !== undefined).map((j) =>
        j.elapsedMs!
      ),
      slots: Math.max(workers ?? 0, running.length, 1),
    });
    if (eta !== undefined) snap.etaMs = eta;
  }
  return snap;
}
