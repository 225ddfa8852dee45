import assert from "node:assert/strict";
import { loadSweep, type SweepPlan } from "../core/sweep/expand.ts";
import { runSweep, type SweepProgress } from "../coordinator/run.ts";
import { openStore } from "../coordinator/store.ts";
import { MemoryQueue } from "../transport/memory.ts";
import type { Executor } from "../workers/pool.ts";

function plan(yaml: string): SweepPlan {
  return loadSweep(yaml, "t.yaml");
}

async function run(
  p: SweepPlan,
  runDir: string,
  execute: Executor,
  opts: {
    resume?: boolean;
    rerunFailed?: boolean;
    signal?: AbortSignal;
    progress?: (p: SweepProgress) => void;
  } = {},
) {
  const q = new MemoryQueue({ maxAttempts: p.maxAttempts });
  try {
    return await runSweep({
      spec: p,
      runDir,
      queue: q,
      workers: { count: 2, source: (n) => q.source(n), mode: "inline", execute },
      ...opts,
    });
  } finally {
    await q.close();
  }
}

const SPEC = `name: c
kind: noop
matrix: {v: [1, 2, 3, 4, 5, 6]}
report: {rows: [v], columns: [], metric: score}
`;

Deno.test("coordinator: runs every job once, stores history and final metrics, keeps the report layout", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const p = plan(SPEC);
    const outcome = await run(p, dir, async (job, ctx) => {
      await ctx.onProgress({ step: 1, score: Number(job.config.v) });
      return { score: 10 * Number(job.config.v) };
    });
    assert.deepEqual([outcome.status, outcome.target, outcome.finished], ["done", 6, 6]);
    assert.deepEqual(outcome.counts, { total: 6, done: 6, failed: 0, running: 0, queued: 0 });
    const st = openStore(dir, { readOnly: true });
    const recs = st.records();
    assert.deepEqual(recs.map((r) => r.id), p.jobs.map((j) => j.job.id));
    assert.deepEqual(recs.map((r) => r.final?.score), [10, 20, 30, 40, 50, 60]);
    assert.deepEqual(recs.map((r) => r.history), [1, 2, 3, 4, 5, 6].map((v) => [{ step: 1, score: v }]));
    assert.ok(recs.every((r) => r.attempts === 1 && r.status === "done" && /^local-[12]$/.test(r.worker!)));
    assert.deepEqual(st.layouts(), [{ rows: ["v"], columns: [], metric: "score" }]);
    assert.equal(st.meta()?.name, "c");
    st.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("coordinator: --rerun-failed runs only the failed jobs; done jobs are untouched", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const p = plan(SPEC);
    const ran: number[] = [];
    const flaky: Executor = (job) => {
      ran.push(Number(job.config.v));
      if (Number(job.config.v) % 2 === 0 && ran.length <= 6) throw new Error(`even ${job.config.v}`);
      return Promise.resolve({ ok: 1 });
    };
    const first = await run(p, dir, flaky);
    assert.deepEqual([first.status, first.counts.done, first.counts.failed], ["failed", 3, 3]);
    let st = openStore(dir, { readOnly: true });
    const before = new Map(st.jobs().map((j) => [j.id, j]));
    assert.equal(st.job(p.jobs[1].job.id)?.error, "even 2");
    st.close();

    // Plain resume: nothing to do (failed jobs count as finished).
    ran.length = 0;
    const resumed = await run(p, dir, flaky, { resume: true });
    assert.deepEqual([resumed.target, ran], [0, []]);

    ran.length = 6; // the flaky executor now succeeds
    const again = await run(p, dir, flaky, { rerunFailed: true });
    assert.deepEqual([again.status, again.target, again.finished], ["done", 3, 3]);
    assert.deepEqual(ran.slice(6).sort(), [2, 4, 6]);
    st = openStore(dir, { readOnly: true });
    for (const j of st.jobs()) {
      const b = before.get(j.id)!;
      const v = Number(j.config.v);
      assert.equal(j.status, "done");
      if (v % 2 === 1) {
        assert.deepEqual([j.attempts, j.finishedAt, st.executions(j.id)], [1, b.finishedAt, 1]);
      } else {
        assert.deepEqual([j.attempts, st.executions(j.id), j.error], [2, 2, undefined]);
      }
    }
    st.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("coordinator: cancel puts unfinished jobs back to queued; resume runs only those", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const p = plan(SPEC);
    const ac = new AbortController();
    const ran: number[] = [];
    const exec: Executor = async (job, ctx) => {
      ran.push(Number(job.config.v));
      if (ran.length >= 3) {
        ac.abort();
        await new Promise((_, reject) => {
          if (ctx.signal.aborted) reject(new Error("cancelled"));
          else ctx.signal.addEventListener("abort", () => reject(new Error("cancelled")));
        });
      }
      return { ok: 1 };
    };
    const first = await run(p, dir, exec, { signal: ac.signal });
    assert.equal(first.status, "cancelled");
    const st = openStore(dir, { readOnly: true });
    const c = st.counts();
    assert.equal(c.running, 0);
    assert.equal(c.done + c.queued, 6);
    const doneIds = st.jobs().filter((j) => j.status === "done").map((j) => j.id);
    assert.equal(doneIds.length, 2);
    st.close();

    ran.length = 0;
    const second = await run(p, dir, (job) => (ran.push(Number(job.config.v)), Promise.resolve({ ok: 1 })), {
      resume: true,
    });
    assert.deepEqual([second.status, second.target], ["done", 4]);
    assert.equal(ran.length, 4);
    const st2 = openStore(dir, { readOnly: true });
    for (const id of doneIds) assert.equal(st2.executions(id), 1);
    assert.deepEqual(st2.counts(), { total: 6, done: 6, failed: 0, running: 0, queued: 0 });
    st2.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("coordinator: a failed dependency skips its dependents with a reason; rerun-failed runs both", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const p = plan(`name: d
kind: noop
matrix: {v: [1, 2]}
stages:
  - {name: a, artifacts: [out]}
  - {name: b, needs: a, inputs: {in: a.out}}
`);
    let broken = true;
    const order: string[] = [];
    const exec: Executor = (job) => {
      order.push(`${job.stage}${job.config.v}`);
      if (broken && job.stage === "a" && job.config.v === 2) throw new Error("a2 broke");
      return Promise.resolve({ ok: 1 });
    };
    const first = await run(p, dir, exec);
    assert.equal(first.status, "failed");
    assert.deepEqual(order.sort(), ["a1", "a2", "b1"]);
    const st = openStore(dir, { readOnly: true });
    const [a1, a2, b1, b2] = p.jobs.map((j) => st.job(j.job.id)!);
    assert.deepEqual([a1.status, a2.status, b1.status, b2.status], ["done", "failed", "done", "failed"]);
    assert.equal(b2.error, `skipped: dependency ${a2.id} (stage a) failed`);
    assert.deepEqual([b2.attempts, st.executions(b2.id)], [0, 0]);
    assert.deepEqual(b1.deps, [a1.id]);
    st.close();

    broken = false;
    order.length = 0;
    const again = await run(p, dir, exec, { rerunFailed: true });
    assert.deepEqual([again.status, again.target], ["done", 2]);
    assert.deepEqual(order, ["a2", "b2"]); // dependency first
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("coordinator: a run directory of another sweep, or reuse without --resume, is refused", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const ok: Executor = () => Promise.resolve({});
    await run(plan(SPEC), dir, ok);
    await assert.rejects(() => run(plan(SPEC), dir, ok), /already holds a sweep/);
    await assert.rejects(
      () => run(plan(SPEC.replace("name: c", "name: other")), dir, ok, { resume: true }),
      /holds sweep "c", not "other"/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("coordinator + thread pool: jobs run in parallel on separate worker threads", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const p = plan("name: par\nkind: sleep\nmatrix: {ms: [1000]}\nseeds: 2\n");
    const q = new MemoryQueue();
    const snapshots: SweepProgress[] = [];
    const outcome = await runSweep({
      spec: p,
      runDir: dir,
      queue: q,
      workers: { count: 2, source: (n) => q.source(n) },
      progress: (s) => snapshots.push(s),
    });
    assert.equal(outcome.status, "done");
    const st = openStore(dir, { readOnly: true });
    const [a, b] = st.jobs();
    st.close();
    assert.deepEqual(new Set([a.worker, b.worker]), new Set(["local-1", "local-2"]));
    // Each sleeps 1 s; the intervals overlap, so both ran at once.
    assert.ok(a.startedAt! < b.finishedAt! && b.startedAt! < a.finishedAt!, "the two jobs did not overlap");
    assert.ok(snapshots.some((s) => s.running === 2), "progress never showed 2 running jobs");
    assert.deepEqual(snapshots.at(-1)?.final, true);
    assert.deepEqual(a.final, { slept_ms: 1000 });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("coordinator + thread pool: cancelling stops running jobs and leaves them queued", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const p = plan("name: cancel\nkind: sleep\nmatrix: {ms: [60000]}\nseeds: 3\n");
    const q = new MemoryQueue();
    const ac = new AbortController();
    const outcome = await runSweep({
      spec: p,
      runDir: dir,
      queue: q,
      workers: { count: 2, source: (n) => q.source(n), graceMs: 500 },
      signal: ac.signal,
      progress: (s) => {
        if (s.running === 2) ac.abort();
      },
    });
    assert.deepEqual([outcome.status, outcome.finished], ["cancelled", 0]);
    assert.deepEqual(outcome.counts, { total: 3, done: 0, failed: 0, running: 0, queued: 3 });
    const st = openStore(dir, { readOnly: true });
    assert.deepEqual(st.jobs().map((j) => j.attempts).sort(), [0, 1, 1]);
    st.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
