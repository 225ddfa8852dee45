/**
 * A whole sweep of no-op jobs over NATS, as a user runs it: `main.ts sweep SPEC --nats URL` (the coordinator,
 * its own process) against `--workers` worker processes, on its own nats-server (free port, temp store).
 * Reports jobs/s end to end (the sweep command's wall time), the coordinator's peak memory (VmHWM, sampled
 * from /proc), and checks that every job ran exactly once: every job done in the run directory with one
 * attempt and one execution row, one result message per job in the events stream, no job message left.
 *
 *   npx -y deno@2 run -A bench/nats_sweep.ts [--jobs 20000] [--workers 4] [--concurrency 16] [--json]
 */
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { benchCommand, parseBench, positiveInt } from "./cli.ts";
import { startNatsServer } from "../tests/helpers/nats_server.ts";
import { connectNats, natsNames } from "../transport/nats.ts";
import { openStore } from "../coordinator/store.ts";
import { loadAverage } from "./proc_cpu.ts";

const o = parseBench<{ jobs: number; workers: number; concurrency: number; json?: boolean }>(
  benchCommand("nats_sweep.ts", "a sweep of no-op jobs over NATS: jobs/s, coordinator memory, exactly once")
    .option("--jobs <n>", "no-op jobs in the sweep", positiveInt, 20000)
    .option("--workers <n>", "worker processes", positiveInt, 4)
    .option("--concurrency <n>", "jobs per worker at once", positiveInt, 16)
    .option("--json", "one JSON object"),
);
const MAIN = new URL("../main.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;

function spawn(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

async function text(s: ReadableStream<Uint8Array>): Promise<string> {
  return await new Response(s).text();
}

/** Peak resident set (KiB) of a process so far, or NaN. */
function vmHwmKiB(pid: number): number {
  try {
    const m = Deno.readTextFileSync(`/proc/${pid}/status`).match(/VmHWM:\s+(\d+) kB/);
    return m ? Number(m[1]) : NaN;
  } catch {
    return NaN;
  }
}

const srv = await startNatsServer();
const dir = await Deno.makeTempDir({ prefix: "flowsweep-nats-sweep-bench-" });
const workers: Deno.ChildProcess[] = [];
try {
  const logs: Promise<string>[] = [];
  for (let i = 0; i < o.workers; i++) {
    const w = spawn([
      "worker",
      "--nats",
      srv.url,
      "--name",
      `sw-${i}`,
      "--quiet",
      "--allow-test-jobs",
      "--concurrency",
      String(o.concurrency),
    ]);
    workers.push(w);
    w.stdout.cancel();
    logs.push(text(w.stderr));
  }
  const sweep = "nats-sweep-bench";
  await Deno.writeTextFile(
    `${dir}/spec.yaml`,
    `name: ${sweep}\nkind: noop\nmatrix: { i: [${
      Array.from({ length: o.jobs }, (_, i) => i).join(", ")
    }] }\n`,
  );
  const load0 = loadAverage();
  const t0 = performance.now();
  const coord = spawn([
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
  let peakKiB = 0;
  const sampler = setInterval(() => {
    const v = vmHwmKiB(coord.pid);
    if (v > peakKiB) peakKiB = v;
  }, 100);
  const [status, out, err] = await Promise.all([coord.status, text(coord.stdout), text(coord.stderr)]);
  clearInterval(sampler);
  const seconds = (performance.now() - t0) / 1000;
  const load1 = loadAverage();
  if (status.code !== 0) throw new Error(`sweep exited ${status.code}:\n${out}\n${err}`);

  // Exactly once: the run directory, the raw events stream, the job stream.
  const st = openStore(`${dir}/run`, { readOnly: true });
  const jobs = st.jobs();
  const notOnce = jobs.filter((j) => j.status !== "done" || j.attempts !== 1 || st.executions(j.id) !== 1);
  st.close();
  const nc = await connectNats({ nats: srv.url });
  const names = natsNames();
  const results = new Map<string, number>();
  const c = await jetstream(nc).consumers.get(names.eventsStream, {
    filter_subjects: `${names.prefix}.events.${sweep}.result.>`,
  });
  for (;;) {
    const m = await c.next({ expires: 2000 });
    if (!m) break;
    const id = m.subject.split(".").pop()!;
    results.set(id, (results.get(id) ?? 0) + 1);
  }
  const jobMessagesLeft = (await (await jetstreamManager(nc)).streams.info(names.jobsStream)).state.messages;
  await nc.close();
  const resultsNotOnce = jobs.filter((j) => results.get(j.id) !== 1).length;

  const figures = {
    jobs: o.jobs,
    worker_processes: o.workers,
    concurrency_per_worker: o.concurrency,
    sweep_s: +seconds.toFixed(2),
    jobs_per_s: +(o.jobs / seconds).toFixed(0),
    coordinator_peak_rss_mib: +(peakKiB / 1024).toFixed(1),
    jobs_in_run_dir: jobs.length,
    jobs_not_done_exactly_once: notOnce.length,
    jobs_without_exactly_one_result_message: resultsNotOnce,
    job_messages_left: jobMessagesLeft,
    exactly_once: jobs.length === o.jobs && notOnce.length === 0 && resultsNotOnce === 0 &&
      jobMessagesLeft === 0,
    load_average_1m: [load0, load1],
  };
  if (o.json) console.log(JSON.stringify(figures));
  else {
    console.log(
      `NATS sweep: ${o.jobs} no-op jobs, ${o.workers} worker processes × concurrency ${o.concurrency}: ` +
        `${figures.sweep_s} s → ${figures.jobs_per_s} jobs/s (the sweep command's wall time, incl. start-up)`,
    );
    console.log(`  coordinator peak memory (VmHWM): ${figures.coordinator_peak_rss_mib} MiB`);
    console.log(
      `  exactly once: ${figures.exactly_once} — ${jobs.length} jobs stored, ${notOnce.length} not done with ` +
        `1 attempt and 1 execution, ${resultsNotOnce} without exactly one result message, ` +
        `${jobMessagesLeft} job messages left`,
    );
    console.log(`  load average (1 min) before/after: ${load0} / ${load1} (2 cores, shared)`);
  }
  if (!figures.exactly_once) Deno.exitCode = 1;
} finally {
  for (const w of workers) {
    try {
      w.kill("SIGTERM");
    } catch { /* gone */ }
  }
  await Promise.all(workers.map((w) => w.status));
  await srv.stop();
  await Deno.remove(dir, { recursive: true });
}
