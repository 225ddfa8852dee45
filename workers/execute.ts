/**
 * Runs one job in the current process, whatever queue it came from. `train` jobs run the GFlowNet trainer;
 * the other kinds exist for the system's own tests and benchmarks.
 */
import type { Job } from "../transport/types.ts";

export interface ExecuteContext {
  /** Called with each evaluation record while the job runs. */
  onProgress(record: Record<string, number | string | boolean | undefined>): void | Promise<void>;
  /** Aborts the job (Ctrl-C, lease lost). */
  signal: AbortSignal;
  /** Compute backend for train jobs (`auto` by default). */
  backend?: string;
}

export type FinalMetrics = Record<string, number | string | boolean | undefined>;

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
