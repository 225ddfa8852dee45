/** The benches follow the CLI's conventions: --help lists cases and flags, bad flags and cases exit 2 in one line. */
import assert from "node:assert/strict";

const root = new URL("..", import.meta.url).pathname;

async function bench(file: string, args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${root}bench/${file}`, ...args],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
    env: { NO_COLOR: "1" },
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("bench --help lists its flags and cases; unknown flags and cases are one line, exit 2", async () => {
  const help = await bench("bench.ts", ["--help"]);
  assert.equal(help.code, 0);
  for (const s of ["--backend", "--steps", "--case", "--json", "tb-learned-D32", "akl-optvector-D225"]) {
    assert.ok(help.stdout.includes(s), `${s} missing from:\n${help.stdout}`);
  }
  const flag = await bench("bench.ts", ["--jsn"]);
  assert.equal(flag.code, 2);
  assert.equal(flag.stderr.trim(), "error: unknown option '--jsn' (Did you mean --json?)");
  const cas = await bench("bench.ts", ["--case", "tb-learned-D23"]);
  assert.equal(cas.code, 2);
  assert.match(
    cas.stderr.trim(),
    /^error: unknown --case "tb-learned-D23" \(did you mean "tb-learned-D32"\?\); cases: [^\n]+$/,
  );
  const steps = await bench("bench.ts", ["--steps", "0"]);
  assert.equal(steps.code, 2);
  assert.equal(steps.stderr.trim().split("\n").length, 1);
});

Deno.test("every bench entry point: commander --help (exit 0), an unknown flag or bad value is one line, exit 2", async () => {
  const cases: [string, string[], RegExp][] = [
    ["gemm.ts", ["--budget", "0"], /--budget/],
    ["sweep_embedded.ts", ["--jobs", "x"], /--jobs/],
    ["table2_step.ts", ["--alpha", "2"], /--alpha/],
    ["ising_logz.ts", ["x"], /positive integer/],
    ["nats_jobs.ts", ["--workers", "0"], /--workers/],
  ];
  for (const [file, badValue, re] of cases) {
    const help = await bench(file, ["--help"]);
    assert.equal(help.code, 0, `${file} --help`);
    assert.match(help.stdout, /^Usage: /, file);
    const unknown = await bench(file, ["--nope"]);
    assert.equal(unknown.code, 2, file);
    assert.equal(unknown.stderr.trim(), "error: unknown option '--nope'", file);
    const bad = await bench(file, badValue);
    assert.equal(bad.code, 2, file);
    assert.equal(bad.stderr.trim().split("\n").length, 1, `${file}: ${bad.stderr}`);
    assert.match(bad.stderr, re, file);
  }
});
