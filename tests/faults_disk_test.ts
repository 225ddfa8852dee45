/**
 * Fault suite: the disk fills up under the coordinator. Emulated with a file-size limit (`ulimit -f`, SIGXFSZ
 * ignored, so writes fail with EFBIG as they would with ENOSPC): the sweep ends with one line naming the store
 * and SQLite's reason (no "cannot rollback" masking it, no stack trace), exit 2, and the store stays
 * consistent: `status` reads it and `--resume` without the limit finishes every job. Two points of failure:
 * before the jobs are stored (the run is then empty, and starts afresh) and mid-run.
 */
import assert from "node:assert/strict";
import { cli, MAIN, ROOT } from "./helpers/faults.ts";

async function limited(kb: number, args: string[]) {
  const q = (s: string) => `'${s.replaceAll("'", "'\\''")}'`;
  const script = `trap '' XFSZ; ulimit -f ${kb}; exec ${q(Deno.execPath())} run -A ${q(MAIN)} ${
    args.map(q).join(" ")
  }`;
  const out = await new Deno.Command("bash", {
    args: ["-c", script],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

for (const [kb, when] of [[400, "before the jobs are stored"], [1600, "mid-run"]] as const) {
  Deno.test(`faults: disk full ${when} — one line with the real error, store consistent, --resume finishes`, async () => {
    const dir = await Deno.makeTempDir({ prefix: "flowsweep-faults-disk-" });
    try {
      await Deno.writeTextFile(`${dir}/s.yaml`, "name: full\nkind: noop\nseeds: 3000\n");
      const base = ["sweep", `${dir}/s.yaml`, "--run-dir", `${dir}/run`, "--progress", "none", "--no-report"];
      const r = await limited(kb, [...base, "--workers", "2"]);
      assert.equal(r.code, 2, r.stderr);
      const last = r.stderr.trim().split("\n").pop()!;
      assert.match(
        last,
        /^error: cannot write results store .*results\.sqlite: (disk I\/O error|database or disk is full)/,
      );
      assert.doesNotMatch(r.stderr, /rollback|^\s+at /m);
      const st = await cli(["status", `${dir}/run`, "--json"]);
      assert.equal(st.code, 0, st.stderr);
      const before = JSON.parse(st.stdout);
      if (when === "mid-run") assert.equal(before.total, 3000);
      else assert.equal(before.total, 0);
      const again = await cli([...base, "--resume", "--workers", "2"]);
      assert.equal(again.code, 0, again.stderr);
      const after = JSON.parse((await cli(["status", `${dir}/run`, "--json"])).stdout);
      assert.deepEqual([after.total, after.done, after.failed], [3000, 3000, 0]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
}
