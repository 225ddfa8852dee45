/**
 * Every command in README.md and docs/ is written so that it works with only Node/npm (`npx -y deno@2 ...`), and
 * every such command is accepted as written: its task exists in deno.json, and for the CLI's subcommands the
 * flags and arguments parse (commander, actions stubbed out), a sweep's spec and overrides expand, files named
 * by `run -A` exist. (The commands are not run: many train for minutes.)
 */
import assert from "node:assert/strict";
import type { Command } from "commander";
import { buildProgram } from "../main.ts";
import { loadSweep } from "../core/sweep/expand.ts";
import { parseOverride } from "../core/sweep/overrides.ts";

const root = new URL("..", import.meta.url).pathname;
const docs = [
  "README.md",
  ...[...Deno.readDirSync(`${root}docs`)].filter((e) => e.name.endsWith(".md")).map((e) => `docs/${e.name}`),
];
const tasks = JSON.parse(Deno.readTextFileSync(`${root}deno.json`)).tasks as Record<string, string>;

/** Shell-like words: whitespace-separated, '...' and "..." quoted. */
function words(s: string): string[] {
  return [...s.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]);
}

/** `npx -y deno@2 ...` commands of a Markdown text: code spans and code-block lines (with \ continuations). */
function commands(md: string): string[] {
  const out: string[] = [];
  const joined = md.replace(/\\\n\s*/g, " ");
  for (const m of joined.matchAll(/`([^`\n]*npx -y deno@2 [^`\n]*)`/g)) out.push(m[1]);
  for (const block of joined.matchAll(/```[a-z]*\n([\s\S]*?)```/g)) {
    for (const line of block[1].split("\n")) {
      const i = line.indexOf("npx -y deno@2 ");
      if (i >= 0) out.push(line.slice(i).replace(/`.*$/, "").replace(/\s+#.*$/, ""));
    }
  }
  return out.map((c) => c.slice(c.indexOf("npx -y deno@2 ")).trim());
}

/** A synopsis (`sweep SPEC [--run-dir DIR]`), not a command to run as written. */
const synopsis = (c: string) =>
  /\[--|\[[A-Z]|\.\.\.|…|\b(SPEC|RUN_DIR|URL|FILE|DIR|NAME|KEY=VALUE)\b/.test(c);

function stubActions(cmd: Command, calls: string[][]) {
  for (const c of cmd.commands) {
    c.exitOverride();
    c.configureOutput({ writeOut: () => {}, writeErr: () => {} });
    c.action((...args: unknown[]) => {
      calls.push([c.name(), ...args.slice(0, -2).flat().map(String)]);
    });
  }
}

Deno.test("docs: no bare `deno task` / `deno run` commands; every npx command parses as written", async () => {
  const bare: string[] = [];
  let checked = 0;
  for (const file of docs) {
    const md = Deno.readTextFileSync(`${root}${file}`);
    md.split("\n").forEach((line, i) => {
      // bare deno commands (a container's own entrypoint, where deno is installed, is not for the user)
      if (/(^|[\s`(])deno (task|run|test)\b/.test(line) && !/--cached-only/.test(line)) {
        bare.push(`${file}:${i + 1}: ${line.trim()}`);
      }
    });
    for (const c of commands(md)) {
      if (synopsis(c)) continue;
      const w = words(c).slice(3); // after `npx -y deno@2`
      const where = `${file}: ${c}`;
      if (w[0] === "task") {
        const task = tasks[w[1]];
        assert.ok(task, `${where}: no task "${w[1]}" in deno.json`);
        const m = /^deno run -A main\.ts (\S+)$/.exec(task);
        if (!m) continue; // test, check, bench: covered by their own tests
        const program = buildProgram();
        program.configureOutput({ writeOut: () => {}, writeErr: () => {} });
        const calls: string[][] = [];
        stubActions(program, calls);
        try {
          await program.parseAsync([m[1], ...w.slice(2)], { from: "user" });
        } catch (err) {
          // --help ends with a CommanderError of exit code 0
          if ((err as { exitCode?: number }).exitCode !== 0) {
            assert.fail(`${where}: ${(err as Error).message}`);
          }
          calls.push(["help"]);
        }
        assert.equal(calls.length, 1, where);
        if (m[1] === "sweep") {
          const [, spec, ...rest] = [m[1], ...w.slice(2)];
          const overrides = rest.slice(0, rest.findIndex((a) => a.startsWith("--")) >>> 0).filter((a) =>
            a.includes("=")
          );
          try {
            loadSweep(Deno.readTextFileSync(`${root}${spec}`), spec, {
              overrides: overrides.map(parseOverride),
            });
          } catch (err) {
            assert.fail(`${where}: ${(err as Error).message}`);
          }
        }
        checked++;
      } else if (w[0] === "run") {
        const file = w.find((a, i) => i > 0 && !a.startsWith("-"));
        assert.ok(file && Deno.statSync(`${root}${file}`).isFile, `${where}: no file ${file}`);
        checked++;
      }
    }
  }
  assert.deepEqual(bare, [], "write commands as `npx -y deno@2 ...` (README's first two commands do)");
  assert.ok(checked > 20, `checked ${checked} commands`);
});
