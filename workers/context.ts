/** What a job runs with in a worker (workers/execute.ts): progress callback, abort signal, backend, artifacts. */
import type { MetricRecord } from "../core/sweep/job.ts";
import type { ArtifactStore } from "../transport/types.ts";

export interface ExecuteContext {
  /** Called with each evaluation record while the job runs. */
  onProgress(record: MetricRecord): void | Promise<void>;
  /** Aborts the job (Ctrl-C, lease lost). */
  signal: AbortSignal;
  /** Compute backend for train jobs (`auto` by default). */
  backend?: string;
  /** Where stage artifacts (energy checkpoints) are read and written: keys `<job id>/<name>`. */
  artifacts?: ArtifactStore;
}

/** A job's final metrics (the train summary for `train` jobs). */
export type FinalMetrics = MetricRecord;

/** The job's metrics became NaN or infinite. Final: a rerun of the same config diverges the same way. */
export class DivergedError extends Error {
  override name = "DivergedError";
}

/** The first metric of `record` that is a non-finite number, or null. */
export function nonFinite(record: MetricRecord): string | null {
  for (const [k, v] of Object.entries(record)) if (typeof v === "number" && !Number.isFinite(v)) return k;
  return null;
}
