/**
 * Jobs per second through NATS JetStream, and the per-job overhead of the queue, with no-op jobs.
 *
 *   npx -y deno@2 run -A bench/nats_jobs.ts [--jobs 2000] [--workers 4] [--concurrency 1] [--latency 50] [--json]
 *
 * Starts its own nats-server (JetStream, free port, temp store; see tests/helpers/nats_server.ts), starts
 * `--workers` worker PROCESSES (`main.ts worker --quiet`) and waits until each has connected, then:
 * - throughput: publishes `--jobs` noop jobs through NatsJobQueue and waits for every result on the
 *   coordinator's event stream. Reports the publish rate, end-to-end jobs/s (first publish → last result)
 *   and the overhead per job in worker time (workers × concurrency × elapsed / jobs: what one job costs a
 *   worker slot when the job itself does nothing).
 * - latency: `--latency` single noop jobs one after another (publish → result at the coordinator);
 *   reports median and p90.
 */
import { benchCommand, nonNegativeInt, parseBench, positiveInt } from "./cli.ts";
import { startNatsServer } from "../tests/helpers/nats_server.ts";
import { NatsJobQueue } from "../transport/nats.ts";
import type { Job } from "../core/sweep/job.ts";
import { jobId } from "../core/sweep/expand.ts";
import { cpuMs, findPids, loadAverage, quantile } from "./proc_cpu.ts";

const o = parseBench<
  { jobs: number; workers: number; concurrency: number; latency: number; json?: boolean }
>(
  benchCommand(
    "nats_jobs.ts",
    "jobs per second through NATS JetStream with no-op jobs, and the queue's latency",
  )
    .option("--jobs <n>", "jobs in the throughput run", positiveInt, 2000)
    .option("--workers <n>", "worker processes", positiveInt, 4)
    .option("--concurrency <n>", "jobs per worker at once", positiveInt, 1)
    .option("--latency <n>", "single jobs one after another (0: skip)", nonNegativeInt, 50)
    .option("--json", "one JSON object"),
);
const JOBS = o.jobs;
const WORKERS = o.workers;
const CONCURRENCY = o.concurrency;
const LATENCY = o.latency;
const JSON_OUT = o.json ?? false;
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;

const srv = await startNatsServer();
const children: Deno.ChildProcess[] = [];
try {
  const logs: string[] = [];
  const ready: Promise<void>[] = [];
  for (let i = 0; i < WORKERS; i++) {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        "worker",
        "--nats",
        srv.url,
        "--name",
        `bench-${i}`,
        "--quiet",
        "--allow-test-jobs",
        "--concurrency",
        String(CONCURRENCY),
      ],
      cwd: ROOT,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    children.push(child);
    logs.push("");
    ready.push(
      new Promise((resolve, reject) => {
        const dec = new TextDecoder();
        (async () => {
          for await (const chunk of child.stderr) {
            logs[i] += dec.decode(chunk);
            if (/connected to/.test(logs[i])) resolve();
          }
          reject(new Error(`worker ${i} exited before connecting:\n${logs[i]}`));
        })().catch(reject);
      }),
    );
  }
  await Promise.all(ready);

  const q = await NatsJobQueue.connect({ nats: srv.url }, { sweep: "bench" });
  // Workers run only jobs whose id is the hash of their config (workers/lease.ts).
  const jobs: Job[] = Array.from({ length: JOBS }, (_, i) => ({
    id: jobId("noop", { i }),
    sweep: "bench",
    stage: "main",
    kind: "noop",
    config: { i },
  }));

  // Throughput.
  const serverPids = findPids(["nats-server", `${srv.port}`]);
  const procs = () => ({
    coordinator: cpuMs("self"),
    workers: children.map((c) => cpuMs(c.pid)),
    server: serverPids.reduce((a, p) => a + cpuMs(p), 0),
  });
  const load0 = loadAverage();
  const cpu0 = procs();
  const ac = new AbortController();
  const want = new Set(jobs.map((j) => j.id));
  const t0 = performance.now();
  let tLast = t0;
  const collected = (async () => {
    for await (const e of q.events(ac.signal)) {
      if (e.type !== "result") continue;
      want.delete(e.result.jobId);
      if (want.size === 0) {
        tLast = performance.now();
        break;
      }
    }
  })();
  const pub = await q.publish(jobs);
  const tPub = performance.now();
  await collected;
  ac.abort();
  if (pub.published !== JOBS) throw new Error(`published ${pub.published} of ${JOBS}`);
  const elapsed = (tLast - t0) / 1000;
  const slots = WORKERS * CONCURRENCY;
  const cpu1 = procs();
  const load1 = loadAverage();
  const perJob = (a: number, b: number) => +((b - a) / JOBS).toFixed(3);
  const workerCpu = cpu1.workers.map((w, i) => perJob(cpu0.workers[i], w));
  const cpuPerJob = {
    coordinator: perJob(cpu0.coordinator, cpu1.coordinator),
    workers_each: workerCpu,
    workers_total: +workerCpu.reduce((a, b) => a + b, 0).toFixed(3),
    server: perJob(cpu0.server, cpu1.server),
    total: 0,
  };
  cpuPerJob.total = +(cpuPerJob.coordinator + cpuPerJob.workers_total + cpuPerJob.server).toFixed(3);

  // Latency: one job at a time, over one open event stream (as a running coordinator has).
  const lat: number[] = [];
  const lq = await NatsJobQueue.open(q.nc, { sweep: "bench-lat", ownsConnection: false });
  const lev = new AbortController();
  const it = lq.events(lev.signal)[Symbol.asyncIterator]();
  for (let i = 0; i < LATENCY; i++) {
    const config = { i, latency: true };
    const job: Job = { id: jobId("noop", config), sweep: "bench-lat", stage: "main", kind: "noop", config };
    const t = performance.now();
    await lq.publish([job]);
    for (;;) {
      const r = await it.next();
      if (r.done) throw new Error("event stream ended");
      if (r.value.type === "result" && r.value.result.jobId === job.id) break;
    }
    lat.push(performance.now() - t);
  }
  lev.abort();
  await it.return?.();
  lat.sort((a, b) => a - b);
  const pct = (p: number) => quantile(lat, p);

  const figures = {
    nats_server: srv.url,
    jobs: JOBS,
    worker_processes: WORKERS,
    concurrency_per_worker: CONCURRENCY,
    publish_s: +((tPub - t0) / 1000).toFixed(3),
    publish_jobs_per_s: +(JOBS / ((tPub - t0) / 1000)).toFixed(0),
    end_to_end_s: +elapsed.toFixed(3),
    jobs_per_s: +(JOBS / elapsed).toFixed(0),
    overhead_ms_per_job_per_slot: +((slots * elapsed * 1000) / JOBS).toFixed(2),
    latency_jobs: LATENCY,
    latency_median_ms: +pct(0.5).toFixed(2),
    latency_p90_ms: +pct(0.9).toFixed(2),
    latency_p99_ms: +pct(0.99).toFixed(2),
    cpu_ms_per_job: cpuPerJob,
    /** Jobs/s the measured CPU per job allows on 2 idle cores (an upper bound: no waiting, no contention). */
    cpu_bound_jobs_per_s_2_cores: +(2000 / cpuPerJob.total).toFixed(0),
    load_average_1m: [load0, load1],
  };
  if (JSON_OUT) console.log(JSON.stringify(figures));
  else {
    console.log(
      `NATS jobs: ${JOBS} noop jobs, ${WORKERS} worker processes × concurrency ${CONCURRENCY}, ${srv.url}`,
    );
    console.log(
      `  publish:     ${figures.publish_s} s  (${figures.publish_jobs_per_s} jobs/s enqueued, KV check + publish)`,
    );
    console.log(`  end to end:  ${figures.end_to_end_s} s  → ${figures.jobs_per_s} jobs/s`);
    console.log(
      `  overhead:    ${figures.overhead_ms_per_job_per_slot} ms of worker-slot time per no-op job`,
    );
    console.log(
      `  latency:     median ${figures.latency_median_ms} ms, p90 ${figures.latency_p90_ms} ms, ` +
        `p99 ${figures.latency_p99_ms} ms (one job at a time, publish → result, ${LATENCY} jobs)`,
    );
    console.log(
      `  CPU per job: coordinator ${cpuPerJob.coordinator} ms, workers ${cpuPerJob.workers_total} ms ` +
        `(each ${workerCpu.join(" / ")}), nats-server ${cpuPerJob.server} ms; total ${cpuPerJob.total} ms ` +
        `→ at most ${figures.cpu_bound_jobs_per_s_2_cores} jobs/s on 2 idle cores`,
    );
    console.log(`  load average (1 min) before/after: ${load0} / ${load1} (2 cores, shared)`);
  }
  await q.close();
} finally {
  for (const c of children) {
    try {
      c.kill("SIGTERM");
    } catch {
      // gone
    }
  }
  await Promise.all(children.map((c) => c.status));
  await srv.stop();
}
