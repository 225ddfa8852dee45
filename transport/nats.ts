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
 */
import {
  connect,
  credsAuthenticator,
  type NatsConnection,
  type NodeConnectionOptions,
} from "@nats-io/transport-node";
import {
  AckPolicy,
  type Consumer,
  DeliverPolicy,
  jetstream,
  JetStreamApiError,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
  type JsMsg,
  RetentionPolicy,
  StorageType,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import { type ObjectStore, Objm } from "@nats-io/obj";
import type { Job, JobStatus } from "../core/sweep/job.ts";
import type { ArtifactStore, JobProgress, JobQueue, JobResult, JobSource, LeasedJob } from "./types.ts";

// ---------------------------------------------------------------------------------------------------------
// Connection options (shared by worker and coordinator)

/** Command-line flags that say how to reach the broker. */
export interface NatsFlags {
  /** Server URL(s), comma separated: `nats://host:4222` or `tls://host:4222`. */
  nats: string;
  /** NATS credentials file (JWT + nkey seed), e.g. from `nsc generate creds`. */
  creds?: string;
  user?: string;
  password?: string;
  token?: string;
  /** CA certificate (PEM) to verify the server; implies TLS. */
  tlsCa?: string;
  /** Client certificate and key (PEM) for mutual TLS. */
  tlsCert?: string;
  tlsKey?: string;
  /** Connection name shown in server monitoring. */
  name?: string;
}

/** Thrown for inconsistent connection flags (the CLI turns it into a UsageError). */
export class NatsFlagError extends Error {
  override name = "NatsFlagError";
}

/**
 * Connection options from flags: reconnects forever (`maxReconnectAttempts: -1`, 1 s apart) so workers
 * survive broker restarts; credentials / user+password / token; TLS with a custom CA and client certificate.
 */
export function natsConnectOptions(flags: NatsFlags): NodeConnectionOptions {
  const servers = flags.nats.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (servers.length === 0) throw new NatsFlagError("--nats needs a server URL, e.g. nats://127.0.0.1:4222");
  if ((flags.user === undefined) !== (flags.password === undefined)) {
    throw new NatsFlagError("--user and --password go together");
  }
  const methods = [flags.creds !== undefined, flags.user !== undefined, flags.token !== undefined];
  if (methods.filter(Boolean).length > 1) {
    throw new NatsFlagError("use only one of --creds, --user/--password, --token");
  }
  if ((flags.tlsCert === undefined) !== (flags.tlsKey === undefined)) {
    throw new NatsFlagError("--tls-cert and --tls-key go together");
  }
  const opts: NodeConnectionOptions = {
    servers,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 1000,
    waitOnFirstConnect: true,
    pingInterval: 10_000,
  };
  if (flags.name !== undefined) opts.name = flags.name;
  if (flags.creds !== undefined) {
    const path = flags.creds;
    let data: Uint8Array;
    try {
      data = Deno.readFileSync(path);
    } catch (err) {
      throw new NatsFlagError(`cannot read --creds ${path}: ${(err as Error).message}`);
    }
    opts.authenticator = credsAuthenticator(data);
  }
  if (flags.user !== undefined) {
    opts.user = flags.user;
    opts.pass = flags.password;
  }
  if (flags.token !== undefined) opts.token = flags.token;
  if (
    flags.tlsCa !== undefined || flags.tlsCert !== undefined || servers.some((s) => s.startsWith("tls://"))
  ) {
    opts.tls = {};
    if (flags.tlsCa !== undefined) opts.tls.caFile = flags.tlsCa;
    if (flags.tlsCert !== undefined) opts.tls.certFile = flags.tlsCert;
    if (flags.tlsKey !== undefined) opts.tls.keyFile = flags.tlsKey;
  }
  return opts;
}

/** Connect with `natsConnectOptions(flags)`. */
export function connectNats(flags: NatsFlags): Promise<NatsConnection> {
  return connect(natsConnectOptions(flags));
}

// ---------------------------------------------------------------------------------------------------------
// Names and settings

export interface NatsSettings {
  /** Prefix of every subject, stream, consumer and bucket name (one subject token). Default `flowsweep`. */
  prefix?: string;
  /** Consumer ack wait; workers heartbeat every third of it. Default 30 000 ms. */
  ackWaitMs?: number;
  /** Executions per job before it is recorded failed. Consumer `max_deliver` = this + 1. Default 3. */
  maxAttempts?: number;
  /** Delay before a failed attempt is redelivered (nak delay). Default 2 000 ms. */
  retryDelayMs?: number;
  /** Stream duplicate window for `Nats-Msg-Id`. Default 120 000 ms. */
  duplicateWindowMs?: number;
}

const DEFAULTS = {
  prefix: "flowsweep",
  ackWaitMs: 30_000,
  maxAttempts: 3,
  retryDelayMs: 2_000,
  duplicateWindowMs: 120_000,
};

export interface NatsNames {
  prefix: string;
  jobsStream: string;
  eventsStream: string;
  consumer: string;
  statusBucket: string;
  artifactBucket: string;
}

export function natsNames(prefix = DEFAULTS.prefix): NatsNames {
  if (!/^[A-Za-z0-9_-]+$/.test(prefix)) {
    throw new NatsFlagError(`NATS prefix must match [A-Za-z0-9_-]+, got "${prefix}"`);
  }
  const up = prefix.toUpperCase();
  return {
    prefix,
    jobsStream: `${up}_JOBS`,
    eventsStream: `${up}_EVENTS`,
    consumer: `${prefix}-workers`,
    statusBucket: `${prefix}-status`,
    artifactBucket: `${prefix}-artifacts`,
  };
}

/** A subject / KV-key token for a sweep name or job id: anything outside [A-Za-z0-9_-] becomes `_`. */
export function natsToken(s: string): string {
  const t = s.replace(/[^A-Za-z0-9_-]/g, "_");
  return t === "" ? "_" : t;
}

export function jobSubject(prefix: string, sweep: string): string {
  return `${prefix}.jobs.${natsToken(sweep)}`;
}
export function progressSubject(prefix: string, sweep: string, jobId: string): string {
  return `${prefix}.events.${natsToken(sweep)}.progress.${natsToken(jobId)}`;
}
export function resultSubject(prefix: string, sweep: string, jobId: string): string {
  return `${prefix}.events.${natsToken(sweep)}.result.${natsToken(jobId)}`;
}
/** KV key of a job's state. */
export function statusKey(sweep: string, jobId: string): string {
  return `${natsToken(sweep)}.${natsToken(jobId)}`;
}
/** `Nats-Msg-Id` of a job message / result of run `run` (1 = first publish). */
export function runMsgId(jobId: string, run: number): string {
  return run <= 1 ? jobId : `${jobId}.${run}`;
}

/** What the status bucket holds per job. */
export interface NatsJobState {
  id: string;
  sweep: string;
  stage: string;
  kind: Job["kind"];
  status: JobStatus;
  /** Deliveries that started an execution (1 on the first). */
  attempts: number;
  /** 1 for the first publish; +1 each time a failed/cancelled job is queued again. */
  run: number;
  /** Stream sequence of the job message that owns this run; 0 until known. */
  seq: number;
  /** Attempts allowed for this job (set by the publisher, e.g. the spec's max_attempts). */
  maxAttempts?: number;
  worker?: string;
  error?: string;
  final?: JobResult["final"];
  /** ISO time of the last change. */
  updated: string;
}

// ---------------------------------------------------------------------------------------------------------
// Setup

interface Resolved {
  names: NatsNames;
  ackWaitMs: number;
  maxAttempts: number;
  retryDelayMs: number;
  duplicateWindowMs: number;
}

function resolve(s: NatsSettings = {}): Resolved {
  const r = {
    names: natsNames(s.prefix ?? DEFAULTS.prefix),
    ackWaitMs: s.ackWaitMs ?? DEFAULTS.ackWaitMs,
    maxAttempts: s.maxAttempts ?? DEFAULTS.maxAttempts,
    retryDelayMs: s.retryDelayMs ?? DEFAULTS.retryDelayMs,
    duplicateWindowMs: s.duplicateWindowMs ?? DEFAULTS.duplicateWindowMs,
  };
  if (!(r.ackWaitMs >= 1000)) throw new NatsFlagError(`ack wait must be ≥ 1000 ms, got ${r.ackWaitMs}`);
  if (!Number.isInteger(r.maxAttempts) || r.maxAttempts < 1) {
    throw new NatsFlagError(`max attempts must be a positive integer, got ${r.maxAttempts}`);
  }
  return r;
}

const ms2ns = (ms: number) => Math.round(ms * 1_000_000);

function isNotFound(err: unknown): boolean {
  const e = err as { code?: number; message?: string; name?: string };
  // 10059 stream not found, 10014 consumer not found, 10037 no message found
  return e?.code === 10059 || e?.code === 10014 || e?.code === 10037 ||
    /not found/i.test(String(e?.message ?? ""));
}

/** Errors worth retrying: no answer (timeouts, no responders while reconnecting), JetStream unavailable. */
function isTransient(err: unknown): boolean {
  if (err instanceof JetStreamApiError) return err.code === 10008; // JetStream temporarily unavailable
  return true;
}

function isConflict(err: unknown): boolean {
  const e = err as { code?: number; message?: string };
  return e?.code === 10071 || e?.code === 10164 || /wrong last sequence/i.test(String(e?.message ?? ""));
}

/**
 * Creates (or checks) the streams, the shared consumer, the status bucket and the object store. Idempotent;
 * an existing consumer keeps its settings (the first creator wins). Returns the consumer's effective
 * ack wait and max attempts.
 */
export async function ensureNatsTopology(
  nc: NatsConnection,
  settings: NatsSettings = {},
): Promise<{ ackWaitMs: number; maxAttempts: number }> {
  const r = resolve(settings);
  const { names } = r;
  const jsm = await jetstreamManager(nc);
  await ensureStream(jsm, {
    name: names.jobsStream,
    subjects: [`${names.prefix}.jobs.>`],
    retention: RetentionPolicy.Workqueue,
    storage: StorageType.File,
    duplicate_window: ms2ns(r.duplicateWindowMs),
  });
  await ensureStream(jsm, {
    name: names.eventsStream,
    subjects: [`${names.prefix}.events.>`],
    retention: RetentionPolicy.Limits,
    storage: StorageType.File,
    duplicate_window: ms2ns(r.duplicateWindowMs),
  });
  let info;
  try {
    info = await jsm.consumers.info(names.jobsStream, names.consumer);
    // A publisher that allows more attempts than the shared consumer delivers raises its max_deliver.
    const md = info.config.max_deliver ?? -1;
    if (settings.maxAttempts !== undefined && md !== -1 && md < settings.maxAttempts + 1) {
      info = await jsm.consumers.update(names.jobsStream, names.consumer, {
        max_deliver: settings.maxAttempts + 1,
      });
    }
  } catch (err) {
    if (!isNotFound(err)) throw err;
    try {
      info = await jsm.consumers.add(names.jobsStream, {
        durable_name: names.consumer,
        ack_policy: AckPolicy.Explicit,
        ack_wait: ms2ns(r.ackWaitMs),
        max_deliver: r.maxAttempts + 1,
        deliver_policy: DeliverPolicy.All,
        filter_subject: `${names.prefix}.jobs.>`,
        max_ack_pending: 10_000,
      });
    } catch (err2) {
      // another process created it meanwhile
      info = await jsm.consumers.info(names.jobsStream, names.consumer).catch(() => {
        throw err2;
      });
    }
  }
  const js = jetstream(nc);
  await new Kvm(js).create(names.statusBucket, { history: 5, storage: StorageType.File });
  await new Objm(js).create(names.artifactBucket, { storage: StorageType.File });
  const maxDeliver = info.config.max_deliver ?? -1;
  return {
    ackWaitMs: Math.round((info.config.ack_wait ?? ms2ns(r.ackWaitMs)) / 1_000_000),
    maxAttempts: maxDeliver > 1 ? maxDeliver - 1 : r.maxAttempts,
  };
}

async function ensureStream(
  jsm: JetStreamManager,
  cfg: {
    name: string;
    subjects: string[];
    retention: RetentionPolicy;
    storage: StorageType;
    duplicate_window: number;
  },
): Promise<void> {
  try {
    await jsm.streams.info(cfg.name);
    return;
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
  try {
    await jsm.streams.add(cfg);
  } catch (err) {
    // created concurrently by another process
    await jsm.streams.info(cfg.name).catch(() => {
      throw err;
    });
  }
}

/**
 * Retries `fn` while the broker is unreachable (reconnecting, timeouts), up to `deadlineMs`. Revision
 * conflicts and not-found answers are real answers and are rethrown at once.
 */
async function retryTransient<T>(nc: NatsConnection, fn: () => Promise<T>, deadlineMs = 120_000): Promise<T> {
  const end = Date.now() + deadlineMs;
  let wait = 100;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (!isTransient(err) || nc.isClosed() || Date.now() > end) throw err;
      await sleep(wait);
      wait = Math.min(wait * 2, 1000);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

const enc = new TextEncoder();
const dec = new TextDecoder();

function parseState(data: Uint8Array): NatsJobState | null {
  try {
    return JSON.parse(dec.decode(data)) as NatsJobState;
  } catch {
    return null;
  }
}

async function getState(kv: KV, key: string): Promise<{ state: NatsJobState | null; revision: number }> {
  const e = await kv.get(key);
  if (!e || e.operation !== "PUT") return { state: null, revision: e?.revision ?? 0 };
  return { state: parseState(e.value), revision: e.revision };
}

/** Write `next` with a revision check; `revision` 0 means "must not exist" (a deleted key counts as absent). */
async function writeState(kv: KV, key: string, next: NatsJobState, revision: number): Promise<number> {
  const body = enc.encode(JSON.stringify({ ...next, updated: new Date().toISOString() }));
  return revision > 0 ? await kv.update(key, body, revision) : await kv.create(key, body);
}

const isTerminal = (s: JobStatus) => s === "done" || s === "failed";

function resultOf(st: NatsJobState): JobResult {
  const r: JobResult = {
    jobId: st.id,
    worker: st.worker ?? "",
    attempt: st.attempts,
    status: st.status === "done" ? "done" : "failed",
  };
  if (st.final !== undefined) r.final = st.final;
  if (st.error !== undefined) r.error = st.error;
  return r;
}

// ---------------------------------------------------------------------------------------------------------
// Coordinator side

export interface NatsQueueOptions extends NatsSettings {
  /** Only this sweep's events are yielded by `events()` (default: all sweeps). */
  sweep?: string;
  /** Close the connection in `close()` (default true). */
  ownsConnection?: boolean;
  /** Parallel publishes in `publish()` (default 32). */
  publishConcurrency?: number;
}

export type QueueEvent =
  | { type: "progress"; progress: JobProgress }
  | { type: "result"; result: JobResult };

/** Coordinator-side JobQueue over JetStream. */
export class NatsJobQueue implements JobQueue {
  private constructor(
    readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly kv: KV,
    private readonly r: Resolved,
    private readonly opts: NatsQueueOptions,
  ) {}

  /** Current run per status key, as this queue last published or read it (stale events are dropped). */
  private readonly runs = new Map<string, number>();

  static async open(nc: NatsConnection, opts: NatsQueueOptions = {}): Promise<NatsJobQueue> {
    const r = resolve(opts);
    await ensureNatsTopology(nc, opts);
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const kv = await new Kvm(js).open(r.names.statusBucket);
    return new NatsJobQueue(nc, js, jsm, kv, r, opts);
  }

  /** Connect with flags and open. */
  static async connect(flags: NatsFlags, opts: NatsQueueOptions = {}): Promise<NatsJobQueue> {
    const nc = await connectNats({ name: "flowsweep-coordinator", ...flags });
    try {
      return await NatsJobQueue.open(nc, opts);
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  get names(): NatsNames {
    return this.r.names;
  }

  /**
   * Enqueue jobs. A job whose KV state is queued (with its message still in the stream), running or done is
   * skipped; a failed or cancelled job is queued again as a new run. The state is written first (revision
   * checked, so two coordinators publishing the same job enqueue it once), then the message.
   */
  async publish(jobs: Job[]): Promise<{ published: number; skipped: number }> {
    let published = 0;
    let skipped = 0;
    let next = 0;
    const worker = async () => {
      while (next < jobs.length) {
        const job = jobs[next++];
        if (await this.publishOne(job)) published++;
        else skipped++;
      }
    };
    const n = Math.max(1, Math.min(this.opts.publishConcurrency ?? 32, jobs.length));
    await Promise.all(Array.from({ length: n }, worker));
    return { published, skipped };
  }

  private async publishOne(job: Job): Promise<boolean> {
    const key = statusKey(job.sweep, job.id);
    const { prefix } = this.r.names;
    for (let tries = 0; tries < 10; tries++) {
      const { state, revision } = await retryTransient(this.nc, () => getState(this.kv, key));
      if (state && (state.status === "running" || state.status === "done")) return false;
      if (state && state.status === "queued") {
        if (await this.messageAlive(state.seq)) return false;
        // queued but its message is gone (a publisher died between the two writes): publish it again
        const ack = await retryTransient(
          this.nc,
          () =>
            this.js.publish(jobSubject(prefix, job.sweep), enc.encode(JSON.stringify(job)), {
              msgID: runMsgId(job.id, state.run),
            }),
        );
        if (ack.duplicate) return false; // another publisher got there first
        await writeState(this.kv, key, { ...state, seq: ack.seq }, revision).catch(() => {});
        return true;
      }
      const run = state ? state.run + 1 : 1;
      const queued: NatsJobState = {
        id: job.id,
        sweep: job.sweep,
        stage: job.stage,
        kind: job.kind,
        status: "queued",
        attempts: 0,
        run,
        seq: 0,
        maxAttempts: this.r.maxAttempts,
        updated: "",
      };
      let rev: number;
      try {
        rev = await retryTransient(this.nc, () => writeState(this.kv, key, queued, revision));
      } catch (err) {
        if (isConflict(err)) continue; // someone else changed it: decide again
        throw err;
      }
      const ack = await retryTransient(
        this.nc,
        () =>
          this.js.publish(jobSubject(prefix, job.sweep), enc.encode(JSON.stringify(job)), {
            msgID: runMsgId(job.id, run),
          }),
      );
      this.runs.set(key, run);
      // Duplicate: the message is already in the stream (a concurrent publisher's, or our own first try
      // whose ack was lost); it is counted once, by whoever stored it.
      if (ack.duplicate) return false;
      // Record the owning sequence unless a worker already claimed the job (then it wrote the sequence).
      await writeState(this.kv, key, { ...queued, seq: ack.seq }, rev).catch(() => {});
      return true;
    }
    throw new Error(`could not publish job ${job.id}: its status kept changing`);
  }

  private async messageAlive(seq: number): Promise<boolean> {
    if (seq <= 0) return false;
    try {
      await retryTransient(this.nc, () => this.jsm.streams.getMessage(this.r.names.jobsStream, { seq }));
      return true;
    } catch (err) {
      if (isNotFound(err)) return false;
      throw err;
    }
  }

  /**
   * Progress and results, replayed from the start of the events stream (so nothing is missed across a
   * coordinator restart) and then live. Results are yielded once per job run (duplicates dropped by message
   * id); progress records are yielded as stored. Events of an older run of a job (one that failed and was
   * published again) are dropped: the current run is the one in the status bucket or last published here.
   */
  async *events(signal: AbortSignal): AsyncIterable<QueueEvent> {
    const { prefix, eventsStream } = this.r.names;
    const filter = this.opts.sweep === undefined
      ? `${prefix}.events.>`
      : `${prefix}.events.${natsToken(this.opts.sweep)}.>`;
    const consumer = await retryTransient(
      this.nc,
      () =>
        this.js.consumers.get(eventsStream, { filter_subjects: filter, deliver_policy: DeliverPolicy.All }),
    );
    const messages = await consumer.consume();
    const stop = () => messages.stop();
    if (signal.aborted) stop();
    signal.addEventListener("abort", stop, { once: true });
    const seen = new Set<string>();
    try {
      for await (const m of messages) {
        if (signal.aborted) break;
        // <prefix>.events.<sweep>.<progress|result>.<job>
        const [, , sweepTok, kind, jobTok] = m.subject.split(".");
        let body: (JobResult | JobProgress) & { run?: number };
        try {
          body = m.json();
        } catch {
          continue;
        }
        const { run = 1, ...event } = body;
        if (!(await this.isCurrentRun(`${sweepTok}.${jobTok}`, run))) continue; // an older run's event
        if (kind === "result") {
          const id = m.headers?.get("Nats-Msg-Id") || `seq:${m.seq}`;
          if (seen.has(id)) continue;
          seen.add(id);
          yield { type: "result", result: event as JobResult };
        } else if (kind === "progress") {
          yield { type: "progress", progress: event as JobProgress };
        }
      }
    } finally {
      signal.removeEventListener("abort", stop);
      stop();
    }
  }

  private async isCurrentRun(key: string, run: number): Promise<boolean> {
    let cur = this.runs.get(key);
    if (cur === undefined || run > cur) {
      const { state } = await retryTransient(this.nc, () => getState(this.kv, key));
      cur = Math.max(state?.run ?? 1, cur ?? 1);
      this.runs.set(key, cur);
    }
    return run >= cur;
  }

  /** The state of every job of `sweep` in the status bucket. */
  status(sweep: string): Promise<NatsJobState[]> {
    return readStatusBucket(this.kv, sweep);
  }

  async close(): Promise<void> {
    if (this.opts.ownsConnection ?? true) {
      if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
    }
  }
}

async function readStatusBucket(kv: KV, sweep?: string): Promise<NatsJobState[]> {
  const keys: string[] = [];
  const it = await kv.keys(sweep === undefined ? ">" : `${natsToken(sweep)}.>`);
  for await (const k of it) keys.push(k);
  const out: NatsJobState[] = [];
  for (const k of keys.sort()) {
    const { state } = await getState(kv, k);
    if (state) out.push(state);
  }
  return out;
}

/** Reads the status bucket (for `status --nats`): every job of `sweep` (or of all sweeps). */
export async function readNatsStatus(
  nc: NatsConnection,
  opts: { sweep?: string; prefix?: string } = {},
): Promise<NatsJobState[]> {
  const names = natsNames(opts.prefix);
  let kv: KV;
  try {
    kv = await new Kvm(nc).open(names.statusBucket);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
  try {
    return await readStatusBucket(kv, opts.sweep);
  } catch (err) {
    if (isNotFound(err)) return [];
    throw err;
  }
}

/** Counts per status (queued/running/done/failed/cancelled) of a status list. */
export function countStatuses(states: NatsJobState[]): Record<JobStatus, number> {
  const c: Record<JobStatus, number> = { queued: 0, running: 0, done: 0, failed: 0, cancelled: 0 };
  for (const s of states) c[s.status] = (c[s.status] ?? 0) + 1;
  return c;
}

// ---------------------------------------------------------------------------------------------------------
// Worker side

export interface NatsSourceOptions extends NatsSettings {
  /** Worker name recorded in status and results. */
  worker: string;
  /** Pull request expiry; bounds how long a pull waits on an empty queue. Default 5 000 ms. */
  pullExpiresMs?: number;
  /** Heartbeat (`working()`) period; default a third of the consumer's ack wait. */
  heartbeatMs?: number;
  /** Close the connection in `close()` (default true). */
  ownsConnection?: boolean;
  /** Called with notable events (claims dropped as duplicates, exhausted jobs, transient errors). */
  log?: (line: string) => void;
}

/** A lease that can also be handed back without counting as a failure (worker shutdown). */
export interface ReleasableLease extends LeasedJob {
  /** Put the job back (nak without delay, state back to queued) so another worker picks it up. */
  release(): Promise<void>;
}

/** Worker-side JobSource: pulls from the shared durable consumer. */
export class NatsJobSource implements JobSource {
  private constructor(
    readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly kv: KV,
    private readonly r: Resolved,
    private readonly opts: NatsSourceOptions,
    readonly ackWaitMs: number,
    readonly maxAttempts: number,
  ) {}

  static async open(nc: NatsConnection, opts: NatsSourceOptions): Promise<NatsJobSource> {
    const r = resolve(opts);
    const eff = await ensureNatsTopology(nc, opts);
    const js = jetstream(nc);
    const kv = await new Kvm(js).open(r.names.statusBucket);
    return new NatsJobSource(nc, js, kv, r, opts, eff.ackWaitMs, eff.maxAttempts);
  }

  static async connect(flags: NatsFlags, opts: NatsSourceOptions): Promise<NatsJobSource> {
    const nc = await connectNats({ name: `flowsweep-worker-${opts.worker}`, ...flags });
    try {
      return await NatsJobSource.open(nc, opts);
    } catch (err) {
      await nc.close();
      throw err;
    }
  }

  private log(line: string) {
    this.opts.log?.(line);
  }

  /** Leases jobs one at a time until `signal` aborts. Each iterator pulls only when asked for the next job. */
  async *leases(signal: AbortSignal): AsyncIterable<ReleasableLease> {
    const { jobsStream, consumer: durable } = this.r.names;
    const aborted = new Promise<null>((res) => {
      if (signal.aborted) res(null);
      signal.addEventListener("abort", () => res(null), { once: true });
    });
    let consumer: Consumer | null = null;
    while (!signal.aborted) {
      try {
        consumer ??= await this.js.consumers.get(jobsStream, durable);
        const pending = consumer.next({ expires: this.opts.pullExpiresMs ?? 5000 });
        const msg = await Promise.race([pending, aborted]);
        if (signal.aborted) {
          // a message that arrives after shutdown goes back at once
          pending.then((m) => m?.nak(), () => {});
          if (msg) msg.nak();
          break;
        }
        if (!msg) continue;
        const lease = await this.claim(msg);
        if (lease) yield lease;
      } catch (err) {
        if (signal.aborted || this.nc.isClosed()) break;
        this.log(`pull failed (${(err as Error).message}); retrying`);
        consumer = null;
        await Promise.race([sleep(1000), aborted]);
      }
    }
  }

  /** Decide what a delivered message means given the job's KV state; returns a lease or null (handled). */
  private async claim(msg: JsMsg): Promise<ReleasableLease | null> {
    let job: Job;
    try {
      job = msg.json<Job>();
      if (typeof job?.id !== "string" || typeof job?.sweep !== "string") throw new Error("not a job");
    } catch (err) {
      this.log(`dropping malformed job message seq ${msg.seq}: ${(err as Error).message}`);
      msg.term();
      return null;
    }
    const key = statusKey(job.sweep, job.id);
    const seq = msg.seq;
    const delivery = msg.info.deliveryCount;
    for (let tries = 0; tries < 10; tries++) {
      const { state, revision } = await retryTransient(this.nc, () => getState(this.kv, key));
      if (state) {
        if (isTerminal(state.status)) {
          if (state.seq === seq || state.seq === 0) {
            // Recorded but not acked (worker died in between): make sure the result is out, then ack.
            await this.publishResult(state);
          } else {
            this.log(`job ${job.id}: duplicate message seq ${seq} of a finished job, dropped`);
          }
          msg.ack();
          return null;
        }
        if (state.status === "cancelled") {
          msg.term();
          return null;
        }
        if (state.seq !== 0 && state.seq !== seq) {
          this.log(`job ${job.id}: duplicate message seq ${seq} (owner seq ${state.seq}), dropped`);
          msg.ack();
          return null;
        }
      }
      // The publisher's bound for this job (its queue raised the consumer's max_deliver to fit it).
      const limit = state?.maxAttempts ?? this.maxAttempts;
      const base: NatsJobState = {
        id: job.id,
        sweep: job.sweep,
        stage: job.stage,
        kind: job.kind,
        status: "running",
        attempts: delivery,
        run: state?.run ?? 1,
        seq,
        maxAttempts: limit,
        worker: this.opts.worker,
        updated: "",
      };
      try {
        if (delivery > limit) {
          // Every attempt so far ended without a result (workers killed / leases lost): give up.
          const failed: NatsJobState = {
            ...base,
            status: "failed",
            attempts: state?.attempts ?? limit,
            worker: state?.worker ?? this.opts.worker,
            error: `gave up after ${delivery - 1} deliveries without a result` +
              (state?.error ? ` (last error: ${state.error})` : ""),
          };
          await retryTransient(this.nc, () => writeState(this.kv, key, failed, revision));
          await this.publishResult(failed);
          msg.term();
          this.log(`job ${job.id}: ${failed.error}`);
          return null;
        }
        const rev = await retryTransient(this.nc, () => writeState(this.kv, key, base, revision));
        return new NatsLease(this, msg, job, base, rev);
      } catch (err) {
        if (isConflict(err)) continue;
        throw err;
      }
    }
    // The state keeps changing under us: let the server redeliver later.
    msg.nak(this.r.retryDelayMs);
    return null;
  }

  /** @internal */
  async publishResult(state: NatsJobState): Promise<void> {
    const subject = resultSubject(this.r.names.prefix, state.sweep, state.id);
    const body = enc.encode(JSON.stringify({ ...resultOf(state), run: state.run }));
    await retryTransient(
      this.nc,
      () => this.js.publish(subject, body, { msgID: runMsgId(state.id, state.run) }),
    );
  }

  /** @internal */
  async publishProgress(job: Job, run: number, p: JobProgress): Promise<void> {
    const subject = progressSubject(this.r.names.prefix, job.sweep, job.id);
    const body = { ...p, run };
    await retryTransient(
      this.nc,
      () => this.js.publish(subject, enc.encode(JSON.stringify(body))),
      this.ackWaitMs,
    );
  }

  /**
   * @internal Write `next` over our running state. On a revision conflict, re-read: if the job is already
   * terminal, leave it (returns that state); otherwise overwrite.
   */
  async settle(key: string, next: NatsJobState, revision: number): Promise<NatsJobState> {
    let rev = revision;
    for (let tries = 0; tries < 10; tries++) {
      try {
        await retryTransient(this.nc, () => writeState(this.kv, key, next, rev));
        return next;
      } catch (err) {
        if (!isConflict(err)) throw err;
        const cur = await retryTransient(this.nc, () => getState(this.kv, key));
        if (cur.state && isTerminal(cur.state.status)) return cur.state;
        rev = cur.revision;
      }
    }
    throw new Error(`could not record job ${next.id}: its status kept changing`);
  }

  get heartbeatMs(): number {
    return this.opts.heartbeatMs ?? Math.max(200, Math.floor(this.ackWaitMs / 3));
  }
  get retryDelayMs(): number {
    return this.r.retryDelayMs;
  }
  get workerName(): string {
    return this.opts.worker;
  }

  async close(): Promise<void> {
    if (this.opts.ownsConnection ?? true) {
      if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
    }
  }
}

class NatsLease implements ReleasableLease {
  readonly attempt: number;
  private timer: ReturnType<typeof setInterval> | undefined;
  private settled = false;
  private readonly key: string;

  constructor(
    private readonly src: NatsJobSource,
    private readonly msg: JsMsg,
    readonly job: Job,
    private readonly state: NatsJobState,
    private readonly revision: number,
  ) {
    this.attempt = state.attempts;
    this.key = statusKey(job.sweep, job.id);
    this.timer = setInterval(() => this.heartbeat(), src.heartbeatMs);
  }

  heartbeat(): void {
    if (!this.settled) this.msg.working();
  }

  async progress(record: JobProgress["record"]): Promise<void> {
    this.heartbeat();
    try {
      await this.src.publishProgress(this.job, this.state.run, {
        jobId: this.job.id,
        worker: this.src.workerName,
        attempt: this.attempt,
        record,
      });
    } catch {
      // progress is best effort while the broker is away; the result is not
    }
  }

  private begin(): void {
    if (this.settled) throw new Error(`job ${this.job.id}: lease already settled`);
    this.settled = true;
  }

  private end(): void {
    clearInterval(this.timer);
  }

  async complete(final: JobResult["final"]): Promise<void> {
    this.begin();
    const keepAlive = setInterval(() => this.msg.working(), this.src.heartbeatMs);
    try {
      const done: NatsJobState = { ...this.state, status: "done", final, error: undefined };
      const recorded = await this.src.settle(this.key, done, this.revision);
      await this.src.publishResult(recorded);
      this.msg.ack();
    } finally {
      clearInterval(keepAlive);
      this.end();
    }
  }

  async fail(reason: string, retry: boolean): Promise<void> {
    this.begin();
    const keepAlive = setInterval(() => this.msg.working(), this.src.heartbeatMs);
    try {
      if (retry && this.attempt < (this.state.maxAttempts ?? this.src.maxAttempts)) {
        const queued: NatsJobState = { ...this.state, status: "queued", error: reason };
        const recorded = await this.src.settle(this.key, queued, this.revision);
        if (isTerminal(recorded.status)) this.msg.ack();
        else this.msg.nak(this.src.retryDelayMs);
        return;
      }
      const failed: NatsJobState = { ...this.state, status: "failed", error: reason };
      const recorded = await this.src.settle(this.key, failed, this.revision);
      await this.src.publishResult(recorded);
      this.msg.term();
    } finally {
      clearInterval(keepAlive);
      this.end();
    }
  }

  async release(): Promise<void> {
    this.begin();
    try {
      const queued: NatsJobState = { ...this.state, status: "queued", worker: undefined };
      const recorded = await this.src.settle(this.key, queued, this.revision);
      if (isTerminal(recorded.status)) this.msg.ack();
      else this.msg.nak();
    } finally {
      this.end();
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Artifacts

/** ArtifactStore over a JetStream object store bucket (`<prefix>-artifacts`). */
export class NatsArtifactStore implements ArtifactStore {
  private constructor(private readonly os: ObjectStore, private readonly nc: NatsConnection) {}

  static async open(nc: NatsConnection, opts: { prefix?: string } = {}): Promise<NatsArtifactStore> {
    const names = natsNames(opts.prefix);
    const os = await new Objm(nc).create(names.artifactBucket, { storage: StorageType.File });
    return new NatsArtifactStore(os, nc);
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    await retryTransient(this.nc, () => this.os.putBlob({ name: key }, data));
  }

  async get(key: string): Promise<Uint8Array | null> {
    const data = await retryTransient(this.nc, () => this.os.getBlob(key));
    return data === null ? null : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
}
