/**
 * The regression gate (core/sweep/gate.ts, cli/gate.ts): the spec's `gate:` section, the spec hash, baseline
 * files, the comparison, its false-alarm rate on simulated reruns of the committed baseline, and the CLI's exit
 * codes — 0 for a rerun of the same code, 1 naming the cells of a real regression, 2 with one line for each
 * case that cannot be compared. (The committed baseline against a deliberately worse build of the code:
 * tests/gate_regression_test.ts.)
 */
import assert from "node:assert/strict";
import { loadSweep } from "../core/sweep/expand.ts";
import { SpecError } from "../core/sweep/spec.ts";
import {
  type Baseline,
  BASELINE_FORMAT,
  cannotCompare,
  type CellValues,
  compareToBaseline,
  formatBaseline,
  type GateSpec,
  parseBaseline,
} from "../core/sweep/gate.ts";
import type { Job, JobRecord } from "../core/sweep/job.ts";
import { openStore } from "../coordinator/store.ts";
import { Rng } from "../core/rng.ts";
import { runMain } from "./helpers/cli.ts";

const root = new URL("..", import.meta.url).pathname;

const SMALL = `name: gate-small
base: { task: ising, L: 2, beta: 0.4, alpha: 0, steps: 60, batch: 32, hidden: [16, 16], eval_every: 60, eval_samples: 200 }
matrix:
  cv: [learned, loo-logz]
seeds: 4
gate:
  alpha: 0.05
  metrics:
    exact_kl: lower
    e_logw: { tolerance: 0.01 }
`;

function specError(text: string): string {
  try {
    loadSweep(text, "s.yaml");
  } catch (err) {
    assert.ok(err instanceof SpecError, `expected a SpecError, got ${err}`);
    return err.message;
  }
  assert.fail("the spec was accepted");
}

// ---------------------------------------------------------------------------------------------------------
// The gate: section and the spec hash

Deno.test("gate section: defaults per metric, shorthand direction, tolerances", () => {
  const plan = loadSweep(SMALL, "s.yaml");
  assert.deepEqual(plan.gate, {
    alpha: 0.05,
    metrics: [
      { metric: "exact_kl", direction: "lower", target: undefined, tolerance: 0, relTolerance: 0 },
      { metric: "e_logw", direction: "closer", target: "exact_log_z", tolerance: 0.01, relTolerance: 0 },
    ],
  });
  assert.equal(loadSweep(SMALL.replace(/gate:[^]*$/, ""), "s.yaml").gate, undefined);
});

Deno.test("gate section: every mistake is one located error with a suggestion where one is close", () => {
  const head = SMALL.replace(/gate:[^]*$/, "");
  const cases: [string, RegExp][] = [
    [
      "gate:\n  metrics:\n    exact_kl: lowr\n",
      /s\.yaml:8:15: .*direction must be one of lower, higher, closer.*"lower"/,
    ],
    [
      "gate:\n  metrics:\n    exact_kl: { direction: closer, target: exact_log_zz }\n",
      /gate metric "exact_log_zz" is not a metric.*"exact_log_z"/,
    ],
    [
      "gate:\n  metrics:\n    exact_kll: lower\n",
      /s\.yaml:8:5: gate metric "exact_kll" is not a metric.*"exact_kl"/,
    ],
    ["gate:\n  metrics:\n    ms_per_step: {}\n", /gate metric "ms_per_step" needs a direction/],
    [
      "gate:\n  metrics:\n    exact_kl: { target: exact_log_z }\n",
      /a target is only meaningful with direction "closer"/,
    ],
    [
      "gate:\n  alpha: 1.5\n  metrics: { exact_kl: lower }\n",
      /s\.yaml:7:10: gate alpha must be a number in \(0, 1\)/,
    ],
    ["gate:\n  metrics: { exact_kl: { tolerance: -1 } }\n", /tolerance must be a number ≥ 0/],
    ["gate:\n  metrics: { exact_kl: { tolerence: 0.1 } }\n", /unknown key "tolerence".*"tolerance"/],
    ["gate:\n  alpha: 0.1\n", /gate needs "metrics"/],
    ["gate:\n  metrics: {}\n", /gate metrics must name at least one metric/],
    ["gate: [exact_kl]\n", /gate must be a mapping/],
  ];
  for (const [section, re] of cases) {
    const msg = specError(head + section);
    assert.match(msg, re, section);
    assert.equal(msg.split("\n").length, 1, `one line: ${msg}`);
  }
});

Deno.test("spec hash: seeds, description, report, max_attempts and gate do not change it; what runs does", () => {
  const h = (t: string) => loadSweep(t, "s.yaml").specHash;
  const base = h(SMALL);
  assert.match(base, /^[0-9a-f]{16}$/);
  assert.equal(h(SMALL.replace("seeds: 4", "seeds: [10, 11, 12]")), base);
  assert.equal(
    h(SMALL.replace("name: gate-small", "name: gate-small\ndescription: x\nmax_attempts: 5")),
    base,
  );
  assert.equal(h(SMALL.replace("alpha: 0.05", "alpha: 0.01")), base);
  assert.equal(h(SMALL + "report: { rows: [cv], columns: [], metric: exact_kl }\n"), base);
  assert.notEqual(h(SMALL.replace("steps: 60", "steps: 61")), base);
  assert.notEqual(h(SMALL.replace("steps: 60", "steps: 60, lr: 0.0001")), base);
  assert.notEqual(h(SMALL.replace("[learned, loo-logz]", "[learned, none]")), base);
  assert.notEqual(h(SMALL.replace("name: gate-small", "name: gate-small2")), base);
});

// ---------------------------------------------------------------------------------------------------------
// Baselines and the comparison (pure)

const GATE: GateSpec = {
  alpha: 0.05,
  metrics: [
    { metric: "exact_kl", direction: "lower", tolerance: 0, relTolerance: 0.1 },
    { metric: "modes_found", direction: "higher", tolerance: 0, relTolerance: 0 },
    { metric: "e_logw", direction: "closer", target: "exact_log_z", tolerance: 0.01, relTolerance: 0 },
  ],
};

function cell(name: string, seeds: number[], values: Record<string, number[]>): CellValues {
  const axes = { cv: name };
  return { key: JSON.stringify(axes), label: `cv=${name}`, axes, seeds, values };
}

function baselineOf(cells: CellValues[], over: Partial<Baseline> = {}): Baseline {
  return {
    format: BASELINE_FORMAT,
    sweep: "t",
    specHash: "0123456789abcdef",
    commit: "abc",
    createdAt: "2026-01-01T00:00:00Z",
    environment: { os: "linux" },
    backend: ["wasm"],
    gate: GATE,
    constants: { lr: 0.001 },
    cells,
    ...over,
  };
}

const KL = [0.10, 0.11, 0.09, 0.105, 0.095];
const Z = [5, 5, 5, 5, 5];
const LOGW = [4.9, 4.91, 4.89, 4.905, 4.895];
const MODES = [4, 4, 3, 4, 4];
const cellA = cell("a", [0, 1, 2, 3, 4], { exact_kl: KL, modes_found: MODES, e_logw: LOGW, exact_log_z: Z });
const cellB = cell("b", [0, 1, 2, 3, 4], { exact_kl: KL, modes_found: MODES, e_logw: LOGW, exact_log_z: Z });

Deno.test("baseline file: written one line per list, read back equal; malformed files are one-line errors", () => {
  const b = baselineOf([cellA, cellB]);
  const text = formatBaseline(b);
  assert.match(text, /"exact_kl": \[0\.1, 0\.11, 0\.09, 0\.105, 0\.095\]/);
  assert.match(text, /"backend": \["wasm"\]/);
  assert.deepEqual(parseBaseline(text), b);
  const bad: [string, RegExp][] = [
    ["{", /not JSON/],
    ["[]", /not a JSON object/],
    [JSON.stringify({ ...b, format: "x" }), /"format" must be "flowsweep-baseline\/1"/],
    [JSON.stringify({ ...b, specHash: "" }), /"specHash" must be a non-empty string/],
    [JSON.stringify({ ...b, cells: [] }), /"cells" must be a non-empty list/],
    [
      JSON.stringify({ ...b, cells: [{ ...cellA, values: { exact_kl: [1, 2] } }] }),
      /cells\[0\]\.values\.exact_kl must list one number \(or null\) per seed/,
    ],
  ];
  for (const [t, re] of bad) {
    assert.throws(() => parseBaseline(t), (e: Error) => re.test(e.message) && !e.message.includes("\n"), t);
  }
});

Deno.test("compare: an identical rerun passes with p = 1; a worse cell is named, a better one reported", () => {
  const b = baselineOf([cellA, cellB]);
  const same = compareToBaseline(GATE, b, [cellA, cellB]);
  assert.equal(same.status, "pass");
  assert.equal(same.tests, 6);
  assert.ok(same.comparisons.every((c) => c.worse === 0 && c.pWorseHolm === 1 && c.verdict === "ok"));

  const worseKl = cell("a", [5, 6, 7, 8, 9], {
    exact_kl: KL.map((v) => v + 0.05),
    modes_found: MODES,
    e_logw: LOGW,
    exact_log_z: Z,
  });
  const betterLogw = cell("b", [5, 6, 7, 8, 9], {
    exact_kl: KL,
    modes_found: MODES,
    e_logw: LOGW.map((v) => v + 0.08),
    exact_log_z: Z,
  });
  const o = compareToBaseline(GATE, b, [worseKl, betterLogw]);
  assert.equal(o.status, "regressed");
  assert.deepEqual(o.regressions.map((c) => [c.cell, c.metric]), [["cv=a", "exact_kl"]]);
  assert.deepEqual(o.improvements.map((c) => [c.cell, c.quantity]), [["cv=b", "|exact_log_z − e_logw|"]]);
  const r = o.regressions[0];
  assert.ok(Math.abs(r.worse - 0.05) < 1e-12 && Math.abs(r.relWorse - 0.5) < 1e-9);
  assert.ok(r.d > 5 && r.pWorseHolm < 0.001, `${r.d} ${r.pWorseHolm}`);
  assert.ok(Math.abs(o.improvements[0].worse + 0.08) < 1e-9, "closer: the distance to log Z shrank by 0.08");
});

Deno.test("compare: 'higher' is oriented (fewer modes is worse); the tolerance absorbs small changes", () => {
  const b = baselineOf([cellA]);
  const fewer = cell("a", [0, 1, 2, 3, 4], { ...cellA.values, modes_found: [2, 2, 1, 2, 2] });
  const o = compareToBaseline(GATE, b, [fewer]);
  assert.deepEqual(o.regressions.map((c) => c.metric), ["modes_found"]);
  assert.ok(o.regressions[0].worse > 0 && o.regressions[0].change < 0);
  // exact_kl 8% worse with a 10% relative tolerance: not a regression, however certain.
  const slightly = cell("a", [0, 1, 2, 3, 4], { ...cellA.values, exact_kl: KL.map((v) => v * 1.08) });
  assert.equal(compareToBaseline(GATE, b, [slightly]).status, "pass");
  const clearly = cell("a", [0, 1, 2, 3, 4], { ...cellA.values, exact_kl: KL.map((v) => v * 1.3) });
  assert.equal(compareToBaseline(GATE, b, [clearly]).status, "regressed");
});

function record(id: string, cv: string, seed: number, final: Record<string, number> | null): JobRecord {
  return {
    id,
    sweep: "t",
    stage: "main",
    kind: "train",
    config: { cv, seed, lr: 0.001 },
    status: final ? "done" : "failed",
    attempts: 1,
    error: final ? undefined : "boom",
    final: final ?? undefined,
    history: [],
  };
}

Deno.test("cannot compare: each case is one line naming what is wrong", () => {
  const b = baselineOf([cellA, cellB]);
  const run = { sweep: "t", specHash: "0123456789abcdef", records: [] as JobRecord[], cells: [cellA, cellB] };
  assert.equal(cannotCompare(GATE, b, run), null);
  const cases: [Parameters<typeof cannotCompare>[2], RegExp][] = [
    [{ ...run, sweep: "u" }, /baseline is of sweep "t", the run of sweep "u"/],
    [{ ...run, specHash: "ffffffffffffffff" }, /spec hash 0123456789abcdef .* the run's spec hashes to ffff/],
    [{ ...run, specHash: null }, /records no spec hash/],
    [{ ...run, records: [record("j1", "a", 0, null)] }, /1 of 1 jobs failed \(first: j1: boom\)/],
    [
      { ...run, records: [{ ...record("j1", "a", 0, {}), status: "queued" }] },
      /1 of 1 jobs have not finished \(queued\)/,
    ],
    [{ ...run, cells: [cellA] }, /1 baseline cell\(s\) missing from the run: \(cv=b\)/],
    [{ ...run, cells: [cellA, cellB, cell("c", [0], {})] }, /1 run cell\(s\) not in the baseline: \(cv=c\)/],
    [
      {
        ...run,
        cells: [cellA, cell("b", [0, 1], { exact_kl: [1, 2], modes_found: [1, 2], e_logw: [1, 2] })],
      },
      /the run has no "exact_log_z" values \(cell cv=b\)/,
    ],
    [
      {
        ...run,
        cells: [
          cellA,
          cell("b", [0], { ...cellB.values, exact_kl: [0.1, null, null, null, null] as number[] }),
        ],
      },
      /cell \(cv=b\) has 1 seed\(s\) with exact_kl in the run; the gate needs at least 2/,
    ],
  ];
  for (const [r, re] of cases) {
    const msg = cannotCompare(GATE, b, r);
    assert.ok(msg !== null && re.test(msg) && !msg.includes("\n"), `${re}: ${msg}`);
  }
  const noMetric = baselineOf([
    cellA,
    cell("b", [0, 1, 2, 3, 4], { exact_kl: KL, exact_log_z: Z, e_logw: LOGW }),
  ]);
  assert.match(
    cannotCompare(GATE, noMetric, run)!,
    /the baseline has no "modes_found" values.*refresh the baseline/,
  );
});

// ---------------------------------------------------------------------------------------------------------
// False alarms: simulated reruns of the committed regression baseline

const committed = parseBaseline(await Deno.readTextFile(`${root}sweeps/baselines/regression.json`));
const regressionPlan = loadSweep(
  await Deno.readTextFile(`${root}sweeps/regression.yaml`),
  "sweeps/regression.yaml",
);

Deno.test("the committed baseline is of the committed regression spec (same spec hash, every gated metric)", () => {
  assert.equal(
    committed.specHash,
    regressionPlan.specHash,
    "refresh: gate runs/regression --update-baseline",
  );
  assert.ok(regressionPlan.gate);
  assert.equal(
    cannotCompare(regressionPlan.gate!, committed, {
      sweep: "regression",
      specHash: regressionPlan.specHash,
      records: [],
      cells: committed.cells,
    }),
    null,
  );
});

/** A rerun with fresh seeds, simulated by drawing each cell's seeds with replacement from the baseline's. */
function resampled(rng: Rng, b: Baseline): CellValues[] {
  return b.cells.map((c) => {
    const pick = c.seeds.map(() => rng.int(c.seeds.length));
    const values = Object.fromEntries(Object.entries(c.values).map(([m, v]) => [m, pick.map((i) => v[i])]));
    return { ...c, seeds: pick.map((i) => 1000 + c.seeds[i]), values };
  });
}

/** A rerun from the normal model of each cell (baseline mean and sd per value), baseline redrawn too. */
function normalRerun(rng: Rng, b: Baseline): CellValues[] {
  return b.cells.map((c) => {
    const values = Object.fromEntries(
      Object.entries(c.values).map(([m, v]) => {
        const xs = v.filter((x): x is number => x !== null);
        const mu = xs.reduce((a, x) => a + x, 0) / xs.length;
        const sd = Math.sqrt(xs.reduce((a, x) => a + (x - mu) ** 2, 0) / (xs.length - 1));
        return [m, v.map(() => mu + sd * rng.normal())];
      }),
    );
    return { ...c, values };
  });
}

Deno.test("false alarms: 400 simulated reruns of the committed baseline are called regressions at most α of the time", () => {
  const gate = regressionPlan.gate!;
  const exact: GateSpec = {
    ...gate,
    metrics: gate.metrics.map((m) => ({ ...m, tolerance: 0, relTolerance: 0 })),
  };
  const N = 400;
  const reruns = (rng: Rng) => ({ base: committed, now: resampled(rng, committed) });
  const fresh = (rng: Rng) => ({
    base: { ...committed, cells: normalRerun(rng, committed) },
    now: normalRerun(rng, committed),
  });
  // Welch's test is approximate under the normal model: there the rate without a tolerance may exceed α by
  // Monte Carlo error (3 standard errors). Every other rate must be ≤ α.
  const slack = 3 * Math.sqrt(gate.alpha * (1 - gate.alpha) / N);
  const scenarios = [
    { name: "resampled seeds", gate, draw: reruns, bound: gate.alpha },
    { name: "resampled seeds, no tolerance", gate: exact, draw: reruns, bound: gate.alpha },
    { name: "normal model, both redrawn", gate, draw: fresh, bound: gate.alpha },
    { name: "normal model, both redrawn, no tolerance", gate: exact, draw: fresh, bound: gate.alpha + slack },
  ];
  const rates: Record<string, number> = {};
  for (const sc of scenarios) {
    const rng = new Rng(2024);
    let alarms = 0;
    for (let i = 0; i < N; i++) {
      const { base, now } = sc.draw(rng);
      if (compareToBaseline(sc.gate, base, now).status === "regressed") alarms++;
    }
    rates[sc.name] = alarms / N;
    assert.ok(rates[sc.name] <= sc.bound, `${sc.name}: ${rates[sc.name]} > ${sc.bound}`);
  }
  console.log(`false-alarm rates over ${N} simulated reruns (α = ${gate.alpha}): ${JSON.stringify(rates)}`);
});

// ---------------------------------------------------------------------------------------------------------
// The CLI on synthetic run directories (no training): exit codes and their one line

interface FakeJob {
  cv: string;
  seed: number;
  final?: Record<string, number | string>;
  status?: "done" | "failed" | "queued";
}

function fakeRun(dir: string, jobs: FakeJob[], meta: { hash?: string; gate?: GateSpec | null } = {}): void {
  Deno.mkdirSync(dir, { recursive: true });
  const st = openStore(dir);
  try {
    st.setMeta({ name: "t", layouts: [], createdAt: 0 });
    if (meta.hash !== undefined || !("hash" in meta)) {
      st.setValue("spec_hash", meta.hash ?? "0123456789abcdef");
    }
    if (meta.gate !== null) st.setValue("gate", meta.gate ?? GATE);
    st.setValue("varied", ["cv", "seed"]);
    const js: Job[] = jobs.map((j, i) => ({
      id: `job${i}`,
      sweep: "t",
      stage: "main",
      kind: "train",
      config: { cv: j.cv, seed: j.seed, lr: 0.001 },
    }));
    st.addJobs(js.map((job, seq) => ({ job, deps: [], seq })));
    jobs.forEach((j, i) => {
      if (j.status === "queued") return;
      st.markRunning(`job${i}`, "w", 1);
      if (j.status === "failed") st.markFailed(`job${i}`, "w", 1, "worker crashed");
      else st.markDone(`job${i}`, "w", 1, { backend: "wasm", ...j.final });
    });
  } finally {
    st.close();
  }
}

function jobsOf(c: CellValues, shift: (m: string, v: number) => number = (_m, v) => v): FakeJob[] {
  return c.seeds.map((seed, i) => ({
    cv: String(c.axes.cv),
    seed,
    final: Object.fromEntries(Object.entries(c.values).map(([m, v]) => [m, shift(m, v[i]!)])),
  }));
}

Deno.test("gate CLI: exit 0 / 1 / 2 on synthetic runs; the regression names cells with baseline vs now, d and p", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const baseFile = `${dir}/base.json`;
    await Deno.writeTextFile(baseFile, formatBaseline(baselineOf([cellA, cellB])));
    const gate = (run: string, ...extra: string[]) =>
      runMain(["gate", run, "--baseline", baseFile, ...extra]);

    fakeRun(`${dir}/same`, [...jobsOf(cellA), ...jobsOf(cellB)]);
    let r = await gate(`${dir}/same`, "--markdown", `${dir}/summary.md`);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /gate t: no regression in 6 cell × metric tests/);
    assert.match(
      await Deno.readTextFile(`${dir}/summary.md`),
      /## ✅ Regression gate: t[^]*\| cv=a \| exact_kl \|/,
    );

    fakeRun(`${dir}/worse`, [...jobsOf(cellA, (m, v) => m === "exact_kl" ? v * 2 : v), ...jobsOf(cellB)]);
    r = await gate(`${dir}/worse`, "--markdown", `${dir}/summary.md`);
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stdout, /REGRESSED: 1 of 6 cell × metric tests worse/);
    assert.match(
      r.stdout,
      /regressed \(cv=a\) exact_kl: 0\.1 ± 0\.007906 \(n=5\) → 0\.2 ± 0\.01581 \(n=5\); worse by \+0\.1, \+100%, d = 8(\.\d+)?, tolerance 0\.01, p = [0-9.e-]+ \(Holm\)/,
    );
    assert.match(
      await Deno.readTextFile(`${dir}/summary.md`),
      /## ❌ Regression gate: t[^]*\*\*regressed\*\*/,
    );

    const json = await gate(`${dir}/worse`, "--json");
    const parsed = JSON.parse(json.stdout);
    assert.equal(parsed.status, "regressed");
    assert.equal(parsed.comparisons.find((c: { verdict: string }) => c.verdict === "regressed").cell, "cv=a");

    // Cannot compare: exit 2, one line on stderr each, and the Markdown says so too.
    fakeRun(`${dir}/failed`, [
      ...jobsOf(cellA),
      ...jobsOf(cellB).map((j, i) => i ? j : { ...j, status: "failed" as const }),
    ]);
    fakeRun(`${dir}/open`, [
      ...jobsOf(cellA),
      ...jobsOf(cellB).map((j, i) => i ? j : { ...j, status: "queued" as const }),
    ]);
    fakeRun(`${dir}/missing`, jobsOf(cellA));
    fakeRun(`${dir}/hash`, [...jobsOf(cellA), ...jobsOf(cellB)], { hash: "fedcba9876543210" });
    fakeRun(`${dir}/nogate`, [...jobsOf(cellA), ...jobsOf(cellB)], { gate: null });
    await Deno.writeTextFile(`${dir}/notjson.json`, "{ nope");
    await Deno.writeTextFile(`${dir}/wrongformat.json`, JSON.stringify({ format: "other" }));
    const cases: [string[], RegExp][] = [
      [[`${dir}/failed`], /^gate: cannot compare: 1 of 10 jobs failed \(first: job5: worker crashed\)/],
      [[`${dir}/open`], /^gate: cannot compare: 1 of 10 jobs have not finished \(queued\)/],
      [[`${dir}/missing`], /^gate: cannot compare: 1 baseline cell\(s\) missing from the run: \(cv=b\)/],
      [
        [`${dir}/hash`],
        /^gate: cannot compare: the baseline is of spec hash 0123456789abcdef .*fedcba9876543210/,
      ],
      [[`${dir}/nogate`], /^gate: cannot compare: the spec of .*nogate has no gate: section/],
      [
        [`${dir}/same`, "--baseline", `${dir}/notjson.json`],
        /^gate: cannot compare: baseline .* is not a flowsweep baseline: not JSON/,
      ],
      [[`${dir}/same`, "--baseline", `${dir}/wrongformat.json`], /"format" must be "flowsweep-baseline\/1"/],
      [[`${dir}/same`, "--baseline", `${dir}/absent.json`], /^error: cannot read baseline .*absent\.json/],
      [[`${dir}/nothere`], /^error: .*nothere holds no sweep/],
    ];
    for (const [args, re] of cases) {
      const res = await runMain([
        "gate",
        args[0],
        "--baseline",
        baseFile,
        ...args.slice(1),
        "--markdown",
        `${dir}/cc.md`,
      ]);
      assert.equal(res.code, 2, `${args}: ${res.stderr}`);
      const lines = res.stderr.trim().split("\n");
      assert.equal(lines.length, 1, `one line: ${res.stderr}`);
      assert.match(lines[0], re);
      assert.equal(res.stdout, "");
    }
    assert.match(
      await Deno.readTextFile(`${dir}/cc.md`),
      /## ⚠️ Regression gate: t\n\n\*\*Cannot compare:\*\* 1 of 10 jobs failed/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------------------
// Real runs of a small gated spec: a rerun passes, other seeds pass, a changed spec cannot be compared

Deno.test("gate on real runs: sweep --write-baseline, a rerun and a rerun with other seeds pass; an edited spec is refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/small.yaml`, SMALL);
    await Deno.writeTextFile(`${dir}/seeds.yaml`, SMALL.replace("seeds: 4", "seeds: [20, 21, 22, 23]"));
    await Deno.writeTextFile(`${dir}/edited.yaml`, SMALL.replace("steps: 60", "steps: 30"));
    const sweep = (spec: string, run: string, ...extra: string[]) =>
      runMain([
        "sweep",
        `${dir}/${spec}`,
        "--run-dir",
        `${dir}/${run}`,
        "--progress",
        "none",
        "--no-report",
        ...extra,
      ]);
    let r = await sweep("small.yaml", "a", "--write-baseline", `${dir}/base.json`);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /gate: wrote .*base\.json: 2 cells × 2 metrics, 8 jobs, spec hash [0-9a-f]{16}/);
    const base = parseBaseline(await Deno.readTextFile(`${dir}/base.json`));
    assert.deepEqual(base.cells.map((c) => [c.label, c.seeds]), [["cv=learned", [0, 1, 2, 3]], [
      "cv=loo-logz",
      [0, 1, 2, 3],
    ]]);

    for (const [spec, run] of [["small.yaml", "b"], ["seeds.yaml", "c"]]) {
      assert.equal((await sweep(spec, run)).code, 0);
      r = await runMain(["gate", `${dir}/${run}`, "--baseline", `${dir}/base.json`]);
      assert.equal(r.code, 0, `${spec}: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /no regression in 4 cell × metric tests/);
    }
    // The same seeds again: bit-identical numbers, so every change is exactly 0.
    const same = JSON.parse(
      (await runMain(["gate", `${dir}/b`, "--baseline", `${dir}/base.json`, "--json"])).stdout,
    );
    assert.ok(same.comparisons.every((c: { worse: number }) => c.worse === 0));

    assert.equal((await sweep("edited.yaml", "d")).code, 0);
    r = await runMain(["gate", `${dir}/d`, "--baseline", `${dir}/base.json`]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^gate: cannot compare: the baseline is of spec hash .* the spec changed/);

    // --update-baseline from a run refreshes the file (the improved code's numbers become the reference).
    r = await runMain(["gate", `${dir}/c`, "--baseline", `${dir}/base2.json`, "--update-baseline"]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(parseBaseline(await Deno.readTextFile(`${dir}/base2.json`)).cells[0].seeds, [
      20,
      21,
      22,
      23,
    ]);
    // A spec without a gate section cannot write a baseline: refused before anything runs.
    await Deno.writeTextFile(`${dir}/nogate.yaml`, SMALL.replace(/gate:[^]*$/, ""));
    r = await sweep("nogate.yaml", "e", "--write-baseline", `${dir}/x.json`);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^error: --write-baseline: .*nogate\.yaml has no gate: section/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// ---------------------------------------------------------------------------------------------------------
// The CI workflow

Deno.test("workflow: valid YAML, on a schedule and on demand; its commands are the README's and the docs'", async () => {
  const { parse } = await import("yaml");
  const wf = parse(await Deno.readTextFile(`${root}.github/workflows/regression.yml`));
  assert.equal(wf.on.schedule[0].cron.trim().split(/\s+/).length, 5, "a five-field cron");
  assert.ok("workflow_dispatch" in wf.on);
  const job = wf.jobs.regression;
  const steps: { uses?: string; run?: string; with?: Record<string, string>; if?: string }[] = job.steps;
  assert.ok(steps.some((s) => s.uses?.startsWith("actions/setup-node@")), "Deno comes from npm");
  const cache = steps.find((s) => s.uses?.startsWith("actions/cache@"));
  assert.ok(cache && cache.with!.path.includes(".deno-dir") && job.env.DENO_DIR.endsWith("/.deno-dir"));
  assert.match(cache.with!.key, /hashFiles\('deno\.lock'\)/);
  const cmds = steps.map((s) => s.run ?? "").filter((r) => r.startsWith("npx -y deno@2 task"));
  assert.deepEqual(cmds.map((c) => c.split(" ")[4]), ["sweep", "gate"]);
  assert.match(cmds[0], /--progress lines/);
  const readme = await Deno.readTextFile(`${root}README.md`);
  const docs = await Deno.readTextFile(`${root}docs/regression.md`);
  for (const c of cmds) {
    assert.ok(readme.includes(`\n${c}\n`), `README documents: ${c}`);
    assert.ok(docs.includes(`\n${c}\n`), `docs/regression.md documents: ${c}`);
  }
  // The gate's Markdown goes to the job summary, the run directory is uploaded, whatever the verdict.
  const summary = steps.find((s) => s.run?.includes("$GITHUB_STEP_SUMMARY"));
  assert.ok(summary && summary.if === "always()" && summary.run!.includes("runs/regression/report/gate.md"));
  const upload = steps.find((s) => s.uses?.startsWith("actions/upload-artifact@"));
  assert.ok(upload && upload.if === "always()" && upload.with!.path.startsWith("runs/regression"));
  // The GitLab job in the docs runs the same commands.
  const gitlab = parse(/GitLab CI[^]*?```yaml\n([^]*?)```/.exec(docs)![1]);
  assert.deepEqual(gitlab.regression.script, cmds);
  assert.deepEqual(gitlab.regression.artifacts.paths, ["runs/regression/"]);
});
