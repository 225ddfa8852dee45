/**
 * What a user hits running sweeps day to day (issue 10): resuming after editing the spec, metric typos in
 * report layouts, command-line overrides. Subprocesses of `deno run -A main.ts`, noop jobs.
 */
import assert from "node:assert/strict";
import { openStore } from "../coordinator/store.ts";
import { checkResume, lineDiff, resumeRefusal } from "../core/sweep/resume.ts";
import { loadSweep } from "../core/sweep/expand.ts";
import { parseOverride, textWithOverrides } from "../core/sweep/overrides.ts";
import { jobRemainingMs, sweepEtaMs } from "../core/sweep/eta.ts";
import { runDirStatus } from "../cli/status.ts";
import { runMain as run } from "./helpers/cli.ts";

function exists(p: string): boolean {
  try {
    Deno.statSync(p);
    return true;
  } catch {
    return false;
  }
}

Deno.test("resume: the check names added and dropped jobs and shows the changed spec lines", () => {
  const c = checkResume({ ids: ["a", "b"], specText: "name: x\nseeds: 2 # two\n" }, {
    ids: ["a", "b", "c"],
    specText: "name: x\n\nseeds: 3\n",
  });
  assert.deepEqual([c.added, c.removed, c.diff], [["c"], [], ["- seeds: 2", "+ seeds: 3"]]);
  const msg = resumeRefusal(c, { runDir: "runs/x", specPath: "x.yaml", extend: false })!;
  assert.match(msg, /^the spec changed since runs\/x was started: it adds 1 job\(s\); pass --extend/);
  assert.equal(resumeRefusal(c, { runDir: "runs/x", specPath: "x.yaml", extend: true }), null);
  // dropping jobs is refused even with --extend
  const d = checkResume({ ids: ["a", "b"] }, { ids: ["a"], specText: "" });
  assert.match(resumeRefusal(d, { runDir: "r", specPath: "s", extend: true })!, /drops 1 of its job/);
  // only comments changed: no diff lines, nothing to refuse
  assert.deepEqual(lineDiff("a: 1 # one\n# note\n", "a: 1\n"), []);
  assert.equal(
    resumeRefusal(checkResume({ ids: ["a"] }, { ids: ["a"], specText: "" }), {
      runDir: "r",
      specPath: "s",
      extend: false,
    }),
    null,
  );
});

Deno.test("cli sweep --resume after an edit of the spec exits 2 with a diff; --extend adds the new jobs", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const spec = `${dir}/s.yaml`;
    const runDir = `${dir}/run`;
    Deno.writeTextFileSync(spec, "name: grow\nkind: noop\nmatrix: {v: [1, 2]}\nseeds: 2\n");
    const base = ["sweep", spec, "--run-dir", runDir, "--progress", "none", "--no-report", "--workers", "1"];
    const first = await run(base);
    assert.equal(first.code, 0, first.stderr);
    const before = Deno.readTextFileSync(`${runDir}/spec.yaml`);

    Deno.writeTextFileSync(spec, "name: grow\nkind: noop\nmatrix: {v: [1, 2, 3]}\nseeds: 2\n");
    const refused = await run([...base, "--resume"]);
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /^error: the spec changed since .* it adds 2 job\(s\); pass --extend/);
    assert.match(refused.stderr, /\n {2}- matrix: \{v: \[1, 2\]\}\n {2}\+ matrix: \{v: \[1, 2, 3\]\}/);
    // nothing was written: the stored spec and jobs are the old ones
    assert.equal(Deno.readTextFileSync(`${runDir}/spec.yaml`), before);
    let st = openStore(runDir, { readOnly: true });
    assert.equal(st.jobs().length, 4);
    st.close();

    const extended = await run([...base, "--extend"]);
    assert.equal(extended.code, 0, extended.stderr);
    assert.match(extended.stderr, /ran 2\/2 this session/);
    st = openStore(runDir, { readOnly: true });
    assert.deepEqual(st.counts(), { total: 6, done: 6, failed: 0, running: 0, queued: 0 });
    st.close();

    // an edit that changes every job is refused even with --extend
    Deno.writeTextFileSync(
      spec,
      "name: grow\nkind: sleep\nbase: {ms: 1}\nmatrix: {v: [1, 2, 3]}\nseeds: 2\n",
    );
    const changed = await run([...base, "--extend"]);
    assert.equal(changed.code, 2, changed.stderr);
    assert.match(changed.stderr, /drops 6 of its jobs; run the edited spec in another --run-dir/);
    assert.ok(exists(`${runDir}/results.sqlite`));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("cli: a metric typo in a spec's report or in report --layout exits 2 with a suggestion", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const spec = `${dir}/s.yaml`;
    Deno.writeTextFileSync(
      spec,
      "name: typo\nbase: {task: ising, L: 2, steps: 2, batch: 4, hidden: [4], eval_every: 1, eval_samples: 8}\n" +
        "matrix: {beta: [0.2, 0.4]}\nreport:\n  rows: [beta]\n  columns: []\n  metric: e_logW\n",
    );
    const bad = await run(["sweep", spec, "--run-dir", `${dir}/run`, "--dry-run"]);
    assert.equal(bad.code, 2, bad.stderr);
    assert.match(
      bad.stderr,
      /s\.yaml:7:11: report metric "e_logW" is not a metric of this sweep's jobs \(did you mean "e_logw"\?\)/,
    );
    assert.ok(!exists(`${dir}/run`));

    Deno.writeTextFileSync(spec, Deno.readTextFileSync(spec).replace("e_logW", "e_logw"));
    const ok = await run([
      "sweep",
      spec,
      "--run-dir",
      `${dir}/run`,
      "--progress",
      "none",
      "--no-report",
      "--workers",
      "1",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const layout = await run(["report", `${dir}/run`, "--no-png", "--layout", "beta::exact_kll"]);
    assert.equal(layout.code, 2, layout.stderr);
    assert.equal(
      layout.stderr.trim(),
      `error: --layout metric "exact_kll" is not a metric of this run's jobs (did you mean "exact_kl"?)`,
    );
    const key = await run(["report", `${dir}/run`, "--no-png", "--layout", "betta::exact_kl"]);
    assert.equal(key.code, 2);
    assert.match(
      key.stderr,
      /--layout key "betta" is not a config key of this run's jobs \(did you mean "beta"\?\)/,
    );
    assert.ok(!exists(`${dir}/run/report`));
    const good = await run(["report", `${dir}/run`, "--no-png", "--layout", "beta::exact_kl"]);
    assert.equal(good.code, 0, good.stderr);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("overrides: steps=, matrix.KEY=[...] and seeds= change the expanded jobs; bad ones name the override", () => {
  const text = Deno.readTextFileSync(new URL("../sweeps/smoke.yaml", import.meta.url));
  const plain = loadSweep(text, "smoke.yaml");
  const o = (...t: string[]) => ({ overrides: t.map(parseOverride) });
  const over = loadSweep(text, "smoke.yaml", o("steps=200", "matrix.beta=[0.2,0.4]", "seeds=3"));
  assert.equal(plain.jobs.length, 3 * 2);
  assert.equal(over.jobs.length, 3 * 2 * 3);
  assert.ok(over.jobs.every((j) => j.job.config.steps === 200));
  assert.deepEqual([...new Set(over.jobs.map((j) => j.job.config.beta))], [0.2, 0.4]);
  assert.deepEqual([...new Set(over.jobs.map((j) => j.job.config.seed))], [0, 1, 2]);
  assert.deepEqual(over.axes, ["objective", "cv", "beta", "seed"]);
  // KEY=VALUE on an axis fixes it
  const fixed = loadSweep(text, "smoke.yaml", o("matrix.beta=[0.2,0.4]", "beta=0.3"));
  assert.deepEqual([...new Set(fixed.jobs.map((j) => j.job.config.beta))], [0.3]);
  const bad = (t: string[], re: RegExp) => {
    assert.throws(
      () => loadSweep(text, "smoke.yaml", o(...t)),
      (e: Error) => (assert.match(e.message, re), true),
    );
  };
  bad(["steps=-1"], /^override steps=-1: steps: /);
  bad(["stepz=10"], /^override stepz=10: unknown training option "stepz" \(did you mean "steps"\?\)/);
  bad(
    ["matrix.cv=[learned, learned]"],
    /^override matrix\.cv=\[learned, learned\]: value "learned" appears twice/,
  );
  bad(["seeds=[1, 1]"], /^override seeds=\[1, 1\]: a seed appears twice/);
  assert.throws(() => parseOverride("steps"), /must be key=value/);
  // the run keeps the overrides in its spec text, where a later resume sees them change
  const kept = textWithOverrides("name: x\n", [parseOverride("steps=200")]);
  assert.equal(kept, "name: x\n# override: steps=200\n");
  assert.deepEqual(lineDiff(kept, "name: x\n"), ["- # override: steps=200"]);
});

Deno.test("cli: sweep SPEC KEY=VALUE runs the overridden jobs; train KEY=VALUE validates like the file", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const spec = `${dir}/s.yaml`;
    Deno.writeTextFileSync(spec, "name: ov\nkind: noop\nmatrix: {v: [1, 2]}\n");
    const runDir = `${dir}/run`;
    const r = await run([
      "sweep",
      spec,
      "matrix.v=[1,2,3]",
      "seeds=2",
      "--run-dir",
      runDir,
      "--progress",
      "none",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const st = openStore(runDir, { readOnly: true });
    assert.equal(st.counts().total, 6);
    st.close();
    assert.match(
      Deno.readTextFileSync(`${runDir}/spec.yaml`),
      /# override: matrix\.v=\[1,2,3\]\n# override: seeds=2\n$/,
    );
    // resuming without the overrides is an edit of the sweep
    const again = await run(["sweep", spec, "--run-dir", runDir, "--resume", "--progress", "none"]);
    assert.equal(again.code, 2);
    assert.match(again.stderr, /adds 2 job\(s\) and drops 6 of its jobs/);
    assert.match(again.stderr, /\n {2}- # override: matrix\.v=\[1,2,3\]\n {2}- # override: seeds=2\n$/);

    const t = await run(["train", "steps=abc"]);
    assert.equal(t.code, 2);
    assert.equal(t.stderr.trim().split("\n").length, 1);
    assert.match(t.stderr, /^error: override steps=abc: steps: /);
    const u = await run(["train", "hiden=[8]"]);
    assert.match(
      u.stderr,
      /^error: override hiden=\[8\]: unknown training option "hiden" \(did you mean "hidden"\?\)/,
    );
    const ok = await run([
      "train",
      "L=2",
      "steps=2",
      "eval_every=2",
      "hidden=[4]",
      "batch=4",
      "eval_samples=8",
      "--json",
    ]);
    assert.equal(ok.code, 0, ok.stderr);
    const last = JSON.parse(ok.stdout.trim().split("\n").at(-1)!);
    assert.equal(last.steps, 2);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("eta: from per-job step rates, queued jobs at the mean duration, shared by the slots", () => {
  // 900 steps left at 0.1 s/step
  assert.equal(jobRemainingMs({ steps: 1000, step: 100, seconds: 10, elapsedMs: 12_000 }), 90_000);
  assert.equal(jobRemainingMs({ steps: 1000, elapsedMs: 1 }), undefined);
  // two running (90 s and 10 s left), no finished job: queued ones take the mean projected total
  const running = [
    { steps: 1000, step: 100, seconds: 10, elapsedMs: 10_000 }, // total 100 s
    { steps: 1000, step: 900, seconds: 90, elapsedMs: 90_000 }, // total 100 s
  ];
  assert.equal(
    sweepEtaMs({ running, queued: 2, finishedMs: [], slots: 2 }),
    (90_000 + 10_000 + 2 * 100_000) / 2,
  );
  // finished durations take over; the longest running job bounds it from below
  assert.equal(sweepEtaMs({ running, queued: 0, finishedMs: [50_000], slots: 4 }), 90_000);
  assert.equal(sweepEtaMs({ running: [{ elapsedMs: 5 }], queued: 1, finishedMs: [], slots: 1 }), undefined);
});

Deno.test("status: running jobs' config summary, step and ETA; --json carries config and latest metrics; exit 1 on failures", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const st = openStore(dir);
    const job = (id: string, beta: number, seed: number) => ({
      job: {
        id,
        sweep: "s",
        stage: "main",
        kind: "train" as const,
        config: { task: "ising", beta, seed, steps: 1000 },
      },
      deps: [],
      seq: 0,
    });
    st.addJobs([
      job("a000000000000001", 0.2, 0),
      job("a000000000000002", 0.4, 0),
      job("a000000000000003", 0.4, 1),
    ]);
    st.setMeta({ name: "s", layouts: [], createdAt: 1 });
    st.setValue("varied", ["beta", "seed"]);
    st.markRunning("a000000000000001", "w1", 1);
    st.appendHistory("a000000000000001", 1, { step: 100, seconds: 10, e_logw: 1.5 });
    st.markRunning("a000000000000002", "w2", 1);
    st.markFailed("a000000000000002", "w2", 1, "loss became NaN");
    st.close();

    const { text, failed } = runDirStatus(dir, false);
    assert.equal(failed, 1);
    assert.match(
      text,
      /running a000000000000001 \(main\) beta=0\.2, seed=0: step 100\/1000, ETA 1m30s on w1/,
    );
    assert.match(
      text,
      /failed {2}a000000000000002 \(main\) beta=0\.4, seed=0 after 1 attempt\(s\): loss became NaN/,
    );
    assert.match(text, /1 queued, ETA /);
    const snap = JSON.parse(runDirStatus(dir, true).text);
    const a = snap.jobs.find((j: { id: string }) => j.id === "a000000000000001");
    assert.deepEqual(a.config, { task: "ising", beta: 0.2, seed: 0, steps: 1000 });
    assert.deepEqual(a.latest, { step: 100, seconds: 10, e_logw: 1.5 });
    assert.deepEqual([a.step, a.steps, a.etaMs], [100, 1000, 90_000]);
    const cli = await run(["status", dir]);
    assert.equal(cli.code, 1);
    assert.match(cli.stdout, /running a000000000000001 \(main\) beta=0\.2, seed=0: step 100\/1000, ETA 1m/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
