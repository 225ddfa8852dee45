/**
 * The HTML report as a person sees it: rendered from synthetic records into a temp dir, opened in Debian's
 * headless Chromium, checked through the DOM Chromium built (--dump-dom) and a screenshot (--screenshot).
 *
 * Needs /usr/bin/chromium (`apt-get install -y chromium`; CI installs it). Without it the test fails and says
 * so, unless FLOWSWEEP_NO_BROWSER=1, which skips it with a note.
 */
import assert from "node:assert/strict";
import { pivot } from "../core/sweep/aggregate.ts";
import { renderReport } from "../report/index.ts";
import { formatStat } from "../report/model.ts";
import { syntheticDensities, syntheticIsing, TABLE2_LAYOUT, TABLE3_LAYOUT } from "../report/synthetic.ts";
import { CHROMIUM, chromium, decodePng, exists, type Image, WINDOW } from "./helpers/browser.ts";

const haveChromium = exists(CHROMIUM);
const skip = !haveChromium && Deno.env.get("FLOWSWEEP_NO_BROWSER") === "1";
if (skip) console.log(`report_browser_test: skipped, ${CHROMIUM} not found (FLOWSWEEP_NO_BROWSER=1)`);

function inkFraction(img: Image, y0 = 0, y1 = img.height): number {
  let ink = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = 0; x < img.width; x++) {
      const i = (y * img.width + x) * 4;
      if (img.pixels[i] < 200 || img.pixels[i + 1] < 200 || img.pixels[i + 2] < 200) ink++;
    }
  }
  return ink / (img.width * (y1 - y0));
}

/** Text of every <th>/<td> inside the element with the given id (tags inside cells stripped, entities decoded). */
function cellsOf(dom: string, id: string, tag: "th" | "td"): string[] {
  const start = dom.indexOf(`id="${id}"`);
  assert.ok(start >= 0, `element #${id} in the DOM`);
  const end = dom.indexOf("</table>", start);
  const block = dom.slice(start, end);
  const decode = (s: string) =>
    s.replace(/<[^>]+>/g, "").replace(/&lt;/g, "<").replace(/&gt;/g, ">").replace(/&quot;/g, '"')
      .replace(/&#39;/g, "'").replace(/&amp;/g, "&").trim();
  return [...block.matchAll(new RegExp(`<${tag}\\b[^>]*>([\\s\\S]*?)</${tag}>`, "g"))].map((m) =>
    decode(m[1])
  );
}

Deno.test({
  name: "browser: headless Chromium renders index.html — DOM has the tables, screenshot is a non-blank PNG",
  ignore: skip,
  sanitizeResources: false,
  async fn() {
    assert.ok(
      haveChromium,
      `${CHROMIUM} not found: install it with \`apt-get install -y chromium\` (CI does), ` +
        `or set FLOWSWEEP_NO_BROWSER=1 to skip this test`,
    );
    const t0 = performance.now();
    const dir = await Deno.makeTempDir({ prefix: "flowsweep-browser-" });
    try {
      const records = [...syntheticIsing({ fail: [["learned", 0.4, 1]] }), ...syntheticDensities(3)];
      const report = await renderReport(records, [TABLE3_LAYOUT, TABLE2_LAYOUT], { png: false });
      await Deno.mkdir(`${dir}/report/plots`, { recursive: true });
      for (const [path, content] of report.files) {
        if (typeof content === "string") await Deno.writeTextFile(`${dir}/report/${path}`, content);
        else await Deno.writeFile(`${dir}/report/${path}`, content);
      }
      const url = `file://${dir}/report/index.html`;
      const blankUrl = `file://${dir}/blank.html`;
      await Deno.writeTextFile(`${dir}/blank.html`, "<!doctype html><html><body></body></html>");

      // ---- the DOM Chromium built
      const dom = await chromium(url, ["--dump-dom"], `${dir}/profile-dom`);
      assert.ok(
        dom.includes("<h1>flowsweep report: synthetic-ising, synthetic-densities</h1>"),
        dom.slice(0, 500),
      );
      const t3 = pivot(records, TABLE3_LAYOUT)[0];
      assert.deepEqual(cellsOf(dom, "table-3-e-log-w", "th"), [
        "control variate",
        "β = -0.4",
        "β = 0.2",
        "β = 0.4",
        "none",
        "learned",
        "log Z",
        "exact log Z",
      ]);
      const td = cellsOf(dom, "table-3-e-log-w", "td");
      assert.equal(td.length, 4 * 3);
      assert.deepEqual(td.slice(0, 3), t3.cells[0].map((c) => formatStat(c.stat, 2)));
      assert.match(td[0], /^\d+\.\d\d ± \d+\.\d\d$/);
      assert.ok(td[5].endsWith("‡"), `failed seed marked: ${td[5]}`);
      const t2th = cellsOf(dom, "table-2-nll", "th");
      assert.deepEqual(t2th.slice(0, 8), [
        "objective",
        "α",
        "learned energy",
        "fixed energy",
        "2 spirals",
        "8 Gaussians",
        "2 spirals",
        "8 Gaussians",
      ]);
      assert.ok(dom.includes('<th scope="col" colspan="2">learned energy</th>'));
      assert.equal((dom.match(/<svg\b/g) ?? []).length, report.plots.length, "every plot inlined as SVG");

      // ---- the screenshot, and a blank page's for comparison
      const shot = `${dir}/shot.png`;
      const blank = `${dir}/blank.png`;
      const size = `--window-size=${WINDOW.width},${WINDOW.height}`;
      await chromium(url, [`--screenshot=${shot}`, size], `${dir}/profile-shot`);
      await chromium(blankUrl, [`--screenshot=${blank}`, size], `${dir}/profile-blank`);
      const shotBytes = await Deno.readFile(shot);
      const blankBytes = await Deno.readFile(blank);
      const img = decodePng(shotBytes);
      const empty = decodePng(blankBytes);
      assert.deepEqual([img.width, img.height], [WINDOW.width, WINDOW.height]);
      assert.deepEqual([empty.width, empty.height], [WINDOW.width, WINDOW.height]);
      assert.ok(
        shotBytes.length > 5 * blankBytes.length,
        `screenshot ${shotBytes.length} B vs blank page ${blankBytes.length} B`,
      );
      assert.equal(inkFraction(empty), 0, "the blank page is white");
      const ink = inkFraction(img);
      assert.ok(ink > 0.01 && ink < 0.6, `ink fraction ${ink}`);
      // text in the top band (title) and ink spread down the page (tables, then plots)
      for (let band = 0; band < 4; band++) {
        const y0 = band * (WINDOW.height / 4);
        const f = inkFraction(img, y0, y0 + WINDOW.height / 4);
        assert.ok(f > 0.005, `band ${band} of the screenshot has ink (${f})`);
      }
      const keep = Deno.env.get("FLOWSWEEP_KEEP_SCREENSHOT");
      if (keep) await Deno.copyFile(shot, keep);
      console.log(
        `browser test: ${((performance.now() - t0) / 1000).toFixed(1)} s, screenshot ${shotBytes.length} B ` +
          `(blank ${blankBytes.length} B), ink ${(100 * ink).toFixed(1)}%`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
