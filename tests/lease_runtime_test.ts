/**
 * The one lease runtime (workers/lease.ts) over the embedded queue and over NATS (a real nats-server on a free
 * port): the same retry policy in both — a job's own failure is final, a transient one is retried while
 * attempt < the job's max_attempts (whatever bound the queue itself has) — and `start` is an event of its own,
 * not a metric record.
 */
import assert from "node:assert/strict";
import { MemoryQueue } from "../transport/memory.ts";
import { inlineRunner, runLease } from "../workers/lease.ts";
import { TransientError } from "../workers/execute.ts";
import { jobId } from "../core/sweep/expand.ts";
import type { Job } from "../core/sweep/job.ts";
import type { QueueEvent } from "../transport/types.ts";
import { startNatsServer } from "./helpers/nats_server.ts";
import { NatsJobQueue, NatsJobSource } from "../transport/nats.ts";
import { runWorkerLoop } from "../cli/worker.ts";

function job(name: string, maxAttempts: number): Job {
  const config = { name };
  return {
    id: jobId("noop", config),
    sweep: "lease",
    stage: "main",
    kind: "noop",
    config,
    limits: { max_attempts: maxAttempts, timeout_s: 30 },
  };
}

async function drain(q: MemoryQueue): Promise<QueueEvent[]> {
  const ac = new AbortController();
  setTimeout(() => ac.abort(), 20);
  const out: QueueEvent[] = [];
  for await (const ev of q.events(ac.signal)) out.push(ev);
  return out;
}

/** Runs every lease the queue hands out through the runtime until it is empty. */
async function runAll(q: MemoryQueue, execute: Parameters<typeof inlineRunner>[0]) {
  const ac = new AbortController();
  const runner = inlineRunner(execute);
  const done = (async () => {
    for await (const lease of q.source("w").leases(ac.signal)) {
      await runLease(lease, runner, { signal: new AbortController().signal });
      if (q.queued === 0) ac.abort();
    }
  })();
  await done;
}

Deno.test("lease runtime (embedded): transient failures retried up to the job's max_attempts, own failures final", async () => {
  const q = new MemoryQueue({ maxAttempts: 10 }); // the queue would allow 10: the job's 2 is what counts
  const flaky = job("flaky", 2);
  const broken = job("broken", 5);
  await q.publish([flaky, broken]);
  const tries = new Map<string, number>();
  await runAll(q, (j) => {
    tries.set(j.id, (tries.get(j.id) ?? 0) + 1);
    if (j.id === flaky.id) throw new TransientError("artifact store away");
    throw new Error("bad config");
  });
  assert.equal(tries.get(flaky.id), 2);
  assert.equal(tries.get(broken.id), 1);
  const events = await drain(q);
  const results = events.flatMap((e) => e.type === "result" ? [e.result] : []);
  assert.deepEqual(
    results.map((r) => [r.jobId, r.attempt, r.status, r.error]).sort(),
    [[broken.id, 1, "failed", "bad config"], [flaky.id, 2, "failed", "artifact store away"]].sort(),
  );
  // Each attempt starts with a start event; no metric record is a start marker.
  assert.equal(events.filter((e) => e.type === "start").length, 3);
  assert.equal(events.filter((e) => e.type === "progress").length, 0);
});

Deno.test("lease runtime (NATS): the job's max_attempts holds although the consumer allows more", async () => {
  const srv = await startNatsServer();
  try {
    // The worker creates the consumer with 5 attempts; the job says 2.
    const src = await NatsJobSource.connect({ nats: srv.url }, {
      worker: "w1",
      pullExpiresMs: 1000,
      maxAttempts: 5,
      retryDelayMs: 50,
    });
    const q = await NatsJobQueue.connect({ nats: srv.url }, { sweep: "lease", retryDelayMs: 50 });
    const ac = new AbortController();
    let tries = 0;
    const loop = runWorkerLoop(src, {
      concurrency: 1,
      signal: ac.signal,
      allowTestJobs: true,
      execute: () => {
        tries++;
        throw new TransientError("artifact store away");
      },
    });
    try {
      const flaky = job("flaky-nats", 2);
      await q.publish([flaky]);
      const ev = new AbortController();
      let result;
      for await (const e of q.events(ev.signal)) {
        if (e.type === "result") {
          result = e.result;
          break;
        }
      }
      ev.abort();
      assert.deepEqual([result!.jobId, result!.status, result!.attempt, result!.error], [
        flaky.id,
        "failed",
        2,
        "artifact store away",
      ]);
      assert.equal(tries, 2);
    } finally {
      ac.abort();
      await loop;
      await src.close();
      await q.close();
    }
  } finally {
    await srv.stop();
  }
});
