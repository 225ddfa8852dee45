/** Markdown (GitHub pipe tables) rendering of table models. */
import { cellText, type TableModel } from "./model.ts";

/** Escapes what would break a pipe-table cell: pipes, backslashes and newlines. */
export function escapeMarkdownCell(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

/** Column header labels of the data columns, the header levels joined with ` · `. */
export function flatHeader(t: TableModel): string[] {
  const n = t.header[t.header.length - 1].reduce((s, h) => s + h.span, 0);
  const labels: string[][] = Array.from({ length: n }, () => []);
  for (const level of t.header) {
    let c = 0;
    for (const h of level) {
      for (let i = 0; i < h.span; i++) labels[c + i].push(h.text);
      c += h.span;
    }
  }
  return labels.map((l) => l.join(" · "));
}

export function tableToMarkdown(t: TableModel, headingLevel = 2): string {
  const head = [...t.stub, ...flatHeader(t)].map(escapeMarkdownCell);
  const align = [...t.stub.map(() => ":--"), ...flatHeader(t).map(() => "--:")];
  const lines = [
    `${"#".repeat(headingLevel)} ${t.title}`,
    "",
    t.caption,
    "",
    `| ${head.join(" | ")} |`,
    `| ${align.join(" | ")} |`,
  ];
  for (const r of t.body) {
    const stub = r.section === "exact" ? r.stub.map((s, i) => (i === 0 && s ? `*${s}*` : s)) : r.stub;
    const cells = [...stub, ...r.cells.map(cellText)].map(escapeMarkdownCell);
    lines.push(`| ${cells.join(" | ")} |`);
  }
  if (t.footnotes.length) lines.push("", ...t.footnotes.map((f) => `${f}  `));
  return lines.join("\n") + "\n";
}
