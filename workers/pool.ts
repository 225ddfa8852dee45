/**
 * N local workers pulling from any JobSource (the embedded queue, or NATS). In `thread` mode (default) each
 * worker owns a Deno Web Worker (workers/pool_thread.ts) so jobs run in parallel, off the coordinator's
 * thread; `inline` mode runs jobs on the calling thread with an injectable executor (tests).
 *
 * Protocol towards the queue, per lease: first `progress({ event: "start" })` (the coordinator marks the job
 * running; it is not a metric record), then metric records, then exactly one of `complete(final)` or
 * `fail(reason, retry)`. A job that throws fails without retry (training is deterministic given its config);
 * a worker thread that dies fails the job with retry (bounded by the queue) and is replaced.
 */
import type { JobSource, LeasedJob } from "../transport/types.ts";
import { type ExecuteContext, executeJob, type FinalMetrics } from "./execute.ts";
import { DirArtifactStore } from "../coordinator/rundir.ts";

export type Executor = (job: LeasedJob["job"], ctx: ExecuteContext) => Promise<FinalMetrics>;

/** The progress record a worker sends when it starts a job. */
export const START_RECORD = { event: "start" } as const;

export function isStartRecord(record: Record<string, unknown>): boolean {
  return record.event === "start" && Object.keys(record).length === 1;
}

export interface PoolOptions {
  /** One JobSource per worker (the name identifies the worker in the store). */
  source: (worker: string) => JobSource;
  workers: number;
  /** Stops the pool: no new leases; running jobs get an abort and, after `graceMs`, their thread is killed. */
  signal: AbortSignal;
  mode?: "thread" | "inline";
  /** Inline mode only: what runs a job (default `executeJob`). */
  execute?: Executor;
  /** Compute backend passed to train jobs. */
  backend?: string;
  /** Local artifact directory: jobs get `ctx.artifacts` (a DirArtifactStore) over it. */
  artifactsDir?: string;
  /** Worker name prefix. */
  name?: string;
  graceMs?: number;
}

/** Runs the pool until `signal` aborts (or every source ends). */
export async function runPool(opts: PoolOptions): Promise<void> {
  const prefix = opts.name ?? "local";
  const slots = Array.from({ length: opts.workers }, (_, i) => {
    const name = `${prefix}-${i + 1}`;
    return opts.mode === "inline" ? inlineWorker(name, opts) : threadWorker(name, opts);
  });
  await Promise.all(slots);
}

async function release(lease: LeasedJob): Promise<void> {
  const r = (lease as { release?: () => Promise<void> }).release;
  if (typeof r === "function") await r.call(lease).catch(() => {});
}

async function inlineWorker(name: string, opts: PoolOptions): Promise<void> {
  const source = opts.source(name);
  const execute = opts.execute ?? executeJob;
  const artifacts = opts.artifactsDir ? new DirArtifactStore(opts.artifactsDir) : undefined;
  try {
    for await (const lease of source.leases(opts.signal)) {
      await lease.progress({ ...START_RECORD });
      let final: FinalMetrics;
      try {
        const ctx: ExecuteContext & { artifacts?: DirArtifactStore } = {
          signal: opts.signal,
          backend: opts.backend,
          onProgress: (r) => lease.progress(r),
        };
        if (artifacts) ctx.artifacts = artifacts;
        final = await execute(lease.job, ctx);
      } catch (err) {
        if (opts.signal.aborted) {
          await release(lease);
          return;
        }
        await lease.fail(err instanceof Error ? err.message : String(err), false);
        continue;
      }
      await lease.complete(final);
    }
  } finally {
    await source.close();
  }
}

type ThreadMsg =
  | { type: "progress"; record: FinalMetrics }
  | { type: "done"; final: FinalMetrics }
  | { type: "error"; message: string };

type Outcome = { ok: true; final: FinalMetrics } | { ok: false; reason: string; retry: boolean } | {
  ok: false;
  aborted: true;
};

async function threadWorker(name: string, opts: PoolOptions): Promise<void> {
  const source = opts.source(name);
  const graceMs = opts.graceMs ?? 2000;
  let thread: Worker | null = null;
  const spawn = () => new Worker(new URL("./pool_thread.ts", import.meta.url).href, { type: "module", name });
  try {
    for await (const lease of source.leases(opts.signal)) {
      thread ??= spawn();
      const t = thread;
      await lease.progress({ ...START_RECORD });
      const outcome = await new Promise<Outcome>((resolve) => {
        let killTimer: ReturnType<typeof setTimeout> | undefined;
        const onAbort = () => {
          t.postMessage({ type: "abort" });
          killTimer = setTimeout(() => finish({ ok: false, aborted: true }), graceMs);
        };
        const finish = (o: Outcome) => {
          clearTimeout(killTimer);
          opts.signal.removeEventListener("abort", onAbort);
          t.onmessage = null;
          t.onerror = null;
          resolve(o);
        };
        t.onmessage = (e: MessageEvent<ThreadMsg>) => {
          const m = e.data;
          if (m.type === "progress") {
            lease.heartbeat();
            lease.progress(m.record).catch(() => {}); // progress is best effort; the result is what counts
          } else if (m.type === "done") finish({ ok: true, final: m.final });
          else {finish(
              opts.signal.aborted
                ? { ok: false, aborted: true }
                : { ok: false, reason: m.message, retry: false },
            );}
        };
        t.onerror = (e: ErrorEvent) => {
          e.preventDefault();
          finish({ ok: false, reason: `worker ${name} crashed: ${e.message}`, retry: true });
        };
        if (opts.signal.aborted) onAbort();
        else opts.signal.addEventListener("abort", onAbort, { once: true });
        t.postMessage({
          type: "run",
          job: lease.job,
          backend: opts.backend,
          artifactsDir: opts.artifactsDir,
        });
      });
      if (outcome.ok) await lease.complete(outcome.final);
      else if ("aborted" in outcome) {
        // Cancelled: hand the job back where the queue supports it (NATS); the coordinator requeues it.
        t.terminate();
        thread = null;
        await release(lease);
        return;
      } else {
        if (outcome.retry) {
          t.terminate();
          thread = null;
        }
        await lease.fail(outcome.reason, outcome.retry);
      }
    }
  } finally {
    thread?.terminate();
    await source.close();
  }
}
