/**
 * NATS JetStream transport (docs/spec.md): the coordinator-side `JobQueue`, the worker-side `JobSource` and the
 * object-store `ArtifactStore`.
 *
 * Topology (prefix `flowsweep`, all names derive from it — see `natsNames`). Every subject, KV key and
 * message id of a sweep run carries its scope (`scopeToken`: `<sweep>` or `<sweep>=<run id>`), so two runs on
 * one broker — the same spec under two names, two users' smoke sweeps, a re-run into a new run directory —
 * never dedupe against or read each other's jobs, states or results.
 * - stream `FLOWSWEEP_JOBS`, subjects `flowsweep.jobs.>`, WORK-QUEUE retention, file storage. A job is one
 *   message on `flowsweep.jobs.<scope>.<jobId>` with `Nats-Msg-Id` = `<scope>.<jobId>.<run>` (run 1, 2, … each
 *   time a failed job is queued again, so a re-run is never swallowed by the duplicate window), and headers
 *   naming the revision of its queued state (one-write claims, see nats/source.ts).
 * - durable pull consumer `flowsweep-workers` on it, shared by every worker: explicit ack, `ack_wait` (30 s),
 *   `max_deliver` = maxAttempts + 1 (the extra delivery only records a job whose workers all died as failed).
 * - KV bucket `flowsweep-status`, key `<scope>.<jobId>`: the job's state (`NatsJobState`). It is the
 *   authority on what is queued / running / done / failed and the dedupe check before publishing.
 * - stream `FLOWSWEEP_EVENTS`, limits retention: progress on `flowsweep.events.<sweep>.progress[.<run id>].<jobId>`,
 *   results on `flowsweep.events.<sweep>.result[.<run id>].<jobId>` (`Nats-Msg-Id` = `<scope>.<jobId>.<run>`). A
 *   coordinator replays it from where its store left off, so a restarted coordinator re-reads results it
 *   missed; duplicate results (a worker died after recording but before acking) are dropped by message id.
 * - object store `flowsweep-artifacts`: artifacts (energy checkpoints) by key.
 *
 * Exactly-once results: the worker writes the terminal state to KV (revision-checked), then publishes the
 * result, then acks. A redelivered message whose job is already terminal in KV re-publishes that stored result
 * (deduplicated) and is acked without running the job again. A job message whose stream sequence is not the
 * one recorded in KV is a duplicate (published twice beyond the duplicate window) and is dropped.
 *
 * The implementation lives in `transport/nats/`, one file per concern: `connection.ts` (flags → connection
 * options), `names.ts` (subjects, names, settings), `topology.ts` (streams, consumer, buckets), `state.ts` (job
 * state in KV), `queue.ts` (coordinator: publisher + events), `source.ts` (worker: pulls + leases),
 * `artifacts.ts` (object store), `retry.ts` (error classes, retry while the broker is away).
 */
export {
  CONNECT_TIMEOUT_MS,
  connectNats,
  NatsConnectError,
  natsConnectOptions,
  NatsFlagError,
  type NatsFlags,
  redactUrl,
  tlsFailureLine,
} from "./nats/connection.ts";
export {
  jobSubject,
  type NatsNames,
  natsNames,
  type NatsSettings,
  natsToken,
  progressSubject,
  resultSubject,
  runMsgId,
  scopeOfJobSubject,
  scopeToken,
  statusKey,
} from "./nats/names.ts";
export { ensureNatsTopology } from "./nats/topology.ts";
export { countStatuses, type NatsJobState, readNatsStatus } from "./nats/state.ts";
export { JOB_HEADERS, NatsJobQueue, type NatsQueueOptions, type QueueEvent } from "./nats/queue.ts";
export { NatsJobSource, type NatsSourceOptions, type ReleasableLease } from "./nats/source.ts";
export { NatsArtifactStore } from "./nats/artifacts.ts";
