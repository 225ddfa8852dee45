/**
 * Worker side: the `JobSource` pulling from the shared durable consumer, and its leases.
 *
 * Pulls are batched: every lease loop waiting for a job shares one pull request for (waiting loops +
 * prefetch) messages; messages that arrive beyond the waiting loops wait in a small buffer, kept alive with
 * `working()` and handed back (nak) when the worker stops. Prefetch adapts to the work: it is off while jobs
 * take long (a buffered job would wait behind a long one while other workers idle), on while they are short.
 *
 * A claim is one revision-checked KV write: the job message names the revision of its `queued` state
 * (`JOB_HEADERS`), so a first delivery goes `queued → running` without a read. Anything else (redelivery,
 * a conflict, a message without headers) takes the careful path: read the state, decide.
 */
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
  scopeOfJobSubject,
  statusKey,
} from "./names.ts";
import { JOB_HEADERS } from "./queue.ts";
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
  /**
   * Messages pulled beyond the lease loops waiting for one. Default `auto`: up to 8 while recent jobs took
   * under 50 ms, else none.
   */
  prefetch?: number | "auto";
  /** Code version of this worker (`workers/version.ts`), recorded with each result. */
  codeVersion?: string;
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

const SHORT_JOB_MS = 50;
const AUTO_PREFETCH = 8;

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

  /** Pulled messages no lease loop has taken yet. */
  private readonly buffer: JsMsg[] = [];
  /** Lease loops waiting for a message. */
  private readonly waiters: ((m: JsMsg) => void)[] = [];
  private pulling = false;
  private stopped = false;
  private consumer: Consumer | null = null;
  private bufferBeat: ReturnType<typeof setInterval> | undefined;
  /** Moving average of recent job durations (ms), for the automatic prefetch. */
  private jobMs = Infinity;

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

  private get prefetch(): number {
    const p = this.opts.prefetch ?? "auto";
    if (p !== "auto") return p;
    return this.jobMs < SHORT_JOB_MS ? AUTO_PREFETCH : 0;
  }

  /** @internal A lease ended after `ms`: feeds the automatic prefetch. */
  noteJobTime(ms: number): void {
    this.jobMs = this.jobMs === Infinity ? ms : 0.8 * this.jobMs + 0.2 * ms;
  }

  /** Leases jobs until `signal` aborts. Each iterator takes a message only when asked for the next job. */
  async *leases(signal: AbortSignal): AsyncIterable<ReleasableLease> {
    const aborted = new Promise<null>((res) => {
      if (signal.aborted) res(null);
      signal.addEventListener("abort", () => res(null), { once: true });
    });
    try {
      while (!signal.aborted && !this.stopped) {
        const msg = await this.take(aborted);
        if (!msg) break;
        if (signal.aborted) {
          msg.nak(); // arrived after shutdown: back at once
          break;
        }
        let lease: ReleasableLease | null;
        try {
          lease = await this.claim(msg);
        } catch (err) {
          if (signal.aborted || this.nc.isClosed()) break;
          this.log(`claim failed (${(err as Error).message}); the job will be delivered again`);
          continue;
        }
        if (lease) yield lease;
      }
    } finally {
      if (signal.aborted) this.stop();
    }
  }

  /** The next pulled message, or null once `aborted` resolves. */
  private async take(aborted: Promise<null>): Promise<JsMsg | null> {
    const m = this.buffer.shift();
    if (m) return m;
    let resolveTake!: (m: JsMsg) => void;
    const got = new Promise<JsMsg>((res) => (resolveTake = res));
    this.waiters.push(resolveTake);
    this.pull();
    const r = await Promise.race([got, aborted]);
    if (r === null) {
      const i = this.waiters.indexOf(resolveTake);
      if (i >= 0) this.waiters.splice(i, 1);
      else got.then((msg) => msg.nak()); // handed to us as we stopped
    }
    return r;
  }

  private deliver(m: JsMsg): void {
    if (this.stopped) {
      m.nak();
      return;
    }
    const w = this.waiters.shift();
    if (w) w(m);
    else {
      this.buffer.push(m);
      this.bufferBeat ??= setInterval(() => {
        for (const b of this.buffer) b.working();
        if (this.buffer.length === 0) {
          clearInterval(this.bufferBeat);
          this.bufferBeat = undefined;
        }
      }, this.heartbeatMs);
    }
  }

  /** Keeps one pull request open while lease loops wait: batches of (waiting + prefetch) messages. */
  private pull(): void {
    if (this.pulling) return;
    this.pulling = true;
    (async () => {
      const { jobsStream, consumer: durable } = this.r.names;
      while (!this.stopped && this.waiters.length > 0) {
        try {
          this.consumer ??= await this.js.consumers.get(jobsStream, durable);
          const want = Math.max(1, this.waiters.length + this.prefetch - this.buffer.length);
          const batch = await this.consumer.fetch({
            max_messages: want,
            expires: this.opts.pullExpiresMs ?? 5000,
          });
          for await (const m of batch) this.deliver(m);
        } catch (err) {
          if (this.stopped || this.nc.isClosed()) break;
          this.log(`pull failed (${(err as Error).message}); retrying`);
          this.consumer = null;
          await sleep(1000);
        }
      }
    })().finally(() => {
      this.pulling = false;
      if (!this.stopped && this.waiters.length > 0) this.pull();
    });
  }

  /** No more pulls; buffered messages go back to the queue at once. */
  private stop(): void {
    this.stopped = true;
    for (const m of this.buffer.splice(0)) m.nak();
    clearInterval(this.bufferBeat);
    this.bufferBeat = undefined;
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
    const scope = scopeOfJobSubject(msg.subject);
    const key = statusKey(scope, job.id);
    const seq = msg.seq;
    const delivery = msg.info.deliveryCount;
    const header = (name: string) => {
      const v = Number(msg.headers?.get(name) || 0);
      return Number.isInteger(v) && v > 0 ? v : 0;
    };
    const hRev = header(JOB_HEADERS.rev);
    const hRun = header(JOB_HEADERS.run) || 1;
    const hPrior = header(JOB_HEADERS.prior);
    const hMax = header(JOB_HEADERS.max);
    // Attempts count executions: a claim adds one to the state's count (a queued state holds the attempts of
    // earlier runs); deliveries that never started the job (prefetched, then handed back) add none.
    const running = (state: NatsJobState | null): NatsJobState => {
      const prior = state?.prior ?? hPrior;
      return {
        id: job.id,
        sweep: job.sweep,
        scope,
        stage: job.stage,
        kind: job.kind,
        status: "running",
        attempts: Math.max(state?.attempts ?? 0, prior) + 1,
        prior,
        run: state?.run ?? hRun,
        seq,
        configId,
        // The publisher's bound for this job (its queue raised the consumer's max_deliver to fit it).
        maxAttempts: state?.maxAttempts ?? (hMax || this.maxAttempts),
        worker: this.opts.worker,
        updated: "",
      };
    };
    if (delivery === 1 && hRev > 0) {
      // First delivery of a message whose queued state's revision we know: claim it in one write.
      const base = running(null);
      try {
        const rev = await retryTransient(this.nc, () => writeState(this.kv, key, base, hRev));
        return new NatsLease(this, msg, job, key, base, rev);
      } catch (err) {
        if (!isConflict(err)) throw err;
      }
    }
    for (let tries = 0; tries < 10; tries++) {
      const { state, revision } = await retryTransient(this.nc, () => getState(this.kv, key));
      if (state) {
        if (isTerminal(state.status)) {
          if (state.seq === seq || state.seq === 0) {
            // Recorded but not acked (worker died in between): make sure the result is out, then ack.
            await this.publishResult(key, state);
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
      const base = running(state);
      const limit = base.maxAttempts!;
      try {
        // Every attempt of this run so far ended without a result (workers killed / leases lost), or this
        // is the consumer's last delivery (max_deliver = limit + 1 at least): give up rather than run a job
        // that could not be delivered again.
        const used = (state?.attempts ?? base.prior!) - base.prior!;
        if (used >= limit || delivery > limit) {
          const failed: NatsJobState = {
            ...base,
            status: "failed",
            attempts: state?.attempts ?? base.prior!,
            worker: state?.worker ?? this.opts.worker,
            error: `gave up after ${delivery - 1} deliveries without a result` +
              (state?.error ? ` (last error: ${state.error})` : ""),
          };
          await retryTransient(this.nc, () => writeState(this.kv, key, failed, revision));
          await this.publishResult(key, failed);
          msg.term();
          this.log(`job ${job.id}: ${failed.error}`);
          return null;
        }
        const rev = await retryTransient(this.nc, () => writeState(this.kv, key, base, revision));
        return new NatsLease(this, msg, job, key, base, rev);
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
  async publishResult(key: string, state: NatsJobState): Promise<void> {
    const scope = state.scope ?? key.slice(0, key.lastIndexOf("."));
    const subject = resultSubject(this.r.names.prefix, scope, state.id);
    const body = toWire({ ...resultOf(state), run: state.run });
    await retryTransient(
      this.nc,
      () => this.js.publish(subject, body, { msgID: runMsgId(scope, state.id, state.run) }),
    );
  }

  /**
   * @internal Progress is a plain publish into the events stream: no ack to wait for (progress is best effort;
   * the connection keeps it in order before the job's result, and buffers it across a reconnect).
   */
  publishProgress(scope: string, job: Job, run: number, p: JobProgress): void {
    this.nc.publish(progressSubject(this.r.names.prefix, scope, job.id), toWire({ ...p, run }));
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
  get codeVersion(): string | undefined {
    return this.opts.codeVersion;
  }

  async close(): Promise<void> {
    this.stop();
    if (this.opts.ownsConnection ?? true) {
      if (!this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
    }
  }
}

class NatsLease implements ReleasableLease {
  readonly attempt: number;
  readonly runAttempt: number;
  private timer: ReturnType<typeof setInterval> | undefined;
  private settled = false;
  private readonly t0 = performance.now();

  constructor(
    private readonly src: NatsJobSource,
    private readonly msg: JsMsg,
    readonly job: Job,
    private readonly key: string,
    private readonly state: NatsJobState,
    private readonly revision: number,
  ) {
    this.attempt = state.attempts;
    this.runAttempt = state.attempts - (state.prior ?? 0);
    this.timer = setInterval(() => this.heartbeat(), src.heartbeatMs);
  }

  heartbeat(): void {
    if (!this.settled) this.msg.working();
  }

  /** On the wire the start marker is the progress record START_RECORD; the queue turns it into a start event. */
  start(): Promise<void> {
    return this.send({ ...START_RECORD });
  }

  progress(record: JobProgress["record"]): Promise<void> {
    this.heartbeat();
    return this.send(record);
  }

  private send(record: JobProgress["record"]): Promise<void> {
    if (this.settled) return Promise.resolve();
    try {
      this.src.publishProgress(this.state.scope!, this.job, this.state.run, {
        jobId: this.job.id,
        worker: this.src.workerName,
        attempt: this.attempt,
        record,
      });
    } catch {
      // progress is best effort (a closed connection); the result is not
    }
    return Promise.resolve();
  }

  private begin(): void {
    if (this.settled) throw new Error(`job ${this.job.id}: lease already settled`);
    this.settled = true;
  }

  private end(): void {
    clearInterval(this.timer);
    this.src.noteJobTime(performance.now() - this.t0);
  }

  async complete(final: JobResult["final"]): Promise<void> {
    this.begin();
    const keepAlive = setInterval(() => this.msg.working(), this.src.heartbeatMs);
    try {
      const done: NatsJobState = { ...this.state, status: "done", final, error: undefined };
      if (this.src.codeVersion !== undefined) done.code = this.src.codeVersion;
      const recorded = await this.src.settle(this.key, done, this.revision);
      await this.src.publishResult(this.key, recorded);
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
      if (
        retry &&
        this.state.attempts - (this.state.prior ?? 0) < (this.state.maxAttempts ?? this.src.maxAttempts)
      ) {
        const queued: NatsJobState = { ...this.state, status: "queued", error: reason };
        const recorded = await this.src.settle(this.key, queued, this.revision);
        if (isTerminal(recorded.status)) this.msg.ack();
        else this.msg.nak(this.src.retryDelayMs);
        return;
      }
      const failed: NatsJobState = { ...this.state, status: "failed", error: reason };
      if (this.src.codeVersion !== undefined) failed.code = this.src.codeVersion;
      const recorded = await this.src.settle(this.key, failed, this.revision);
      await this.src.publishResult(this.key, recorded);
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
