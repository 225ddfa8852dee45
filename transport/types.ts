/**
 * The one queue interface both modes share: the embedded (in-process) queue and NATS JetStream implement it,
 * and the coordinator and workers only ever see these types.
 */

/** A job is one fully resolved training config plus the sweep bookkeeping around it. */
export interface Job {
  /** Hash of the canonical form of `config` (see core/train/config.ts `canonicalJson`). Dedupe key. */
  id: string;
  sweep: string;
  stage: string;
  /**
   * What executes the job: `train` runs `trainRun(config)`; the test kinds exist for the system's own tests and
   * benchmarks (`noop` returns at once, `sleep` waits config.ms, `fail` always throws config.reason).
   */
  kind: "train" | "noop" | "sleep" | "fail";
  config: Record<string, unknown>;
  /** Artifacts this job consumes (name → artifact key), e.g. a trained energy from an earlier stage. */
  inputs?: Record<string, string>;
}

export type JobStatus = "queued" | "running" | "done" | "failed" | "cancelled";

/** A metric record streamed while a job runs (one per evaluation). */
export interface JobProgress {
  jobId: string;
  worker: string;
  attempt: number;
  record: Record<string, number | string | boolean | undefined>;
}

/** The terminal outcome of one job attempt sequence. */
export interface JobResult {
  jobId: string;
  worker: string;
  attempt: number;
  status: "done" | "failed";
  /** Final metrics (done) — the train summary. */
  final?: Record<string, number | string | boolean | undefined>;
  /** Failure reason (failed). */
  error?: string;
}

/** A job handed to a worker. Exactly one of complete/fail must be called (or the lease expires). */
export interface LeasedJob {
  job: Job;
  /** 1 on first delivery. */
  attempt: number;
  /** Extend the lease while working (NATS: `working()`). */
  heartbeat(): void;
  progress(record: JobProgress["record"]): Promise<void>;
  complete(final: JobResult["final"]): Promise<void>;
  /** Report a failure; `retry` asks for redelivery (bounded by the queue's max attempts). */
  fail(reason: string, retry: boolean): Promise<void>;
}

/** Coordinator side of the queue. */
export interface JobQueue {
  /** Enqueue jobs; a job whose id is already queued, running or done is skipped (dedupe). */
  publish(jobs: Job[]): Promise<{ published: number; skipped: number }>;
  /** Events from workers: progress and results, for the coordinator to persist. Ends when `signal` aborts. */
  events(signal: AbortSignal): AsyncIterable<
    { type: "progress"; progress: JobProgress } | {
      type: "result";
      result: JobResult;
    }
  >;
  close(): Promise<void>;
}

/** Worker side of the queue. */
export interface JobSource {
  /** Leases jobs one at a time until `signal` aborts. */
  leases(signal: AbortSignal): AsyncIterable<LeasedJob>;
  close(): Promise<void>;
}

/** Content-addressed artifacts (energy checkpoints): local directory or NATS object store. */
export interface ArtifactStore {
  put(key: string, data: Uint8Array): Promise<void>;
  get(key: string): Promise<Uint8Array | null>;
}

/** Everything stored about one job in a run's results store; what reports aggregate. */
export interface JobRecord {
  id: string;
  sweep: string;
  stage: string;
  kind: Job["kind"];
  config: Record<string, unknown>;
  status: JobStatus;
  attempts: number;
  worker?: string;
  error?: string;
  /** Final metrics (the train summary) when done. */
  final?: Record<string, number | string | boolean | undefined>;
  /** Metric records in arrival order (one per evaluation). */
  history: Record<string, number | string | boolean | undefined>[];
}

/** What the report asks for: a table layout over job configs (DESIGN §6). */
export interface ReportLayout {
  /** Config keys whose values index the rows / columns, e.g. ["objective", "alpha"] × ["task", "energy"]. */
  rows: string[];
  columns: string[];
  /** Final metric shown in each cell as mean ± std over seeds, e.g. "nll" or "e_logw". */
  metric: string;
  /** Number of decimals in cells. */
  decimals?: number;
  title?: string;
}
