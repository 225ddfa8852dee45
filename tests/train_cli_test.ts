import assert from "node:assert/strict";
import { trainRun } from "../core/train/trainer.ts";
import { parseTrainConfig } from "../core/train/config.ts";
import { availableBackends, selectGemm } from "../backends/select.ts";
import { runMain } from "./helpers/cli.ts";

const badInputs: [string[], RegExp][] = [
  [["--cv", "bogus"], /--cv must be one of/],
  [["--objective", "xyz"], /--objective must be one of/],
  [["--task", "nope"], /--task must be one of/],
  [["--alpha", "1.5"], /--alpha must be in \[0, 1\]/],
  [["--alpha", "-0.1"], /--alpha must be in \[0, 1\]/],
  [["--L", "1"], /--L must be an integer ≥ 2/],
  [["--beta", "abc"], /--beta must be a number/],
  [["--steps", "0"], /--steps must be a positive integer/],
  [["--steps", "-3"], /--steps must be a positive integer/],
  [["--batch", "1"], /--batch must be at least 2/],
  [["--hidden", "64,x"], /--hidden must be a number/],
  [["--backend", "gpu"], /--backend must be one of/],
  [["--unknown-flag"], /unknown option/],
];
for (const [args, message] of badInputs) {
  Deno.test(`train ${args.join(" ")} → one line on stderr, exit 2`, async () => {
    const r = await runMain(["train", ...args]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.equal(r.stdout, "");
  });
}

Deno.test("train --json prints one record per evaluation and a final summary; --out writes the same JSONL", async () => {
  const out = await Deno.makeTempFile({ suffix: ".jsonl" });
  const r = await runMain([
    "train",
    ...["--L", "2", "--beta", "0.3", "--objective", "akl", "--cv", "opt-vector-loo", "--steps", "6"],
    ...["--eval-every", "3", "--hidden", "8", "--batch", "8", "--eval-samples", "50", "--backend", "cpu"],
    ...["--seed", "4", "--json", "--out", out],
  ]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.step), [0, 3, 6, 6]);
  for (const l of lines) {
    for (const k of ["step", "seconds", "e_logw", "log_z_hat", "exact_log_z", "exact_kl", "exact_e_logw"]) {
      assert.equal(typeof l[k], "number", `${k} in ${JSON.stringify(l)}`);
    }
    assert.ok(l.exact_e_logw <= l.exact_log_z);
  }
  const summary = lines[3];
  assert.equal(summary.final, true);
  assert.equal(summary.backend, "cpu");
  assert.equal(summary.steps, 6);
  const written = (await Deno.readTextFile(out)).trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(written, lines.slice(0, 3));
  await Deno.remove(out);
});

Deno.test("train --no-exact leaves out the exact metrics", async () => {
  const r = await runMain([
    "train",
    ...[
      "--L",
      "2",
      "--steps",
      "2",
      "--eval-every",
      "2",
      "--hidden",
      "8",
      "--batch",
      "8",
      "--eval-samples",
      "20",
    ],
    ...["--backend", "cpu", "--json", "--no-exact"],
  ]);
  assert.equal(r.code, 0, r.stderr);
  const last = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
  assert.equal(last.exact_kl, undefined);
  assert.equal(typeof last.e_logw, "number");
  assert.equal(typeof last.exact_log_z, "number", "log Z from the transfer matrix is still reported");
});

const tiny = parseTrainConfig({
  L: 2,
  beta: 0.5,
  objective: "akl",
  cv: "opt-scalar-loo",
  steps: 5,
  batch: 16,
  hidden: [16, 16],
  eval_every: 5,
  eval_samples: 64,
  seed: 9,
});

for (const backend of await availableBackends()) {
  Deno.test(`same seed, same backend (${backend}) → identical numbers`, async () => {
    const gemm = await selectGemm(backend as "cpu");
    const a = await trainRun(tiny, { gemm });
    const b = await trainRun(tiny, { gemm });
    assert.equal(a.e_logw, b.e_logw);
    assert.equal(a.exact_kl, b.exact_kl);
    const other = await trainRun({ ...tiny, seed: 10 }, { gemm });
    assert.notEqual(a.e_logw, other.e_logw, "a different seed changes the run");
  });
}

Deno.test("backends agree: a short run on each available backend matches the cpu run to float32 tolerance", async () => {
  const { jsGemm } = await import("../core/nn/gemm.ts");
  const ref = await trainRun(tiny, { gemm: jsGemm });
  for (const backend of await availableBackends()) {
    const s = await trainRun(tiny, { gemm: await selectGemm(backend as "cpu") });
    assert.ok(Math.abs(s.exact_kl! - ref.exact_kl!) < 1e-3 * (1 + Math.abs(ref.exact_kl!)), `${backend}`);
  }
});
