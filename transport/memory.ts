/**
 * The embedded (in-process) queue: a JobQueue for the coordinator and one JobSource per local worker.
 * Dedupe by job id (a job queued, running or done is not published again; a failed one may be), bounded
 * redelivery (`fail(reason, true)` requeues until `maxAttempts` deliveries), events buffered until read.
 */
import type { Job } from "../core/sweep/job.ts";
import type { JobQueue, JobResult, JobSource, LeasedJob, PublishOptions, QueueEvent } from "./types.ts";

type State = "queued" | "running" | "done" | "failed";

export interface MemoryQueueOptions {
  /** Deliveries per job before a retried failure becomes final. Default 3. */
  maxAttempts?: number;
  /** Code version of the in-process workers (`workers/version.ts`), recorded with each result. */
  codeVersion?: string;
}

/** A queued delivery: `attempt` counts on from the job's prior attempts; `delivery` is 1 on the first. */
interface Pending {
  job: Job;
  attempt: number;
  delivery: number;
}

export class MemoryQueue implements JobQueue {
  readonly maxAttempts: number;
  readonly codeVersion?: string;
  #pending: Pending[] = [];
  #head = 0;
  #state = new Map<string, State>();
  #events: QueueEvent[] = [];
  #eventWaiter: (() => void) | null = null;
  #leaseWaiters = new Set<() => void>();
  #closed = false;

  constructor(opts: MemoryQueueOptions = {}) {
    this.maxAttempts = opts.maxAttempts ?? 3;
    this.codeVersion = opts.codeVersion;
  }

  /** Jobs waiting for a worker. */
  get queued(): number {
    return this.#pending.length - this.#head;
  }

  state(id: string): State | undefined {
    return this.#state.get(id);
  }

  publish(jobs: Job[], opts: PublishOptions = {}): Promise<{ published: number; skipped: number }> {
    if (this.#closed) return Promise.reject(new Error("queue is closed"));
    let published = 0, skipped = 0;
    for (const job of jobs) {
      const s = this.#state.get(job.id);
      if (s === "queued" || s === "running" || s === "done") {
        skipped++;
        continue;
      }
      this.#state.set(job.id, "queued");
      this.#pending.push({ job, attempt: (opts.priorAttempts?.get(job.id) ?? 0) + 1, delivery: 1 });
      published++;
    }
    this.#wakeLeases();
    return Promise.resolve({ published, skipped });
  }

  #wakeLeases(): void {
    const ws = [...this.#leaseWaiters];
    this.#leaseWaiters.clear();
    for (const w of ws) w();
  }

  #emit(ev: QueueEvent): void {
    this.#events.push(ev);
    const w = this.#eventWaiter;
    this.#eventWaiter = null;
    w?.();
  }

  #take(): Pending | undefined {
    if (this.#head >= this.#pending.length) return undefined;
    const item = this.#pending[this.#head++];
    if (this.#head > 1024 && this.#head * 2 > this.#pending.length) {
      this.#pending = this.#pending.slice(this.#head);
      this.#head = 0;
    }
    return item;
  }

  async *events(signal: AbortSignal): AsyncIterable<QueueEvent> {
    while (!signal.aborted) {
      if (this.#events.length) {
        const batch = this.#events;
        this.#events = [];
        for (const ev of batch) yield ev;
        continue;
      }
      if (this.#closed) return;
      await new Promise<void>((resolve) => {
        const onAbort = () => resolve();
        signal.addEventListener("abort", onAbort, { once: true });
        this.#eventWaiter = () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        };
      });
    }
  }

  /** A JobSource for one local worker; `worker` names it in progress and results. */
  source(worker: string): JobSource {
    // deno-lint-ignore no-this-alias
    const q = this;
    return {
      async *leases(signal: AbortSignal): AsyncIterable<LeasedJob> {
        while (!signal.aborted && !q.#closed) {
          const item = q.#take();
          if (!item) {
            await new Promise<void>((resolve) => {
              const onAbort = () => {
                q.#leaseWaiters.delete(wake);
                resolve();
              };
              const wake = () => {
                signal.removeEventListener("abort", onAbort);
                resolve();
              };
              q.#leaseWaiters.add(wake);
              signal.addEventListener("abort", onAbort, { once: true });
            });
            continue;
          }
          q.#state.set(item.job.id, "running");
          yield q.#lease(item, worker);
        }
      },
      close: () => Promise.resolve(),
    };
  }

  #lease(item: Pending, worker: string): LeasedJob {
    const { job, attempt, delivery } = item;
    let settled = false;
    const settle = (what: string) => {
      if (settled) throw new Error(`job ${job.id}: ${what} after the lease was already settled`);
      settled = true;
    };
    return {
      job,
      attempt,
      runAttempt: delivery,
      start: () => {
        if (!settled) this.#emit({ type: "start", start: { jobId: job.id, worker, attempt } });
        return Promise.resolve();
      },
      heartbeat: () => {},
      progress: (record) => {
        if (!settled) this.#emit({ type: "progress", progress: { jobId: job.id, worker, attempt, record } });
        return Promise.resolve();
      },
      complete: (final) => {
        settle("complete");
        this.#state.set(job.id, "done");
        const result: JobResult = { jobId: job.id, configId: job.id, worker, attempt, status: "done", final };
        if (this.codeVersion !== undefined) result.code = this.codeVersion;
        this.#emit({ type: "result", result });
        return Promise.resolve();
      },
      release: () => {
        // Handed back (worker stopping): queued again as the same attempt, no failure counted.
        settle("release");
        if (this.#closed) return Promise.resolve();
        this.#state.set(job.id, "queued");
        this.#pending.push({ job, attempt, delivery });
        this.#wakeLeases();
        return Promise.resolve();
      },
      fail: (reason, retry) => {
        settle("fail");
        if (retry && delivery < this.maxAttempts && !this.#closed) {
          this.#state.set(job.id, "queued");
          this.#pending.push({ job, attempt: attempt + 1, delivery: delivery + 1 });
          this.#wakeLeases();
        } else {
          this.#state.set(job.id, "failed");
          this.#emit({
            type: "result",
            result: {
              jobId: job.id,
              configId: job.id,
              worker,
              attempt,
              status: "failed",
              error: reason,
              ...(this.codeVersion !== undefined ? { code: this.codeVersion } : {}),
            },
          });
        }
        return Promise.resolve();
      },
    };
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#wakeLeases();
    const w = this.#eventWaiter;
    this.#eventWaiter = null;
    w?.();
    return Promise.resolve();
  }
}
