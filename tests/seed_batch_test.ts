/**
 * Seed batching wired through sweeps (spec `seed_batch`, core/sweep/seed_batch.ts, docs/spec.md §"Seed
 * batching"): jobs that differ only by seed run as one unit on the device engine (tfjs-cpu here) and are stored
 * as the separate jobs' records — same ids, same metrics to float32 tolerance, per-seed evaluation records;
 * a unit's failure is each seed's; a resumed run after a kill stores each seed once; bad values are one line.
 */
import assert from "node:assert/strict";
import { loadSweep, type SweepPlan } from "../core/sweep/expand.ts";
import {
  groupMembers,
  groupSeeds,
  isSeedGroup,
  packGroupFinal,
  SEED_JOB_KEY,
} from "../core/sweep/seed_batch.ts";
import type { Job, MetricRecord } from "../core/sweep/job.ts";
import { runSweep } from "../coordinator/run.ts";
import { openStore } from "../coordinator/store.ts";
import { MemoryQueue } from "../transport/memory.ts";
import { executeJob, TransientError } from "../workers/execute.ts";
import type { Executor } from "../workers/pool.ts";
import { cli, Proc, readRun, wait, workerProc } from "./helpers/faults.ts";
import { startNatsServer, storedResultCounts } from "./helpers/nats_server.ts";

const SPEC = `name: sb
base: {task: ising, L: 3, beta: 0.4, hidden: [16], batch: 8, steps: 12, eval_every: 6, eval_samples: 32,
       lr: 0.003, objective: atb, cv: learned}
seeds: 4
`;

async function run(
  p: SweepPlan,
  runDir: string,
  opts: { seedBatch?: number; execute?: Executor; signal?: AbortSignal; resume?: boolean } = {},
) {
  const q = new MemoryQueue({ maxAttempts: p.maxAttempts });
  try {
    return await runSweep({
      spec: p,
      runDir,
      queue: q,
      workers: {
        count: 1,
        source: (n) => q.source(n),
        mode: "inline",
        execute: opts.execute ?? executeJob,
        backend: "tfjs-cpu",
      },
      seedBatch: opts.seedBatch,
      signal: opts.signal,
      resume: opts.resume,
    });
  } finally {
    await q.close();
  }
}

function records(runDir: string) {
  const st = openStore(runDir, { readOnly: true });
  try {
    return st.records();
  } finally {
    st.close();
  }
}

/** Relative difference of two metric records over their numeric fields but the timings. */
function maxRel(a: MetricRecord, b: MetricRecord): number {
  let m = 0;
  for (const [k, v] of Object.entries(a)) {
    if (typeof v !== "number" || k === "seconds" || k === "ms_per_step") continue;
    const w = b[k] as number;
    assert.equal(typeof w, "number", `metric ${k} missing`);
    m = Math.max(m, Math.abs(v - w) / Math.max(1e-12, Math.abs(v)));
  }
  return m;
}

Deno.test("seed groups: jobs differing only by seed → units of ≤ K under ids that give back the members", () => {
  const p = loadSweep(`${SPEC}matrix: {beta: [0.2, 0.4]}\n`, "t.yaml");
  const jobs = p.jobs.map((j) => j.job);
  assert.equal(jobs.length, 8);
  const { publish, units } = groupSeeds(jobs, 3);
  // per β: a unit of 3 seeds and the 4th seed as a plain job
  assert.equal(publish.length, 4);
  assert.deepEqual(publish.map(isSeedGroup), [true, false, true, false]);
  for (const u of publish.filter(isSeedGroup)) {
    const members = units.get(u.id)!;
    assert.deepEqual(groupMembers(u).map((m) => m.id), members.map((m) => m.id));
    assert.deepEqual(groupMembers(u).map((m) => m.seed), [0, 1, 2]);
    assert.ok(!members.some((m) => m.id === u.id));
    assert.equal(u.limits?.timeout_s, 3 * members[0].limits!.timeout_s!);
  }
  assert.equal(groupSeeds(jobs, 4).publish.length, 2);
  assert.deepEqual(groupSeeds(jobs, 1).publish, jobs);
  // deterministic: the same jobs give the same units (a resumed run finds them by id)
  assert.deepEqual(
    groupSeeds(jobs, 4).publish.map((j) => j.id),
    groupSeeds(jobs, 4).publish.map((j) => j.id),
  );
});

Deno.test("seed_batch 4 (tfjs-cpu): one unit, 4 records with the separate runs' ids, metrics and histories", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "flowsweep-seedbatch-" });
  try {
    const p = loadSweep(SPEC, "t.yaml");
    const ran: Job[] = [];
    const counting: Executor = (job, ctx) => (ran.push(job), executeJob(job, ctx));
    const batched = await run(p, `${dir}/batched`, { seedBatch: 4, execute: counting });
    assert.equal(batched.status, "done");
    assert.equal(ran.length, 1);
    assert.ok(isSeedGroup(ran[0]));
    ran.length = 0;
    const separate = await run(p, `${dir}/separate`, { execute: counting });
    assert.equal(separate.status, "done");
    assert.equal(ran.length, 4);
    const a = records(`${dir}/batched`), b = records(`${dir}/separate`);
    assert.deepEqual(a.map((r) => r.id), p.jobs.map((j) => j.job.id));
    assert.deepEqual(a.map((r) => r.id), b.map((r) => r.id));
    for (let i = 0; i < a.length; i++) {
      assert.equal(a[i].status, "done");
      assert.deepEqual(a[i].config, b[i].config);
      assert.equal(a[i].attempts, 1);
      assert.deepEqual(Object.keys(a[i].final!).sort(), Object.keys(b[i].final!).sort());
      assert.equal(a[i].final!.backend, "tfjs-cpu");
      const rel = maxRel(b[i].final!, a[i].final!);
      assert.ok(rel <= 1e-5, `seed ${a[i].config.seed}: final metrics differ by ${rel} relative`);
      // per-seed evaluation records: steps 0, 6, 12, as the separate run's, with no unit bookkeeping in them
      assert.deepEqual(a[i].history.map((r) => r.step), [0, 6, 12]);
      assert.deepEqual(a[i].history.map((r) => r.step), b[i].history.map((r) => r.step));
      a[i].history.forEach((r, j) => {
        assert.ok(!(SEED_JOB_KEY in r));
        assert.ok(maxRel(b[i].history[j], r) <= 1e-5, `seed ${a[i].config.seed} step ${r.step}`);
      });
    }
    // the seeds trained apart (the comparison is not between copies of one run)
    assert.notEqual(a[0].final!.exact_kl, a[1].final!.exact_kl);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("seed_batch: a unit's lost attempt is retried as one; a seed's own failure is that seed's", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "flowsweep-seedbatch-" });
  try {
    const p = loadSweep(`${SPEC.replace("steps: 12", "steps: 2")}max_attempts: 2\n`, "t.yaml");
    let calls = 0;
    const flaky: Executor = async (job, ctx) => {
      calls++;
      const members = groupMembers(job);
      for (const m of members) await ctx.onProgress({ step: 0, e_logw: -1, [SEED_JOB_KEY]: m.id });
      if (calls === 1) throw new TransientError("worker lost");
      // the third seed diverged; the others finished
      return packGroupFinal(Object.fromEntries(members.map((m, k) => [
        m.id,
        k === 2 ? { error: "diverged at step 1 (e_logw = NaN)" } : { final: { step: 2, e_logw: k } },
      ])));
    };
    const out = await run(p, `${dir}/run`, { seedBatch: 4, execute: flaky });
    assert.equal(calls, 2);
    assert.equal(out.status, "failed");
    const recs = records(`${dir}/run`);
    assert.deepEqual(recs.map((r) => r.status), ["done", "done", "failed", "done"]);
    assert.deepEqual(recs.map((r) => r.attempts), [2, 2, 2, 2]);
    assert.equal(recs[2].error, "diverged at step 1 (e_logw = NaN)");
    assert.deepEqual(recs.map((r) => r.final?.e_logw), [0, 1, undefined, 3]);
    // each seed's history: the records of its last attempt, once
    assert.deepEqual(recs.map((r) => r.history.length), [1, 1, 1, 1]);

    // a unit that fails outright fails each seed with its reason
    const p2 = loadSweep(SPEC.replace("name: sb", "name: sb2"), "t.yaml");
    const out2 = await run(p2, `${dir}/run2`, {
      seedBatch: 4,
      execute: () => Promise.reject(new Error("out of device memory")),
    });
    assert.equal(out2.counts.failed, 4);
    assert.ok(records(`${dir}/run2`).every((r) => r.error === "out of device memory"));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("seed_batch: bad values and a CPU backend are one-line errors (exit 2, nothing written)", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "flowsweep-seedbatch-" });
  try {
    await Deno.writeTextFile(`${dir}/bad.yaml`, `${SPEC}seed_batch: 0\n`);
    await Deno.writeTextFile(`${dir}/ok.yaml`, `${SPEC}seed_batch: 4\n`);
    await Deno.writeTextFile(`${dir}/gpu.yaml`, `${SPEC}backend: gpu\nseed_batch: 4\n`);
    const cases: [string[], RegExp][] = [
      [[`${dir}/bad.yaml`], /bad\.yaml:\d+:\d+: seed_batch must be an integer in \[1, 1024\], got number 0/],
      [[`${dir}/ok.yaml`, "seed_batch=two"], /override seed_batch=two: seed_batch must be an integer/],
      [
        [`${dir}/ok.yaml`, "--seed-batch", "1.5"],
        /--seed-batch must be an integer in \[1, 1024\], got "1.5"/,
      ],
      [
        [`${dir}/ok.yaml`, "--backend", "wasm"],
        /seed_batch 4 needs a device backend .*backend wasm trains one/,
      ],
      [[`${dir}/ok.yaml`], /seed_batch 4 needs a device backend .*backend auto trains one/],
      [
        [`${dir}/gpu.yaml`],
        /gpu\.yaml: backend must be one of auto\|.*\|webgpu\|tensorflow-gpu\|tfjs-cpu, got "gpu"/,
      ],
      [
        [`${dir}/ok.yaml`, "--backend", "tfjs-cpu", "task=moons"],
        /backend tfjs-cpu: job [0-9a-f]{16} \(stage main\): task moons: the device engine runs/,
      ],
      [
        [`${dir}/ok.yaml`, "--backend", "tfjs-cpu", "behaviour=epsilon"],
        /backend tfjs-cpu: job [0-9a-f]{16} \(stage main\): behaviour policies are not on the device engine/,
      ],
    ];
    for (const [args, re] of cases) {
      const r = await cli(["sweep", ...args, "--run-dir", `${dir}/run`, "--progress", "none"]);
      assert.equal(r.code, 2, r.stderr);
      // (a first run in a fresh Deno cache prints its npm downloads first)
      const lines = r.stderr.trim().split("\n").filter((l) => !l.startsWith("Download "));
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0], re);
    }
    assert.throws(() => Deno.statSync(`${dir}/run`));
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("seed_batch: SIGKILL while a unit runs, then --resume — every seed stored once, as separate runs", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "flowsweep-seedbatch-" });
  try {
    // long enough to be killed mid-run on any machine
    const spec = SPEC.replace("steps: 12", "steps: 600").replace("eval_every: 6", "eval_every: 100");
    await Deno.writeTextFile(`${dir}/s.yaml`, `${spec}backend: tfjs-cpu\nseed_batch: 4\n`);
    const args = [
      "sweep",
      `${dir}/s.yaml`,
      "--run-dir",
      `${dir}/run`,
      "--workers",
      "1",
      "--progress",
      "none",
    ];
    const first = new Proc([...args, "--no-report"]);
    const end = Date.now() + 120_000;
    for (;;) {
      let histories = 0;
      try {
        histories = readRun(`${dir}/run`).records.filter((r) => r.history.length >= 2).length;
      } catch { /* not created yet */ }
      if (histories === 4) break;
      if (Date.now() > end) throw new Error(`the unit never reported:\n${first.log}`);
      await wait(100);
    }
    first.kill("SIGKILL");
    await first.exit();
    const mid = readRun(`${dir}/run`);
    assert.ok(mid.records.every((r) => r.status === "running"), JSON.stringify(mid.counts));
    const r = await cli([...args, "--resume", "--no-report"]);
    assert.equal(r.code, 0, r.stderr);
    const after = readRun(`${dir}/run`);
    assert.equal(after.records.length, 4);
    for (const rec of after.records) {
      assert.equal(rec.status, "done");
      assert.equal(rec.attempts, 2);
      const steps = rec.history.map((h) => h.step as number);
      assert.deepEqual(steps, [...new Set(steps)], "a step stored twice");
      assert.equal(steps.at(-1), 600);
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

/** Waits until every record of the run has at least `n` evaluation records (the unit is reporting). */
async function untilHistories(runDir: string, jobs: number, n: number, log: () => string): Promise<void> {
  const end = Date.now() + 120_000;
  for (;;) {
    let ready = 0;
    try {
      ready = readRun(runDir).records.filter((r) => r.history.length >= n).length;
    } catch { /* not created yet */ }
    if (ready === jobs) return;
    if (Date.now() > end) throw new Error(`the unit never reported:\n${log()}`);
    await wait(100);
  }
}

Deno.test("seed_batch over NATS: the unit's worker SIGKILLed mid-run — redelivered as one, each seed stored once", async () => {
  const srv = await startNatsServer();
  const dir = Deno.makeTempDirSync({ prefix: "flowsweep-seedbatch-nats-" });
  const workers: Proc[] = [];
  const spawn = (name: string) => {
    const w = workerProc(srv.url, name, ["--ack-wait", "2", "--backend", "tfjs-cpu"]);
    workers.push(w);
    return w;
  };
  try {
    // the first worker creates the shared consumer (2 s ack wait: a killed worker's unit comes back soon)
    const first = spawn("wS1");
    await first.until(/connected to/);
    const spec = SPEC.replace("steps: 12", "steps: 400").replace("eval_every: 6", "eval_every: 100");
    await Deno.writeTextFile(`${dir}/s.yaml`, `${spec}backend: tfjs-cpu\nseed_batch: 4\n`);
    const sweep = new Proc([
      "sweep",
      `${dir}/s.yaml`,
      "--nats",
      srv.url,
      "--run-dir",
      `${dir}/run`,
      "--progress",
      "none",
      "--no-report",
    ]);
    await untilHistories(`${dir}/run`, 4, 2, () => sweep.log + first.log);
    first.kill("SIGKILL");
    await first.exit();
    spawn("wS2");
    const st = await sweep.exit();
    assert.equal(st.code, 0, sweep.log);
    const { counts, records: recs } = readRun(`${dir}/run`);
    assert.deepEqual(counts, { total: 4, done: 4, failed: 0, running: 0, queued: 0 });
    const plan = loadSweep(`${spec}backend: tfjs-cpu\nseed_batch: 4\n`, "s.yaml");
    assert.deepEqual(recs.map((r) => r.id), plan.jobs.map((j) => j.job.id));
    for (const rec of recs) {
      assert.equal(rec.attempts, 2, `seed ${rec.config.seed}`);
      assert.equal(rec.worker, "wS2");
      assert.deepEqual(rec.history.map((h) => h.step), [0, 100, 200, 300, 400]);
    }
    // one result message, the unit's: published once for the four seeds
    const stored = await storedResultCounts(srv.url, "sb");
    assert.deepEqual([...stored.values()], [1], JSON.stringify([...stored]));
    assert.ok(!recs.some((r) => stored.has(r.id)));
  } finally {
    for (const w of workers) await w.stop();
    await srv.stop();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("seed_batch over NATS: the coordinator SIGKILLed mid-unit, then --resume — finds the unit again by id", async () => {
  const srv = await startNatsServer();
  const dir = Deno.makeTempDirSync({ prefix: "flowsweep-seedbatch-nats-" });
  const worker = workerProc(srv.url, "wR1", ["--backend", "tfjs-cpu"]);
  try {
    await worker.until(/connected to/);
    const spec = SPEC.replace("steps: 12", "steps: 400").replace("eval_every: 6", "eval_every: 100");
    await Deno.writeTextFile(`${dir}/s.yaml`, `${spec}backend: tfjs-cpu\nseed_batch: 4\n`);
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
    const first = new Proc([...args, "--no-report"]);
    await untilHistories(`${dir}/run`, 4, 2, () => first.log + worker.log);
    first.kill("SIGKILL");
    await first.exit();
    const r = await cli([...args, "--resume", "--no-report"]);
    assert.equal(r.code, 0, r.stderr);
    const { counts, records: recs } = readRun(`${dir}/run`);
    assert.deepEqual(counts, { total: 4, done: 4, failed: 0, running: 0, queued: 0 });
    for (const rec of recs) {
      // the unit ran once, on the worker that had it: the resumed coordinator did not publish it again
      assert.equal(rec.attempts, 1, `seed ${rec.config.seed}`);
      assert.deepEqual(rec.history.map((h) => h.step), [0, 100, 200, 300, 400]);
    }
    assert.equal(worker.log.match(/ attempt \d+ started/g)?.length, 1, worker.log);
    const stored = await storedResultCounts(srv.url, "sb");
    assert.deepEqual([...stored.values()], [1]);
  } finally {
    await worker.stop();
    await srv.stop();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("train --seeds 3,4 --backend tfjs-cpu: both seeds in one program = each seed's own run", async () => {
  const common = [
    "train",
    "--backend",
    "tfjs-cpu",
    "--L",
    "3",
    "--steps",
    "20",
    "--batch",
    "8",
    "--hidden",
    "16",
  ];
  const args = [...common, "--eval-every", "10", "--eval-samples", "32", "--lr", "0.003", "--json"];
  const lines = (out: string) => out.trim().split("\n").map((l) => JSON.parse(l) as MetricRecord);
  const batched = await cli([...args, "--seeds", "3,4"]);
  assert.equal(batched.code, 0, batched.stderr);
  const recs = lines(batched.stdout);
  for (const seed of [3, 4]) {
    const alone = await cli([...args, "--seed", String(seed)]);
    assert.equal(alone.code, 0, alone.stderr);
    const own = lines(alone.stdout);
    const mine = recs.filter((r) => r.seed === seed);
    assert.deepEqual(mine.map((r) => r.step), own.map((r) => r.step)); // 0, 10, 20 and the summary
    mine.forEach((r, i) => assert.ok(maxRel({ ...own[i], seed }, r) <= 1e-5, `seed ${seed} record ${i}`));
  }
  const bad = await cli([...common, "--seeds", "1,2", "--seed-batch", "2", "--backend", "wasm"]);
  assert.equal(bad.code, 2);
  assert.match(
    bad.stderr.trim(),
    /^error: --seed-batch needs a device backend \(.*\); backend wasm trains one/,
  );
  assert.equal(bad.stderr.trim().split("\n").filter((l) => !l.startsWith("Download ")).length, 1);
});

Deno.test("seed_batch --reuse: a unit's result from another run is each seed's; a seed it lacks runs anew", async () => {
  const dir = Deno.makeTempDirSync({ prefix: "flowsweep-seedbatch-" });
  try {
    const p = loadSweep(SPEC, "t.yaml");
    const members = p.jobs.map((j) => j.job);
    const [unit] = groupSeeds(members, 4).publish;
    class Remembering extends MemoryQueue {
      findResults(ids: string[]) {
        const final = packGroupFinal(Object.fromEntries(
          members.slice(0, 3).map((m, k) => [m.id, { final: { step: 12, e_logw: k } }]),
        ));
        const result = {
          jobId: unit.id,
          configId: unit.id,
          worker: "w0",
          attempt: 1,
          status: "done" as const,
          final,
        };
        return Promise.resolve(
          new Map(
            ids.filter((id) => id === unit.id).map((
              id,
            ) => [id, { result, from: { sweep: "sb", run: "r0" } }]),
          ),
        );
      }
    }
    const q = new Remembering({ maxAttempts: 3 });
    const ran: Job[] = [];
    await runSweep({
      spec: p,
      runDir: `${dir}/run`,
      queue: q,
      reuse: true,
      seedBatch: 4,
      workers: {
        count: 1,
        source: (n) => q.source(n),
        mode: "inline",
        execute: (job) => (ran.push(job), Promise.resolve({ step: 12, e_logw: 9 })),
      },
    });
    await q.close();
    // the fourth seed alone: a plain job, not a unit
    assert.deepEqual(ran.map((j) => j.id), [members[3].id]);
    const st = openStore(`${dir}/run`, { readOnly: true });
    const jobs = members.map((m) => st.job(m.id)!);
    st.close();
    assert.deepEqual(jobs.map((j) => j.status), ["done", "done", "done", "done"]);
    assert.deepEqual(jobs.map((j) => j.final?.e_logw), [0, 1, 2, 9]);
    assert.deepEqual(jobs.map((j) => j.origin?.reused ?? false), [true, true, true, false]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("train --seeds 1,2 on the hypergrid (tfjs-cpu): each seed's records, modes found included = its own run", async () => {
  const args = [
    ...["train", "--task", "hypergrid", "--grid-dim", "2", "--grid-size", "8", "--backend", "tfjs-cpu"],
    ...["--steps", "30", "--batch", "16", "--hidden", "16", "--alpha", "0.5", "--lr", "0.004"],
    ...["--eval-every", "15", "--eval-samples", "32", "--json"],
  ];
  const lines = (out: string) => out.trim().split("\n").map((l) => JSON.parse(l) as MetricRecord);
  const batched = await cli([...args, "--seeds", "1,2"]);
  assert.equal(batched.code, 0, batched.stderr);
  const alone = await cli([...args, "--seed", "2"]);
  assert.equal(alone.code, 0, alone.stderr);
  const own = lines(alone.stdout), mine = lines(batched.stdout).filter((r) => r.seed === 2);
  assert.deepEqual(mine.map((r) => r.step), own.map((r) => r.step));
  assert.ok(own.every((r) => typeof r.modes_found === "number"));
  mine.forEach((r, i) => assert.ok(maxRel({ ...own[i], seed: 2 }, r) <= 1e-5, `record ${i}`));
});
