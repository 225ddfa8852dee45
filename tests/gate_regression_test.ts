/**
 * The regression gate catches a real regression: the committed regression spec, run by a deliberately worse
 * build of the code (a copy of this checkout whose default learning rate is 0.05× the real one — what a bad
 * commit to core/train/config.ts would do), against the committed baseline, exits 1 and names the cells.
 * The spec and its hash are unchanged: only the code is worse. The Ising stage uses the default lr, the
 * hypergrid stage sets its own, so only Ising cells may be named.
 *
 * One full regression sweep (50 short jobs on the local cores; about 2 minutes on 2 idle cores).
 */
import assert from "node:assert/strict";
import { runMain } from "./helpers/cli.ts";
import { FAST } from "./helpers/slow.ts";

const root = new URL("..", import.meta.url).pathname;
const LR_DEFAULT = "lr: z.number().positive().default(1e-3)";

/** Copies the checkout's files (tracked and new, not ignored) to `dir`; node_modules is linked, not copied. */
async function copyCheckout(dir: string): Promise<void> {
  const out = await new Deno.Command("git", {
    args: ["ls-files", "--cached", "--others", "--exclude-standard", "-z"],
    cwd: root,
    stdout: "piped",
  }).output();
  assert.ok(out.success, "git ls-files");
  for (const f of new TextDecoder().decode(out.stdout).split("\0").filter(Boolean)) {
    try {
      const target = `${dir}/${f}`;
      await Deno.mkdir(target.slice(0, target.lastIndexOf("/")), { recursive: true });
      await Deno.copyFile(`${root}${f}`, target);
    } catch (err) {
      if (!(err instanceof Deno.errors.NotFound)) throw err; // a file deleted but not yet committed
    }
  }
  await Deno.symlink(`${root}node_modules`, `${dir}/node_modules`);
}

Deno.test({
  name:
    "gate: the regression spec run by a build with lr × 0.05 exits 1 against the committed baseline, naming the cells [slow]",
  ignore: FAST ||
    (await new Deno.Command("git", { args: ["--version"] }).output().catch(() => null))?.success !== true,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      await copyCheckout(`${dir}/src`);
      const cfg = `${dir}/src/core/train/config.ts`;
      const text = await Deno.readTextFile(cfg);
      assert.ok(text.includes(LR_DEFAULT), `the default lr moved: update ${LR_DEFAULT} in this test`);
      await Deno.writeTextFile(cfg, text.replace(LR_DEFAULT, "lr: z.number().positive().default(5e-5)"));

      const sweep = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "main.ts",
          "sweep",
          "sweeps/regression.yaml",
          "--run-dir",
          `${dir}/run`,
          "--progress",
          "none",
          "--no-report",
        ],
        cwd: `${dir}/src`,
        env: { NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(sweep.code, 0, new TextDecoder().decode(sweep.stderr));

      const r = await runMain(["gate", `${dir}/run`, "--baseline", "sweeps/baselines/regression.json"]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      const named = r.stdout.split("\n").filter((l) => l.startsWith("  regressed "));
      console.log(r.stdout);
      assert.ok(named.length >= 4, `at least 4 regressed cell × metric tests:\n${r.stdout}`);
      for (const l of named) {
        assert.match(l, /^ {2}regressed \(stage=ising, beta=-?0\.4, objective=(atb|akl), cv=[a-z-]+\) /);
        assert.match(
          l,
          / → .*; worse by \+[0-9.e+-]+, \+[0-9.]+%, d = [0-9.]+, tolerance [0-9.e-]+, p = [0-9.e-]+ \(Holm\)$/,
        );
      }
      assert.match(
        r.stdout,
        /note: resolved config differs from the baseline's: ising\.lr: 0\.001 → 0\.00005/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
