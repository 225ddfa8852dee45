/**
 * Runs one job in the current process, whatever queue it came from. `train` jobs run the GFlowNet trainer;
 * the other kinds exist for the system's own tests and benchmarks.
 */
import type { Job, MetricRecord } from "../core/sweep/job.ts";

export interface ExecuteContext {
  /** Called with each evaluation record while the job runs. */
  onProgress(record: MetricRecord): void | Promise<void>;
  /** Aborts the job (Ctrl-C, lease lost). */
  signal: AbortSignal;
  /** Compute backend for train jobs (`auto` by default). */
  backend?: string;
}

/** A job's final metrics (the train summary for `train` jobs). */
export type FinalMetrics = MetricRecord;

export async function executeJob(job: Job, ctx: ExecuteContext): Promise<FinalMetrics> {
  switch (job.kind) {
    case "noop":
      return { ok: 1 };
    case "sleep": {
      const ms = Number(job.config.ms ?? 100);
      await abortableSleep(ms, ctx.signal);
      return { slept_ms: ms };
    }
    case "fail":
      throw new Error(String(job.config.reason ?? "job failed on purpose"));
    case "train": {
      // Loaded lazily so test kinds never pay for the engine's imports.
      const { runTrainJob } = await import("./train_job.ts");
      return await runTrainJob(job, ctx);
    }
  }
}

function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal.reason);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
