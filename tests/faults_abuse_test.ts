/**
 * Fault suite: the queue is an input like any other (a real nats-server on a free port per test).
 * - forged results (no config hash, a wrong one, a job of no sweep) are rejected and logged by the
 *   coordinator; the job's real result is the one stored;
 * - a job message whose id is not the hash of its config is dropped by the worker, never run;
 * - a job that names a file (`energy_file`) is refused, and nothing of the file reaches the status bucket or
 *   the log;
 * - test job kinds are refused by a worker started without --allow-test-jobs.
 */
import assert from "node:assert/strict";
import { jetstream } from "@nats-io/jetstream";
import { startNatsServer } from "./helpers/nats_server.ts";
import { Proc, readRun, wait, workerProc } from "./helpers/faults.ts";
import { connectNats, NatsJobQueue, readNatsStatus } from "../transport/nats.ts";
import { jobSubject, resultSubject } from "../transport/nats/names.ts";
import { jobId } from "../core/sweep/expand.ts";
import type { Job } from "../core/sweep/job.ts";

async function states(url: string, sweep: string) {
  const nc = await connectNats({ nats: url });
  try {
    return await readNatsStatus(nc, { sweep });
  } finally {
    await nc.close();
  }
}

async function publishRaw(url: string, subject: string, body: unknown, msgID: string) {
  const nc = await connectNats({ nats: url });
  try {
    await jetstream(nc).publish(subject, JSON.stringify(body), { msgID });
  } finally {
    await nc.close();
  }
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await wait(100);
  }
}

Deno.test("faults: forged results are rejected by the coordinator; the real result is stored", async () => {
  const srv = await startNatsServer();
  const dir = await Deno.makeTempDir({ prefix: "flowsweep-faults-forge-" });
  const w = workerProc(srv.url, "wG");
  try {
    await w.until(/connected to/);
    await Deno.writeTextFile(`${dir}/spec.yaml`, "name: forge\nkind: sleep\nbase: {ms: 3000}\n");
    const sweep = new Proc([
      "sweep",
      `${dir}/spec.yaml`,
      "--nats",
      srv.url,
      "--run-dir",
      `${dir}/run`,
      "--progress",
      "none",
      "--no-report",
    ]);
    const running = await until("the job to run", async () => {
      const s = (await states(srv.url, "forge")).find((s) => s.status === "running");
      return s ?? undefined;
    });
    const id = running.id;
    const forged = { jobId: id, worker: "evil", attempt: 1, status: "done", final: { forged: 1 }, run: 1 };
    // On the run's own subjects (the wire is scoped by sweep run: `<sweep>=<run id>`).
    const scope = running.scope ?? "forge";
    const subject = resultSubject("flowsweep", scope, id);
    await publishRaw(srv.url, subject, forged, "forged-1"); // no config hash
    await publishRaw(srv.url, subject, { ...forged, configId: "0".repeat(16) }, "forged-2"); // wrong hash
    const other = "f".repeat(16);
    await publishRaw(
      srv.url,
      resultSubject("flowsweep", scope, other),
      { ...forged, jobId: other, configId: other },
      "forged-3",
    ); // not a job of the sweep
    const st = await sweep.exit();
    assert.equal(st.code, 0, sweep.log);
    assert.equal((sweep.log.match(/rejected a result/g) ?? []).length, 3, sweep.log);
    assert.match(sweep.log, /config hash does not match/);
    assert.match(sweep.log, /not a job of this sweep/);
    const { records, executions } = readRun(`${dir}/run`);
    assert.equal(records.length, 1);
    assert.deepEqual([records[0].status, records[0].worker, records[0].final], ["done", "wG", {
      slept_ms: 3000,
    }]);
    assert.equal(executions.get(id), 1);
  } finally {
    await w.stop();
    await srv.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("faults: forged job messages, file-reading jobs and test kinds are refused by workers", async () => {
  const srv = await startNatsServer();
  const dir = await Deno.makeTempDir({ prefix: "flowsweep-faults-abuse-" });
  const secret = `${dir}/secret.txt`;
  await Deno.writeTextFile(secret, "TOPSECRET-7f3a root:x:0:0\n");
  // A production worker (no --allow-test-jobs) and a test worker share the queue.
  const prod = new Proc(["worker", "--nats", srv.url, "--name", "wP", "--retry-delay", "0.1"]);
  try {
    await prod.until(/connected to/);
    const q = await NatsJobQueue.connect({ nats: srv.url }, { sweep: "abuse" });
    try {
      // 1. an id that is not the hash of the config (a forged job: its result would land on job "aaaa…")
      const forged: Job = {
        id: "a".repeat(16),
        sweep: "abuse",
        stage: "main",
        kind: "train",
        config: { steps: 1 },
      };
      await publishRaw(srv.url, jobSubject("flowsweep", "abuse"), forged, "forged-job");
      // 2. a consistent job that asks the worker to read a file
      const fileConfig = { task: "8gaussians", energy: "fixed", energy_file: secret, steps: 2, batch: 8 };
      const fileJob: Job = {
        id: jobId("train", fileConfig),
        sweep: "abuse",
        stage: "main",
        kind: "train",
        config: fileConfig,
      };
      // 3. a test kind on a production worker
      const noop: Job = {
        id: jobId("noop", { n: 1 }),
        sweep: "abuse",
        stage: "main",
        kind: "noop",
        config: { n: 1 },
      };
      assert.deepEqual(await q.publish([fileJob, noop]), { published: 2, skipped: 0 });

      const finished = await until("both jobs to end", async () => {
        const s = await states(srv.url, "abuse");
        return s.filter((x) => x.status === "failed").length === 2 ? s : undefined;
      });
      await prod.until(/refused: its id is not the hash of its config/);
      // The forged job never got a status entry, let alone ran.
      assert.equal(finished.find((s) => s.id === forged.id), undefined);
      const f = finished.find((s) => s.id === fileJob.id)!;
      assert.match(f.error ?? "", /energy_file is a local path and workers read no paths from jobs/);
      const n = finished.find((s) => s.id === noop.id)!;
      assert.match(n.error ?? "", /refused: "noop" is a test job kind/);
      // Nothing of the file anywhere.
      for (const text of [JSON.stringify(finished), prod.log]) {
        assert.ok(!text.includes("TOPSECRET") && !text.includes("root:x"), text);
      }
    } finally {
      await q.close();
    }
  } finally {
    await prod.stop();
    await srv.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
