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
