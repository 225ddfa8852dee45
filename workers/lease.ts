/**
 * The one lease runtime: how a worker slot turns a leased job into exactly one outcome, whatever queue the
 * lease came from (the embedded MemoryQueue or NATS) and whatever runs the job (a worker thread, or the
 * calling thread in tests). Used by the local pool (workers/pool.ts) and the cluster worker (cli/worker.ts).
 *
 * Per lease: `start()`, metric records as `progress`, then exactly one of
 * - `complete(final)`;
 * - `fail(reason, retry)` under ONE retry policy: the job's own failure (it threw, `timeout`,
 *   `diverged at step N`) is final, since a job is deterministic given its config; a lost slot (its thread
 *   crashed) or a transient error of the surroundings (the artifact store away) is retried while
 *   `attempt < max_attempts` (the job's `limits.max_attempts` from the spec; the queue bounds it too). A
 *   delivery beyond `max_attempts` (attempts that never reported, e.g. killed workers) fails at once;
 * - `release()` when the worker stops (Ctrl-C, SIGTERM): the job goes back without counting a failure.
 *
 * Time limit: `jobTimeoutMs(job)` (spec `timeout`, default from the job's size). A thread past it is
 * terminated (not asked) and the job fails with `timeout`; the slot gets a fresh thread.
 */
import type { Job, MetricRecord } from "../core/sweep/job.ts";
import { jobTimeoutMs } from "../core/sweep/limits.ts";
import { jobId } from "../core/sweep/expand.ts";
import type { ArtifactStore, LeasedJob } from "../transport/types.ts";
import { type ExecuteContext, executeJob, type FinalMetrics, TransientError } from "./execute.ts";

/** What runs a job on the calling thread (inline runners, tests). */
export type Executor = (job: Job, ctx: ExecuteContext) => Promise<FinalMetrics>;

/** How one attempt ended, as seen by the slot. */
export type Outcome =
  | { ok: true; final: FinalMetrics }
  | { ok: false; reason: string; retry: boolean }
  | { ok: false; aborted: true };

export interface RunRequest {
  job: Job;
  backend?: string;
  artifacts?: ArtifactStore;
  onProgress(record: MetricRecord): Promise<void>;
  /** Stop: the job gets an abort; after `graceMs` its thread is killed. */
  signal: AbortSignal;
  graceMs: number;
  timeoutMs: number;
}

/** One worker slot's way of running jobs, one at a time. */
export interface JobRunner {
  run(req: RunRequest): Promise<Outcome>;
  close(): void;
}

/** The message of a failure, first line only. */
export function errorLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split("\n")[0];
}

/** The artifact store as jobs see it: its errors are the surroundings' (transient), not the job's. */
export function transientStore(store: ArtifactStore): ArtifactStore {
  const wrap = async <T>(what: string, key: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      throw new TransientError(`artifact store: ${what} ${key} failed: ${errorLine(err)}`);
    }
  };
  return {
    put: (key, data) => wrap("put", key, () => store.put(key, data)),
    get: (key) => wrap("get", key, () => store.get(key)),
  };
}

/** Runs jobs on the calling thread. A timeout aborts the job and gives up on it (a thread cannot be killed). */
export function inlineRunner(execute: Executor = executeJob): JobRunner {
  return {
    run(req) {
      const ac = new AbortController();
      const onStop = () => ac.abort(req.signal.reason);
      if (req.signal.aborted) onStop();
      else req.signal.addEventListener("abort", onStop, { once: true });
      return new Promise<Outcome>((resolve) => {
        const timer = setTimeout(() => {
          ac.abort(new Error("timeout"));
          resolve({ ok: false, reason: "timeout", retry: false });
        }, req.timeoutMs);
        const ctx: ExecuteContext = { signal: ac.signal, backend: req.backend, onProgress: req.onProgress };
        if (req.artifacts) ctx.artifacts = transientStore(req.artifacts);
        // An executor may also throw before returning its promise.
        new Promise<FinalMetrics>((ok) => ok(execute(req.job, ctx))).then(
          (final) => resolve({ ok: true, final }),
          (err) =>
            resolve(
              req.signal.aborted
                ? { ok: false, aborted: true }
                : { ok: false, reason: errorLine(err), retry: err instanceof TransientError },
            ),
        ).finally(() => {
          clearTimeout(timer);
          req.signal.removeEventListener("abort", onStop);
        });
      });
    },
    close() {},
  };
}

/** main → thread and thread → main messages of workers/pool_thread.ts. */
export type ToThread =
  | { type: "run"; job: Job; backend?: string; artifacts: boolean }
  | { type: "abort" }
  | { type: "artifact-reply"; id: number; data?: Uint8Array | null; error?: string };
export type FromThread =
  | { type: "progress"; record: MetricRecord }
  | { type: "done"; final: FinalMetrics }
  | { type: "error"; message: string; transient: boolean }
  | { type: "artifact"; id: number; op: "get" | "put"; key: string; data?: Uint8Array };

/**
 * Runs jobs in a Deno Web Worker (workers/pool_thread.ts) owned by the slot. Artifact requests of the job come
 * back to this thread and go to `req.artifacts`, so the thread holds no store (and no connection) of its own.
 */
export function threadRunner(name: string): JobRunner {
  let thread: Worker | null = null;
  const spawn = () => new Worker(new URL("./pool_thread.ts", import.meta.url).href, { type: "module", name });
  const kill = () => {
    thread?.terminate();
    thread = null;
  };
  return {
    run(req) {
      const t = thread ??= spawn();
      return new Promise<Outcome>((resolve) => {
        let killTimer: ReturnType<typeof setTimeout> | undefined;
        const timeout = setTimeout(() => {
          kill(); // a stuck job does not get asked: its thread goes
          finish({ ok: false, reason: "timeout", retry: false });
        }, req.timeoutMs);
        const onAbort = () => {
          t.postMessage({ type: "abort" } satisfies ToThread);
          killTimer = setTimeout(() => {
            kill();
            finish({ ok: false, aborted: true });
          }, req.graceMs);
        };
        let finished = false;
        const finish = (o: Outcome) => {
          if (finished) return;
          finished = true;
          clearTimeout(killTimer);
          clearTimeout(timeout);
          req.signal.removeEventListener("abort", onAbort);
          t.onmessage = null;
          t.onerror = null;
          resolve(o);
        };
        const reply = (m: ToThread) => {
          if (!finished) t.postMessage(m);
        };
        t.onmessage = (e: MessageEvent<FromThread>) => {
          const m = e.data;
          if (m.type === "progress") {
            req.onProgress(m.record).catch(() => {}); // progress is best effort; the result is what counts
          } else if (m.type === "done") finish({ ok: true, final: m.final });
          else if (m.type === "error") {
            finish(
              req.signal.aborted
                ? { ok: false, aborted: true }
                : { ok: false, reason: m.message, retry: m.transient },
            );
          } else if (m.type === "artifact") {
            const store = req.artifacts;
            if (!store) {
              reply({ type: "artifact-reply", id: m.id, error: "this worker has no artifact store" });
              return;
            }
            const op = m.op === "get" ? store.get(m.key) : store.put(m.key, m.data!).then(() => undefined);
            op.then(
              (data) => reply({ type: "artifact-reply", id: m.id, data }),
              (err) => reply({ type: "artifact-reply", id: m.id, error: errorLine(err) }),
            );
          }
        };
        t.onerror = (e: ErrorEvent) => {
          e.preventDefault();
          kill();
          finish({ ok: false, reason: `worker thread ${name} crashed: ${e.message}`, retry: true });
        };
        if (req.signal.aborted) onAbort();
        else req.signal.addEventListener("abort", onAbort, { once: true });
        t.postMessage(
          { type: "run", job: req.job, backend: req.backend, artifacts: !!req.artifacts } satisfies ToThread,
        );
      }).then((o) => {
        if (!o.ok && "aborted" in o) kill(); // a cancelled job may still be running: start afresh
        return o;
      });
    },
    close: kill,
  };
}

/**
 * `runner` for every job but `noop`, which returns at once and needs no thread of its own: it runs on the
 * calling thread (a thread hop costs more than the no-op job; what the queue benchmarks measure is the queue).
 */
export function noopInline(runner: JobRunner): JobRunner {
  const inline = inlineRunner();
  return {
    run: (req) => (req.job.kind === "noop" ? inline.run(req) : runner.run(req)),
    close: () => runner.close(),
  };
}

export interface LeaseContext {
  signal: AbortSignal;
  backend?: string;
  artifacts?: ArtifactStore;
  /** Time the job gets to stop after `signal` before its thread is killed. Default 2000 ms. */
  graceMs?: number;
  log?: (line: string) => void;
  /** Problems worth showing even when per-job lines are off (default: `log`). */
  warn?: (line: string) => void;
  /** Run the test kinds `noop`, `sleep`, `fail` (embedded sweeps; `worker --allow-test-jobs`). Default true. */
  allowTestJobs?: boolean;
}

/**
 * Why a delivered job must not run, or null: its id is not the hash of its kind, config and inputs (a forged
 * or corrupted message: the result would be stored under another job's name), or it is a test kind on a
 * worker that does not run them.
 */
export function refusal(job: Job, allowTestJobs: boolean): string | null {
  let id: string;
  try {
    id = jobId(job.kind, job.config, job.inputs);
  } catch {
    return "refused: the job's config cannot be hashed";
  }
  if (id !== job.id) return `refused: job id ${job.id} is not the hash of its config (${id})`;
  if (job.kind !== "train" && !allowTestJobs) {
    return `refused: "${job.kind}" is a test job kind; this worker runs only train jobs (--allow-test-jobs)`;
  }
  return null;
}

/** How a lease ended for the worker: done, failed (final), retried (failed, redelivery asked), released. */
export type LeaseEnd = "done" | "failed" | "retried" | "released";

/** Drives one lease through `runner` to exactly one outcome (see the module comment for the policy). */
export async function runLease(lease: LeasedJob, runner: JobRunner, ctx: LeaseContext): Promise<LeaseEnd> {
  const { job } = lease;
  const log = ctx.log ?? (() => {});
  const refused = refusal(job, ctx.allowTestJobs ?? true);
  if (refused !== null) {
    (ctx.warn ?? log)(`job ${job.id} (sweep ${job.sweep}): ${refused}`);
    await report(job.id, ctx, () => lease.fail(refused, false));
    return "failed";
  }
  const maxAttempts = job.limits?.max_attempts;
  // The bound is on this publication's attempts; `attempt` also counts earlier runs of the job.
  const runAttempt = lease.runAttempt ?? lease.attempt;
  if (maxAttempts !== undefined && runAttempt > maxAttempts) {
    const reason = `gave up: delivery ${runAttempt} exceeds max_attempts ${maxAttempts} ` +
      "(earlier attempts ended without a result)";
    await report(job.id, ctx, () => lease.fail(reason, false));
    log(`job ${job.id}: ${reason}`);
    return "failed";
  }
  const t0 = performance.now();
  log(`job ${job.id} (${job.kind}, sweep ${job.sweep}) attempt ${lease.attempt} started`);
  try {
    await lease.start();
  } catch (err) {
    (ctx.warn ?? log)(`job ${job.id}: could not announce its start (${errorLine(err)})`);
  }
  const outcome = await runner.run({
    job,
    backend: ctx.backend,
    artifacts: ctx.artifacts,
    signal: ctx.signal,
    graceMs: ctx.graceMs ?? 2000,
    timeoutMs: jobTimeoutMs(job),
    onProgress: (record) => {
      lease.heartbeat();
      return lease.progress(record);
    },
  });
  if (outcome.ok) {
    await report(job.id, ctx, () => lease.complete(outcome.final));
    log(`job ${job.id} done in ${(performance.now() - t0).toFixed(0)} ms`);
    return "done";
  }
  if ("aborted" in outcome) {
    await report(job.id, ctx, () => lease.release());
    log(`job ${job.id} handed back (worker stopping)`);
    return "released";
  }
  const retry = outcome.retry && (maxAttempts === undefined || runAttempt < maxAttempts);
  await report(job.id, ctx, () => lease.fail(outcome.reason, retry));
  log(`job ${job.id} attempt ${lease.attempt} failed${retry ? " (will retry)" : ""}: ${outcome.reason}`);
  return retry ? "retried" : "failed";
}

/**
 * Reporting an outcome can fail when the broker stays away longer than the transport's retries; the worker
 * then carries on: the unacknowledged job is delivered again after the ack wait.
 */
async function report(jobId: string, ctx: LeaseContext, fn: () => Promise<void>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    (ctx.warn ?? ctx.log)?.(
      `job ${jobId}: could not report its outcome (${errorLine(err)}); it will be delivered again`,
    );
  }
}
