/**
 * `serve RUN_DIR [--port N]`: the live dashboard of a run directory (running or finished) on localhost
 * (report/serve.ts). Runs until Ctrl-C. `sweep SPEC --serve [PORT]` serves the sweep it runs the same way.
 */
import type { Command } from "commander";
import { serveDashboard } from "../report/serve.ts";
import { UsageError } from "./usage.ts";

export const DEFAULT_PORT = 8787;

/** A port flag: an integer in [0, 65535] (0: any free port). */
export function parsePort(flag: string, raw: string | true | undefined): number {
  if (raw === undefined || raw === true) return DEFAULT_PORT;
  const v = Number(raw);
  if (raw.trim() === "" || !Number.isInteger(v) || v < 0 || v > 65535) {
    throw new UsageError(`${flag} must be a port number 0..65535, got "${raw}"`);
  }
  return v;
}

/** Starts the dashboard; a port in use is a usage error. */
export async function startDashboard(runDir: string, port: number, signal?: AbortSignal, workers?: number) {
  try {
    const d = await serveDashboard(runDir, { port, signal, workers });
    console.error(`dashboard: ${d.url} (live; Ctrl-C to stop)`);
    return d;
  } catch (err) {
    if (err instanceof Deno.errors.AddrInUse) {
      throw new UsageError(
        `port ${port} is in use; pick another (--port / --serve PORT, 0 for any free port)`,
      );
    }
    throw err;
  }
}

export function register(program: Command): void {
  program
    .command("serve")
    .description("serve the live dashboard of a run directory on localhost (updates while jobs run)")
    .argument("<runDir>", "run directory (running or finished)")
    .option("--port <n>", `port on 127.0.0.1 (0: any free port)`, String(DEFAULT_PORT))
    .action(async (runDir: string, flags: { port: string }) => {
      const port = parsePort("--port", flags.port);
      try {
        if (!Deno.statSync(runDir).isDirectory) throw new Error();
      } catch {
        throw new UsageError(`${runDir} is not a directory`);
      }
      const ac = new AbortController();
      const stop = () => ac.abort();
      Deno.addSignalListener("SIGINT", stop);
      const d = await startDashboard(runDir, port, ac.signal);
      await d.finished;
      Deno.removeSignalListener("SIGINT", stop);
    });
}
