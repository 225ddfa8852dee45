/**
 * Runs one job in the current process, whatever queue it came from. `train` jobs run the GFlowNet trainer;
 * the other kinds exist for the system's own tests and benchmarks.
 *
 * A job whose metrics stop being finite (NaN, ±Infinity in an evaluation record or the final summary) has
 * diverged: the record is still reported (the history keeps it), then the job ends with
 * `DivergedError("diverged at step N …")`.
 */
import type { Job, MetricRecord } from "../core/sweep/job.ts";
import { DivergedError, type ExecuteContext, type FinalMetrics, nonFinite } from "./context.ts";
import { isSeedGroup } from "../core/sweep/seed_batch.ts";

export type { ExecuteContext, FinalMetrics };
export { DivergedError, nonFinite };

/**
 * A failure of the worker's surroundings rather than of the job (the artifact store unreachable): the job is
 * worth another attempt (workers/lease.ts retries it while attempts remain).
 */
export class TransientError extends Error {
  override name = "TransientError";
}

function divergedAt(record: MetricRecord, key: string, fallbackStep: number | string): DivergedError {
  const step = typeof record.step === "number" ? record.step : fallbackStep;
  return new DivergedError(`diverged at step ${step} (${key} = ${record[key]})`);
}

export async function executeJob(job: Job, ctx: ExecuteContext): Promise<FinalMetrics> {
  switch (job.kind) {
    case "noop":
      return { ok: 1 };
    case "sleep": {
      const ms = Number(job.config.ms ?? 100);
      // `busy: true` spins without yielding (a stuck job that ignores every request to stop).
      if (job.config.busy === true) {
        const end = Date.now() + ms;
        while (Date.now() < end) { /* spin */ }
      } else await abortableSleep(ms, ctx.signal);
      return { slept_ms: ms };
    }
    case "fail":
      throw new Error(String(job.config.reason ?? "job failed on purpose"));
    case "train": {
      // Loaded lazily so test kinds never pay for the engine's imports.
      const { runTrainJob } = await import("./train_job.ts");
      // A seed group (spec seed_batch) decides divergence per seed itself (workers/train_job.ts).
      if (isSeedGroup(job)) return await runTrainJob(job, ctx);
      let last: MetricRecord = {};
      const final = await runTrainJob(job, {
        ...ctx,
        onProgress: async (record) => {
          last = record;
          await ctx.onProgress(record);
          const bad = nonFinite(record);
          if (bad !== null) throw divergedAt(record, bad, "?");
        },
      });
      const bad = nonFinite(final);
      if (bad !== null) throw divergedAt(final, bad, typeof last.step === "number" ? last.step : "?");
      return final;
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
