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

/** A worker started an attempt of a job (the coordinator marks it running; not a metric record). */
export interface JobStart {
  jobId: string;
  worker: string;
  attempt: number;
}

/** The terminal outcome of one job attempt sequence. */
export interface JobResult {
  jobId: string;
  worker: string;
  attempt: number;
  status: "done" | "failed";
  /**
   * The hash of the config the worker ran (`jobId(kind, config, inputs)`): the coordinator stores a result only
   * when it equals `jobId` and the job is one of its sweep's.
   */
  configId?: string;
  /** Final metrics (done) — the train summary. */
  final?: MetricRecord;
  /** Failure reason (failed). */
  error?: string;
  /** Code version (content hash of the engine, `workers/version.ts`) of the worker that ran it. */
  code?: string;
}

/** A stored result found for a job in an earlier sweep run (`JobQueue.findResults`, `sweep --reuse`). */
export interface ReusableResult {
  result: JobResult;
  /** Where it came from: the sweep name and the run id of the run that computed it, and when. */
  from: { sweep: string; run?: string; at?: string };
}

export interface PublishOptions {
  /** Attempts each job already made (stored by an earlier session); reported attempts count on from these. */
  priorAttempts?: ReadonlyMap<string, number>;
}

/**
 * A job handed to a worker: `start()` once, then metric records, then exactly one of `complete`, `fail` or
 * `release` (or the lease expires). workers/lease.ts is the one runtime that drives it.
 */
export interface LeasedJob {
  job: Job;
  /** The job's attempt number, counting every earlier execution (earlier sessions and runs of the job too). */
  attempt: number;
  /**
   * Attempts of this publication of the job (1 on its first delivery): what `max_attempts` bounds. Equal to
   * `attempt` unless the job ran before (a resumed run, `--rerun-failed`). Default: `attempt`.
   */
  runAttempt?: number;
  /** Announce that this attempt runs (the coordinator marks the job running). Not a metric record. */
  start(): Promise<void>;
  /** Extend the lease while working (NATS: `working()`). */
  heartbeat(): void;
  progress(record: JobProgress["record"]): Promise<void>;
  complete(final: JobResult["final"]): Promise<void>;
  /** Report a failure; `retry` asks for redelivery (the runtime asks only while attempts remain). */
  fail(reason: string, retry: boolean): Promise<void>;
  /** Hand the job back without counting a failure (worker stopping); another worker picks it up. */
  release(): Promise<void>;
}

/** What a JobQueue yields to the coordinator. */
export type QueueEvent =
  & (
    | { type: "start"; start: JobStart }
    | { type: "progress"; progress: JobProgress }
    | { type: "result"; result: JobResult }
  )
  & {
    /**
     * Position of the event in a durable event log (NATS: the events stream sequence). A coordinator that
     * stores it with the event's effects resumes `events({ after })` past it: nothing replayed twice.
     */
    cursor?: number;
  };

/** Coordinator side of the queue. */
export interface JobQueue {
  /**
   * Enqueue jobs; a job whose id is already queued, running or done is skipped (dedupe). Attempt numbers in
   * events are cumulative: `priorAttempts` + deliveries on this queue.
   */
  publish(jobs: Job[], opts?: PublishOptions): Promise<{ published: number; skipped: number }>;
  /**
   * Events from workers: progress and results, for the coordinator to persist. Ends when `signal` aborts.
   * `after`: skip events at or before this cursor (see `QueueEvent.cursor`).
   */
  events(signal: AbortSignal, opts?: { after?: number }): AsyncIterable<QueueEvent>;
  /**
   * Results of these jobs already computed by other sweep runs on the same queue (NATS: any run on the
   * broker), for `sweep --reuse`. Queues without memory across runs omit it.
   */
  findResults?(jobIds: string[]): Promise<Map<string, ReusableResult>>;
  /**
   * Identity of the durable event log that cursors point into (NATS: the events stream and when it was
   * created). A cursor stored for another log (a new broker, a re-created stream) is not used.
   */
  eventLog?(): Promise<string>;
  close(): Promise<void>;
}

/** Worker side of the queue. */
export interface JobSource {
  /** Leases jobs one at a time until `signal` aborts. */
  leases(signal: AbortSignal): AsyncIterable<LeasedJob>;
  close(): Promise<void>;
}

/**
 * Artifacts (energy checkpoints) under keys `<job id>/<name>`: a local directory (transport/artifacts.ts) or
 * the NATS object store (transport/nats/artifacts.ts). Workers read them by key only, never by path.
 */
export interface ArtifactStore {
  put(key: string, data: Uint8Array): Promise<void>;
  get(key: string): Promise<Uint8Array | null>;
}
