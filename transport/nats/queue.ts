/**
 * Coordinator side: the `JobQueue` over JetStream — publishing jobs in a pipeline, replaying events.
 *
 * Publishing a batch: one read of the scope's states (an ordered-consumer pass over the KV stream, not a get
 * per job), then per job a revision-checked KV write (`queued`, run r) and the job message, with at most
 * `maxInFlight` requests outstanding. The message carries what the worker needs to claim it in one request
 * (headers `Fs-Rev`: the revision of the queued state, `Fs-Run`, `Fs-Prior`, `Fs-Max`). A KV conflict (another
 * publisher, a worker) sends that job down the careful path: re-read, decide again.
 */
import { headers, type NatsConnection } from "@nats-io/transport-node";
import {
  DeliverPolicy,
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { Job } from "../../core/sweep/job.ts";
import type {
  JobProgress,
  JobQueue,
  JobResult,
  PublishOptions,
  QueueEvent,
  ReusableResult,
} from "../types.ts";
import { connectNats, type NatsFlags } from "./connection.ts";
import {
  eventsFilter,
  jobSubject,
  type NatsNames,
  type NatsSettings,
  parseEventSubject,
  resolve,
  type Resolved,
  runMsgId,
  scopeToken,
  statusKey,
} from "./names.ts";
import { isConflict, retryTransient } from "./retry.ts";
import {
  getState,
  type NatsJobState,
  readStates,
  readStatusBucket,
  resultOf,
  type StateEntry,
  writeState,
} from "./state.ts";
import { ensureNatsTopology } from "./topology.ts";
import { fromWire, isStartRecord, toWire } from "./wire.ts";

export interface NatsQueueOptions extends NatsSettings {
  /** Only this sweep's events are yielded by `events()` (default: all sweeps). */
  sweep?: string;
  /**
   * Id of this sweep run (the `sweep` command keeps one per run directory): scopes subjects, KV keys and
   * message ids, so another run of the same jobs on this broker neither dedupes against nor reads this one.
   * Omitted: one scope per sweep name.
   */
  run?: string;
  /** Close the connection in `close()` (default true). */
  ownsConnection?: boolean;
  /** Requests outstanding at once while publishing (default 256). */
  maxInFlight?: number;
}

export type { QueueEvent } from "../types.ts";

/** Message headers a job carries for its worker (see the module comment). */
export const JOB_HEADERS = { rev: "Fs-Rev", run: "Fs-Run", prior: "Fs-Prior", max: "Fs-Max" } as const;

/** Runs `fn` over `items` with at most `limit` calls in flight; rethrows the first error after all settle. */
export async function pipeline<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  const inflight = new Set<Promise<void>>();
  let failure: unknown = null;
  for (const item of items) {
    if (failure !== null) break;
    if (inflight.size >= limit) await Promise.race(inflight);
    const p: Promise<void> = fn(item).catch((err) => {
      failure ??= err;
    }).finally(() => inflight.delete(p));
    inflight.add(p);
  }
  await Promise.all(inflight);
  if (failure !== null) throw failure;
}

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

  /** The wire scope of `sweep` for this queue's run. */
  scopeOf(sweep: string): string {
    return scopeToken(sweep, this.opts.run);
  }

  /**
   * Enqueue jobs. A job whose KV state is queued (with its message still in the stream), running or done is
   * skipped; a failed or cancelled job is queued again as a new run. The state is written first (revision
   * checked, so two coordinators publishing the same job enqueue it once), then the message.
   */
  async publish(jobs: Job[], opts: PublishOptions = {}): Promise<{ published: number; skipped: number }> {
    let published = 0;
    let skipped = 0;
    const byScope = new Map<string, Job[]>();
    for (const job of jobs) {
      const sc = this.scopeOf(job.sweep);
      let l = byScope.get(sc);
      if (!l) byScope.set(sc, l = []);
      l.push(job);
    }
    for (const [scope, list] of byScope) {
      const states = await this.readScope(scope, list);
      const needAlive = list.some((j) => states.get(statusKey(scope, j.id))?.state?.status === "queued");
      const alive = needAlive ? await this.queuedSubjects(scope) : new Set<string>();
      await pipeline(list, this.opts.maxInFlight ?? 256, async (job) => {
        const prior = opts.priorAttempts?.get(job.id) ?? 0;
        const ok = await this.publishFast(job, scope, states.get(statusKey(scope, job.id)), alive, prior);
        if (ok) published++;
        else skipped++;
      });
    }
    return { published, skipped };
  }

  /**
   * The states of `jobs` in `scope` known before writing: for a batch, one pass over the bucket (`readStates`);
   * for a few jobs (dependents released one by one, single-job latency) none, since the ephemeral consumer
   * of a pass costs more round trips than the jobs.
   */
  private async readScope(scope: string, jobs: Job[]): Promise<Map<string, StateEntry>> {
    if (jobs.length > 16) {
      return await retryTransient(
        this.nc,
        () => readStates(this.js, this.r.names.statusBucket, `${scope}.>`),
      );
    }
    // A few jobs: no read at all. Each is created optimistically (`create` is revision-checked: a job that
    // exists conflicts and takes the careful path, which reads its state).
    return new Map();
  }

  /** Subjects of the scope's job messages still in the stream (queued or in flight). */
  private async queuedSubjects(scope: string): Promise<Set<string>> {
    const { jobsStream, prefix } = this.r.names;
    const info = await retryTransient(
      this.nc,
      () => this.jsm.streams.info(jobsStream, { subjects_filter: `${prefix}.jobs.${scope}.>` }),
    );
    return new Set(Object.keys(info.state.subjects ?? {}));
  }

  /** One job, decided from the batch read; a revision conflict falls back to `publishCareful`. */
  private async publishFast(
    job: Job,
    scope: string,
    entry: StateEntry | undefined,
    alive: Set<string>,
    prior: number,
  ): Promise<boolean> {
    const key = statusKey(scope, job.id);
    const state = entry?.state ?? null;
    if (state && (state.status === "running" || state.status === "done")) return false;
    if (state && state.status === "queued") {
      if (alive.has(jobSubject(this.r.names.prefix, scope, job.id))) return false;
      // queued but its message is gone (a publisher died between the two writes): publish it again
      return await this.send(job, scope, state, entry!.revision);
    }
    const queued = this.queuedState(job, scope, state, prior);
    let rev: number;
    try {
      rev = await retryTransient(this.nc, () => writeState(this.kv, key, queued, entry?.revision ?? 0));
    } catch (err) {
      if (isConflict(err)) return await this.publishCareful(job, scope, prior);
      throw err;
    }
    return await this.send(job, scope, queued, rev);
  }

  private queuedState(job: Job, scope: string, prev: NatsJobState | null, prior: number): NatsJobState {
    return {
      id: job.id,
      sweep: job.sweep,
      scope,
      stage: job.stage,
      kind: job.kind,
      status: "queued",
      // Executions so far (of earlier runs); the first claim of this run makes it prior + 1.
      attempts: Math.max(prev?.attempts ?? 0, prior),
      prior: Math.max(prev?.attempts ?? 0, prior),
      run: prev ? prev.run + 1 : 1,
      seq: 0,
      maxAttempts: this.r.maxAttempts,
      updated: "",
    };
  }

  /** Publishes the job message of `state`'s run; false when the stream already held it (duplicate). */
  private async send(job: Job, scope: string, state: NatsJobState, rev: number): Promise<boolean> {
    const h = headers();
    h.set(JOB_HEADERS.rev, String(rev));
    h.set(JOB_HEADERS.run, String(state.run));
    h.set(JOB_HEADERS.prior, String(state.prior ?? 0));
    h.set(JOB_HEADERS.max, String(state.maxAttempts ?? this.r.maxAttempts));
    const ack = await retryTransient(
      this.nc,
      () =>
        this.js.publish(jobSubject(this.r.names.prefix, scope, job.id), toWire(job), {
          msgID: runMsgId(scope, job.id, state.run),
          headers: h,
        }),
    );
    this.runs.set(statusKey(scope, job.id), state.run);
    // Duplicate: the message is already in the stream (a concurrent publisher's, or our own first try whose
    // ack was lost); it is counted once, by whoever stored it.
    return !ack.duplicate;
  }

  /** The careful path: read the job's state, decide, write with a revision check; repeat on conflicts. */
  private async publishCareful(job: Job, scope: string, prior: number): Promise<boolean> {
    const key = statusKey(scope, job.id);
    for (let tries = 0; tries < 10; tries++) {
      const entry = await retryTransient(this.nc, () => getState(this.kv, key));
      const { state, revision } = entry;
      if (state && (state.status === "running" || state.status === "done")) return false;
      if (state && state.status === "queued") {
        if ((await this.queuedSubjects(scope)).has(jobSubject(this.r.names.prefix, scope, job.id))) {
          return false;
        }
        return await this.send(job, scope, state, revision);
      }
      const queued = this.queuedState(job, scope, state, prior);
      let rev: number;
      try {
        rev = await retryTransient(this.nc, () => writeState(this.kv, key, queued, revision));
      } catch (err) {
        if (isConflict(err)) continue; // someone else changed it: decide again
        throw err;
      }
      return await this.send(job, scope, queued, rev);
    }
    throw new Error(`could not publish job ${job.id}: its status kept changing`);
  }

  /**
   * Progress and results, replayed from the start of the events stream (so nothing is missed across a
   * coordinator restart; `after` skips what the coordinator already stored) and then live. Results are
   * yielded once per job run (duplicates dropped by message id); progress records are yielded as stored.
   * Events of an older run of a job (one that failed and was published again) are dropped: the current run
   * is the one in the status bucket (read once, up front) or last published here.
   */
  async *events(signal: AbortSignal, opts: { after?: number } = {}): AsyncIterable<QueueEvent> {
    const { prefix, eventsStream, statusBucket } = this.r.names;
    const scope = this.opts.sweep === undefined ? undefined : this.scopeOf(this.opts.sweep);
    const filter = scope === undefined ? `${prefix}.events.>` : eventsFilter(prefix, scope);
    if (scope !== undefined) {
      const states = await retryTransient(this.nc, () => readStates(this.js, statusBucket, `${scope}.>`));
      for (const [k, e] of states) {
        if (e.state) this.runs.set(k, Math.max(this.runs.get(k) ?? 1, e.state.run));
      }
    }
    const after = opts.after ?? 0;
    const consumer = await retryTransient(
      this.nc,
      () =>
        this.js.consumers.get(
          eventsStream,
          after > 0
            ? {
              filter_subjects: filter,
              deliver_policy: DeliverPolicy.StartSequence,
              opt_start_seq: after + 1,
            }
            : { filter_subjects: filter, deliver_policy: DeliverPolicy.All },
        ),
    );
    const messages = await consumer.consume();
    const stop = () => messages.stop();
    if (signal.aborted) stop();
    signal.addEventListener("abort", stop, { once: true });
    const seen = new Set<string>();
    try {
      for await (const m of messages) {
        if (signal.aborted) break;
        const where = parseEventSubject(m.subject);
        if (!where) continue;
        const { scope: scopeTok, kind, job: jobTok } = where;
        let body: (JobResult | JobProgress) & { run?: number };
        try {
          body = fromWire(m.data);
        } catch {
          continue;
        }
        const { run = 1, ...event } = body;
        if (!(await this.isCurrentRun(`${scopeTok}.${jobTok}`, run))) continue; // an older run's event
        if (kind === "result") {
          const id = m.headers?.get("Nats-Msg-Id") || `seq:${m.seq}`;
          if (seen.has(id)) continue;
          seen.add(id);
          yield { type: "result", result: event as JobResult, cursor: m.seq };
        } else if (kind === "progress") {
          const p = event as JobProgress;
          if (isStartRecord(p.record)) {
            yield {
              type: "start",
              start: { jobId: p.jobId, worker: p.worker, attempt: p.attempt },
              cursor: m.seq,
            };
          } else yield { type: "progress", progress: p, cursor: m.seq };
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

  /**
   * Done results of these jobs from any sweep run on this broker (the newest per job), for `sweep --reuse`.
   * One pass over the status bucket.
   */
  async findResults(jobIds: string[]): Promise<Map<string, ReusableResult>> {
    const want = new Set(jobIds);
    const all = await retryTransient(this.nc, () => readStates(this.js, this.r.names.statusBucket, ">"));
    const best = new Map<string, NatsJobState>();
    for (const { state } of all.values()) {
      if (!state || state.status !== "done" || !want.has(state.id)) continue;
      const cur = best.get(state.id);
      if (!cur || (cur.updated ?? "") < (state.updated ?? "")) best.set(state.id, state);
    }
    const out = new Map<string, ReusableResult>();
    for (const [id, st] of best) {
      const run = st.scope?.includes("=") ? st.scope.slice(st.scope.indexOf("=") + 1) : undefined;
      const from: ReusableResult["from"] = { sweep: st.sweep, at: st.updated };
      if (run !== undefined) from.run = run;
      out.set(id, { result: resultOf(st), from });
    }
    return out;
  }

  /** The events stream and its creation time: what an events cursor is a position in. */
  async eventLog(): Promise<string> {
    const { eventsStream } = this.r.names;
    const info = await retryTransient(this.nc, () => this.jsm.streams.info(eventsStream));
    return `nats:${eventsStream}@${info.created}`;
  }

  /** The state of every job of `sweep` in the status bucket (this queue's run; else the sweep's latest run). */
  status(sweep: string): Promise<NatsJobState[]> {
    const scope = sweep === this.opts.sweep ? this.scopeOf(sweep) : undefined;
    return readStatusBucket(this.js, this.r.names.statusBucket, sweep, scope);
  }

  async close(): Promise<void> {
    if (this.opts.ownsConnection ?? true) {
      if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
    }
  }
}
