import assert from "node:assert/strict";
import { openStore } from "../coordinator/store.ts";
import type { Job } from "../core/sweep/job.ts";

function job(id: string, config: Record<string, unknown> = {}): Job {
  return { id, sweep: "s", stage: "main", kind: "noop", config };
}

Deno.test("store: jobs, history, results and counts round-trip through SQLite", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const st = openStore(dir);
    st.setMeta({
      name: "s",
      layouts: [{ rows: ["objective"], columns: ["beta"], metric: "e_logw", decimals: 2 }],
      createdAt: 5,
    });
    assert.equal(
      st.addJobs([{ job: job("a", { seed: 0 }), deps: [], seq: 0 }, {
        job: { ...job("b", { seed: 1 }), inputs: { energy: "a/energy" } },
        deps: ["a"],
        seq: 1,
      }, { job: job("c"), deps: [], seq: 2 }]),
      3,
    );
    // re-adding is a no-op
    assert.equal(st.addJobs([{ job: job("a", { seed: 9 }), deps: [], seq: 0 }]), 0);
    st.markRunning("a", "w1", 1);
    st.appendHistory("a", 1, { step: 0, e_logw: -3 });
    st.markRunning("a", "w1", 2); // retry drops attempt-1 history
    st.appendHistory("a", 2, { step: 0, e_logw: -2.5 });
    st.appendHistory("a", 2, { step: 100, e_logw: NaN });
    st.markDone("a", "w1", 2, { e_logw: -1.25, final: true, x: Infinity });
    st.markRunning("b", "w2", 1);
    st.markFailed("b", "w2", 1, "boom");
    assert.deepEqual(st.counts(), { total: 3, done: 1, failed: 1, running: 0, queued: 1 });
    st.close();

    const ro = openStore(dir, { readOnly: true });
    const recs = ro.records();
    assert.deepEqual(recs.map((r) => [r.id, r.status, r.attempts]), [["a", "done", 2], ["b", "failed", 1], [
      "c",
      "queued",
      0,
    ]]);
    assert.deepEqual(recs[0].config, { seed: 0 });
    assert.deepEqual(recs[0].final, { e_logw: -1.25, final: true, x: Infinity });
    assert.equal(recs[0].history.length, 2);
    assert.deepEqual(recs[0].history[0], { step: 0, e_logw: -2.5 });
    assert.ok(Number.isNaN(recs[0].history[1].e_logw));
    assert.equal(recs[1].error, "boom");
    assert.equal(recs[1].worker, "w2");
    assert.deepEqual(ro.job("b")?.inputs, { energy: "a/energy" });
    assert.deepEqual(ro.job("b")?.deps, ["a"]);
    assert.equal(ro.executions("a"), 2);
    assert.deepEqual(ro.layouts(), [{
      rows: ["objective"],
      columns: ["beta"],
      metric: "e_logw",
      decimals: 2,
    }]);
    assert.equal(ro.meta()?.name, "s");
    ro.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("store: requeue moves only running jobs back to queued", () => {
  const dir = Deno.makeTempDirSync();
  try {
    const st = openStore(dir);
    st.addJobs(["a", "b", "c"].map((id, seq) => ({ job: job(id), deps: [], seq })));
    st.markRunning("a", "w", 1);
    st.markRunning("b", "w", 1);
    st.markDone("b", "w", 1, {});
    assert.equal(st.requeue(["a", "b", "c"]), 1);
    assert.deepEqual(st.jobs().map((j) => j.status), ["queued", "done", "queued"]);
    st.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
