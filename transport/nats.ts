/**
 * NATS JetStream transport (DESIGN §6): the coordinator-side `JobQueue`, the worker-side `JobSource` and the
 * object-store `ArtifactStore`.
 *
 * Topology (prefix `flowsweep`, all names derive from it — see `natsNames`):
 * - stream `FLOWSWEEP_JOBS`, subjects `flowsweep.jobs.>`, WORK-QUEUE retention, file storage. A job is one
 *   message on `flowsweep.jobs.<sweep>` with `Nats-Msg-Id` = job id (run 1) or `<id>.<run>` (re-runs).
 * - durable pull consumer `flowsweep-workers` on it, shared by every worker: explicit ack, `ack_wait` (30 s),
 *   `max_deliver` = maxAttempts + 1 (the extra delivery only records a job whose workers all died as failed).
 * - KV bucket `flowsweep-status`, key `<sweep>.<jobId>`: the job's state (`NatsJobState`). It is the
 *   authority on what is queued / running / done / failed and the dedupe check before publishing.
 * - stream `FLOWSWEEP_EVENTS`, limits retention: progress on `flowsweep.events.<sweep>.progress.<jobId>`,
 *   results on `flowsweep.events.<sweep>.result.<jobId>` (`Nats-Msg-Id` = `<jobId>` / `<jobId>.<run>`). A coordinator replays
 *   it from the start, so a restarted coordinator re-reads results it missed; duplicate results (a worker died
 *   after recording but before acking) are dropped by message id.
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
  statusKey,
} from "./nats/names.ts";
export { ensureNatsTopology } from "./nats/topology.ts";
export { countStatuses, type NatsJobState, readNatsStatus } from "./nats/state.ts";
export { NatsJobQueue, type NatsQueueOptions, type QueueEvent } from "./nats/queue.ts";
export { NatsJobSource, type NatsSourceOptions, type ReleasableLease } from "./nats/source.ts";
export { NatsArtifactStore } from "./nats/artifacts.ts";
