/**
 * The benches' command line, with the CLI's conventions (main.ts): commander, `--help` that lists the flags
 * (and the cases), an unknown flag or bad value → one line on stderr and exit 2.
 */
import { Command, CommanderError, InvalidArgumentError } from "commander";

/** A bench command: `deno task bench ...` / `deno run -A bench/NAME.ts ...`. */
export function benchCommand(name: string, description: string): Command {
  return new Command()
    .name(name)
    .description(description)
    .showHelpAfterError(false)
    .showSuggestionAfterError(true)
    .configureOutput({ outputError: (s, write) => write(s.replace(/\n(?!$)/g, " ")) })
    .exitOverride();
}

/**
 * Parses Deno.args; help exits 0, a usage error exits 2 after commander's one line. Returns the options, or
 * what `pick` makes of the parsed command (positional arguments); a value `pick` rejects is a usage error too.
 */
export function parseBench<T>(cmd: Command, args: string[] = Deno.args, pick?: (cmd: Command) => T): T {
  try {
    cmd.parse(args, { from: "user" });
  } catch (err) {
    // commander has printed its one line (or the help)
    if (err instanceof CommanderError) Deno.exit(err.exitCode === 0 ? 0 : 2);
    throw err;
  }
  try {
    return pick ? pick(cmd) : cmd.opts() as T;
  } catch (err) {
    if (err instanceof InvalidArgumentError) benchUsageError(err.message);
    throw err;
  }
}

/** Ends a bench with one usage line and exit 2 (for checks commander cannot make, e.g. an unknown case). */
export function benchUsageError(message: string): never {
  console.error(`error: ${message}`);
  Deno.exit(2);
}

/** Option parsers: a positive integer, a non-negative integer, a positive number. */
export function positiveInt(raw: string): number {
  const v = Number(raw);
  if (!Number.isInteger(v) || v <= 0) {
    throw new InvalidArgumentError(`must be a positive integer, got "${raw}"`);
  }
  return v;
}
export function nonNegativeInt(raw: string): number {
  const v = Number(raw);
  if (raw.trim() === "" || !Number.isInteger(v) || v < 0) {
    throw new InvalidArgumentError(`must be a non-negative integer, got "${raw}"`);
  }
  return v;
}
export function positiveNumber(raw: string): number {
  const v = Number(raw);
  if (raw.trim() === "" || !Number.isFinite(v) || v <= 0) {
    throw new InvalidArgumentError(`must be a positive number, got "${raw}"`);
  }
  return v;
}
