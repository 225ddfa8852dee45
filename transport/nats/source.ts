/** Worker side: the `JobSource` pulling from the shared durable consumer, and its leases. */
import type { NatsConnection } from "@nats-io/transport-node";
import { type Consumer, jetstream, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";
import { type KV, Kvm } from "@nats-io/kv";
import type { Job } from "../../core/sweep/job.ts";
import type { JobProgress, JobResult, JobSource, LeasedJob } from "../types.ts";
import { connectNats, type NatsFlags } from "./connection.ts";
import {
  type NatsSettings,
  progressSubject,
  resolve,
  type Resolved,
  resultSubject,
  runMsgId,
  statusKey,
} from "./names.ts";
import { isConflict, retryTransient, sleep } from "./retry.ts";
import { getState, isTerminal, type NatsJobState, resultOf, writeState } from "./state.ts";
import { ensureNatsTopology } from "./topology.ts";
import { jobId } from "../../core/sweep/expand.ts";
import { fromWire, START_RECORD, toWire } from "./wire.ts";

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
      job = fromWire<Job>(msg.data);
      if (typeof job?.id !== "string" || typeof job?.sweep !== "string") throw new Error("not a job");
    } catch (err) {
      this.log(`dropping malformed job message seq ${msg.seq}: ${(err as Error).message}`);
      msg.term();
      return null;
    }
    // A job is its config: a message whose id is not the hash of its config is forged or corrupt, and would
    // store a result under another job's name. Refused before it touches the status bucket.
    let configId: string;
    try {
      configId = jobId(job.kind, job.config, job.inputs);
    } catch {
      configId = "";
    }
    if (configId !== job.id) {
      this.log(`job ${job.id} (sweep ${job.sweep}): refused: its id is not the hash of its config; dropped`);
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
        configId,
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
    const body = toWire({ ...resultOf(state), run: state.run });
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
      () => this.js.publish(subject, toWire(body)),
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

  /** On the wire the start marker is the progress record START_RECORD; the queue turns it into a start event. */
  async start(): Promise<void> {
    await this.progress({ ...START_RECORD });
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
