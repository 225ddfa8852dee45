/**
 * Fault suite: jobs that never end and jobs that diverge, in one sweep with jobs that complete — embedded and
 * over NATS (a real nats-server on a free port, a worker process). A stuck job (a thread spinning without
 * ever yielding) is killed at its `timeout` and ends `failed: timeout`; a job whose metrics become NaN ends
 * `failed: diverged at step N`, its history kept with the NaN (not null); the other jobs are done.
 */
import assert from "node:assert/strict";
import { startNatsServer } from "./helpers/nats_server.ts";
import { cli, readRun, workerProc } from "./helpers/faults.ts";

const SPEC = `name: faults-jobs
seeds: 2
stages:
  - {name: ok, kind: sleep, set: {ms: 50}}
  - name: stuck
    kind: sleep
    set: {ms: 600000, busy: true}
    timeout: 2s
  - name: diverge
    kind: train
    set: {task: ising, L: 2, steps: 6, batch: 16, hidden: [8], eval_every: 2, eval_samples: 64, lr: 1.0e+30, lr_logz: 1.0e+30}
`;

function check(runDir: string, text: string) {
  const { counts, records, executions } = readRun(runDir);
  assert.deepEqual(counts, { total: 6, done: 2, failed: 4, running: 0, queued: 0 }, text);
  for (const r of records) {
    assert.equal(executions.get(r.id), 1, `${r.stage} ${r.id} ran once`);
    if (r.stage === "ok") assert.equal(r.status, "done");
    if (r.stage === "stuck") assert.deepEqual([r.status, r.error], ["failed", "timeout"]);
    if (r.stage === "diverge") {
      assert.equal(r.status, "failed");
      assert.match(r.error ?? "", /^diverged at step 2 \(\w+ = NaN\)$/);
      // The history is kept, up to and with the record that diverged; NaN stays NaN.
      assert.deepEqual(r.history.map((h) => h.step), [0, 2]);
      const key = /\((\w+) = NaN\)/.exec(r.error!)![1];
      assert.ok(Number.isNaN(r.history[1][key]), `history ${key}: ${r.history[1][key]}`);
    }
  }
  assert.match(text, /failed [0-9a-f]{16} \(stuck\): timeout/);
  assert.match(text, /failed [0-9a-f]{16} \(diverge\): diverged at step 2/);
}

Deno.test("faults: embedded — timeout and NaN jobs fail with their reasons while the rest complete", async () => {
  const dir = await Deno.makeTempDir({ prefix: "flowsweep-faults-jobs-" });
  try {
    await Deno.writeTextFile(`${dir}/spec.yaml`, SPEC);
    const r = await cli([
      "sweep",
      `${dir}/spec.yaml`,
      "--run-dir",
      `${dir}/run`,
      "--workers",
      "2",
      "--progress",
      "none",
      "--no-report",
      "--backend",
      "cpu",
    ]);
    assert.equal(r.code, 1, r.stderr);
    check(`${dir}/run`, r.stderr);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("faults: NATS — timeout and NaN jobs fail with their reasons while the rest complete", async () => {
  const srv = await startNatsServer();
  const dir = await Deno.makeTempDir({ prefix: "flowsweep-faults-jobs-" });
  const w = workerProc(srv.url, "wF", ["--concurrency", "2", "--backend", "cpu"]);
  try {
    await w.until(/connected to/);
    await Deno.writeTextFile(`${dir}/spec.yaml`, SPEC);
    const r = await cli([
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
    assert.equal(r.code, 1, r.stderr + w.log);
    check(`${dir}/run`, r.stderr);
    // The worker killed the stuck threads and carried on.
    assert.match(w.log, /failed: timeout/);
  } finally {
    await w.stop();
    await srv.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
