/** `train` on the 2D-density tasks: bad input exits 2 with one line, JSON records, energy save → fixed load, plots. */
import assert from "node:assert/strict";
import { runMain } from "./helpers/cli.ts";

const runCli = (args: string[]) => runMain(["train", ...args]);

const tiny = [
  ...[
    "--bits",
    "4",
    "--hidden",
    "8",
    "--energy-hidden",
    "8",
    "--batch",
    "8",
    "--steps",
    "4",
    "--eval-every",
    "2",
  ],
  ...["--eval-samples", "64", "--nll-points", "40", "--nll-trajectories", "4", "--mmd-samples", "64"],
  ...["--backend", "cpu", "--json"],
];

const dir = await Deno.makeTempDir({ prefix: "flowsweep-density-cli-" });
globalThis.addEventListener("unload", () => Deno.removeSync(dir, { recursive: true }));
const badJson = `${dir}/bad.json`;
await Deno.writeTextFile(badJson, "{ not json");

const badInputs: [string[], RegExp][] = [
  [["--task", "8gaussians", "--energy", "bogus"], /--energy must be one of learned\|fixed\|exact/],
  [["--task", "8gaussians", "--energy", "exact"], /energy exact needs bits ≤ 8 .*got bits 16/],
  [["--task", "8gaussians", "--bits", "1"], /invalid configuration: bits: /],
  [["--task", "ising", "--bits", "4"], /bits applies to the 2D density tasks only/],
  [["--task", "ising", "--plot-samples", "x.png"], /--plot-samples applies to the 2D density tasks only/],
  [["--task", "8gaussians", "--energy", "fixed"], /--energy fixed needs --energy-file/],
  [["--task", "8gaussians", "--energy-file", "e.json"], /energy_file needs energy: fixed/],
  [
    ["--task", "8gaussians", "--energy", "fixed", "--energy-file", `${dir}/missing.json`],
    /cannot read energy file/,
  ],
  [
    ["--task", "8gaussians", "--energy", "fixed", "--energy-file", badJson],
    /bad energy file .*bad\.json: not JSON/,
  ],
  [
    ["--task", "8gaussians", "--bits", "4", "--energy", "exact", "--save-energy", "e.json"],
    /--save-energy needs --energy learned/,
  ],
  [["--task", "8gaussians", "--plot-samples", "x.jpg"], /--plot-samples file must end in \.png or \.svg/],
  [["--task", "8gaussians", "--mh-rule", "gibbs"], /--mh-rule must be one of barker\|mh/],
  [["--task", "8gaussians", "--nll-points", "-1"], /--nll-points must be a non-negative integer/],
  [["--task", "8gaussians", "--mmd-samples", "1"], /mmd_samples must be 0 \(off\) or ≥ 2/],
];
for (const [args, message] of badInputs) {
  Deno.test(`train ${args.join(" ")} → one line on stderr, exit 2`, async () => {
    const r = await runCli(args);
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
    assert.equal(r.stdout, "");
  });
}

Deno.test("train --task 8gaussians --energy exact --json: nll, mmd, exact_nll and e_logw in every record", async () => {
  const r = await runCli([
    "--task",
    "8gaussians",
    "--energy",
    "exact",
    "--objective",
    "akl",
    "--alpha",
    "0.5",
    ...tiny,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
  assert.deepEqual(lines.map((l) => l.step), [0, 2, 4, 4]);
  for (const l of lines) {
    for (
      const k of [
        "e_logw",
        "nll",
        "nll_se",
        "nll_bits_per_dim",
        "exact_nll",
        "mmd",
        "mmd_unbiased",
        "exact_kl",
      ]
    ) {
      assert.equal(typeof l[k], "number", `${k} in ${JSON.stringify(l)}`);
    }
    assert.ok(l.nll > 0 && l.exact_nll > 0 && l.mmd >= 0);
    assert.ok(Math.abs(l.exact_log_z) < 1e-9);
    assert.equal(l.energy_exact_nll, undefined, "no energy network with energy exact");
  }
  assert.equal(lines[3].final, true);
});

Deno.test("train --save-energy after a learned run, then --energy fixed --energy-file: same energy (same log Z), PNG and SVG plots", async () => {
  const file = `${dir}/energy.json`, png = `${dir}/samples.png`, svg = `${dir}/samples.svg`;
  const learned = await runCli([
    ...["--task", "8gaussians", "--energy", "learned", "--alpha", "0.5", ...tiny],
    ...["--save-energy", file, "--plot-samples", png],
  ]);
  assert.equal(learned.code, 0, learned.stderr);
  const lastLearned = JSON.parse(learned.stdout.trim().split("\n").at(-1)!);
  assert.equal(typeof lastLearned.energy_exact_nll, "number");
  assert.equal(typeof lastLearned.mh_accept, "number");
  const ckpt = JSON.parse(await Deno.readTextFile(file));
  assert.equal(ckpt.format, "flowsweep-energy");
  assert.deepEqual(ckpt.architecture.sizes, [8, 8, 1]);
  const bytes = await Deno.readFile(png);
  assert.deepEqual(Array.from(bytes.subarray(0, 8)), [137, 80, 78, 71, 13, 10, 26, 10]);

  const fixed = await runCli([
    ...["--task", "8gaussians", "--energy", "fixed", "--energy-file", file, ...tiny],
    ...["--plot-samples", svg],
  ]);
  assert.equal(fixed.code, 0, fixed.stderr);
  const first = JSON.parse(fixed.stdout.trim().split("\n")[0]);
  assert.equal(first.exact_log_z, lastLearned.exact_log_z, "the loaded energy is the saved one");
  assert.equal(first.energy_exact_nll, lastLearned.energy_exact_nll);
  assert.equal(first.mh_accept, undefined, "a fixed energy is not trained");
  const text = await Deno.readTextFile(svg);
  assert.match(text, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  assert.match(text, /GFlowNet samples/);
  assert.match(text, /data samples/);

  // the same checkpoint for another architecture or task is refused
  const other = await runCli(["--task", "2spirals", "--energy", "fixed", "--energy-file", file, ...tiny]);
  assert.equal(other.code, 2);
  assert.match(other.stderr, /trained on task 8gaussians, this run is 2spirals/);
});
