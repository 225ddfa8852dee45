/**
 * The live dashboard (report/serve.ts) as a person sees it: `sweep SPEC --serve 0` in a subprocess, the page
 * opened once in headless Chromium (DevTools protocol), and a running job's progress appearing on it without
 * a reload; then the tables filling in and the failure with its reason. Also the server's routes in-process.
 *
 * Needs /usr/bin/chromium for the browser part (CI installs it); FLOWSWEEP_NO_BROWSER=1 skips that part.
 * FLOWSWEEP_SCREENSHOT_DIR=docs/img writes the mid-run screenshot (docs/dashboard.md).
 */
import assert from "node:assert/strict";
import { CHROMIUM, exists } from "./helpers/browser.ts";
import { launch } from "./helpers/cdp.ts";
import { serveDashboard } from "../report/serve.ts";
import { openStore } from "../coordinator/store.ts";

const root = new URL("..", import.meta.url).pathname;
const skipBrowser = !exists(CHROMIUM) && Deno.env.get("FLOWSWEEP_NO_BROWSER") === "1";

Deno.test("serve: the page, /api/state and /events from a run directory; report files; 404", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const st = openStore(dir);
    st.addJobs([{
      job: {
        id: "b000000000000001",
        sweep: "s",
        stage: "main",
        kind: "train",
        config: { beta: 0.2, steps: 10 },
      },
      deps: [],
      seq: 0,
    }]);
    st.setMeta({ name: "s", layouts: [], createdAt: 1 });
    st.markRunning("b000000000000001", "w1", 1);
    st.appendHistory("b000000000000001", 1, { step: 5, seconds: 1, e_logw: 2.5 });
    st.close();
    const ac = new AbortController();
    const d = await serveDashboard(dir, { port: 0, signal: ac.signal, pollMs: 50 });
    try {
      const page = await (await fetch(d.url)).text();
      assert.match(page, /new EventSource\("events"\)/);
      const state = await (await fetch(`${d.url}api/state`)).json();
      assert.equal(state.snapshot.running, 1);
      assert.equal(state.snapshot.jobs[0].step, 5);
      assert.equal(state.curveMetric, "e_logw");
      assert.match(state.curvesSvg, /^<svg/);
      // the event stream sends the state at once
      const res = await fetch(`${d.url}events`);
      assert.equal(res.headers.get("content-type"), "text/event-stream");
      const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = "";
      while (!text.includes("event: state")) text += (await reader.read()).value ?? "";
      await reader.cancel();
      assert.equal((await fetch(`${d.url}report/index.html`)).status, 404);
      await Deno.mkdir(`${dir}/report`);
      await Deno.writeTextFile(`${dir}/report/index.html`, "<p>report</p>");
      assert.equal(await (await fetch(`${d.url}report/index.html`)).text(), "<p>report</p>");
      assert.equal((await fetch(`${d.url}report/../results.sqlite`)).status, 404);
      assert.equal((await fetch(`${d.url}nope`)).status, 404);
    } finally {
      ac.abort();
      await d.finished;
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name: "dashboard: in headless Chromium a running job's progress appears without a reload",
  ignore: skipBrowser,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    assert.ok(
      exists(CHROMIUM),
      `${CHROMIUM} not found: apt-get install -y chromium, or FLOWSWEEP_NO_BROWSER=1`,
    );
    const dir = Deno.makeTempDirSync({ prefix: "flowsweep-dashboard-" });
    const spec = `${dir}/live.yaml`;
    Deno.writeTextFileSync(
      spec,
      `name: live
base: {task: ising, L: 3, objective: akl, cv: learned, steps: 4000, batch: 16, hidden: [16], eval_every: 250,
  eval_samples: 64, lr: 0.005}
matrix: {beta: [0.2, 0.4]}
stages:
  - {name: train}
  - {name: broken, kind: fail, set: {reason: broken on purpose}, matrix: {beta: [0.2]}}
report: {title: "E[log w] by beta", rows: [objective], columns: [beta], metric: e_logw, decimals: 3}
`,
    );
    const proc = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${root}main.ts`,
        "sweep",
        spec,
        "--run-dir",
        `${dir}/run`,
        "--workers",
        "1",
        "--serve",
        "0",
      ],
      cwd: root,
      stdout: "null",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).spawn();
    const reader = proc.stderr.pipeThrough(new TextDecoderStream()).getReader();
    let log = "";
    const drain = (async () => {
      while (true) {
        const { value, done } = await reader.read();
        if (done) break;
        log += value;
      }
    })();
    const browser = await launch(`${dir}/chromium`);
    try {
      const t0 = Date.now();
      while (!/dashboard: (http:\/\/\S+)/.test(log)) {
        if (Date.now() - t0 > 60_000 || /\nerror/.test(log)) throw new Error(`no dashboard URL:\n${log}`);
        await new Promise((r) => setTimeout(r, 50));
      }
      const url = /dashboard: (http:\/\/\S+)/.exec(log)![1];
      const page = browser.page;
      await page.goto(url);
      await page.eval("window.__loadedOnce = true");
      // a running job with a step
      const first = await page.waitFor<{ id: string; step: number }>(
        `(() => { const r = [...document.querySelectorAll("#running tr[data-job]")]
            .find((r) => Number(r.dataset.step) > 0);
          return r && { id: r.dataset.job, step: Number(r.dataset.step) }; })()`,
        180_000,
      );
      assert.ok(first.step > 0);
      assert.match(await page.eval<string>(`document.querySelector("#running").textContent`), /beta=0\.\d/);
      const shot = Deno.env.get("FLOWSWEEP_SCREENSHOT_DIR");
      // its progress moves on the same page: a later step (or the job finished and left the running table)
      const later = await page.waitFor<number>(
        `(() => { const r = document.querySelector('#running tr[data-job="${first.id}"]');
          return !r ? -1 : Number(r.dataset.step) > ${first.step} ? Number(r.dataset.step) : 0; })()`,
      );
      assert.ok(later === -1 || later > first.step);
      if (shot) await Deno.writeFile(`${shot}/dashboard-running.png`, await browser.page.screenshot());
      assert.equal(await page.eval("window.__loadedOnce"), true, "the page was not reloaded");
      assert.ok(Number(await page.eval(`document.body.dataset.updates`)) >= 2);
      // the run ends: counts, the table filled in, the failure with its reason — still without a reload
      await page.waitFor(`document.querySelector('[data-count="done"]')?.dataset.value === "2"`, 300_000);
      await page.waitFor(`document.querySelector('#tables td') !== null`);
      const failures = await page.eval<string>(`document.querySelector("#failures").textContent`);
      assert.match(failures, /broken on purpose/);
      assert.equal(await page.eval(`document.querySelector('[data-count="failed"]').dataset.value`), "1");
      assert.equal(await page.eval("window.__loadedOnce"), true, "the page was not reloaded");
      await page.waitFor(`document.querySelector("#report-link a") !== null`, 60_000);
      if (shot) await Deno.writeFile(`${shot}/dashboard-finished.png`, await browser.page.screenshot());
    } finally {
      await browser.close();
      try {
        proc.kill("SIGINT");
      } catch { /* gone */ }
      await proc.status;
      await drain;
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
