/**
 * What a user hits running sweeps day to day (issue 10): resuming after editing the spec, metric typos in
 * report layouts, command-line overrides. Subprocesses of `deno run -A main.ts`, noop jobs.
 */
import assert from "node:assert/strict";
import { openStore } from "../coordinator/store.ts";
import { checkResume, lineDiff, resumeRefusal } from "../core/sweep/resume.ts";
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
