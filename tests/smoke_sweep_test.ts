/**
 * The README's first command end to end: `sweep sweeps/smoke.yaml` trains real GFlowNets in embedded mode and
 * writes a report with mean ± std cells, PNG plots and an HTML page that Chromium renders with the table.
 */
import assert from "node:assert/strict";
import { runMain } from "./helpers/cli.ts";
import { CHROMIUM, chromium, decodePng, exists, WINDOW } from "./helpers/browser.ts";

const skipBrowser = !exists(CHROMIUM) && Deno.env.get("FLOWSWEEP_NO_BROWSER") === "1";

Deno.test("smoke sweep: 6 real jobs → tables.md with mean ± std cells, PNG plots, index.html rendered in Chromium", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const runDir = `${dir}/run`;
    const r = await runMain(["sweep", "sweeps/smoke.yaml", "--run-dir", runDir, "--progress", "lines"]);
    assert.equal(r.code, 0, r.stderr.slice(-2000));
    assert.match(r.stderr, /6 done, 0 failed/);

    const md = await Deno.readTextFile(`${runDir}/report/tables.md`);
    // Table 3-style layout of the spec: rows objective × cv, one β column; every cell mean ± std over 2 seeds
    // (the paper's labels: αTB/αKL, the control variates by name; report/labels.ts)
    const rows = md.split("\n").filter((l) => /^\| (αTB|αKL) \| (learned|log Z) \|/.test(l));
    assert.ok(rows.length >= 3, md.slice(0, 2000));
    const cell = /(-?\d+\.\d+) ± (\d+\.\d+)/;
    for (const row of rows) assert.match(row, cell, row);
    // trained to the target: E_Q[log w] within 0.1 nats of the exact log Z = 8.456 of the 3×3 Ising model
    const elogw = md.split("\n").find((l) => l.startsWith("| αKL | learned | 8."));
    assert.ok(elogw, "E[log w] row");
    assert.ok(Math.abs(Number(elogw!.match(cell)![1]) - 8.456) < 0.1, elogw);

    const plots = [...Deno.readDirSync(`${runDir}/report/plots`)].map((e) => e.name);
    const pngs = plots.filter((n) => n.endsWith(".png"));
    assert.ok(pngs.includes("curve-e-logw.png"), plots.join(" "));
    for (const name of pngs) {
      const img = decodePng(await Deno.readFile(`${runDir}/report/plots/${name}`));
      assert.ok(img.width > 100 && img.height > 100, `${name}: ${img.width}×${img.height}`);
    }

    if (skipBrowser) {
      console.log(`  browser part skipped: ${CHROMIUM} not found (FLOWSWEEP_NO_BROWSER=1)`);
      return;
    }
    assert.ok(
      exists(CHROMIUM),
      `${CHROMIUM} missing: apt-get install -y chromium (or FLOWSWEEP_NO_BROWSER=1)`,
    );
    const url = `file://${runDir}/report/index.html`;
    const dom = await chromium(url, ["--dump-dom"], `${dir}/chrome-a`);
    assert.match(dom, /<table/);
    // a cell is `<span class="m">mean</span> <span class="s">± std</span>` (wide tables put the std below)
    assert.match(
      dom.replace(/<\/?span[^>]*>/g, ""),
      /<td[^>]*>\s*8\.\d+ ± \d\.\d+/,
      "a rendered E[log w] cell",
    );
    const shot = `${dir}/shot.png`;
    await chromium(
      url,
      [`--screenshot=${shot}`, `--window-size=${WINDOW.width},${WINDOW.height}`],
      `${dir}/chrome-b`,
    );
    const img = decodePng(await Deno.readFile(shot));
    assert.deepEqual([img.width, img.height], [WINDOW.width, WINDOW.height]);
    let ink = 0;
    for (let i = 0; i < img.pixels.length; i += 4) if (img.pixels[i] < 200) ink++;
    assert.ok(ink / (img.width * img.height) > 0.01, `screenshot looks blank (${ink} dark pixels)`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
