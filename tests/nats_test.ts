/**
 * NATS mode against a real nats-server (JetStream, free port, temp store dir): worker processes, SIGKILL
 * mid-job, bounded retries, publish dedupe, broker restart, graceful hand-back, artifacts, connection flags.
 */
import assert from "node:assert/strict";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import {
  type NatsServerHandle,
  type NatsServerOptions,
  startNatsServer,
  storedResultCounts,
} from "./helpers/nats_server.ts";
import { haveOpenssl, makeCaAndServerCert } from "./helpers/tls.ts";
import {
  connectNats,
  countStatuses,
  NatsArtifactStore,
  natsConnectOptions,
  NatsFlagError,
  NatsJobQueue,
  NatsJobSource,
  type NatsJobState,
  natsNames,
  readNatsStatus,
} from "../transport/nats.ts";
import { runWorkerLoop } from "../cli/worker.ts";
import type { Job } from "../core/sweep/job.ts";
import { jobId } from "../core/sweep/expand.ts";
import type { JobResult } from "../transport/types.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;

/** A job whose id is the hash of its kind and config, as workers check (a test `name` keeps configs apart). */
function tj(name: string, sweep: string, kind: Job["kind"], config: Record<string, unknown> = {}): Job {
  const c = { ...config, name };
  return { id: jobId(kind, c), sweep, stage: "main", kind, config: c };
}

function sleepJob(sweep: string, i: number, ms: number): Job {
  return tj(`${sweep}-sleep-${i}`, sweep, "sleep", { ms });
}

const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A `deno run -A main.ts worker` subprocess with its stderr kept for diagnostics. */
class WorkerProcess {
  readonly child: Deno.ChildProcess;
  log = "";
  private readonly drained: Promise<void>;

  constructor(url: string, readonly name: string, extra: string[] = []) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        "worker",
        "--nats",
        url,
        "--name",
        name,
        "--retry-delay",
        "0.1",
        "--allow-test-jobs",
        ...extra,
      ],
      cwd: ROOT,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    this.child = child;
    const dec = new TextDecoder();
    this.drained = (async () => {
      for await (const chunk of child.stderr) this.log += dec.decode(chunk);
    })().catch(() => {});
  }

  kill(sig: Deno.Signal) {
    try {
      this.child.kill(sig);
    } catch {
      // already exited
    }
  }

  async exit(): Promise<Deno.CommandStatus> {
    const s = await this.child.status;
    await this.drained;
    return s;
  }

  async stop(): Promise<void> {
    this.kill("SIGKILL");
    await this.exit();
  }
}

/** Polls the status bucket until `pred` holds for some job, returns that job's state. */
async function waitForState(
  q: NatsJobQueue,
  sweep: string,
  pred: (s: NatsJobState) => boolean,
  timeoutMs = 60_000,
): Promise<NatsJobState> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const hit = (await q.status(sweep)).find(pred);
    if (hit) return hit;
    await wait(50);
  }
  throw new Error(`timed out waiting for a job state in ${sweep}`);
}

/** Collects results from `q.events()` until every id in `ids` has one (or times out). */
async function collectResults(q: NatsJobQueue, ids: string[], timeoutMs = 90_000): Promise<JobResult[]> {
  const want = new Set(ids);
  const got: JobResult[] = [];
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), timeoutMs);
  try {
    for await (const e of q.events(ac.signal)) {
      if (e.type !== "result") continue;
      got.push(e.result);
      want.delete(e.result.jobId);
      if (want.size === 0) break;
    }
  } finally {
    clearTimeout(timer);
    ac.abort();
  }
  if (want.size > 0) throw new Error(`no result for ${[...want].join(", ")}`);
  return got;
}

async function jobsStreamMessages(url: string): Promise<number> {
  const nc = await connectNats({ nats: url });
  try {
    const jsm = await jetstreamManager(nc);
    return (await jsm.streams.info(natsNames().jobsStream)).state.messages;
  } finally {
    await nc.close();
  }
}

async function withServer(
  fn: (srv: NatsServerHandle) => Promise<void>,
  opts?: NatsServerOptions,
): Promise<void> {
  const srv = await startNatsServer(opts);
  try {
    await fn(srv);
  } finally {
    await srv.stop();
  }
}

Deno.test("nats: two worker processes, one SIGKILLed mid-job — every job ends exactly once", async () => {
  await withServer(async (srv) => {
    const sweep = "kill";
    const q = await NatsJobQueue.connect({ nats: srv.url }, { sweep, ackWaitMs: 2000 });
    const workers: WorkerProcess[] = [];
    try {
      const jobs = Array.from({ length: 8 }, (_, i) => sleepJob(sweep, i, 800));
      assert.deepEqual(await q.publish(jobs), { published: 8, skipped: 0 });
      const a = new WorkerProcess(srv.url, "wA");
      const b = new WorkerProcess(srv.url, "wB");
      workers.push(a, b);
      const victim = await waitForState(q, sweep, (s) => s.status === "running" && s.worker === "wA");
      a.kill("SIGKILL");
      assert.equal((await a.exit()).signal, "SIGKILL");

      const results = await collectResults(q, jobs.map((j) => j.id));
      assert.equal(results.length, 8, "events yielded one result per job");
      assert.deepEqual(new Set(results.map((r) => r.jobId)), new Set(jobs.map((j) => j.id)));
      for (const r of results) {
        assert.equal(r.status, "done");
        assert.deepEqual(r.final, { slept_ms: 800 });
      }
      // The killed job was redelivered and finished by the survivor on its second delivery.
      const vr = results.find((r) => r.jobId === victim.id)!;
      assert.equal(vr.worker, "wB");
      assert.equal(vr.attempt, 2);

      b.kill("SIGTERM");
      assert.equal((await b.exit()).code, 0, b.log);

      // Raw store: exactly one result message per job, no job message left, KV all done once.
      const counts = await storedResultCounts(srv.url, sweep);
      assert.equal(counts.size, 8);
      for (const j of jobs) assert.equal(counts.get(j.id), 1, `stored results of ${j.id}`);
      assert.equal(await jobsStreamMessages(srv.url), 0);
      const states = await q.status(sweep);
      assert.deepEqual(countStatuses(states), { queued: 0, running: 0, done: 8, failed: 0, cancelled: 0 });
      assert.equal(states.find((s) => s.id === victim.id)!.attempts, 2);
      // A fresh replay (a restarted coordinator) sees the same 8 results once each.
      const replay = await collectResults(q, jobs.map((j) => j.id));
      assert.equal(replay.length, 8);
    } finally {
      for (const w of workers) await w.stop();
      await q.close();
    }
  });
});

Deno.test("nats: a fail job ends failed with its reason at once (its own failure is final); the others complete", async () => {
  await withServer(async (srv) => {
    const sweep = "retry";
    const q = await NatsJobQueue.connect({ nats: srv.url }, { sweep, maxAttempts: 3, retryDelayMs: 100 });
    const src = await NatsJobSource.connect({ nats: srv.url }, { worker: "w1", pullExpiresMs: 1000 });
    const ac = new AbortController();
    const loop = runWorkerLoop(src, { concurrency: 2, signal: ac.signal, allowTestJobs: true });
    try {
      const bad = tj("bad", sweep, "fail", { reason: "exploded at step 7" });
      const good = [0, 1, 2].map((i) => tj(`ok${i}`, sweep, "noop"));
      assert.deepEqual(await q.publish([bad, ...good]), { published: 4, skipped: 0 });
      const results = await collectResults(q, [bad, ...good].map((j) => j.id));
      assert.equal(results.length, 4);
      const br = results.find((r) => r.jobId === bad.id)!;
      assert.deepEqual(br, {
        jobId: bad.id,
        configId: bad.id,
        worker: "w1",
        attempt: 1,
        status: "failed",
        error: "exploded at step 7",
      });
      for (const r of results.filter((r) => r.jobId !== bad.id)) {
        assert.equal(r.status, "done");
        assert.deepEqual(r.final, { ok: 1 });
      }
      const st = (await q.status(sweep)).find((s) => s.id === bad.id)!;
      assert.equal(st.status, "failed");
      assert.equal(st.attempts, 1);
      assert.equal(st.error, "exploded at step 7");
      assert.equal(await jobsStreamMessages(srv.url), 0, "terminated message left the work queue");
      ac.abort();
      const stats = await loop;
      assert.deepEqual(stats, { done: 3, failed: 1, released: 0 });
      // Re-publishing re-runs only the failed job (a new run with its own message id).
      assert.deepEqual(await q.publish([bad, ...good]), { published: 1, skipped: 3 });
      assert.equal((await q.status(sweep)).find((s) => s.id === bad.id)!.run, 2);
    } finally {
      ac.abort();
      await loop;
      await src.close();
      await q.close();
    }
  });
});

Deno.test("nats: publishing the same jobs twice does not duplicate them — concurrently, later, after done", async () => {
  await withServer(async (srv) => {
    const sweep = "dedupe";
    // A 1 s duplicate window: the republish after it has passed must be stopped by the KV status alone.
    const settings = { sweep, duplicateWindowMs: 1000 };
    const q1 = await NatsJobQueue.connect({ nats: srv.url }, settings);
    const q2 = await NatsJobQueue.connect({ nats: srv.url }, settings);
    try {
      const jobs = Array.from({ length: 6 }, (_, i) => tj(`d${i}`, sweep, "noop", { i }));
      const [r1, r2] = await Promise.all([q1.publish(jobs), q2.publish(jobs)]);
      assert.equal(r1.published + r2.published, 6, `concurrent publishers: ${JSON.stringify([r1, r2])}`);
      assert.equal(r1.skipped + r2.skipped, 6);
      assert.equal(await jobsStreamMessages(srv.url), 6);
      await wait(1200); // past the duplicate window
      assert.deepEqual(await q1.publish(jobs), { published: 0, skipped: 6 });
      assert.equal(await jobsStreamMessages(srv.url), 6);

      // A stray duplicate message (published behind the queue's back, new msg id) is dropped by the worker.
      const nc = await connectNats({ nats: srv.url });
      await jetstream(nc).publish(`flowsweep.jobs.${sweep}`, JSON.stringify(jobs[0]), { msgID: "stray" });
      await nc.close();
      assert.equal(await jobsStreamMessages(srv.url), 7);

      const src = await NatsJobSource.connect({ nats: srv.url }, { worker: "w1", pullExpiresMs: 1000 });
      const ac = new AbortController();
      const loop = runWorkerLoop(src, { concurrency: 1, signal: ac.signal, allowTestJobs: true });
      try {
        const results = await collectResults(q1, jobs.map((j) => j.id));
        assert.equal(results.length, 6);
        // Wait until the stray message has been consumed (and dropped) too.
        const end = Date.now() + 30_000;
        while ((await jobsStreamMessages(srv.url)) > 0 && Date.now() < end) await wait(50);
        assert.equal(await jobsStreamMessages(srv.url), 0);
      } finally {
        ac.abort();
        const stats = await loop;
        assert.equal(stats.done, 6, "the stray duplicate did not run");
        await src.close();
      }
      // After they finished: still skipped, nothing new in the queue, one result each, states untouched.
      assert.deepEqual(await q2.publish(jobs), { published: 0, skipped: 6 });
      assert.equal(await jobsStreamMessages(srv.url), 0);
      const counts = await storedResultCounts(srv.url, sweep);
      for (const j of jobs) assert.equal(counts.get(j.id), 1);
      for (const s of await q1.status(sweep)) {
        assert.equal(s.status, "done");
        assert.equal(s.attempts, 1);
        assert.equal(s.run, 1);
      }
    } finally {
      await q1.close();
      await q2.close();
    }
  });
});

Deno.test("nats: a worker process reconnects after broker restarts (mid-job and idle) and jobs complete", async () => {
  await withServer(async (srv) => {
    const sweep = "restart";
    const q = await NatsJobQueue.connect({ nats: srv.url }, { sweep, ackWaitMs: 5000 });
    const w = new WorkerProcess(srv.url, "wR");
    try {
      const long = sleepJob(sweep, 0, 2500);
      await q.publish([long]);
      // The coordinator's event stream is open across the restart, as in a running sweep.
      const pending = collectResults(q, [long.id]);
      await waitForState(q, sweep, (s) => s.id === long.id && s.status === "running");
      await srv.restart(); // mid-job: the worker is running the sleep
      const [r0] = await pending;
      assert.equal(r0.status, "done");
      assert.equal(r0.worker, "wR");

      await srv.restart(); // idle: the worker is waiting on a pull
      const more = [1, 2, 3].map((i) => sleepJob(sweep, i, 10));
      assert.deepEqual(await q.publish(more), { published: 3, skipped: 0 });
      const rs = await collectResults(q, [long.id, ...more.map((j) => j.id)]);
      assert.equal(rs.length, 4, "one result per job across both restarts");
      for (const r of rs) assert.equal(r.status, "done");
      const counts = await storedResultCounts(srv.url, sweep);
      for (const id of [long.id, ...more.map((j) => j.id)]) assert.equal(counts.get(id), 1);
      assert.match(w.log, /connection (disconnect|reconnect)/);
    } finally {
      await w.stop();
      await q.close();
    }
  });
});

Deno.test("nats: SIGTERM hands the running job back; another worker finishes it", async () => {
  await withServer(async (srv) => {
    const sweep = "handback";
    const q = await NatsJobQueue.connect({ nats: srv.url }, { sweep });
    const a = new WorkerProcess(srv.url, "wA");
    try {
      const job = sleepJob(sweep, 0, 4000);
      await q.publish([job]);
      await waitForState(q, sweep, (s) => s.status === "running" && s.worker === "wA");
      a.kill("SIGTERM");
      const st = await a.exit();
      assert.equal(st.code, 0, a.log);
      assert.match(a.log, /handed back/);
      const back = (await q.status(sweep))[0];
      assert.equal(back.status, "queued");
      assert.equal(back.worker, undefined);

      const src = await NatsJobSource.connect({ nats: srv.url }, { worker: "wB", pullExpiresMs: 1000 });
      const ac = new AbortController();
      const loop = runWorkerLoop(src, { concurrency: 1, signal: ac.signal, allowTestJobs: true });
      try {
        const [r] = await collectResults(q, [job.id]);
        assert.equal(r.worker, "wB");
        assert.equal(r.status, "done");
        assert.equal(r.attempt, 2);
      } finally {
        ac.abort();
        await loop;
        await src.close();
      }
    } finally {
      await a.stop();
      await q.close();
    }
  });
});

Deno.test("nats: progress records reach the coordinator in order, before the job's result", async () => {
  await withServer(async (srv) => {
    const sweep = "progress";
    const q = await NatsJobQueue.connect({ nats: srv.url }, { sweep });
    const src = await NatsJobSource.connect({ nats: srv.url }, { worker: "w1", pullExpiresMs: 1000 });
    const ac = new AbortController();
    // A lease loop that streams three records by hand (the executor's own kinds emit none).
    const loop = (async () => {
      for await (const lease of src.leases(ac.signal)) {
        for (let step = 0; step < 3; step++) await lease.progress({ step, loss: 1 / (step + 1) });
        await lease.complete({ steps: 3 });
      }
    })();
    try {
      const p0 = tj("p0", sweep, "noop");
      await q.publish([p0]);
      const seen: string[] = [];
      const ev = new AbortController();
      for await (const e of q.events(ev.signal)) {
        if (e.type === "progress") {
          assert.equal(e.progress.jobId, p0.id);
          assert.equal(e.progress.worker, "w1");
          assert.equal(e.progress.attempt, 1);
          seen.push(`p${e.progress.record.step}`);
        } else if (e.type === "result") {
          seen.push(`r:${e.result.status}:${e.result.final?.steps}`);
          break;
        }
      }
      ev.abort();
      assert.deepEqual(seen, ["p0", "p1", "p2", "r:done:3"]);
    } finally {
      ac.abort();
      await loop;
      await src.close();
      await q.close();
    }
  });
});

Deno.test("nats: after a failed job is published again, events carry only the new run (also on replay)", async () => {
  await withServer(async (srv) => {
    const sweep = "rerun";
    const q = await NatsJobQueue.connect({ nats: srv.url }, { sweep });
    const src = await NatsJobSource.connect({ nats: srv.url }, { worker: "w1", pullExpiresMs: 1000 });
    const ac = new AbortController();
    let n = 0;
    // Run 1 fails for good (no retry); run 2 completes. Each streams one record naming its run.
    const loop = (async () => {
      for await (const lease of src.leases(ac.signal)) {
        n++;
        await lease.progress({ run: n });
        if (n === 1) await lease.fail("first run broke", false);
        else await lease.complete({ run: n });
      }
    })();
    try {
      const job = tj("r0", sweep, "noop");
      await q.publish([job]);
      const [first] = await collectResults(q, [job.id]);
      assert.deepEqual([first.status, first.error], ["failed", "first run broke"]);
      assert.deepEqual(await q.publish([job]), { published: 1, skipped: 0 });
      const events = async (queue: NatsJobQueue) => {
        const seen: string[] = [];
        const ev = new AbortController();
        for await (const e of queue.events(ev.signal)) {
          if (e.type === "progress") seen.push(`progress run ${e.progress.record.run}`);
          else if (e.type === "result") {
            seen.push(`${e.result.status} ${JSON.stringify(e.result.final)}`);
            break;
          }
        }
        ev.abort();
        return seen;
      };
      // The queue that re-published it, and a fresh one (a restarted coordinator), skip run 1 entirely.
      assert.deepEqual(await events(q), ["progress run 2", 'done {"run":2}']);
      const fresh = await NatsJobQueue.connect({ nats: srv.url }, { sweep });
      try {
        assert.deepEqual(await events(fresh), ["progress run 2", 'done {"run":2}']);
      } finally {
        await fresh.close();
      }
      const [st] = await q.status(sweep);
      assert.deepEqual([st.status, st.run, st.final], ["done", 2, { run: 2 }]);
    } finally {
      ac.abort();
      await loop;
      await src.close();
      await q.close();
    }
  });
});

Deno.test("sweep --nats with a worker process: results land in the run dir; status --nats reads the bucket", async () => {
  await withServer(async (srv) => {
    const dir = await Deno.makeTempDir({ prefix: "flowsweep-nats-sweep-" });
    // The worker starts first (it creates the shared consumer with its default 3 attempts); the spec's
    // max_attempts (2) still bounds its jobs.
    const w = new WorkerProcess(srv.url, "wS");
    try {
      const end = Date.now() + 30_000;
      while (!/connected to/.test(w.log) && Date.now() < end) await wait(50);
      assert.match(w.log, /max attempts 3/);
      await Deno.writeTextFile(
        `${dir}/spec.yaml`,
        [
          "name: nats-e2e",
          'base: { ms: 100, reason: "no luck" }',
          "max_attempts: 2",
          "seeds: 2",
          "stages:",
          "  - name: ok",
          "    kind: sleep",
          "  - name: bad",
          "    kind: fail",
          "",
        ].join("\n"),
      );
      const run = (args: string[]) =>
        new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", MAIN, ...args],
          cwd: ROOT,
          stdout: "piped",
          stderr: "piped",
        }).output();
      const out = await run([
        "sweep",
        `${dir}/spec.yaml`,
        "--nats",
        srv.url,
        "--run-dir",
        `${dir}/run`,
        "--progress",
        "none",
      ]);
      const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
      assert.equal(out.code, 1, text); // some jobs failed
      assert.match(text, /2 done, 2 failed/);
      assert.match(text, /no luck/);

      const st = await run(["status", "--nats", srv.url, "nats-e2e", "--json"]);
      const report = JSON.parse(new TextDecoder().decode(st.stdout));
      assert.equal(report.total, 4);
      assert.equal(report.done, 2);
      assert.equal(report.failed, 2);
      const attempts = report.jobs.map((j: { status: string; attempts: number }) =>
        `${j.status}:${j.attempts}`
      );
      // A job's own failure is final (workers/lease.ts): one attempt each, although max_attempts is 2.
      assert.deepEqual(attempts.sort(), ["done:1", "done:1", "failed:1", "failed:1"]);
      // failures carry their reason, finished jobs their final metrics; exit 1; the text lists the failures
      assert.ok(report.jobs.some((j: { error?: string }) => /no luck/.test(j.error ?? "")));
      assert.ok(report.jobs.some((j: { latest?: unknown }) => j.latest !== undefined));
      assert.equal(st.code, 1);
      const stText = await run(["status", "--nats", srv.url, "nats-e2e"]);
      assert.match(new TextDecoder().decode(stText.stdout), /failed {2}[0-9a-f]{16} \(\S+\): .*no luck/);

      // The coordinator's own store (the run directory) agrees.
      const local = await run(["status", `${dir}/run`, "--json"]);
      const lr = JSON.parse(new TextDecoder().decode(local.stdout));
      assert.deepEqual([lr.total, lr.done, lr.failed, lr.running, lr.queued], [4, 2, 2, 0, 0]);
    } finally {
      await w.stop();
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("nats: artifact store round trip, overwrite and missing key", async () => {
  await withServer(async (srv) => {
    const nc = await connectNats({ nats: srv.url });
    try {
      const store = await NatsArtifactStore.open(nc);
      const big = new Uint8Array(1_500_000).map((_, i) => (i * 7919) & 0xff);
      await store.put("energy/abc123", big);
      assert.deepEqual(await store.get("energy/abc123"), big);
      await store.put("energy/abc123", new Uint8Array([1, 2, 3]));
      assert.deepEqual(await store.get("energy/abc123"), new Uint8Array([1, 2, 3]));
      assert.equal(await store.get("energy/missing"), null);
      // A second connection sees the same bytes.
      const nc2 = await connectNats({ nats: srv.url });
      assert.deepEqual(
        await (await NatsArtifactStore.open(nc2)).get("energy/abc123"),
        new Uint8Array([1, 2, 3]),
      );
      await nc2.close();
    } finally {
      await nc.close();
    }
  });
});

Deno.test("nats: jobs run by the worker loop get the object store as ctx.artifacts", async () => {
  await withServer(async (srv) => {
    const q = await NatsJobQueue.connect({ nats: srv.url }, { sweep: "art" });
    const src = await NatsJobSource.connect({ nats: srv.url }, { worker: "w1", pullExpiresMs: 1000 });
    const artifacts = await NatsArtifactStore.open(src.nc);
    const ac = new AbortController();
    const loop = runWorkerLoop(src, {
      concurrency: 1,
      signal: ac.signal,
      allowTestJobs: true,
      artifacts,
      execute: async (job, ctx) => {
        await ctx.artifacts!.put(`${job.id}/energy`, new TextEncoder().encode(`weights of ${job.id}`));
        return { saved: 1 };
      },
    });
    try {
      const e0 = tj("e0", "art", "noop");
      await q.publish([e0]);
      const [r] = await collectResults(q, [e0.id]);
      assert.deepEqual(r.final, { saved: 1 });
      // Another process (here: the coordinator's connection) reads the checkpoint back.
      const store = await NatsArtifactStore.open(q.nc);
      assert.equal(new TextDecoder().decode((await store.get(`${e0.id}/energy`))!), `weights of ${e0.id}`);
    } finally {
      ac.abort();
      await loop;
      await src.close();
      await q.close();
    }
  });
});

Deno.test("natsConnectOptions: flags map to connect options; inconsistent flags are rejected", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const o = natsConnectOptions({
      nats: "nats://a:4222, nats://b:4222",
      user: "u",
      password: "p",
      name: "n",
    });
    assert.deepEqual(o.servers, ["nats://a:4222", "nats://b:4222"]);
    assert.equal(o.maxReconnectAttempts, -1);
    assert.equal(o.reconnectTimeWait, 1000);
    assert.equal(o.user, "u");
    assert.equal(o.pass, "p");
    assert.equal(o.name, "n");
    assert.equal(o.tls, undefined);

    const t = natsConnectOptions({ nats: "nats://a:4222", token: "s3cret", tlsCa: "/ca.pem" });
    assert.equal(t.token, "s3cret");
    assert.deepEqual(t.tls, { caFile: "/ca.pem" });
    assert.deepEqual(natsConnectOptions({ nats: "tls://a:4222" }).tls, {});
    assert.deepEqual(natsConnectOptions({ nats: "nats://a", tlsCert: "/c.pem", tlsKey: "/k.pem" }).tls, {
      certFile: "/c.pem",
      keyFile: "/k.pem",
    });

    const creds = `${dir}/x.creds`;
    await Deno.writeTextFile(creds, "-----BEGIN NATS USER JWT-----\nabc\n------END NATS USER JWT------\n");
    assert.equal(typeof natsConnectOptions({ nats: "nats://a", creds }).authenticator, "function");

    assert.throws(() => natsConnectOptions({ nats: "" }), NatsFlagError);
    assert.throws(
      () => natsConnectOptions({ nats: "nats://a", user: "u" }),
      /--user and --password go together/,
    );
    assert.throws(() => natsConnectOptions({ nats: "nats://a", token: "t", creds }), /only one of/);
    assert.throws(() => natsConnectOptions({ nats: "nats://a", tlsCert: "/c" }), /--tls-cert and --tls-key/);
    assert.throws(
      () => natsConnectOptions({ nats: "nats://a", creds: `${dir}/none` }),
      /cannot read --creds/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * One connection attempt that the server should refuse, made in a subprocess: after the rejection the NATS node
 * transport can still emit a late ECONNRESET on the socket it dropped, which in this process would surface as an
 * uncaught error and fail the whole file (seen once in CI). Returns the rejection message, or "connected".
 */
async function refusedConnectMessage(
  flags: { nats: string; user?: string; password?: string },
): Promise<string> {
  const code = `
    import { connect } from "@nats-io/transport-node";
    import { natsConnectOptions } from ${
    JSON.stringify(new URL("../transport/nats.ts", import.meta.url).href)
  };
    try {
      const nc = await connect({
        ...natsConnectOptions(${JSON.stringify(flags)}),
        waitOnFirstConnect: false,
        maxReconnectAttempts: 0,
      });
      await nc.close();
      console.log("connected");
    } catch (err) {
      console.log(err instanceof Error ? err.message : String(err));
    }
    Deno.exit(0);`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", code],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).trim();
}

Deno.test("nats: user/password auth — right password works end to end, wrong one is refused", async () => {
  await withServer(async (srv) => {
    assert.match(
      await refusedConnectMessage({ nats: srv.url, user: "flow", password: "wrong" }),
      /Authorization Violation/i,
    );
    const q = await NatsJobQueue.connect({ nats: srv.url, user: "flow", password: "sweep" }, {
      sweep: "auth",
    });
    try {
      const a0 = tj("a0", "auth", "noop");
      await q.publish([a0]);
      const states = await readNatsStatus(q.nc, { sweep: "auth" });
      assert.deepEqual(states.map((s) => [s.id, s.status]), [[a0.id, "queued"]]);
    } finally {
      await q.close();
    }
  }, { args: ["--user", "flow", "--pass", "sweep"], connect: { user: "flow", pass: "sweep" } });
});

Deno.test("nats: token auth — the worker command connects with --token and runs a job", async () => {
  await withServer(async (srv) => {
    const q = await NatsJobQueue.connect({ nats: srv.url, token: "t0ken" }, { sweep: "tok" });
    const w = new WorkerProcess(srv.url, "wT", ["--token", "t0ken"]);
    try {
      const t0 = tj("t0", "tok", "noop");
      await q.publish([t0]);
      const [r] = await collectResults(q, [t0.id]);
      assert.deepEqual([r.status, r.worker], ["done", "wT"]);
    } finally {
      await w.stop();
      await q.close();
    }
  }, { args: ["--auth", "t0ken"], connect: { token: "t0ken" } });
});

Deno.test({
  name: "nats: TLS — --tls-ca verifies the server's certificate; without it the connection is refused",
  ignore: !haveOpenssl(),
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "flowsweep-tls-" });
    try {
      await makeCaAndServerCert(dir);
      const ca = `${dir}/ca.pem`;
      await withServer(async (srv) => {
        assert.ok(srv.url.startsWith("tls://"));
        // Without the CA the server's certificate is not trusted (one try: workers would retry forever).
        const refused = await refusedConnectMessage({ nats: srv.url });
        assert.ok(refused !== "connected" && refused.length > 0, refused);
        const q = await NatsJobQueue.connect({ nats: srv.url, tlsCa: ca }, { sweep: "tls" });
        const w = new WorkerProcess(srv.url, "wTLS", ["--tls-ca", ca]);
        try {
          const s0 = tj("s0", "tls", "noop");
          await q.publish([s0]);
          const [r] = await collectResults(q, [s0.id]);
          assert.deepEqual([r.status, r.worker], ["done", "wTLS"]);
        } finally {
          await w.stop();
          await q.close();
        }
      }, {
        args: ["--tls", "--tlscert", `${dir}/server.pem`, "--tlskey", `${dir}/server.key`],
        scheme: "tls",
        connect: { tls: { caFile: ca } },
      });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("worker CLI: bad flags end with one line on stderr and exit code 2", async () => {
  for (
    const [args, msg] of [
      [["--nats", "nats://127.0.0.1:1", "--user", "u"], "--user and --password go together"],
      [["--nats", "nats://127.0.0.1:1", "--concurrency", "0"], "--concurrency must be a positive integer"],
      [["--nats", "nats://127.0.0.1:1", "--ack-wait", "x"], "--ack-wait must be a positive number"],
      [["--nats", "nats://127.0.0.1:1", "--backend", "gpu"], "--backend must be one of auto|tensorflow"],
    ] as const
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "worker", ...args],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(out.stderr).trim();
    assert.equal(out.code, 2, err);
    assert.equal(err.split("\n").length, 1, err);
    assert.ok(err.startsWith(`error: ${msg}`), err);
  }
});
