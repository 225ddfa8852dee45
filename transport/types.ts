/**
 * The one queue interface both modes share: the embedded (in-process) queue and NATS JetStream implement it,
 * and the coordinator and workers only ever see these types.
 */
import type { Job, MetricRecord } from "../core/sweep/job.ts";

/** A metric record streamed while a job runs (one per evaluation). */
export interface JobProgress {
  jobId: string;
  worker: string;
  attempt: number;
  record: MetricRecord;
}

/** The terminal outcome of one job attempt sequence. */
export interface JobResult {
  jobId: string;
  worker: string;
  attempt: number;
  status: "done" | "failed";
  /** Final metrics (done) — the train summary. */
  final?: MetricRecord;
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
