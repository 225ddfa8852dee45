/**
 * Fault suite: two `sweep --resume` started at once on one run directory. The run directory's lock lets one
 * coordinator in; the other exits 2 naming the holder and writes nothing; every unfinished job then runs
 * exactly once. Embedded (job executions counted in the store) and over NATS (a real nats-server on a free
 * port; job starts counted in the worker's log). Plus the lock's stale rule as a unit.
 */
import assert from "node:assert/strict";
import { startNatsServer } from "./helpers/nats_server.ts";
import { cli, Proc, readRun, wait, workerProc } from "./helpers/faults.ts";
import { LOCK_STALE_MS, LockError, lockIsStale, openStore } from "../coordinator/store.ts";

// Long enough that the jobs left after the kill outlast the two resumes' start-up on a loaded machine (both
// must be alive at once for the lock to be contended).
const SPEC = "name: twice\nkind: sleep\nbase: {ms: 3000}\nseeds: 6\n";

async function killWhenSomeDone(p: Proc, runDir: string): Promise<void> {
  const end = Date.now() + 60_000;
  for (;;) {
    let done = 0;
    try {
      done = readRun(runDir).counts.done;
    } catch { /* not created yet */ }
    if (done >= 2) break;
    if (Date.now() > end) throw new Error(`no job finished:\n${p.log}`);
    await wait(50);
  }
  p.kill("SIGKILL");
  await p.exit();
}

/**
 * Starts two resumes at once. `hold`, when given, is a worker process kept stopped (SIGSTOP) until the first
 * resume has exited, so the jobs cannot all finish while the two are still starting up (on a loaded machine
 * start-up takes seconds): the winner is then still holding the lock when the loser asks for it.
 */
async function twoResumes(args: string[], hold?: Proc) {
  hold?.kill("SIGSTOP");
  let a: Awaited<ReturnType<typeof cli>>;
  let b: Awaited<ReturnType<typeof cli>>;
  try {
    const pa = cli(args);
    const pb = cli(args);
    await Promise.race([pa, pb]);
    hold?.kill("SIGCONT");
    [a, b] = await Promise.all([pa, pb]);
  } finally {
    hold?.kill("SIGCONT");
  }
  const [win, lose] = a.code === 0 ? [a, b] : [b, a];
  assert.equal(win.code, 0, `${a.stderr}\n---\n${b.stderr}`);
  assert.equal(lose.code, 2, lose.stderr);
  const lines = lose.stderr.trim().split("\n");
  assert.equal(lines.length, 1, lose.stderr);
  assert.match(
    lines[0],
    /^error: .* is in use by sweep twice --resume \(pid \d+ on .+, heartbeat \d+ s ago\)/,
  );
  return win;
}

Deno.test("faults: two concurrent --resume (embedded) — one runs, one exits 2; one execution per job", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flowsweep-faults-resume-" });
  try {
    await Deno.writeTextFile(`${dir}/spec.yaml`, SPEC);
    const base = [
      "sweep",
      `${dir}/spec.yaml`,
      "--run-dir",
      `${dir}/run`,
      "--workers",
      "2",
      "--progress",
      "none",
    ];
    const first = new Proc([...base, "--no-report"]);
    await killWhenSomeDone(first, `${dir}/run`);
    const before = readRun(`${dir}/run`);
    const unfinished = before.jobs.filter((j) => j.status !== "done").map((j) => j.id);
    assert.ok(unfinished.length >= 1);
    await twoResumes([...base, "--resume", "--no-report"]);
    const after = readRun(`${dir}/run`);
    assert.deepEqual(after.counts, { total: 6, done: 6, failed: 0, running: 0, queued: 0 });
    for (const j of after.jobs) {
      const delta = after.executions.get(j.id)! - before.executions.get(j.id)!;
      assert.equal(delta, unfinished.includes(j.id) ? 1 : 0, `executions of ${j.id} in the resumed session`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("faults: two concurrent --resume over NATS — one coordinator, every job started exactly once", async () => {
  const srv = await startNatsServer();
  const dir = await Deno.makeTempDir({ prefix: "flowsweep-faults-resume-" });
  const w = workerProc(srv.url, "wR", ["--concurrency", "2"]);
  try {
    await w.until(/connected to/);
    await Deno.writeTextFile(`${dir}/spec.yaml`, SPEC);
    const base = [
      "sweep",
      `${dir}/spec.yaml`,
      "--nats",
      srv.url,
      "--run-dir",
      `${dir}/run`,
      "--progress",
      "none",
    ];
    const first = new Proc([...base, "--no-report"]);
    await killWhenSomeDone(first, `${dir}/run`);
    await twoResumes([...base, "--resume", "--no-report"], w);
    const after = readRun(`${dir}/run`);
    assert.deepEqual(after.counts, { total: 6, done: 6, failed: 0, running: 0, queued: 0 });
    for (const j of after.jobs) {
      const starts = w.log.split("\n").filter((l) => l.includes(`job ${j.id} (`) && l.includes("started"));
      assert.equal(starts.length, 1, `starts of ${j.id}:\n${w.log}`);
    }
  } finally {
    await w.stop();
    await srv.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("run-dir lock: held → LockError naming the holder; stale heartbeat or dead process → taken over", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const a = openStore(dir);
    const b = openStore(dir);
    const t = a.acquireLock("sweep demo");
    assert.throws(() => b.acquireLock("sweep demo --resume"), (e) => {
      assert.ok(e instanceof LockError);
      assert.match((e as Error).message, new RegExp(`in use by sweep demo \\(pid ${Deno.pid} on `));
      return true;
    });
    assert.ok(a.refreshLock(t));
    // A heartbeat older than the stale limit may be taken over; the old holder then learns it lost the lock.
    const later = Date.now() + LOCK_STALE_MS + 1000;
    const t2 = b.acquireLock("sweep demo --resume", later);
    assert.equal(a.refreshLock(t), false);
    assert.ok(b.refreshLock(t2, later));
    b.releaseLock(t2);
    assert.equal(b.lockHolder(), null);
    // A holder whose process is gone (same host) is stale at once; a live one with a fresh heartbeat is not.
    const child = new Deno.Command("true").spawn();
    await child.status;
    const host = Deno.hostname();
    const now = Date.now();
    assert.equal(lockIsStale({ holder: "x", host, pid: child.pid, heartbeat: now }, now, host), true);
    assert.equal(lockIsStale({ holder: "x", host, pid: Deno.pid, heartbeat: now }, now, host), false);
    assert.equal(
      lockIsStale({ holder: "x", host: "elsewhere", pid: child.pid, heartbeat: now }, now, host),
      false,
    );
    a.close();
    b.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("run-dir lock: report into a run directory a sweep holds exits 2 naming the holder", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flowsweep-faults-lock-" });
  try {
    await Deno.writeTextFile(`${dir}/s.yaml`, "name: held\nkind: noop\n");
    const made = await cli([
      "sweep",
      `${dir}/s.yaml`,
      "--run-dir",
      `${dir}/run`,
      "--progress",
      "none",
      "--no-report",
    ]);
    assert.equal(made.code, 0, made.stderr);
    const st = openStore(`${dir}/run`);
    const token = st.acquireLock("sweep held --resume"); // this (live) process holds the run directory
    try {
      const r = await cli(["report", `${dir}/run`, "--no-png"]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        r.stderr.trim(),
        /^error: .*run is in use by sweep held --resume \(pid \d+ on [^)]+\)[^\n]*$/,
      );
    } finally {
      st.releaseLock(token);
      st.close();
    }
    const r = await cli(["report", `${dir}/run`, "--no-png"]);
    assert.equal(r.code, 0, r.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
