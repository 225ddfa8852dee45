/**
 * Screenshots of a written report's layout tables for the docs (docs/dashboard.md):
 *
 *   npx -y deno@2 run -A tests/helpers/screenshots.ts RUN_DIR OUT.png
 *
 * Opens RUN_DIR/report/index.html in headless Chromium and captures the first layout table with its plot.
 */
import { launch } from "./cdp.ts";

if (import.meta.main) {
  const [runDir, out] = Deno.args;
  if (!runDir || !out) {
    console.error("usage: screenshots.ts RUN_DIR OUT.png");
    Deno.exit(2);
  }
  const profile = Deno.makeTempDirSync({ prefix: "flowsweep-shot-" });
  const browser = await launch(profile, { width: 1100, height: 900 });
  try {
    await browser.page.goto(`file://${Deno.realPathSync(`${runDir}/report/index.html`)}`);
    const id = await browser.page.eval<string>(
      `[...document.querySelectorAll("section.table")].map((s) => s.id).find((id) => id !== "groups")`,
    );
    await Deno.writeFile(out, await browser.page.screenshotOf([`#${id}`, `#plot-${id}`].slice(0, 1), 1100));
    await Deno.writeFile(
      out.replace(/\.png$/, "-plot.png"),
      await browser.page.screenshotOf([`#plot-${id}`], 1100),
    );
    console.log(`${out}: #${id}`);
  } finally {
    await browser.close();
    Deno.removeSync(profile, { recursive: true });
  }
}
