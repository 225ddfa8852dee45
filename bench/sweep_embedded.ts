/**
 * Embedded coordinator overhead: a sweep of N no-op jobs through the in-process queue, the SQLite store and
 * W local workers (Web Worker threads, or inline on the coordinator thread), reported as jobs/s and
 * milliseconds of overhead per job. Also the same for `sleep` jobs to show the workers run in parallel.
 *   npx -y deno@2 run -A bench/sweep_embedded.ts [--jobs 1000] [--workers 2] [--json]
 */
import { benchCommand, parseBench, positiveInt } from "./cli.ts";
import { loadSweep } from "../core/sweep/expand.ts";
import { runSweep } from "../coordinator/run.ts";
import { MemoryQueue } from "../transport/memory.ts";

const { jobs, workers, json } = parseBench<{ jobs: number; workers: number; json?: boolean }>(
  benchCommand(
    "sweep_embedded.ts",
    "embedded coordinator overhead: no-op and sleep sweeps through the in-process queue",
  )
    .option("--jobs <n>", "jobs per sweep", positiveInt, 1000)
    .option("--workers <n>", "local workers", positiveInt, 2)
    .option("--json", "one JSON object per case"),
);
const values = { json: json ?? false };

async function bench(name: string, yaml: string, mode: "thread" | "inline", count: number) {
  const plan = loadSweep(yaml, `${name}.yaml`);
  const dir = Deno.makeTempDirSync({ prefix: "sweep-bench-" });
  try {
    const q = new MemoryQueue();
    const t0 = performance.now();
    const out = await runSweep({
      spec: plan,
      runDir: dir,
      queue: q,
      workers: { count, source: (n) => q.source(n), mode },
    });
    const seconds = (performance.now() - t0) / 1000;
    await q.close();
    if (out.status !== "done") throw new Error(`${name}: ${out.status}`);
    return {
      case: name,
      mode,
      workers: count,
      jobs: plan.jobs.length,
      seconds,
      jobs_per_s: plan.jobs.length / seconds,
    };
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

const noop = `name: bench\nkind: noop\nmatrix: {i: [${
  Array.from({ length: jobs }, (_, i) => i).join(", ")
}]}\n`;
const sleeps = `name: bench-sleep\nkind: sleep\nmatrix: {ms: [200]}\nseeds: ${4 * workers}\n`;
const results = [
  await bench(`noop x${jobs}`, noop, "thread", workers),
  await bench(`noop x${jobs}`, noop, "inline", workers),
  await bench(`noop x${jobs}`, noop, "thread", 1),
  await bench(`sleep 200ms x${4 * workers}`, sleeps, "thread", workers),
];
if (values.json) console.log(JSON.stringify(results));
else {
  for (const r of results) {
    console.log(
      `${r.case.padEnd(20)} ${r.mode.padEnd(6)} workers=${r.workers}  ${r.seconds.toFixed(2)} s  ` +
        `${r.jobs_per_s.toFixed(0)} jobs/s  ${(1000 / r.jobs_per_s).toFixed(2)} ms/job`,
    );
  }
  const s = results[3];
  console.log(
    `sleep case: ideal (perfectly parallel) ${(4 * 0.2).toFixed(2)} s, measured ${s.seconds.toFixed(2)} s`,
  );
}
