/**
 * The live dashboard (issue 10, item 6): `flowsweep serve RUN_DIR` and `flowsweep sweep SPEC --serve [PORT]`
 * serve a run directory on localhost with Deno's HTTP server and push its state to the page with server-sent
 * events, so the page updates while jobs run, without a reload:
 *
 *   GET /            the dashboard (one self-contained page; its script listens to /events)
 *   GET /events      text/event-stream: an `state` event now and whenever the run changes
 *   GET /api/state   the same state as JSON
 *   GET /report/...  the written report (RUN_DIR/report/), once there is one
 *
 * The state: counts and ETA, each running job's config, step and latest metrics (coordinator/snapshot.ts),
 * live curves of every job with history (running ones dashed), the layouts' tables filling in as jobs
 * finish, and the failures with their reasons. The server only reads the results store (read-only SQLite,
 * WAL), so it runs beside the coordinator or on a finished run.
 */
import { aggregateFinal, ignoredAxes, MAIN_METRICS, metricValue, pivot } from "../core/sweep/aggregate.ts";
import type { JobRecord, ReportLayout } from "../core/sweep/job.ts";
import { type RunSnapshot, runSnapshot } from "../coordinator/snapshot.ts";
import { openStore, type ResultStore, storePath } from "../coordinator/store.ts";
import { escapeHtml, tableToHtml } from "./html.ts";
import { groupsTable, pivotTable, pivotTitle } from "./model.ts";
import { liveCurveSpec, specToSvg } from "./plots.ts";

export interface DashboardState {
  /** null until the sweep has created its results store. */
  snapshot: RunSnapshot | null;
  /** The layouts' tables (or the all-groups table) as HTML, from the finished jobs. */
  tablesHtml: string;
  /** Live curves (SVG) of the main metric, one line per job with history. */
  curvesSvg: string;
  /** The metric the curves show. */
  curveMetric?: string;
  /** Whether RUN_DIR/report/index.html exists. */
  report: boolean;
}

export interface ServeOptions {
  /** Port on 127.0.0.1 (0: any free port). Default 8787. */
  port?: number;
  hostname?: string;
  /** How often the store is read for changes (ms). Default 500. */
  pollMs?: number;
  /** Local workers (for the ETA). */
  workers?: number;
  signal?: AbortSignal;
}

export interface Dashboard {
  url: string;
  port: number;
  finished: Promise<void>;
  shutdown(): Promise<void>;
}

/** The main metric of the curves: the first layout's metric if jobs record it, else the first main metric. */
function curveMetric(records: JobRecord[], layouts: ReportLayout[]): string | undefined {
  const has = (m: string) => records.some((r) => r.history.some((h) => metricValue(h, m) !== undefined));
  const want = [...layouts.map((l) => l.metric), ...MAIN_METRICS.filter((m) => m !== "exact_log_z")];
  return want.find(has);
}

/** Reads the run's state: snapshot, tables, live curves. */
export async function dashboardState(
  st: ResultStore,
  runDir: string,
  workers?: number,
): Promise<DashboardState> {
  const snapshot = runSnapshot(st, Date.now(), workers);
  const records = st.records();
  const layouts = st.layouts();
  const varied = st.value("varied");
  const ignore = ignoredAxes(records, Array.isArray(varied) ? varied.map(String) : undefined);
  const tables: string[] = [];
  layouts.forEach((layout, li) => {
    const ps = pivot(records, layout, ignore);
    ps.forEach((p, si) => tables.push(tableToHtml(pivotTable(p, `live-${li}-${si}`, pivotTitle(p, li)))));
  });
  if (tables.length === 0 && records.some((r) => r.status === "done")) {
    const agg = aggregateFinal(records, ignore);
    tables.push(tableToHtml(groupsTable(agg, agg.metrics.filter((m) => MAIN_METRICS.includes(m)), 3)));
  }
  const metric = curveMetric(records, layouts);
  let curvesSvg = "";
  if (metric) {
    const lines = snapshot.jobs.flatMap((j) => {
      const rec = records.find((r) => r.id === j.id)!;
      const points = rec.history.flatMap((h) => {
        const step = metricValue(h, "step"), v = metricValue(h, metric);
        return step !== undefined && v !== undefined ? [{ step, value: v }] : [];
      });
      if (points.length === 0) return [];
      const label = Object.entries(j.summary).map(([k, v]) => `${k}=${formatValue(v)}`).join(", ") || j.id;
      return [{ label, running: j.status === "running", points }];
    });
    if (lines.length) curvesSvg = await specToSvg(liveCurveSpec(metric, lines));
  }
  let report = false;
  try {
    report = Deno.statSync(`${runDir}/report/index.html`).isFile;
  } catch { /* not written yet */ }
  return { snapshot, tablesHtml: tables.join("\n"), curvesSvg, curveMetric: metric, report };
}

function formatValue(v: unknown): string {
  return typeof v === "string" ? v : JSON.stringify(v);
}

const MIME: Record<string, string> = {
  html: "text/html; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  csv: "text/csv; charset=utf-8",
  md: "text/markdown; charset=utf-8",
  tex: "text/plain; charset=utf-8",
};

/** Serves the dashboard of `runDir` until `signal` aborts or `shutdown()`. */
export function serveDashboard(runDir: string, opts: ServeOptions = {}): Promise<Dashboard> {
  const dir = runDir.replace(/\/+$/, "") || ".";
  const pollMs = opts.pollMs ?? 500;
  let store: ResultStore | null = null;
  const state = async (): Promise<DashboardState> => {
    if (!store) {
      try {
        Deno.statSync(storePath(dir));
        store = openStore(dir, { readOnly: true });
      } catch {
        return { snapshot: null, tablesHtml: "", curvesSvg: "", report: false };
      }
    }
    return await dashboardState(store, dir, opts.workers);
  };
  // One reader for every client: the state is rebuilt when a poll finds the store changed.
  let cached: { key: string; json: string } | null = null;
  const current = async (): Promise<string> => {
    const key = changeKey(store, dir);
    if (!cached || cached.key !== key || key === "") cached = { key, json: JSON.stringify(await state()) };
    return cached.json;
  };

  const clients = new Set<AbortController>();
  const handler = async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (req.method !== "GET") return new Response("method not allowed", { status: 405 });
    if (url.pathname === "/" || url.pathname === "/index.html") {
      return new Response(dashboardHtml(dir), { headers: { "content-type": MIME.html } });
    }
    if (url.pathname === "/api/state") {
      return new Response(await current(), { headers: { "content-type": "application/json" } });
    }
    if (url.pathname === "/events") return events(req);
    if (url.pathname.startsWith("/report/")) return reportFile(url.pathname.slice("/report/".length));
    return new Response("not found", { status: 404 });
  };

  const events = (req: Request): Response => {
    const ac = new AbortController();
    clients.add(ac);
    const enc = new TextEncoder();
    let last = "";
    const body = new ReadableStream<Uint8Array>({
      async start(ctrl) {
        const send = async () => {
          const json = await current();
          if (json !== last) {
            last = json;
            ctrl.enqueue(enc.encode(`event: state\ndata: ${json}\n\n`));
          } else ctrl.enqueue(enc.encode(`: alive\n\n`));
        };
        try {
          ctrl.enqueue(enc.encode(`retry: 1000\n\n`));
          while (!ac.signal.aborted && !req.signal.aborted) {
            await send();
            await new Promise((r) => setTimeout(r, pollMs));
          }
        } catch { /* client gone */ }
        clients.delete(ac);
        try {
          ctrl.close();
        } catch { /* already closed */ }
      },
      cancel() {
        ac.abort();
        clients.delete(ac);
      },
    });
    return new Response(body, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" },
    });
  };

  const reportFile = async (rel: string): Promise<Response> => {
    if (rel === "") rel = "index.html";
    if (rel.split("/").some((p) => p === "" || p === "." || p === "..")) {
      return new Response("bad path", { status: 400 });
    }
    try {
      const data = await Deno.readFile(`${dir}/report/${rel}`);
      const ext = rel.slice(rel.lastIndexOf(".") + 1);
      return new Response(data, { headers: { "content-type": MIME[ext] ?? "application/octet-stream" } });
    } catch {
      return new Response("no such report file (the report is written when the sweep ends)", { status: 404 });
    }
  };

  return new Promise((resolve, reject) => {
    try {
      let addr: { port: number; hostname: string } | null = null;
      const server = Deno.serve({
        port: opts.port ?? 8787,
        hostname: opts.hostname ?? "127.0.0.1",
        signal: opts.signal,
        onListen: (a) => (addr = a),
      }, handler);
      const { port, hostname } = addr ?? (server.addr as Deno.NetAddr);
      const host = hostname.includes(":") ? `[${hostname}]` : hostname;
      resolve({
        url: `http://${host}:${port}/`,
        port,
        finished: server.finished.then(() => {
          for (const c of clients) c.abort();
          store?.close();
        }),
        shutdown: async () => {
          for (const c of clients) c.abort();
          await server.shutdown();
        },
      });
    } catch (err) {
      reject(err);
    }
  });
}

/** What changes when the run moves: the store file's and its WAL's sizes and times (cheap to poll). */
function changeKey(store: ResultStore | null, dir: string): string {
  if (!store) return "";
  const parts: string[] = [];
  for (const f of [storePath(dir), `${storePath(dir)}-wal`, `${dir}/report/index.html`]) {
    try {
      const s = Deno.statSync(f);
      parts.push(`${s.size}:${s.mtime?.getTime()}`);
    } catch {
      parts.push("-");
    }
  }
  // running jobs' elapsed time and the coordinator's liveness move with the clock
  return `${parts.join("|")}|${Math.floor(Date.now() / 2000)}`;
}

/** The dashboard page: static markup, styles and a script that renders each `state` event. */
export function dashboardHtml(runDir: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>flowsweep: ${escapeHtml(runDir)}</title>
<style>${DASHBOARD_CSS}</style>
</head>
<body>
<header>
<h1 id="title">flowsweep · ${escapeHtml(runDir)}</h1>
<p id="live" class="live" data-state="connecting">connecting…</p>
</header>
<section id="counts" class="counts"></section>
<section id="running-section"><h2>Running jobs</h2><div class="scroll"><table id="running"><thead><tr>
<th>job</th><th>config</th><th>progress</th><th>ETA</th><th>latest metrics</th></tr></thead><tbody></tbody></table></div>
</section>
<section id="curves-section"><h2 id="curves-title">Curves</h2><div id="curves"></div></section>
<section id="tables-section"><h2>Tables</h2><p class="caption">Filled in as jobs finish: mean ± sample std over
seeds of the finished jobs.</p><div id="tables"></div></section>
<section id="failures-section"><h2>Failures</h2><div class="scroll"><table id="failures"><thead><tr>
<th>job</th><th>config</th><th>attempts</th><th>reason</th></tr></thead><tbody></tbody></table></div></section>
<p id="report-link"></p>
<script>${DASHBOARD_JS}</script>
</body>
</html>
`;
}

const DASHBOARD_CSS = `
body { font-family: system-ui, -apple-system, "DejaVu Sans", "Liberation Sans", sans-serif; margin: 1.5rem auto;
  max-width: 1200px; padding: 0 1rem; color: #1d2327; background: #fff; }
h1 { font-size: 1.5rem; margin: 0 0 .2rem; }
h2 { font-size: 1.15rem; border-bottom: 1px solid #ccd; padding-bottom: .2rem; margin-top: 1.6rem; }
h3 { font-size: 1rem; margin-bottom: .2rem; }
.live { color: #555; margin: 0; }
.live[data-state="live"]::before { content: "● "; color: #1a7f37; }
.live[data-state="lost"]::before { content: "● "; color: #b42318; }
.counts { display: flex; gap: .6rem; flex-wrap: wrap; margin-top: 1rem; }
.count { border: 1px solid #d0d7de; border-radius: 6px; padding: .4rem .8rem; min-width: 6rem; }
.count b { display: block; font-size: 1.4rem; font-variant-numeric: tabular-nums; }
.count.failed b { color: #b42318; } .count.done b { color: #1a7f37; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: .9rem; }
th, td { padding: .25rem .6rem; text-align: left; vertical-align: top; }
thead th { border-bottom: 1px solid #333; }
tbody tr:nth-child(even) { background: #f6f7f9; }
#tables thead th { text-align: center; } #tables tbody td { text-align: right; white-space: nowrap; }
.bar { width: 10rem; height: .7rem; background: #eef; border-radius: 4px; overflow: hidden; display: inline-block;
  vertical-align: middle; margin-right: .4rem; }
.bar span { display: block; height: 100%; background: #4c78a8; }
.caption, .notes { color: #555; font-size: .88rem; margin: .2rem 0 .5rem; }
#curves svg { max-width: 100%; height: auto; }
.empty { color: #777; font-style: italic; }
table.wide .s { display: block; font-size: .8rem; color: #555; }
code { font-size: .85rem; }
`;

// The page's script: plain DOM, no libraries. Elements carry data-* attributes the tests read.
const DASHBOARD_JS = `
const $ = (id) => document.getElementById(id);
const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"})[c]);
const fmtMs = (ms) => { const s = Math.round(ms / 1000); if (s < 60) return s + "s"; const m = Math.floor(s / 60);
  return m < 60 ? m + "m" + String(s % 60).padStart(2, "0") + "s" : Math.floor(m / 60) + "h" + String(m % 60).padStart(2, "0") + "m"; };
const fmtV = (v) => typeof v === "number" ? (Number.isInteger(v) ? String(v) : v.toPrecision(5)) : String(v);
const summary = (s) => Object.entries(s).map(([k, v]) => k + "=" + (typeof v === "string" ? v : JSON.stringify(v))).join(", ");
const SKIP = new Set(["step", "seconds", "final", "steps", "backend", "test_seed"]);
let updates = 0;
function render(st) {
  updates++;
  document.body.dataset.updates = String(updates);
  const s = st.snapshot;
  if (!s) { $("counts").innerHTML = '<p class="empty">waiting for the sweep to create its results store…</p>'; return; }
  $("title").textContent = "flowsweep · " + s.name;
  const eta = s.etaMs !== undefined ? fmtMs(s.etaMs) : (s.running + s.queued > 0 ? "…" : "—");
  $("counts").innerHTML = [["total", s.total], ["done", s.done], ["running", s.running], ["queued", s.queued],
    ["failed", s.failed], ["ETA", eta], ["coordinator", s.coordinator]].map(([k, v]) =>
    '<div class="count ' + k + '" data-count="' + k + '" data-value="' + esc(v) + '"><b>' + esc(v) + '</b>' + k + '</div>').join("");
  const running = s.jobs.filter((j) => j.status === "running");
  $("running").querySelector("tbody").innerHTML = running.length ? running.map((j) => {
    const frac = j.steps && j.step !== undefined ? Math.min(1, j.step / j.steps) : 0;
    const latest = j.latest ? Object.entries(j.latest).filter(([k, v]) => !SKIP.has(k) && typeof v === "number")
      .slice(0, 6).map(([k, v]) => k + " " + fmtV(v)).join(", ") : "";
    return '<tr data-job="' + esc(j.id) + '" data-step="' + esc(j.step ?? "") + '"><td><code>' + esc(j.id) + '</code><br>' + esc(j.stage) +
      '</td><td>' + esc(summary(j.summary)) + '</td><td><span class="bar"><span style="width:' + (100 * frac).toFixed(1) +
      '%"></span></span>' + (j.step !== undefined ? "step " + esc(j.step) + (j.steps ? "/" + esc(j.steps) : "") : "starting") +
      '</td><td>' + (j.etaMs !== undefined ? fmtMs(j.etaMs) : "…") + '</td><td>' + esc(latest) + '</td></tr>';
  }).join("") : '<tr><td colspan="5" class="empty">no job running</td></tr>';
  $("curves-title").textContent = st.curveMetric ? "Curves: " + st.curveMetric + " over training (running jobs dashed)" : "Curves";
  $("curves").innerHTML = st.curvesSvg || '<p class="empty">no evaluation recorded yet</p>';
  $("tables").innerHTML = st.tablesHtml || '<p class="empty">no finished job yet</p>';
  const failed = s.jobs.filter((j) => j.status === "failed");
  $("failures").querySelector("tbody").innerHTML = failed.length ? failed.map((j) =>
    '<tr data-job="' + esc(j.id) + '"><td><code>' + esc(j.id) + '</code></td><td>' + esc(summary(j.summary)) + '</td><td>' + esc(j.attempts) +
    '</td><td>' + esc(j.error || "") + '</td></tr>').join("") : '<tr><td colspan="4" class="empty">none</td></tr>';
  $("report-link").innerHTML = st.report ? '<a href="report/index.html">The written report (tables, plots, CSV, LaTeX)</a>' : "";
}
const es = new EventSource("events");
es.addEventListener("state", (e) => { $("live").dataset.state = "live"; $("live").textContent = "live"; render(JSON.parse(e.data)); });
es.onerror = () => { $("live").dataset.state = "lost"; $("live").textContent = "connection lost, retrying…"; };
`;
