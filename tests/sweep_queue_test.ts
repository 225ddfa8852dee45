import assert from "node:assert/strict";
import { MemoryQueue } from "../transport/memory.ts";
import type { Job } from "../core/sweep/job.ts";
import type { LeasedJob } from "../transport/types.ts";

const job = (id: string): Job => ({ id, sweep: "s", stage: "main", kind: "noop", config: {} });

async function nextLease(q: MemoryQueue, worker = "w"): Promise<LeasedJob> {
  const ac = new AbortController();
  for await (const l of q.source(worker).leases(ac.signal)) {
    ac.abort();
    return l;
  }
  throw new Error("no lease");
}

async function drainEvents(q: MemoryQueue) {
  const ac = new AbortController();
  const out: string[] = [];
  setTimeout(() => ac.abort(), 20);
  for await (const ev of q.events(ac.signal)) {
    out.push(
      ev.type === "start"
        ? `start ${ev.start.jobId} a${ev.start.attempt} ${ev.start.worker}`
        : ev.type === "progress"
        ? `progress ${ev.progress.jobId} a${ev.progress.attempt} ${ev.progress.worker} ${
          JSON.stringify(ev.progress.record)
        }`
        : `${ev.result.status} ${ev.result.jobId} a${ev.result.attempt} ${
          ev.result.error ?? JSON.stringify(ev.result.final)
        }`,
    );
  }
  return out;
}

Deno.test("memory queue: dedupe by id — queued, running and done jobs are skipped, failed ones republished", async () => {
  const q = new MemoryQueue({ maxAttempts: 1 });
  assert.deepEqual(await q.publish([job("a"), job("b"), job("a")]), { published: 2, skipped: 1 });
  const la = await nextLease(q);
  assert.equal(la.job.id, "a");
  assert.deepEqual(await q.publish([job("a")]), { published: 0, skipped: 1 }); // running
  await la.complete({ ok: 1 });
  assert.deepEqual(await q.publish([job("a")]), { published: 0, skipped: 1 }); // done
  const lb = await nextLease(q);
  await lb.fail("boom", true); // maxAttempts 1: final
  assert.equal(q.state("b"), "failed");
  assert.deepEqual(await q.publish([job("b")]), { published: 1, skipped: 0 });
  assert.equal(q.queued, 1);
  await q.close();
});

Deno.test("memory queue: bounded retries, progress and results in order, settle exactly once", async () => {
  const q = new MemoryQueue({ maxAttempts: 3 });
  await q.publish([job("x")]);
  for (let attempt = 1; attempt <= 3; attempt++) {
    const l = await nextLease(q, `w${attempt}`);
    assert.equal(l.attempt, attempt);
    await l.progress({ step: attempt });
    await l.fail(`crash ${attempt}`, true);
    await assert.rejects(async () => await l.complete({}), /already settled/);
  }
  assert.equal(q.queued, 0);
  assert.deepEqual(await drainEvents(q), [
    'progress x a1 w1 {"step":1}',
    'progress x a2 w2 {"step":2}',
    'progress x a3 w3 {"step":3}',
    "failed x a3 crash 3",
  ]);
  // fail without retry is final at once
  await q.publish([job("y")]);
  await (await nextLease(q)).fail("bad config", false);
  assert.deepEqual(await drainEvents(q), ["failed y a1 bad config"]);
  await q.close();
});

Deno.test("memory queue: a waiting worker wakes on publish; leases end when the signal aborts", async () => {
  const q = new MemoryQueue();
  const ac = new AbortController();
  const got: string[] = [];
  const worker = (async () => {
    for await (const l of q.source("w").leases(ac.signal)) {
      got.push(l.job.id);
      await l.complete({});
      if (got.length === 2) ac.abort();
    }
  })();
  await new Promise((r) => setTimeout(r, 5));
  await q.publish([job("p")]);
  await new Promise((r) => setTimeout(r, 5));
  await q.publish([job("q")]);
  await worker;
  assert.deepEqual(got, ["p", "q"]);
  assert.deepEqual(await drainEvents(q), ["done p a1 {}", "done q a1 {}"]);
  await q.close();
});
