/**
 * May a run directory be resumed with this spec? A run directory holds one sweep: resuming it with an edited
 * spec would mix two sweeps in one table (issue 10, item 3). The check compares the jobs the spec expands to
 * with the stored ones, and shows the edit as a line diff of the spec texts. Pure.
 */

export interface ResumeCheck {
  /** Ids of the spec's jobs the run directory does not hold yet. */
  added: string[];
  /** Ids of stored jobs the spec no longer expands to. */
  removed: string[];
  /** `-`/`+` lines of the spec text that changed (empty when the texts are equal or unknown). */
  diff: string[];
}

/** Jobs added and removed by the spec edit, and the changed lines of the spec text. */
export function checkResume(
  stored: { ids: readonly string[]; specText?: string },
  current: { ids: readonly string[]; specText: string },
): ResumeCheck {
  const have = new Set(stored.ids);
  const want = new Set(current.ids);
  return {
    added: current.ids.filter((id) => !have.has(id)),
    removed: stored.ids.filter((id) => !want.has(id)),
    diff: stored.specText === undefined ? [] : lineDiff(stored.specText, current.specText),
  };
}

/**
 * The error of a resume that would change the sweep, or null when it may go on: with `extend`, jobs may be
 * added (never removed); without it, the jobs must be exactly the stored ones.
 */
export function resumeRefusal(
  check: ResumeCheck,
  o: { runDir: string; specPath: string; extend: boolean; maxDiffLines?: number },
): string | null {
  const { added, removed } = check;
  if (removed.length === 0 && (added.length === 0 || o.extend)) return null;
  const what = [
    added.length ? `adds ${added.length} job(s)` : "",
    removed.length ? `drops ${removed.length} of its ${removed.length === 1 ? "job" : "jobs"}` : "",
  ].filter(Boolean).join(" and ");
  const hint = removed.length
    ? `run the edited spec in another --run-dir (the stored results belong to the old spec)`
    : `pass --extend to add the new jobs to this run, or use another --run-dir`;
  const max = o.maxDiffLines ?? 40;
  const diff = check.diff.length
    ? [
      `spec changes (${o.runDir}/spec.yaml → ${o.specPath}):`,
      ...check.diff.slice(0, max).map((l) => `  ${l}`),
      ...(check.diff.length > max ? [`  … ${check.diff.length - max} more changed lines`] : []),
    ]
    : [];
  return [`the spec changed since ${o.runDir} was started: it ${what}; ${hint}`, ...diff].join("\n");
}

/** Changed lines of `b` against `a` (LCS over lines; comments and blanks ignored): `- old`, `+ new`. */
export function lineDiff(a: string, b: string): string[] {
  // comments are dropped, except the `# override: ` lines a run keeps (core/sweep/overrides.ts)
  const norm = (t: string) =>
    t.split("\n").map((l) => l.startsWith("# override: ") ? l : l.replace(/\s+#.*$|^\s*#.*$/, "").trimEnd())
      .filter((l) => l.trim() !== "");
  const x = norm(a), y = norm(b);
  const n = x.length, m = y.length;
  const L = Array.from({ length: n + 1 }, () => new Int32Array(m + 1));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      L[i][j] = x[i] === y[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
    }
  }
  const out: string[] = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && x[i] === y[j]) (i++, j++);
    else if (i < n && (j === m || L[i + 1][j] >= L[i][j + 1])) out.push(`- ${x[i++]}`);
    else out.push(`+ ${y[j++]}`);
  }
  return out;
}
