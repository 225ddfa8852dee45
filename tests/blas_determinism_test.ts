/**
 * A clean rerun must not differ with the BLAS thread count (issue 11): the same train jobs run embedded (two
 * local workers in one process) and by a NATS worker process (`--concurrency 1`, which used to give OpenBLAS
 * every core) give bit-identical final metrics. Needs OpenBLAS and nats-server (.ci/run installs both).
 */
import assert from "node:assert/strict";
import { loadBlasGemm } from "../backends/blas.ts";
import { openStore } from "../coordinator/store.ts";
import { natsServerBinary, startNatsServer } from "./helpers/nats_server.ts";
import { runMain } from "./helpers/cli.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const haveNats = (() => {
  try {
    return Deno.statSync(natsServerBinary()).isFile;
  } catch {
    return false;
  }
})();

const SPEC = `name: blas-determinism
base: { task: ising, L: 3, beta: 0.4, alpha: 0, objective: akl, steps: 40, batch: 128, hidden: [64, 64], eval_every: 40, eval_samples: 256 }
matrix:
  cv: [loo-logz, opt-vector]
seeds: 2
`;

/** Final metrics per job id, without the timings. */
function finals(runDir: string): Map<string, Record<string, unknown>> {
  const st = openStore(runDir, { readOnly: true });
  try {
    return new Map(
      st.records().map((r) => {
        const { seconds: _s, ms_per_step: _m, ...rest } = r.final ?? {};
        return [r.id, rest];
      }),
    );
  } finally {
    st.close();
  }
}

Deno.test({
  name:
    "blas: the same jobs give bit-identical metrics embedded (2 workers) and on a NATS worker (concurrency 1)",
  ignore: loadBlasGemm() === null || !haveNats,
  fn: async () => {
    const srv = await startNatsServer();
    const dir = await Deno.makeTempDir({ prefix: "flowsweep-blas-det-" });
    let worker: Deno.ChildProcess | null = null;
    try {
      await Deno.writeTextFile(`${dir}/spec.yaml`, SPEC);
      const common = ["--backend", "blas", "--progress", "none", "--no-report"];
      const emb = await runMain([
        "sweep",
        `${dir}/spec.yaml`,
        "--run-dir",
        `${dir}/emb`,
        "--workers",
        "2",
        ...common,
      ]);
      assert.equal(emb.code, 0, emb.stderr);

      worker = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "main.ts",
          "worker",
          "--nats",
          srv.url,
          "--backend",
          "blas",
          "--concurrency",
          "1",
        ],
        cwd: ROOT,
        stdin: "null",
        stdout: "null",
        stderr: "null",
      }).spawn();
      const nats = await runMain([
        "sweep",
        `${dir}/spec.yaml`,
        "--nats",
        srv.url,
        "--run-dir",
        `${dir}/nats`,
        ...common,
      ]);
      assert.equal(nats.code, 0, nats.stderr);

      const a = finals(`${dir}/emb`), b = finals(`${dir}/nats`);
      assert.equal(a.size, 4);
      assert.deepEqual([...b.keys()].sort(), [...a.keys()].sort());
      for (const [id, f] of a) {
        assert.equal(f.backend, "blas");
        assert.deepEqual(b.get(id), f, `job ${id}: embedded and NATS runs differ`);
      }
    } finally {
      if (worker) {
        worker.kill("SIGKILL");
        await worker.status;
      }
      await srv.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
