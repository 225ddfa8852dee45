/**
 * `flowsweep worker --nats URL`: a NATS worker. Pulls jobs from the shared durable consumer, runs them with
 * `executeJob`, heartbeats while they run, streams progress, reports results. SIGINT/SIGTERM: stop pulling,
 * abort the running jobs and hand them back (nak, so another worker gets them), then exit 0.
 */
import type { Command } from "commander";
import { parseChoice, parsePositiveInt, UsageError } from "./usage.ts";
import { BACKEND_NAMES } from "../backends/select.ts";
import { DEVICE_JOB_BACKENDS } from "../workers/train_job.ts";

/** The CPU engine's backends and the device engine's (docs/device.md). */
const JOB_BACKENDS = [...BACKEND_NAMES, ...DEVICE_JOB_BACKENDS] as const;
import { type Executor, inlineRunner, noopInline, runLease, threadRunner } from "../workers/lease.ts";
import { probeWorker } from "./worker_probe.ts";
import type { ArtifactStore, JobSource } from "../transport/types.ts";
import {
  NatsArtifactStore,
  NatsConnectError,
  NatsFlagError,
  type NatsFlags,
  NatsJobSource,
  redactUrl,
} from "../transport/nats.ts";
import { engineVersion } from "../workers/version.ts";

export interface WorkerLoopOptions {
  concurrency: number;
  backend?: string;
  signal: AbortSignal;
  log?: (line: string) => void;
  /** Problems worth showing even when per-job lines are off (default: `log`). */
  warn?: (line: string) => void;
  /** Handed to jobs as `ctx.artifacts` (energy checkpoints: the NATS object store in a cluster). */
  artifacts?: ArtifactStore;
  /** Run jobs on this thread with `execute` (tests) instead of one killable worker thread per slot. */
  execute?: Executor;
  /** Run the test job kinds (`noop`, `sleep`, `fail`); refused by default (`--allow-test-jobs`). */
  allowTestJobs?: boolean;
  /** Time a stopping job gets before its thread is killed. Default 2000 ms. */
  graceMs?: number;
}

/** Counts of what one worker did. */
export interface WorkerStats {
  done: number;
  failed: number;
  released: number;
}

/**
 * Runs `concurrency` slots over `source` until `signal` aborts; each slot drives its leases through the lease
 * runtime (workers/lease.ts: one retry policy, time limits, release on shutdown).
 */
export async function runWorkerLoop(source: JobSource, opts: WorkerLoopOptions): Promise<WorkerStats> {
  const stats: WorkerStats = { done: 0, failed: 0, released: 0 };
  const slot = async (i: number) => {
    const runner = opts.execute
      ? inlineRunner(opts.execute)
      : noopInline(threadRunner(`worker-slot-${i + 1}`));
    try {
      for await (const lease of source.leases(opts.signal)) {
        const end = await runLease(lease, runner, {
          signal: opts.signal,
          backend: opts.backend,
          artifacts: opts.artifacts,
          allowTestJobs: opts.allowTestJobs ?? false,
          graceMs: opts.graceMs,
          log: opts.log,
          warn: opts.warn,
        });
        if (end === "done") stats.done++;
        else if (end === "released") stats.released++;
        else stats.failed++;
      }
    } finally {
      runner.close();
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, (_, i) => slot(i)));
  return stats;
}

interface WorkerCliOptions extends NatsCliFlags {
  nats: string;
  backend: string;
  concurrency: string;
  prefix: string;
  ackWait?: string;
  maxAttempts?: string;
  retryDelay?: string;
  quiet?: boolean;
  probe?: boolean;
  allowTestJobs?: boolean;
}

/** Adds the NATS connection flags (shared by worker, sweep and status). */
export function addNatsConnectionOptions(cmd: Command): Command {
  return cmd
    .option("--creds <file>", "NATS credentials file (JWT + nkey seed)")
    .option("--user <user>", "NATS user (with a password; or $NATS_USER)")
    .option(
      "--password <password>",
      "NATS password (visible in ps: prefer --password-file or $NATS_PASSWORD)",
    )
    .option("--password-file <file>", "read the NATS password from this file")
    .option("--token <token>", "NATS auth token (visible in ps: prefer --token-file or $NATS_TOKEN)")
    .option("--token-file <file>", "read the NATS auth token from this file")
    .option("--tls-ca <file>", "CA certificate (PEM) to verify the server; enables TLS")
    .option("--tls-cert <file>", "client certificate (PEM) for mutual TLS")
    .option("--tls-key <file>", "client key (PEM) for mutual TLS")
    .option("--connect-timeout <seconds>", "give up when the broker cannot be reached at start", "10");
}

/** Commander options of the connection flags (addNatsConnectionOptions). */
export interface NatsCliFlags extends Partial<NatsFlags> {
  passwordFile?: string;
  tokenFile?: string;
  connectTimeout?: string;
}

/** A secret read from a file: first line, trimmed; the error names the file, never its contents. */
function readSecret(flag: string, path: string): string {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    throw new UsageError(
      `cannot read ${flag} ${path}: ${err instanceof Error ? err.constructor.name : "error"}`,
    );
  }
  const v = text.split("\n")[0].trim();
  if (v === "") throw new UsageError(`${flag} ${path} is empty`);
  return v;
}

/**
 * The NatsFlags of parsed commander options. Secrets come from the flag, else its file flag, else the
 * environment ($NATS_TOKEN, $NATS_USER, $NATS_PASSWORD); giving both a flag and its file is an error.
 * Secrets are never printed.
 */
export function natsFlagsFrom(
  o: NatsCliFlags & { nats: string },
  env: (name: string) => string | undefined = (n) => Deno.env.get(n),
): NatsFlags {
  if (o.nats.trim() === "") throw new UsageError("--nats needs a server URL, e.g. nats://127.0.0.1:4222");
  if (o.password !== undefined && o.passwordFile !== undefined) {
    throw new UsageError("use either --password or --password-file, not both");
  }
  if (o.token !== undefined && o.tokenFile !== undefined) {
    throw new UsageError("use either --token or --token-file, not both");
  }
  const pick = (v: string | undefined) => (v === undefined || v === "" ? undefined : v);
  const explicit = o.creds !== undefined || o.user !== undefined || o.password !== undefined ||
    o.passwordFile !== undefined || o.token !== undefined || o.tokenFile !== undefined;
  let user = o.user;
  let password = o.password ??
    (o.passwordFile !== undefined ? readSecret("--password-file", o.passwordFile) : undefined);
  let token = o.token ?? (o.tokenFile !== undefined ? readSecret("--token-file", o.tokenFile) : undefined);
  if (!explicit) {
    // The environment applies only when no credentials were given on the command line.
    token = pick(env("NATS_TOKEN"));
    user = pick(env("NATS_USER"));
    password = pick(env("NATS_PASSWORD"));
  } else if (user !== undefined && password === undefined) password = pick(env("NATS_PASSWORD"));
  else if (password !== undefined && user === undefined) user = pick(env("NATS_USER"));
  let connectTimeoutMs: number | undefined;
  if (o.connectTimeout !== undefined) {
    const v = Number(o.connectTimeout);
    if (o.connectTimeout.trim() === "" || !Number.isFinite(v) || v <= 0) {
      throw new UsageError(
        `--connect-timeout must be a positive number of seconds, got "${o.connectTimeout}"`,
      );
    }
    connectTimeoutMs = Math.round(v * 1000);
  }
  return {
    nats: o.nats,
    creds: o.creds,
    user,
    password,
    token,
    tlsCa: o.tlsCa,
    tlsCert: o.tlsCert,
    tlsKey: o.tlsKey,
    name: o.name,
    connectTimeoutMs,
  };
}

export function register(program: Command): void {
  const cmd = program
    .command("worker")
    .description("pull jobs from NATS JetStream and run them (see docs/cluster.md)")
    .requiredOption("--nats <url>", "NATS server URL(s), comma separated");
  addNatsConnectionOptions(cmd)
    .option("--backend <backend>", `compute backend for train jobs: ${JOB_BACKENDS.join("|")}`, "auto")
    .option("--concurrency <n>", "jobs run at once in this process", "1")
    .option("--name <name>", "worker name recorded with each job (default: hostname-pid)")
    .option("--prefix <prefix>", "NATS subject/stream/bucket prefix", "flowsweep")
    .option("--ack-wait <seconds>", "consumer ack wait, used only if this worker creates the consumer")
    .option("--max-attempts <n>", "attempts per job, used only if this worker creates the consumer")
    .option("--retry-delay <seconds>", "delay before a failed attempt is retried", "2")
    .option("--quiet", "no per-job log lines (connection and shutdown lines remain)")
    .option("--probe", "health check: can the broker be reached, which backend loads; exit 0 if both, else 1")
    .option("--allow-test-jobs", "also run the test job kinds noop, sleep and fail (refused by default)")
    .action(async (o: WorkerCliOptions) => {
      if (o.probe) return await probeCommand(o);
      await workerCommand(o);
    });
}

/** `--probe`: one line for the broker, one for the backend (docs/cluster.md, the images' health check). */
async function probeCommand(o: WorkerCliOptions): Promise<void> {
  const r = await probeWorker(natsFlagsFrom(o), parseChoice("--backend", o.backend, JOB_BACKENDS));
  (r.ok ? console.log : console.error)(`${r.broker}\n${r.backend}`);
  if (!r.ok) Deno.exit(1);
}

async function workerCommand(o: WorkerCliOptions): Promise<void> {
  const concurrency = parsePositiveInt("--concurrency", o.concurrency);
  const backend = parseChoice("--backend", o.backend, JOB_BACKENDS);
  const name = o.name ?? `${Deno.hostname()}-${Deno.pid}`;
  const settings = {
    prefix: o.prefix,
    ackWaitMs: o.ackWait !== undefined ? seconds("--ack-wait", o.ackWait) : undefined,
    maxAttempts: o.maxAttempts !== undefined ? parsePositiveInt("--max-attempts", o.maxAttempts) : undefined,
    retryDelayMs: seconds("--retry-delay", o.retryDelay ?? "2", true),
  };
  const log = (line: string) => console.error(`[worker ${name}] ${line}`);
  const jobLog = o.quiet ? () => {} : log;
  const ac = new AbortController();
  let connected = false;
  const onSignal = () => {
    if (!connected) {
      log("signal while connecting: exiting");
      Deno.exit(130);
    }
    if (ac.signal.aborted) {
      // A second Ctrl-C: leave now; unacknowledged jobs are redelivered after the ack wait.
      log("second signal: exiting without handing jobs back");
      Deno.exit(130);
    }
    log("stopping: no new jobs; running jobs are handed back (signal again to exit at once)");
    ac.abort(new Error("worker stopping"));
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  let source: NatsJobSource;
  try {
    source = await NatsJobSource.connect({ ...natsFlagsFrom(o), name: `flowsweep-worker-${name}` }, {
      ...settings,
      worker: name,
      log,
      codeVersion: engineVersion(),
    });
  } catch (err) {
    if (err instanceof NatsFlagError || err instanceof NatsConnectError || err instanceof UsageError) {
      throw new UsageError(err.message);
    }
    // Connected, but the broker would not set up the queue (no JetStream, no permission): one line.
    throw new UsageError(`NATS at ${redactUrl(o.nats)}: ${(err as Error).message?.split("\n")[0] ?? err}`);
  }
  connected = true;
  const nc = source.nc;
  (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "reconnect") log(`connection ${s.type}`);
    }
  })().catch(() => {});
  log(
    `connected to ${
      redactUrl(o.nats)
    }; ack wait ${source.ackWaitMs} ms, max attempts ${source.maxAttempts}, ` +
      `concurrency ${concurrency}`,
  );
  try {
    const artifacts = await NatsArtifactStore.open(nc, { prefix: o.prefix });
    const stats = await runWorkerLoop(source, {
      concurrency,
      artifacts,
      backend,
      signal: ac.signal,
      log: jobLog,
      warn: log,
      allowTestJobs: o.allowTestJobs ?? false,
    });
    log(`stopped: ${stats.done} done, ${stats.failed} failed attempts, ${stats.released} handed back`);
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
    await source.close();
  }
}

function seconds(flag: string, raw: string, allowZero = false): number {
  const v = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(v) || v < 0 || (!allowZero && v === 0)) {
    throw new UsageError(
      `${flag} must be a ${allowZero ? "non-negative" : "positive"} number of seconds, got "${raw}"`,
    );
  }
  return Math.round(v * 1000);
}
