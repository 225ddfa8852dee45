/**
 * The coordinator: stores a sweep's jobs in the run directory, publishes the ones that should run (in stage
 * order: a job is published when every job it depends on is done; if one failed, the job is skipped with a
 * reason), persists progress and results as they arrive, and stops when every job it ran has finished or
 * `signal` aborts (running jobs then go back to `queued`, so `resume` picks them up).
 *
 * The queue is any JobQueue: the embedded MemoryQueue, or NATS JetStream. Local workers are optional.
 */
import type { SweepPlan } from "../core/sweep/expand.ts";
import type { Job } from "../core/sweep/job.ts";
import type { JobQueue, JobResult, JobSource, QueueEvent, ReusableResult } from "../transport/types.ts";
import { type Executor, runPool } from "../workers/pool.ts";
import { DirArtifactStore } from "../transport/artifacts.ts";
import { batches } from "./batch.ts";
import { runPaths } from "./rundir.ts";
import { sweepEtaMs } from "../core/sweep/eta.ts";
import { groupSeeds, SEED_JOB_KEY, unpackGroupFinal } from "../core/sweep/seed_batch.ts";
import { openStore, type ResultStore, type StatusCounts, StoreError } from "./store.ts";

/** What the progress display sees, after every event and once a second. */
export interface SweepProgress extends StatusCounts {
  /** Jobs this session set out to run, and how many of those have finished. */
  target: number;
  finished: number;
  elapsedMs: number;
  /** Estimated time to finish the target, from the running jobs' step rates (core/sweep/eta.ts). */
  etaMs?: number;
  final?: boolean;
}

export interface LocalWorkers {
  count: number;
  /** A JobSource per worker name (embedded: `queue.source(name)`). */
  source: (worker: string) => JobSource;
  mode?: "thread" | "inline";
  /** Inline mode: what runs a job. */
  execute?: Executor;
  backend?: string;
  graceMs?: number;
  /** Where local jobs keep artifacts; default RUN_DIR/artifacts. */
  artifactsDir?: string;
}

export interface RunSweepOptions {
  /** The expanded sweep (core/sweep/expand.ts `loadSweep`). */
  spec: SweepPlan;
  runDir: string;
  queue: JobQueue;
  /** Local workers to run on this process; omit when workers are remote (NATS). */
  workers?: LocalWorkers;
  /** Continue a run: never re-run a finished (done or failed) job. */
  resume?: boolean;
  /** Run only the failed jobs (and those skipped because a dependency failed). */
  rerunFailed?: boolean;
  signal?: AbortSignal;
  progress?: (p: SweepProgress) => void;
  /** The spec file's text and path, kept in the run directory. */
  specText?: string;
  specPath?: string;
  /** Called once the run directory is locked for this sweep (before anything else is written). */
  onLocked?: () => void;
  /** Lines worth telling the user (rejected messages). */
  log?: (line: string) => void;
  /**
   * Id of this sweep run, kept in the run directory (a resumed run keeps the stored one). It scopes the run on
   * a shared queue (NATS subjects, keys, message ids).
   */
  runId?: string;
  /**
   * Take results another run already computed for the same job (NATS: any run on the broker) instead of
   * computing them; each is stored with where it came from. Default: every job of a new run computes anew.
   */
  reuse?: boolean;
  /**
   * Spec `seed_batch: K` (docs/spec.md §"Seed batching"): train jobs that differ only by seed are published as
   * units of ≤ K seeds (core/sweep/seed_batch.ts), each run by one worker as one program, and stored as their
   * members' records. Default 1: every job on its own.
   */
  seedBatch?: number;
}

/** A fresh sweep-run id: 12 hex digits. */
export function newRunId(): string {
  return crypto.randomUUID().replaceAll("-", "").slice(0, 12);
}

export interface SweepOutcome {
  /** done: every job finished ok; failed: some failed; cancelled: stopped by the signal before the end. */
  status: "done" | "failed" | "cancelled";
  counts: StatusCounts;
  /** Jobs this session set out to run / finished. */
  target: number;
  finished: number;
  seconds: number;
}

export class RunDirError extends Error {
  override name = "RunDirError";
}

/** Runs (or resumes) a sweep in `runDir` against `queue`. */
export async function runSweep(opts: RunSweepOptions): Promise<SweepOutcome> {
  const { spec, queue } = opts;
  const signal = opts.signal ?? new AbortController().signal;
  const paths = runPaths(opts.runDir);
  await Deno.mkdir(paths.dir, { recursive: true });
  const store = openStore(paths.dir);
  let token: string;
  try {
    token = store.acquireLock(`sweep ${spec.name}${opts.resume ? " --resume" : ""}`);
  } catch (err) {
    store.close();
    throw err;
  }
  opts.onLocked?.();
  try {
    return await coordinate(opts, spec, queue, signal, store, paths.spec, token);
  } catch (err) {
    if ((err as { code?: string })?.code === "ERR_SQLITE_ERROR") {
      throw new StoreError(
        `cannot write results store ${store.path}: ${(err as Error).message.split("\n")[0]} ` +
          `(each burst of events is one transaction: fix the cause and continue with --resume)`,
      );
    }
    throw err;
  } finally {
    try {
      store.releaseLock(token);
    } catch { /* a stale lock is taken over by the next run */ }
    store.close();
  }
}

async function coordinate(
  opts: RunSweepOptions,
  spec: SweepPlan,
  queue: JobQueue,
  signal: AbortSignal,
  store: ResultStore,
  specFile: string,
  lockToken: string,
): Promise<SweepOutcome> {
  const t0 = Date.now();
  const meta = store.meta();
  const stored = store.jobs();
  if (meta && meta.name && meta.name !== spec.name) {
    throw new RunDirError(`${opts.runDir} holds sweep "${meta.name}", not "${spec.name}"`);
  }
  if (stored.length && !opts.resume && !opts.rerunFailed) {
    throw new RunDirError(
      `${opts.runDir} already holds a sweep; pass --resume or --rerun-failed, or another --run-dir`,
    );
  }
  const runId = (store.value("runId") as string | undefined) ?? opts.runId ?? newRunId();
  store.setValue("runId", runId);
  if (opts.specText !== undefined) await Deno.writeTextFile(specFile, opts.specText);
  // The sweep's metadata and its jobs are stored together or not at all (a full disk leaves no half-made run).
  store.transaction(() => {
    store.setMeta({
      name: spec.name,
      layouts: spec.layouts,
      specPath: opts.specPath,
      specText: opts.specText,
      createdAt: meta?.createdAt ?? t0,
    });
    // What the user varied: reports group by these only (report/index.ts writeReport).
    store.setValue("varied", spec.varied);
    // What the regression gate checks a baseline against (cli/gate.ts).
    store.setValue("spec_hash", spec.specHash);
    if (spec.gate) store.setValue("gate", spec.gate);
    store.addJobs(spec.jobs.map((p, seq) => ({ job: p.job, deps: p.deps, seq })));
  });

  // Which jobs run this session.
  const status = new Map(store.jobs().map((j) => [j.id, j]));
  const plan = new Map(spec.jobs.map((p) => [p.job.id, p]));
  const target = new Set<string>();
  for (const p of spec.jobs) {
    const s = status.get(p.job.id)!.status;
    if (opts.rerunFailed ? s === "failed" : s !== "done" && s !== "failed") target.add(p.job.id);
  }
  store.requeue([...target], ["running", "failed", "cancelled"]);
  const baseAttempts = new Map([...target].map((id) => [id, status.get(id)!.attempts]));

  // Dependents of each job, within the target.
  const dependents = new Map<string, string[]>();
  for (const id of target) {
    for (const d of plan.get(id)!.deps) {
      let l = dependents.get(d);
      if (!l) dependents.set(d, l = []);
      l.push(id);
    }
  }
  const doneIds = new Set(
    spec.jobs.filter((p) => status.get(p.job.id)!.status === "done").map((p) => p.job.id),
  );
  const finishedIds = new Set<string>();
  const runningIds = new Set<string>();
  const published = new Set<string>();
  const counts = store.counts();

  const skip = (id: string, reason: string) => {
    if (finishedIds.has(id) || !target.has(id)) return;
    store.markFailed(id, null, baseAttempts.get(id) ?? 0, reason);
    finishedIds.add(id);
    counts.queued--;
    counts.failed++;
    for (const d of dependents.get(id) ?? []) {
      skip(d, `skipped: dependency ${id} (stage ${plan.get(id)!.job.stage}) failed`);
    }
  };
  const readyJobs = (ids: Iterable<string>): Job[] => {
    const out: Job[] = [];
    for (const id of ids) {
      if (published.has(id) || finishedIds.has(id)) continue;
      const deps = plan.get(id)!.deps;
      const failedDep = deps.find((d) => !doneIds.has(d) && !target.has(d));
      if (failedDep) {
        skip(id, `skipped: dependency ${failedDep} (stage ${plan.get(failedDep)?.job.stage}) did not finish`);
        continue;
      }
      if (deps.every((d) => doneIds.has(d))) {
        published.add(id);
        out.push(plan.get(id)!.job);
      }
    }
    return out;
  };

  // Per-job step rates for the ETA (core/sweep/eta.ts): start time and latest step/seconds of running jobs.
  const live = new Map<string, { startMs: number; step?: number; seconds?: number }>();
  const finishedMs: number[] = [];
  const progress = (final = false) => {
    const now = Date.now();
    const elapsedMs = now - t0;
    const p: SweepProgress = { ...counts, target: target.size, finished: finishedIds.size, elapsedMs, final };
    if (finishedIds.size < target.size) {
      const steps = (id: string) => {
        const v = plan.get(id)?.job.config.steps;
        return typeof v === "number" ? v : undefined;
      };
      p.etaMs = sweepEtaMs({
        running: [...live].map(([id, l]) => ({
          steps: steps(id),
          step: l.step,
          seconds: l.seconds,
          elapsedMs: now - l.startMs,
        })),
        queued: Math.max(0, target.size - finishedIds.size - live.size),
        finishedMs,
        slots: Math.max(opts.workers?.count ?? 0, runningIds.size, 1),
      });
      if (p.etaMs === undefined && finishedIds.size > 0) {
        p.etaMs = (elapsedMs / finishedIds.size) * (target.size - finishedIds.size);
      }
    }
    opts.progress?.(p);
  };

  const stop = new AbortController();
  const lost = new AbortController();
  const loopSignal = AbortSignal.any([signal, stop.signal, lost.signal]);
  const workersStop = new AbortController();
  const pool = opts.workers && opts.workers.count > 0
    ? runPool({
      source: opts.workers.source,
      workers: opts.workers.count,
      signal: AbortSignal.any([signal, workersStop.signal, lost.signal]),
      mode: opts.workers.mode,
      execute: opts.workers.execute,
      backend: opts.workers.backend,
      graceMs: opts.workers.graceMs,
      artifacts: new DirArtifactStore(opts.workers.artifactsDir ?? runPaths(opts.runDir).artifacts),
    })
    : Promise.resolve();
  const ticker = setInterval(() => {
    try {
      store.setValue("heartbeat", Date.now());
      if (!store.refreshLock(lockToken)) {
        lost.abort(new RunDirError(`${opts.runDir}: another process took over the run directory's lock`));
      }
    } catch (err) {
      lost.abort(err);
    }
    progress();
  }, 1000);

  // Attempts already made (earlier sessions); the queue reports attempts counting on from these. A seed
  // group's attempts count on from its members' most.
  const priorAttempts = new Map(baseAttempts);
  const publishOpts = { priorAttempts };
  // Seed groups published this session: unit id → its members (core/sweep/seed_batch.ts).
  const units = new Map<string, Job[]>();
  const publish = async (jobs: Job[]) => {
    const grouped = groupSeeds(jobs, opts.seedBatch ?? 1);
    for (const [id, members] of grouped.units) {
      units.set(id, members);
      priorAttempts.set(id, Math.max(...members.map((m) => baseAttempts.get(m.id) ?? 0)));
    }
    await queue.publish(grouped.publish, publishOpts);
  };
  /** A seed group's events as its members' (every other event as it is). */
  const memberEvents = (ev: QueueEvent): QueueEvent[] => {
    const id = ev.type === "start"
      ? ev.start.jobId
      : ev.type === "progress"
      ? ev.progress.jobId
      : ev.result.jobId;
    const members = units.get(id);
    if (!members) return [ev];
    if (ev.type === "start") return members.map((m) => ({ ...ev, start: { ...ev.start, jobId: m.id } }));
    if (ev.type === "progress") {
      const { [SEED_JOB_KEY]: member, ...record } = ev.progress.record;
      if (!members.some((m) => m.id === member)) return [];
      return [{ ...ev, progress: { ...ev.progress, jobId: member as string, record } }];
    }
    const r = ev.result;
    if (r.configId !== r.jobId) return [ev]; // rejected below as any result whose config hash differs
    const outcomes = r.status === "done" ? unpackGroupFinal(r.final) : null;
    return members.map((m) => {
      const base = { jobId: m.id, configId: m.id, worker: r.worker, attempt: r.attempt, code: r.code };
      if (r.status !== "done") {
        return { ...ev, result: { ...base, status: "failed" as const, error: r.error ?? "failed" } };
      }
      const o = outcomes?.[m.id];
      return {
        ...ev,
        result: o?.final ? { ...base, status: "done" as const, final: o.final } : {
          ...base,
          status: "failed" as const,
          error: o?.error ?? `seed group ${id} returned no result for it`,
        },
      };
    });
  };
  // Attempt numbers in events are cumulative (the queue counts on from `priorAttempts`).
  const handle = (ev: QueueEvent, toPublish: Job[]) => {
    if (ev.type === "start") {
      const { jobId, worker, attempt } = ev.start;
      if (!target.has(jobId) || finishedIds.has(jobId)) return;
      store.markRunning(jobId, worker, attempt);
      live.set(jobId, { startMs: Date.now() });
      if (!runningIds.has(jobId)) (runningIds.add(jobId), counts.running++, counts.queued--);
      return;
    }
    if (ev.type === "progress") {
      const { jobId, worker, attempt, record } = ev.progress;
      if (!target.has(jobId) || finishedIds.has(jobId)) return;
      const l = live.get(jobId) ?? live.set(jobId, { startMs: Date.now() }).get(jobId)!;
      if (typeof record.step === "number") l.step = record.step;
      if (typeof record.seconds === "number") l.seconds = record.seconds;
      if (!runningIds.has(jobId)) {
        store.markRunning(jobId, worker, attempt);
        runningIds.add(jobId), counts.running++, counts.queued--;
      }
      store.appendHistory(jobId, attempt, record);
      return;
    }
    const r = ev.result;
    if (r.configId !== r.jobId || !plan.has(r.jobId)) {
      // A result must name one of this sweep's jobs and the hash of the config that ran.
      opts.log?.(
        `rejected a result for job ${r.jobId} from worker ${r.worker}: ` +
          (!plan.has(r.jobId) ? "not a job of this sweep" : "its config hash does not match the job id"),
      );
      return;
    }
    if (!target.has(r.jobId) || finishedIds.has(r.jobId)) return;
    finishedIds.add(r.jobId);
    const l = live.get(r.jobId);
    if (l) (finishedMs.push(Date.now() - l.startMs), live.delete(r.jobId));
    if (runningIds.delete(r.jobId)) counts.running--;
    else counts.queued--;
    if (r.status === "done") {
      store.markDone(r.jobId, r.worker, r.attempt, r.final, { code: r.code, origin: { run: runId } });
      doneIds.add(r.jobId);
      counts.done++;
      toPublish.push(...readyJobs(dependents.get(r.jobId) ?? []));
    } else {
      store.markFailed(r.jobId, r.worker, r.attempt, r.error ?? "failed");
      counts.failed++;
      for (const d of dependents.get(r.jobId) ?? []) {
        skip(d, `skipped: dependency ${r.jobId} (stage ${plan.get(r.jobId)!.job.stage}) failed`);
      }
    }
  };

  try {
    store.setValue("heartbeat", Date.now());
    if (opts.reuse && queue.findResults) {
      // Results computed by other runs, stored with where they came from; the rest computes anew. A seed
      // group's result (spec seed_batch) is found under the unit's id, which the same seeds give again.
      const groups = groupSeeds([...target].map((id) => plan.get(id)!.job), opts.seedBatch ?? 1).units;
      const found = await queue.findResults([...target, ...groups.keys()]);
      const reuse = (id: string, hit: ReusableResult, final: JobResult["final"]) => {
        if (finishedIds.has(id)) return;
        const r = hit.result;
        store.markDone(id, r.worker, Math.max(r.attempt, baseAttempts.get(id) ?? 0), final, {
          code: r.code,
          origin: { reused: true, ...hit.from },
        });
        finishedIds.add(id);
        doneIds.add(id);
        counts.queued--;
        counts.done++;
      };
      store.transaction(() => {
        for (const id of target) {
          const hit = found.get(id);
          if (hit) reuse(id, hit, hit.result.final);
        }
        for (const [unit, members] of groups) {
          const hit = found.get(unit);
          const outcomes = hit ? unpackGroupFinal(hit.result.final) : null;
          for (const m of members) {
            const final = outcomes?.[m.id]?.final;
            if (hit && final) reuse(m.id, hit, final);
          }
        }
      });
    }
    const first = readyJobs(target);
    if (first.length) await publish(first);
    progress();
    if (finishedIds.size < target.size) {
      // The stored cursor counts only in the log it was taken from (a fresh broker starts its stream anew).
      const log = (await queue.eventLog?.()) ?? "";
      let after = Number(store.value("eventsCursor") ?? 0);
      if (store.value("eventsLog") !== log) {
        after = 0;
        store.transaction(() => {
          store.setValue("eventsLog", log);
          store.setValue("eventsCursor", 0);
        });
      }
      for await (const batch of batches(queue.events(loopSignal, { after }))) {
        const toPublish: Job[] = [];
        // One transaction per burst of events, with the position reached: a restarted coordinator resumes
        // the event log after it (nothing applied twice) and nothing applied is lost.
        store.transaction(() => {
          let cursor: number | undefined;
          for (const ev of batch) {
            for (const e of memberEvents(ev)) handle(e, toPublish);
            if (ev.cursor !== undefined) cursor = ev.cursor;
          }
          if (cursor !== undefined) store.setValue("eventsCursor", cursor);
        });
        if (toPublish.length) await publish(toPublish);
        progress();
        if (finishedIds.size >= target.size) break;
      }
    }
  } finally {
    clearInterval(ticker);
    stop.abort();
    workersStop.abort();
    await pool;
    // Whatever did not finish goes back to queued (resumable). Best effort: when the store itself failed
    // (disk full), its error is the one to report, and a `running` row is requeued by the next --resume.
    try {
      const unfinished = [...target].filter((id) => !finishedIds.has(id));
      store.requeue(unfinished, ["running"]);
      store.setValue("heartbeat", 0);
    } catch { /* reported by the caller */ }
  }
  if (lost.signal.aborted) throw lost.signal.reason;
  const final = store.counts();
  Object.assign(counts, final);
  progress(true);
  const cancelled = finishedIds.size < target.size;
  return {
    status: cancelled ? "cancelled" : final.failed > 0 ? "failed" : "done",
    counts: final,
    target: target.size,
    finished: finishedIds.size,
    seconds: (Date.now() - t0) / 1000,
  };
}
