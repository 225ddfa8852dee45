/**
 * The self-contained HTML report: one file, inline CSS, tables as HTML tables, plots as inline SVG.
 * Nothing is loaded from anywhere (no scripts, no external stylesheets, fonts or images).
 */
import { type Cell, cellText, type TableModel } from "./model.ts";

export function escapeHtml(s: string): string {
  return s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );
}

/** Data columns beyond which a table wraps each `mean ± std` onto two lines (the paper's Table 3 has 10). */
export const WIDE_COLUMNS = 6;

/** A cell's HTML: `mean ± std` as two spans, so a wide table can put the ± std under the mean (CSS `.wide`). */
function cellHtml(c: Cell): string {
  const text = cellText(c);
  const i = c.kind === "stat" ? text.indexOf(" ± ") : -1;
  if (i < 0) return escapeHtml(text);
  return `<span class="m">${escapeHtml(text.slice(0, i))}</span> <span class="s">${
    escapeHtml(text.slice(i + 1))
  }</span>`;
}

export function tableToHtml(t: TableModel): string {
  const levels = t.header.length;
  const wide = t.header[t.header.length - 1].reduce((n, h) => n + h.span, 0) > WIDE_COLUMNS;
  const head = t.header.map((level, li) => {
    const stub = li === 0
      ? t.stub.map((s) => `<th scope="col" class="stub" rowspan="${levels}">${escapeHtml(s)}</th>`).join("")
      : "";
    const cells = level.map((h) =>
      `<th scope="col"${h.span > 1 ? ` colspan="${h.span}"` : ""}>${escapeHtml(h.text)}</th>`
    ).join("");
    return `<tr>${stub}${cells}</tr>`;
  }).join("\n");
  const body = t.body.map((r) => {
    const stub = r.stub.map((s) => `<th scope="row">${escapeHtml(s)}</th>`).join("");
    const cells = r.cells.map((c) => `<td>${cellHtml(c)}</td>`).join("");
    return `<tr${r.section ? ` class="${r.section}"` : ""}>${stub}${cells}</tr>`;
  }).join("\n");
  const notes = t.footnotes.length ? `<p class="notes">${t.footnotes.map(escapeHtml).join("<br>")}</p>` : "";
  return [
    `<section class="table" id="${escapeHtml(t.id)}">`,
    `<h3>${escapeHtml(t.title)}</h3>`,
    `<p class="caption">${escapeHtml(t.caption)}</p>`,
    `<div class="scroll"><table${wide ? ` class="wide"` : ""}>`,
    `<thead>\n${head}\n</thead>`,
    `<tbody>\n${body}\n</tbody>`,
    `</table></div>`,
    notes,
    `</section>`,
  ].join("\n");
}

export interface HtmlPlot {
  id: string;
  title: string;
  svg: string;
}

export interface HtmlReport {
  title: string;
  /** Lines under the title (counts, fixed config, generation time). */
  summary: string[];
  tables: TableModel[];
  plots: HtmlPlot[];
  /** Failed jobs: id, label and error. */
  failures: { id: string; label: string; error: string }[];
}

const CSS = `
body { font-family: system-ui, -apple-system, "DejaVu Sans", "Liberation Sans", sans-serif; margin: 2rem auto;
  max-width: 1150px; padding: 0 1rem; color: #1d2327; background: #fff; }
h1 { font-size: 1.6rem; margin-bottom: .3rem; }
h2 { font-size: 1.3rem; border-bottom: 1px solid #ccd; padding-bottom: .2rem; margin-top: 2rem; }
h3 { font-size: 1.05rem; margin-bottom: .2rem; }
.summary { color: #444; margin: .1rem 0; }
nav a { margin-right: 1rem; }
.caption, .notes { color: #555; font-size: .9rem; margin: .2rem 0 .5rem; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; font-size: .92rem; }
thead th { border-bottom: 1px solid #333; text-align: center; padding: .25rem .6rem; }
thead tr:first-child th { border-top: 2px solid #333; }
tbody th { text-align: left; font-weight: normal; padding: .2rem .6rem; white-space: nowrap; }
tbody td { text-align: right; padding: .2rem .6rem; white-space: nowrap; }
tbody tr:last-child th, tbody tr:last-child td { border-bottom: 2px solid #333; }
tbody tr.exact th, tbody tr.exact td { border-top: 1px solid #333; font-style: italic; }
tbody tr:nth-child(even) { background: #f6f7f9; }
figure { margin: 1rem 0 2rem; }
figure svg { max-width: 100%; height: auto; }
figcaption { color: #555; font-size: .9rem; }
.failures td { text-align: left; white-space: normal; }
table.wide .s { display: block; font-size: .8rem; color: #555; }
table.wide td, table.wide thead th { padding: .2rem .45rem; }
`;

export function reportToHtml(r: HtmlReport): string {
  const nav = [
    `<a href="#tables">Tables</a>`,
    r.plots.length ? `<a href="#plots">Plots</a>` : "",
    r.failures.length ? `<a href="#failures">Failed jobs</a>` : "",
  ].join("");
  const failures = r.failures.length
    ? [
      `<section id="failures"><h2>Failed jobs (${r.failures.length})</h2>`,
      `<div class="scroll"><table class="failures"><thead><tr><th>job</th><th>config</th><th>error</th></tr></thead>`,
      `<tbody>`,
      ...r.failures.map((f) =>
        `<tr><td><code>${escapeHtml(f.id)}</code></td><td>${escapeHtml(f.label)}</td><td>${
          escapeHtml(f.error)
        }</td></tr>`
      ),
      `</tbody></table></div></section>`,
    ].join("\n")
    : "";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(r.title)}</title>
<style>${CSS}</style>
</head>
<body>
<h1>${escapeHtml(r.title)}</h1>
${r.summary.map((s) => `<p class="summary">${escapeHtml(s)}</p>`).join("\n")}
<nav>${nav}</nav>
<section id="tables">
<h2>Tables</h2>
${r.tables.map(tableToHtml).join("\n")}
</section>
${
    r.plots.length
      ? `<section id="plots">\n<h2>Plots</h2>\n${
        r.plots.map((p) =>
          `<figure id="plot-${escapeHtml(p.id)}">\n${p.svg}\n<figcaption>${
            escapeHtml(p.title)
          }</figcaption>\n</figure>`
        ).join("\n")
      }\n</section>`
      : ""
  }
${failures}
</body>
</html>
`;
}
