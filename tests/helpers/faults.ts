/**
 * Shared pieces of the fault suite (tests/faults_*_test.ts): the CLI as a subprocess (sweeps, workers), a
 * worker process with its log, reading a run directory's store. Each test starts its own nats-server.
 */
import { openStore } from "../../coordinator/store.ts";

export const ROOT = new URL("../..", import.meta.url).pathname;
export const MAIN = `${ROOT}main.ts`;
const dec = new TextDecoder();

export const wait = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs `main.ts ARGS` to the end. */
export async function cli(args: string[], env: Record<string, string> = {}) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1", ...env },
  }).output();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A `main.ts ARGS` subprocess whose stderr is collected as it comes. */
export class Proc {
  readonly child: Deno.ChildProcess;
  log = "";
  readonly #drained: Promise<void>;

  constructor(args: string[], env: Record<string, string> = {}) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, ...args],
      cwd: ROOT,
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1", ...env },
    }).spawn();
    const child = this.child;
    this.#drained = (async () => {
      for await (const chunk of child.stderr) this.log += dec.decode(chunk);
    })().catch(() => {});
  }

  kill(sig: Deno.Signal): void {
    try {
      this.child.kill(sig);
    } catch { /* already gone */ }
  }

  async exit(): Promise<Deno.CommandStatus> {
    const st = await this.child.status;
    await this.#drained;
    return st;
  }

  async stop(): Promise<void> {
    this.kill("SIGKILL");
    await this.exit();
  }

  /** Waits until the log matches `re` (or throws after `ms`). */
  async until(re: RegExp, ms = 60_000): Promise<void> {
    const end = Date.now() + ms;
    while (!re.test(this.log)) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${re} in:\n${this.log}`);
      await wait(50);
    }
  }
}

/** A NATS worker process running test kinds too. */
export function workerProc(url: string, name: string, extra: string[] = []): Proc {
  return new Proc([
    "worker",
    "--nats",
    url,
    "--name",
    name,
    "--retry-delay",
    "0.1",
    "--allow-test-jobs",
    ...extra,
  ]);
}

/** Reads a run directory's store. */
export function readRun(runDir: string) {
  const st = openStore(runDir, { readOnly: true });
  try {
    const jobs = st.jobs();
    return {
      counts: st.counts(),
      jobs,
      records: st.records(),
      executions: new Map(jobs.map((j) => [j.id, st.executions(j.id)])),
    };
  } finally {
    st.close();
  }
}
