/** Coordinator side: the `JobQueue` over JetStream (publishing jobs, replaying events). */
import type { NatsConnection } from "@nats-io/transport-node";
import {
  DeliverPolicy,
  jetstream,
  type JetStreamClient,
  type JetStreamManager,
  jetstreamManager,
} from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { Job } from "../../core/sweep/job.ts";
import type { JobProgress, JobQueue, JobResult, QueueEvent } from "../types.ts";
import { connectNats, type NatsFlags } from "./connection.ts";
import {
  jobSubject,
  type NatsNames,
  type NatsSettings,
  natsToken,
  resolve,
  type Resolved,
  runMsgId,
  statusKey,
} from "./names.ts";
import { isConflict, isNotFound, retryTransient } from "./retry.ts";
import { getState, type NatsJobState, readStatusBucket, writeState } from "./state.ts";
import { ensureNatsTopology } from "./topology.ts";
import { fromWire, isStartRecord, toWire } from "./wire.ts";

export interface NatsQueueOptions extends NatsSettings {
  /** Only this sweep's events are yielded by `events()` (default: all sweeps). */
  sweep?: string;
  /** Close the connection in `close()` (default true). */
  ownsConnection?: boolean;
  /** Parallel publishes in `publish()` (default 32). */
  publishConcurrency?: number;
}

export type { QueueEvent } from "../types.ts";

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
            this.js.publish(jobSubject(prefix, job.sweep), toWire(job), {
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
          this.js.publish(jobSubject(prefix, job.sweep), toWire(job), {
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
          body = fromWire(m.data);
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
          const p = event as JobProgress;
          if (isStartRecord(p.record)) {
            yield { type: "start", start: { jobId: p.jobId, worker: p.worker, attempt: p.attempt } };
          } else yield { type: "progress", progress: p };
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
