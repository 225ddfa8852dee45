/**
 * N local worker slots pulling from any JobSource (the embedded queue, or NATS). In `thread` mode (default)
 * each slot owns a Deno Web Worker (workers/pool_thread.ts) so jobs run in parallel, off the coordinator's
 * thread, and can be killed; `inline` mode runs jobs on the calling thread with an injectable executor
 * (tests). Every lease goes through the one lease runtime, workers/lease.ts `runLease`.
 */
import type { ArtifactStore, JobSource } from "../transport/types.ts";
import { type Executor, inlineRunner, type JobRunner, noopInline, runLease, threadRunner } from "./lease.ts";

export type { Executor } from "./lease.ts";

export interface PoolOptions {
  /** One JobSource per slot (the name identifies the worker in the store). */
  source: (worker: string) => JobSource;
  workers: number;
  /** Stops the pool: no new leases; running jobs get an abort and, after `graceMs`, their thread is killed. */
  signal: AbortSignal;
  mode?: "thread" | "inline";
  /** Inline mode only: what runs a job (default `executeJob`). */
  execute?: Executor;
  /** Compute backend passed to train jobs. */
  backend?: string;
  /** Where jobs read and write stage artifacts (embedded: a DirArtifactStore over RUN_DIR/artifacts). */
  artifacts?: ArtifactStore;
  /** Worker name prefix. */
  name?: string;
  graceMs?: number;
}

/** Runs the pool until `signal` aborts (or every source ends). */
export async function runPool(opts: PoolOptions): Promise<void> {
  const prefix = opts.name ?? "local";
  const slots = Array.from({ length: opts.workers }, async (_, i) => {
    const name = `${prefix}-${i + 1}`;
    const source = opts.source(name);
    const runner: JobRunner = opts.mode === "inline"
      ? inlineRunner(opts.execute)
      : noopInline(threadRunner(name));
    try {
      for await (const lease of source.leases(opts.signal)) {
        const end = await runLease(lease, runner, {
          signal: opts.signal,
          backend: opts.backend,
          artifacts: opts.artifacts,
          graceMs: opts.graceMs,
        });
        if (end === "released") return;
      }
    } finally {
      runner.close();
      await source.close();
    }
  });
  await Promise.all(slots);
}
