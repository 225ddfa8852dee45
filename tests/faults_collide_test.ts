/**
 * Fault suite: sweeps that share one broker (issue 9 item 1, issue 10 item 2). Each case starts its own
 * nats-server on a free port (loopback). Job ids are content hashes of the config, so the same spec under two
 * names, or run twice, produces the same job ids: the wire (subjects, KV keys, `Nats-Msg-Id`) is scoped by
 * sweep run, so neither run's jobs or results are dropped as the other's duplicates.
 */
import assert from "node:assert/strict";
import { startNatsServer } from "./helpers/nats_server.ts";
import { runMain } from "./helpers/cli.ts";
import { openStore } from "../coordinator/store.ts";

function spec(name: string, jobs = 6): string {
  return [
    `name: ${name}`,
    "kind: sleep",
    `matrix: { ms: [30], i: [${[...Array(jobs).keys()].join(", ")}] }`,
    "",
  ]
    .join("\n");
}

function sweepArgs(specFile: string, runDir: string, url: string, extra: string[] = []): string[] {
  return [
    "sweep",
    specFile,
    "--nats",
    url,
    "--workers",
    "1",
    "--run-dir",
    runDir,
    "--progress",
    "none",
    "--no-report",
    ...extra,
  ];
}

/** Per job of a run dir: status, attempts, executions, origin. */
function summary(runDir: string) {
  const st = openStore(runDir, { readOnly: true });
  try {
    return st.jobs().map((j) => ({
      id: j.id,
      status: j.status,
      attempts: j.attempts,
      executions: st.executions(j.id),
      origin: j.origin,
      code: j.code,
      runId: st.value("runId") as string,
    }));
  } finally {
    st.close();
  }
}

Deno.test("faults: two sweeps with the same jobs on one broker at once — another name, and the same name twice — all complete", async () => {
  const srv = await startNatsServer();
  const dir = await Deno.makeTempDir({ prefix: "flowsweep-collide-" });
  try {
    await Deno.writeTextFile(`${dir}/a.yaml`, spec("collide-a"));
    await Deno.writeTextFile(`${dir}/b.yaml`, spec("collide-b"));
    // Same config, other name: identical job ids; then the same spec twice into two run dirs.
    const runs = [
      sweepArgs(`${dir}/a.yaml`, `${dir}/ra`, srv.url),
      sweepArgs(`${dir}/b.yaml`, `${dir}/rb`, srv.url),
      sweepArgs(`${dir}/a.yaml`, `${dir}/ra2`, srv.url),
    ];
    const outs = await Promise.all(runs.map((args) => runMain(args)));
    for (const o of outs) assert.equal(o.code, 0, o.stderr);
    const sums = ["ra", "rb", "ra2"].map((r) => summary(`${dir}/${r}`));
    assert.deepEqual(sums[0].map((j) => j.id), sums[1].map((j) => j.id), "same job ids under both names");
    const runIds = new Set(sums.map((s) => s[0].runId));
    assert.equal(runIds.size, 3, "each run has its own id");
    for (const s of sums) {
      assert.equal(s.length, 6);
      for (const j of s) {
        // Each run ran each of its jobs itself (local workers serve every sweep on the broker, so a job of one
        // run may be handed back when another run's workers stop, and run again: attempts count executions).
        assert.equal(j.status, "done");
        assert.ok(j.executions >= 1 && j.attempts === j.executions, JSON.stringify(j));
        assert.deepEqual(j.origin, { run: j.runId });
        assert.match(j.code ?? "", /^engine-[0-9a-f]{12}$/);
      }
    }
  } finally {
    await srv.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("faults: a second NATS sweep of the same spec on the same broker runs its jobs again; --reuse takes the stored results and says where from", async () => {
  const srv = await startNatsServer();
  const dir = await Deno.makeTempDir({ prefix: "flowsweep-rerun-" });
  try {
    // Real (short) training jobs: the second run must train, not return the first run's numbers.
    await Deno.writeTextFile(
      `${dir}/s.yaml`,
      [
        "name: again",
        "base: { task: ising, L: 3, beta: 0.3, objective: atb, cv: learned, steps: 30, batch: 16, hidden: [8], eval_every: 30, eval_samples: 64 }",
        "seeds: 2",
        "",
      ].join("\n"),
    );
    const first = await runMain(sweepArgs(`${dir}/s.yaml`, `${dir}/r1`, srv.url));
    assert.equal(first.code, 0, first.stderr);
    const second = await runMain(sweepArgs(`${dir}/s.yaml`, `${dir}/r2`, srv.url));
    assert.equal(second.code, 0, second.stderr);
    const s1 = summary(`${dir}/r1`);
    const s2 = summary(`${dir}/r2`);
    assert.equal(s2.length, 2);
    for (const j of s2) {
      assert.deepEqual([j.status, j.executions], ["done", 1], "trained again in the new run");
      assert.deepEqual(j.origin, { run: j.runId });
    }
    assert.notEqual(s1[0].runId, s2[0].runId);
    // Deterministic training: the same numbers, computed twice.
    const finals = (d: string) => {
      const st = openStore(d, { readOnly: true });
      try {
        // Metrics only: wall-clock fields (seconds, ms per step) differ between runs of the same job.
        return st.jobs().map((j) =>
          Object.fromEntries(Object.entries(j.final ?? {}).filter(([k]) => !/seconds|ms_per/.test(k)))
        );
      } finally {
        st.close();
      }
    };
    assert.deepEqual(finals(`${dir}/r2`), finals(`${dir}/r1`));
    // …by a second training: its wall-clock time is its own (a result returned from run 1 would carry run 1's).
    const seconds = (d: string) => {
      const st = openStore(d, { readOnly: true });
      try {
        return st.jobs().map((j) => j.final?.seconds);
      } finally {
        st.close();
      }
    };
    const [t1, t2] = [seconds(`${dir}/r1`), seconds(`${dir}/r2`)];
    for (let i = 0; i < t1.length; i++) {
      assert.notEqual(t2[i], t1[i], "trained again, not returned from run 1");
    }

    // Asked for: results reused from the broker, nothing executed, the origin recorded.
    const third = await runMain(sweepArgs(`${dir}/s.yaml`, `${dir}/r3`, srv.url, ["--reuse"]));
    assert.equal(third.code, 0, third.stderr);
    const s3 = summary(`${dir}/r3`);
    for (const j of s3) {
      assert.equal(j.status, "done");
      assert.equal(j.executions, 0, "reused, not run");
      assert.equal(j.origin?.reused, true);
      assert.equal(j.origin?.sweep, "again");
      assert.ok([s1[0].runId, s2[0].runId].includes(j.origin?.run as string), JSON.stringify(j.origin));
      assert.match(j.code ?? "", /^engine-[0-9a-f]{12}$/);
    }
    assert.deepEqual(finals(`${dir}/r3`), finals(`${dir}/r1`));

    // --reuse without --nats: refused before anything is written.
    const bad = await runMain(["sweep", `${dir}/s.yaml`, "--reuse", "--run-dir", `${dir}/r4`]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--reuse needs --nats/);
    assert.throws(() => Deno.statSync(`${dir}/r4`));
  } finally {
    await srv.stop();
    await Deno.remove(dir, { recursive: true });
  }
});
