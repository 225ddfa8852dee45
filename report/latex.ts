/** LaTeX (booktabs) rendering of table models. Needs `\usepackage{booktabs}` in the document. */
import { type Cell, DAGGER, DDAGGER, statParts, type TableModel } from "./model.ts";

const TEXT_ESCAPES: Record<string, string> = {
  "\\": "\\textbackslash{}",
  "&": "\\&",
  "%": "\\%",
  "$": "\\$",
  "#": "\\#",
  "_": "\\_",
  "{": "\\{",
  "}": "\\}",
  "~": "\\textasciitilde{}",
  "^": "\\textasciicircum{}",
  "<": "\\textless{}",
  ">": "\\textgreater{}",
  "±": "$\\pm$",
  "—": "---",
  "–": "--",
  "−": "$-$",
  "×": "$\\times$",
  "·": "$\\cdot$",
  "≥": "$\\geq$",
  "≤": "$\\leq$",
  "‖": "$\\|$",
  [DAGGER]: "\\textsuperscript{\\dag}",
  [DDAGGER]: "\\textsuperscript{\\ddag}",
};

/** Escapes text for LaTeX text mode (the ten specials, plus the few non-ASCII symbols reports use). */
export function escapeLatex(s: string): string {
  return s.replace(/[\\&%$#_{}~^<>±—–−×·≥≤‖†‡]/g, (c) => TEXT_ESCAPES[c]);
}

/** A cell in LaTeX: `$369.30 \pm 0.90$`, `$20.14^{\dag}$` for n = 1, `---` when empty. */
export function latexCell(c: Cell): string {
  if (c.kind === "text") return escapeLatex(c.text);
  const p = statParts(c.stat, c.decimals, c.failed ?? 0);
  if (p.empty) return p.failed ? "---\\textsuperscript{\\ddag}" : "---";
  const marks = (p.single ? "\\dag" : "") + (p.failed ? "\\ddag" : "");
  const core = p.std !== undefined ? `${p.mean} \\pm ${p.std}` : p.mean;
  const n = c.showN ? ` \\;(n{=}${p.n})` : "";
  return marks ? `$${core}^{${marks}}${n}$` : `$${core}${n}$`;
}

export function tableToLatex(t: TableModel): string {
  const nStub = t.stub.length;
  const nData = t.header[t.header.length - 1].reduce((s, h) => s + h.span, 0);
  const lines: string[] = [
    "\\begin{table}[t]",
    "\\centering",
    `\\caption{${escapeLatex(t.title)}. ${escapeLatex(t.caption)}}`,
    `\\label{tab:${t.id.replace(/[^A-Za-z0-9:-]/g, "-")}}`,
    `\\begin{tabular}{${"l".repeat(nStub)}${"c".repeat(nData)}}`,
    "\\toprule",
  ];
  t.header.forEach((level, li) => {
    const last = li === t.header.length - 1;
    const stubCells = last ? t.stub.map(escapeLatex) : t.stub.map(() => "");
    const cells = level.map((h) =>
      h.span > 1 ? `\\multicolumn{${h.span}}{c}{${escapeLatex(h.text)}}` : escapeLatex(h.text)
    );
    lines.push(`${[...stubCells, ...cells].join(" & ")} \\\\`);
    if (!last) {
      let c = nStub + 1;
      const rules: string[] = [];
      for (const h of level) {
        rules.push(`\\cmidrule(lr){${c}-${c + h.span - 1}}`);
        c += h.span;
      }
      lines.push(rules.join(""));
    }
  });
  lines.push("\\midrule");
  for (const r of t.body) {
    if (r.section === "exact") lines.push("\\midrule");
    lines.push(`${[...r.stub.map(escapeLatex), ...r.cells.map(latexCell)].join(" & ")} \\\\`);
  }
  lines.push("\\bottomrule", "\\end{tabular}");
  if (t.footnotes.length) {
    lines.push(
      "\\par\\smallskip{\\footnotesize",
      t.footnotes.map(escapeLatex).join("\\\\\n"),
      "}",
    );
  }
  lines.push("\\end{table}");
  return lines.join("\n") + "\n";
}
