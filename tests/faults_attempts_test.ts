/**
 * Fault suite: attempts and executions across a coordinator restart over NATS (issue 9 item 3). A coordinator
 * SIGKILLed while its jobs run, then `--resume`d: each job still counts one attempt and one execution (the
 * stored count is not added to the broker's, and the replayed start record adds no second execution row).
 * Own nats-server on a free port (loopback).
 */
import assert from "node:assert/strict";
import { startNatsServer } from "./helpers/nats_server.ts";
import { runMain } from "./helpers/cli.ts";
import { openStore } from "../coordinator/store.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;
const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

function spawnMain(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

function running(runDir: string): number {
  try {
    const st = openStore(runDir, { readOnly: true });
    try {
      return st.jobs().filter((j) => j.status === "running").length;
    } finally {
      st.close();
    }
  } catch {
    return 0; // not created yet
  }
}

Deno.test("faults: coordinator SIGKILL + --resume over NATS — one attempt and one execution per job", async () => {
  const srv = await startNatsServer();
  const dir = await Deno.makeTempDir({ prefix: "flowsweep-attempts-" });
  const worker = spawnMain([
    "worker",
    "--nats",
    srv.url,
    "--name",
    "wk",
    "--concurrency",
    "3",
    "--quiet",
    "--allow-test-jobs",
  ]);
  try {
    await Deno.writeTextFile(
      `${dir}/s.yaml`,
      "name: attempts\nkind: sleep\nmatrix: { ms: [2500] }\nseeds: 3\n",
    );
    const args = [
      "sweep",
      `${dir}/s.yaml`,
      "--nats",
      srv.url,
      "--run-dir",
      `${dir}/run`,
      "--progress",
      "none",
    ];
    const coord = spawnMain([...args, "--no-report"]);
    const end = Date.now() + 60_000;
    while (running(`${dir}/run`) < 3 && Date.now() < end) await wait(50);
    assert.equal(running(`${dir}/run`), 3, "all three jobs seen running by the first coordinator");
    coord.kill("SIGKILL");
    await coord.status;

    const resumed = await runMain([...args, "--resume", "--no-report"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    const st = openStore(`${dir}/run`, { readOnly: true });
    try {
      const jobs = st.jobs();
      assert.equal(jobs.length, 3);
      for (const j of jobs) {
        assert.deepEqual([j.status, j.attempts, st.executions(j.id)], ["done", 1, 1], j.id);
        assert.equal(j.worker, "wk");
      }
    } finally {
      st.close();
    }
  } finally {
    try {
      worker.kill("SIGKILL");
    } catch { /* gone */ }
    await worker.status;
    await srv.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

function doneCount(runDir: string): number {
  try {
    const st = openStore(runDir, { readOnly: true });
    try {
      return st.counts().done;
    } finally {
      st.close();
    }
  } catch {
    return 0;
  }
}

Deno.test("faults: a run resumed against a fresh broker (new events stream) finishes", async () => {
  const a = await startNatsServer();
  const b = await startNatsServer();
  const dir = await Deno.makeTempDir({ prefix: "flowsweep-newbroker-" });
  const wa = spawnMain([
    "worker",
    "--nats",
    a.url,
    "--name",
    "wa",
    "--concurrency",
    "2",
    "--allow-test-jobs",
  ]);
  let wb: Deno.ChildProcess | null = null;
  try {
    await Deno.writeTextFile(`${dir}/s.yaml`, "name: moved\nkind: sleep\nmatrix: { ms: [300] }\nseeds: 12\n");
    const args = (url: string) => [
      "sweep",
      `${dir}/s.yaml`,
      "--nats",
      url,
      "--run-dir",
      `${dir}/run`,
      "--progress",
      "none",
      "--no-report",
    ];
    const coord = spawnMain(args(a.url));
    const end = Date.now() + 60_000;
    while (doneCount(`${dir}/run`) < 4 && Date.now() < end) await wait(50);
    coord.kill("SIGKILL");
    await coord.status;
    const before = doneCount(`${dir}/run`);
    assert.ok(before >= 4 && before < 12, `done before the move: ${before}`);
    wa.kill("SIGKILL");
    await a.stop();

    wb = spawnMain(["worker", "--nats", b.url, "--name", "wb", "--concurrency", "2", "--allow-test-jobs"]);
    const resumed = await runMain([...args(b.url), "--resume"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.equal(doneCount(`${dir}/run`), 12);
  } finally {
    for (const w of [wa, wb]) {
      try {
        w?.kill("SIGKILL");
      } catch { /* gone */ }
      await w?.status;
    }
    await a.stop().catch(() => {});
    await b.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
