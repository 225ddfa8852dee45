/**
 * Slow convergence cases: registered like any test, skipped by `deno task test:fast` (which sets
 * FLOWSWEEP_FAST=1) for the development loop. `deno task test` (the README's command, CI) runs them.
 */
export const FAST = Deno.env.get("FLOWSWEEP_FAST") === "1";

/** Deno.test that `deno task test:fast` skips. */
export function slowTest(name: string, fn: () => void | Promise<void>): void {
  Deno.test({ name: `${name} [slow]`, ignore: FAST, fn });
}
