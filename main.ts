/**
 * flowsweep CLI. Each subcommand lives in `cli/<name>.ts` and exports `register(program)`.
 * Bad input anywhere ends with one line on stderr and exit code 2 (`UsageError`).
 */
import { Command, CommanderError } from "commander";
import { UsageError } from "./cli/usage.ts";
import { LockError, StoreError } from "./coordinator/store.ts";
import { RunDirError } from "./coordinator/run.ts";
import { tlsFailureLine } from "./transport/nats.ts";
import { register as registerTrain } from "./cli/train.ts";
import { register as registerData } from "./cli/data.ts";
import { register as registerReport } from "./cli/report.ts";
import { register as registerWorker } from "./cli/worker.ts";
import { register as registerSweep } from "./cli/sweep.ts";
import { register as registerStatus } from "./cli/status.ts";
import { register as registerServe } from "./cli/serve.ts";
import { register as registerGate } from "./cli/gate.ts";
import { register as registerDoctor } from "./cli/doctor.ts";

/** The CLI: every subcommand registered (tests parse documented commands with it). */
export function buildProgram(): Command {
  const program = new Command()
    .name("flowsweep")
    .description("Train and sweep GFlowNets (αTB, αKL, control variates) on bit-vector state spaces.")
    .showHelpAfterError(false)
    .exitOverride();
  registerTrain(program);
  registerData(program);
  registerReport(program);
  registerWorker(program);
  registerSweep(program);
  registerStatus(program);
  registerServe(program);
  registerGate(program);
  registerDoctor(program);
  return program;
}

if (import.meta.main) {
  // A TLS alert from the broker after the handshake (a refused client certificate) escapes as an uncaught
  // socket error: one line and exit 2, like every other connection failure.
  globalThis.addEventListener("error", (e) => {
    const line = tlsFailureLine(e.error ?? e.message);
    if (line === null) return;
    e.preventDefault();
    console.error(`error: ${line}`);
    Deno.exit(2);
  });
  try {
    await buildProgram().parseAsync(Deno.args, { from: "user" });
  } catch (err) {
    if (err instanceof CommanderError) {
      // help and version are "errors" with exit code 0
      Deno.exit(err.exitCode === 0 ? 0 : 2);
    }
    if (
      err instanceof UsageError || err instanceof StoreError || err instanceof LockError ||
      err instanceof RunDirError
    ) {
      // A spec error lists each issue on its own line; every other error is one line.
      console.error(`error: ${err instanceof UsageError ? err.message : err.message.split("\n").join("; ")}`);
      Deno.exit(2);
    }
    throw err;
  }
}
