/**
 * Embedded coordinator overhead: a sweep of N no-op jobs through the in-process queue, the SQLite store and
 * W local workers (Web Worker threads, or inline on the coordinator thread), reported as jobs/s, CPU
 * milliseconds per job (the one process: coordinator, queue, store and workers) and the 1-minute load
 * average (the machine is shared). Also the same for `sleep` jobs to show the workers run in parallel, and the
 * queue's latency: `--latency` single no-op jobs one after another through the in-process queue and a local
 * worker slot (publish → result event), median / p90 / p99.
 *   npx -y deno@2 run -A bench/sweep_embedded.ts [--jobs 1000] [--workers 2] [--latency 200] [--json]
 */
import { benchCommand, parseBench, positiveInt } from "./cli.ts";
import { loadSweep } from "../core/sweep/expand.ts";
import { runSweep } from "../coordinator/run.ts";
import { MemoryQueue } from "../transport/memory.ts";
import { runPool } from "../workers/pool.ts";
import { jobId } from "../core/sweep/expand.ts";
import { cpuMs, loadAverage, quantile } from "./proc_cpu.ts";

const { jobs, workers, latency, json } = parseBench<
  { jobs: number; workers: number; latency: number; json?: boolean }
>(
  benchCommand(
    "sweep_embedded.ts",
    "embedded coordinator overhead: no-op and sleep sweeps through the in-process queue",
  )
    .option("--jobs <n>", "jobs per sweep", positiveInt, 1000)
    .option("--workers <n>", "local workers", positiveInt, 2)
    .option("--latency <n>", "single no-op jobs one after another", positiveInt, 200)
    .option("--json", "one JSON object per case"),
);
const values = { json: json ?? false };

async function bench(name: string, yaml: string, mode: "thread" | "inline", count: number) {
  const plan = loadSweep(yaml, `${name}.yaml`);
  const dir = Deno.makeTempDirSync({ prefix: "sweep-bench-" });
  try {
    const q = new MemoryQueue();
    const load = loadAverage();
    const c0 = cpuMs("self");
    const t0 = performance.now();
    const out = await runSweep({
      spec: plan,
      runDir: dir,
      queue: q,
      workers: { count, source: (n) => q.source(n), mode },
    });
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuMs("self") - c0;
    await q.close();
    if (out.status !== "done") throw new Error(`${name}: ${out.status}`);
    return {
      case: name,
      mode,
      workers: count,
      jobs: plan.jobs.length,
      seconds,
      jobs_per_s: plan.jobs.length / seconds,
      cpu_ms_per_job: cpu / plan.jobs.length,
      load_average_1m: load,
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
/** Publish → result of one no-op job at a time, through the queue and one local worker slot (no store). */
async function queueLatency(n: number) {
  const q = new MemoryQueue();
  const stop = new AbortController();
  const pool = runPool({ source: (w) => q.source(w), workers: 1, signal: stop.signal });
  const events = q.events(stop.signal)[Symbol.asyncIterator]();
  const lat: number[] = [];
  for (let i = 0; i < n; i++) {
    const config = { i, latency: true };
    const t = performance.now();
    await q.publish([{ id: jobId("noop", config), sweep: "lat", stage: "main", kind: "noop", config }]);
    for (;;) {
      const r = await events.next();
      if (r.done) throw new Error("event stream ended");
      if (r.value.type === "result") break;
    }
    lat.push(performance.now() - t);
  }
  stop.abort();
  await q.close();
  await pool;
  lat.sort((a, b) => a - b);
  return {
    case: `latency x${n}`,
    median_ms: quantile(lat, 0.5),
    p90_ms: quantile(lat, 0.9),
    p99_ms: quantile(lat, 0.99),
  };
}
const lat = await queueLatency(latency);

if (values.json) console.log(JSON.stringify([...results, lat]));
else {
  for (const r of results) {
    console.log(
      `${r.case.padEnd(20)} ${r.mode.padEnd(6)} workers=${r.workers}  ${r.seconds.toFixed(2)} s  ` +
        `${r.jobs_per_s.toFixed(0)} jobs/s  ${(1000 / r.jobs_per_s).toFixed(2)} ms/job  ` +
        `CPU ${r.cpu_ms_per_job.toFixed(3)} ms/job  (load ${r.load_average_1m})`,
    );
  }
  const s = results[3];
  console.log(
    `sleep case: ideal (perfectly parallel) ${(4 * 0.2).toFixed(2)} s, measured ${s.seconds.toFixed(2)} s`,
  );
  console.log(
    `queue latency (one no-op job at a time, publish → result): median ${lat.median_ms.toFixed(3)} ms, ` +
      `p90 ${lat.p90_ms.toFixed(3)} ms, p99 ${lat.p99_ms.toFixed(3)} ms (${latency} jobs)`,
  );
}
