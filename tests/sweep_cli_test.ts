/**
 * The sweep and status commands as a user runs them (subprocesses of `deno run -A main.ts`): bad specs,
 * dry runs, a coordinator killed with SIGKILL and resumed, Ctrl-C, re-running failed jobs, status --json.
 */
import assert from "node:assert/strict";
import { openStore } from "../coordinator/store.ts";

const root = new URL("..", import.meta.url).pathname;

function cli(args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}main.ts`, ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  });
}

async function run(args: string[]) {
  const out = await cli(args).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

function counts(runDir: string) {
  try {
    const st = openStore(runDir, { readOnly: true });
    try {
      return st.counts();
    } finally {
      st.close();
    }
  } catch {
    return null; // not created yet
  }
}

async function until(what: string, cond: () => boolean, timeoutMs = 60_000) {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

Deno.test("cli sweep: bad specs exit 2 naming file:line:column and create no run directory", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const cases: [string, string, RegExp][] = [
      ["name: x\nmatrix:\n  beta: []\n", "", /bad\.yaml:3:9: axis "beta" in matrix must not be empty/],
      ["name: x\nbase:\n  stepz: 1\n", "", /bad\.yaml:3:10: unknown training option "stepz"/],
      ["name: x\nmatrix:\n  alpha: [0, 2]\n", "--dry-run", /bad\.yaml:3:14: alpha: Too big/],
      [
        "name: x\nseeds: two\n",
        "",
        /bad\.yaml:2:8: seeds must be a count \(an integer ≥ 1\) or a list of seeds, got the string "two"/,
      ],
    ];
    for (const [yaml, flag, re] of cases) {
      Deno.writeTextFileSync(`${dir}/bad.yaml`, yaml);
      const r = await run(["sweep", `${dir}/bad.yaml`, "--run-dir", `${dir}/run`, ...(flag ? [flag] : [])]);
      assert.equal(r.code, 2, r.stderr);
      assert.match(r.stderr, re);
      assert.equal(exists(`${dir}/run`), false);
    }
    const missing = await run(["sweep", `${dir}/nope.yaml`, "--run-dir", `${dir}/run`]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read spec .*nope\.yaml/);
    const badFlag = await run(["sweep", `${dir}/bad.yaml`, "--workers", "0"]);
    assert.equal(badFlag.code, 2);
    assert.equal(exists(`${dir}/run`), false);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("cli sweep --dry-run: prints the job table and counts, writes nothing", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const r = await run(["sweep", `${root}sweeps/table3.yaml`, "--dry-run", "--run-dir", `${dir}/run`]);
    assert.equal(r.code, 0, r.stderr);
    const lines = r.stdout.trimEnd().split("\n");
    assert.match(lines[0], /^#\s+id\s+stage\s+kind\s+cv\s+beta\s+seed\s+deps$/);
    assert.match(lines[1], /^1\s+[0-9a-f]{16}\s+main\s+train\s+none\s+-1\s+0\s+-$/);
    assert.equal(lines.length, 1 + 500 + 2);
    assert.equal(lines.at(-1), "500 jobs (main: 500); excluded 0, included 0, duplicates dropped 0");
    assert.equal(exists(`${dir}/run`), false);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("cli sweep: a coordinator killed with SIGKILL resumes without re-running finished jobs", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(
      `${dir}/s.yaml`,
      "name: killme\nkind: sleep\nmatrix: {ms: [300, 400]}\nseeds: 6\n",
    );
    const runDir = `${dir}/run`;
    const args = ["sweep", `${dir}/s.yaml`, "--run-dir", runDir, "--workers", "2", "--progress", "none"];
    const child = cli([...args, "--no-report"]).spawn();
    await until("4 finished jobs", () => (counts(runDir)?.done ?? 0) >= 4);
    child.kill("SIGKILL");
    const status = await child.status;
    assert.equal(status.signal, "SIGKILL");

    const st = openStore(runDir, { readOnly: true });
    const before = st.jobs();
    st.close();
    const doneBefore = before.filter((j) => j.status === "done").map((j) => j.id);
    const unfinished = before.filter((j) => j.status !== "done");
    assert.equal(before.length, 12);
    assert.ok(doneBefore.length >= 4 && doneBefore.length < 12, `done before the kill: ${doneBefore.length}`);

    // Without --resume the run directory is refused.
    const refused = await run(args);
    assert.equal(refused.code, 2);
    assert.match(refused.stderr, /already holds a sweep; pass --resume/);

    const resumed = await run([...args, "--resume", "--no-report"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stderr, new RegExp(`ran ${unfinished.length}/${unfinished.length} this session`));
    const st2 = openStore(runDir, { readOnly: true });
    assert.deepEqual(st2.counts(), { total: 12, done: 12, failed: 0, running: 0, queued: 0 });
    for (const id of doneBefore) assert.equal(st2.executions(id), 1, `job ${id} ran again`);
    // Jobs that were running at the kill ran a second time; queued ones once.
    for (const j of unfinished) assert.equal(st2.executions(j.id), j.status === "running" ? 2 : 1);
    st2.close();

    const json = await run(["status", runDir, "--json"]);
    assert.equal(json.code, 0);
    const s = JSON.parse(json.stdout);
    for (const k of ["total", "done", "failed", "running", "queued", "jobs"]) assert.ok(k in s, k);
    assert.deepEqual([s.total, s.done, s.failed, s.running, s.queued], [12, 12, 0, 0, 0]);
    assert.equal(s.jobs.length, 12);
    for (const k of ["id", "status", "attempts", "config", "summary", "latest"]) assert.ok(k in s.jobs[0], k);
    const unfinishedRunning = new Set(unfinished.filter((j) => j.status === "running").map((j) => j.id));
    for (const j of s.jobs) assert.equal(j.attempts, unfinishedRunning.has(j.id) ? 2 : 1);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("cli sweep: Ctrl-C cancels cleanly: exit 130, running jobs back to queued", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(`${dir}/s.yaml`, "name: ctrlc\nkind: sleep\nmatrix: {ms: [60000]}\nseeds: 3\n");
    const runDir = `${dir}/run`;
    const child = cli(["sweep", `${dir}/s.yaml`, "--run-dir", runDir, "--workers", "2", "--progress", "none"])
      .spawn();
    await until("2 running jobs", () => counts(runDir)?.running === 2);
    child.kill("SIGINT");
    const out = await child.output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 130, stderr);
    assert.match(stderr, /resume with: npx -y deno@2 task sweep .*--resume/);
    assert.deepEqual(counts(runDir), { total: 3, done: 0, failed: 0, running: 0, queued: 3 });
    const text = await run(["status", runDir]);
    assert.match(text.stdout, /0\/3 done, 0 running, 0 failed, 3 queued/);
    assert.match(text.stdout, /coordinator: not running/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("cli sweep --rerun-failed: only failed jobs run again", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    Deno.writeTextFileSync(
      `${dir}/s.yaml`,
      `name: mixed
matrix: {v: [1, 2, 3]}
stages:
  - {name: good, kind: noop}
  - {name: bad, kind: fail, matrix: {v: [1, 2]}, set: {reason: broken on purpose}}
`,
    );
    const runDir = `${dir}/run`;
    const base = ["sweep", `${dir}/s.yaml`, "--run-dir", runDir, "--progress", "none", "--no-report"];
    const first = await run(base);
    assert.equal(first.code, 1, first.stderr);
    assert.match(first.stderr, /failed [0-9a-f]{16} \(bad\): broken on purpose/);
    assert.deepEqual(counts(runDir), { total: 5, done: 3, failed: 2, running: 0, queued: 0 });
    const again = await run([...base, "--rerun-failed"]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /ran 2\/2 this session/);
    const st = openStore(runDir, { readOnly: true });
    for (const j of st.jobs()) {
      const expected = j.stage === "good" ? [1, 1, "done"] : [2, 2, "failed"];
      assert.deepEqual([st.executions(j.id), j.attempts, j.status], expected);
    }
    st.close();
    const status = await run(["status", runDir]);
    assert.equal(status.code, 1); // some jobs failed
    assert.match(status.stdout, /stage good: 3\/3 done/);
    assert.match(
      status.stdout,
      /failed {2}[0-9a-f]{16} \(bad\) v=\d, reason=broken on purpose after 2 attempt\(s\): broken on purpose/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("cli status: a directory without a store is a usage error", async () => {
  const r = await run(["status", "/nonexistent/run"]);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /no results\.sqlite/);
});
