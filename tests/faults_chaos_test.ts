/**
 * Fault suite: one NATS sweep (a real nats-server on a free port) while workers are SIGKILLed in a loop and
 * replaced, and the broker is restarted mid-sweep. Every job ends exactly once: the sweep exits 0, each job is
 * done with one result message in the stream, and jobs killed mid-run were run again (attempt > 1).
 */
import assert from "node:assert/strict";
import { startNatsServer, storedResultCounts } from "./helpers/nats_server.ts";
import { Proc, readRun, wait, workerProc } from "./helpers/faults.ts";

const JOBS = 12;
const KILLS = 8;

/** Whether the worker's log shows a job started and not yet ended (lease runtime's log lines). */
function isBusy(w: Proc): boolean {
  const started = w.log.match(/ attempt \d+ started/g)?.length ?? 0;
  const ended = w.log.match(/ done in \d+ ms| handed back | attempt \d+ failed/g)?.length ?? 0;
  return started > ended;
}

Deno.test("faults: worker SIGKILL loop + broker restart in one sweep — every job exactly once", async () => {
  const srv = await startNatsServer();
  const dir = await Deno.makeTempDir({ prefix: "flowsweep-faults-chaos-" });
  const workers: Proc[] = [];
  let kills = 0;
  let n = 0;
  const spawn = () => {
    const w = workerProc(srv.url, `wC${++n}`, ["--ack-wait", "2"]);
    workers.push(w);
    return w;
  };
  try {
    // The first worker creates the shared consumer (2 s ack wait: a killed worker's job comes back soon).
    await spawn().until(/connected to/);
    spawn();
    await Deno.writeTextFile(
      `${dir}/spec.yaml`,
      `name: chaos\nkind: sleep\nbase: {ms: 700}\nseeds: ${JOBS}\nmax_attempts: 20\n`,
    );
    const sweep = new Proc([
      "sweep",
      `${dir}/spec.yaml`,
      "--nats",
      srv.url,
      "--run-dir",
      `${dir}/run`,
      "--progress",
      "lines",
      "--no-report",
    ]);
    const exited = sweep.exit();
    let over = false;
    exited.then(() => (over = true));
    let restarted = false;
    // Kill a worker every 1.2 s (8 times) and start a fresh one; restart the broker once, mid-sweep.
    while (!over && kills < KILLS) {
      await wait(1200);
      if (over) break;
      const alive = workers.filter((w) => w.child.pid && !w.log.includes("stopped"));
      // Kill a worker that is running a job (a loaded machine may leave a fresh worker idle for seconds):
      // the assertion below that some job ran again needs kills that land mid-run.
      for (let tries = 0; tries < 20 && !over && !alive.some(isBusy); tries++) await wait(100);
      if (over) break;
      const busy = alive.filter(isBusy);
      const pool = busy.length > 0 ? busy : alive;
      const victim = pool[kills % pool.length];
      victim.kill("SIGKILL");
      await victim.exit();
      kills++;
      spawn();
      if (!restarted && kills === 3) {
        await srv.restart();
        restarted = true;
      }
    }
    const st = await exited;
    assert.equal(st.code, 0, sweep.log);
    assert.ok(restarted && kills >= 3, `kills ${kills}, restarted ${restarted}`);
    const { counts, jobs } = readRun(`${dir}/run`);
    assert.deepEqual(counts, { total: JOBS, done: JOBS, failed: 0, running: 0, queued: 0 });
    const stored = await storedResultCounts(srv.url, "chaos");
    for (const j of jobs) assert.equal(stored.get(j.id), 1, `result messages of ${j.id}`);
    assert.ok(jobs.some((j) => j.attempts > 1), "some job was killed mid-run and ran again");
    console.log(`chaos: ${kills} worker SIGKILLs, 1 broker restart, ${JOBS} jobs each done once`);
  } finally {
    for (const w of workers) await w.stop();
    await srv.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
