/**
 * Sweep spec files: YAML parsed with source positions and checked strictly (unknown keys, wrong types, empty
 * axes, ...). Every problem is reported as `file:line:column: message`. Pure: text in, data or SpecError out.
 *
 * ```yaml
 * name: table3                 # required; [A-Za-z0-9._-], names the default run directory
 * description: ...             # optional
 * kind: train                  # train (default) | noop | sleep | fail (the last three are test kinds)
 * base: { task: ising, L: 15 } # any training option; filled with defaults and validated per job
 * matrix:                      # axes: key → non-empty list of values; jobs are the cartesian product
 *   beta: [-1, -0.8, 0.8, 1]
 *   cv: [none, learned]
 * seeds: 10                    # a count (0..n-1) or a list of distinct non-negative integers
 * exclude: [{ cv: none, beta: [-1, 1] }]   # drop jobs matching every key (a list value matches any item)
 * include: [{ cv: opt-vector, beta: 0.4 }] # extra jobs: base + stage `set` + these keys (+ seeds)
 * max_attempts: 3              # deliveries per job before it counts as failed (worker crashes)
 * timeout: 30m                 # per attempt (seconds or 90s/10m/2h; default 600 s + 10 s × steps, ≤ 48 h);
 *                              # a stage may set its own; a job past it is killed and ends `failed: timeout`
 * stages:                      # optional; without it there is one stage "main"
 *   - name: learned
 *     set: { energy: learned } # keys fixed for this stage (an axis of the same key is dropped)
 *     matrix: { ... }          # axes replaced/added for this stage
 *     artifacts: [energy]      # what its jobs produce: artifact key `<job id>/<name>` (no "/", no "..")
 *   - name: fixed
 *     set: { energy: fixed }
 *     needs: [learned]         # runs after; a dependency that failed skips the job
 *     match: [task, seed]      # keys that pick the dependency job (default: the axes both stages share)
 *     inputs: { energy: learned.energy }   # input name → <stage>.<artifact>
 * report:                      # one table or a list of tables
 *   title: Table 3
 *   rows: [cv]
 *   columns: [beta]
 *   metric: e_logw
 *   decimals: 2
 * backend: webgpu             # compute backend of the local workers' train jobs (default auto; --backend wins)
 * seed_batch: 10               # device backends: seeds of a cell trained as one program, ≤ 10 per unit
 * gate:                        # optional: what the regression gate compares (core/sweep/gate.ts)
 *   alpha: 0.05                # family-wise error rate, Holm over every cell × metric (default 0.05)
 *   metrics:                   # metric → direction, or a mapping:
 *     exact_kl: lower          #   direction: lower | higher | closer (default: known per metric)
 *     e_logw: { direction: closer, target: exact_log_z, tolerance: 0.02, rel_tolerance: 0.1 }
 * ```
 */
import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, type Node, parseDocument } from "yaml";
import type { Job, ReportLayout } from "./job.ts";
import { MAX_SEED_BATCH, parseDurationS } from "./limits.ts";
import {
  DEFAULT_ALPHA,
  DEFAULT_DIRECTIONS,
  type Direction,
  DIRECTIONS,
  type GateMetric,
} from "./gate_spec.ts";

export type JobKind = Job["kind"];
export const JOB_KINDS: readonly JobKind[] = ["train", "noop", "sleep", "fail"];

/** 1-based line and column. */
export interface Pos {
  line: number;
  col: number;
  /** Where the value came from when not the file: e.g. `override steps=200` (core/sweep/overrides.ts). */
  source?: string;
}

export interface SpecIssue extends Pos {
  message: string;
}

/** A bad spec: one or more issues, each naming file:line:column. */
export class SpecError extends Error {
  override name = "SpecError";
  constructor(readonly file: string, readonly issues: SpecIssue[]) {
    super(formatIssues(file, issues));
  }
}

export function formatIssues(file: string, issues: SpecIssue[]): string {
  return [...issues]
    .sort((a, b) => a.line - b.line || a.col - b.col)
    .map((i) => `${i.source ?? `${file}:${i.line}:${i.col}`}: ${i.message}`)
    .join("\n");
}

export interface Located<T> {
  value: T;
  pos: Pos;
}

export interface Axis {
  key: string;
  pos: Pos;
  values: Located<unknown>[];
}

/** Key → value with the position of the value node. */
export type Assignment = Map<string, Located<unknown>>;

export interface ExcludeRule {
  pos: Pos;
  /** Key → accepted values (any of). */
  entries: Map<string, Located<unknown[]>>;
}

export interface IncludeEntry {
  pos: Pos;
  /** Restricts the entry to one stage (default: every stage). */
  stage?: Located<string>;
  values: Assignment;
}

export interface StageSpec {
  name: string;
  pos: Pos;
  kind?: Located<JobKind>;
  set: Assignment;
  matrix: Axis[];
  needs: Located<string>[];
  match?: Located<string[]>;
  /** Input name → producing stage and artifact name. */
  inputs: Map<string, Located<{ stage: string; artifact: string }>>;
  artifacts: Located<string>[];
  /** Per-attempt time limit of this stage's jobs in seconds (overrides the spec's). */
  timeoutS?: number;
}

export interface LayoutSpec {
  layout: ReportLayout;
  pos: Pos;
  /** Position of each row/column key, for checking they exist. */
  keys: Located<string>[];
  /** Position of the metric, for checking the jobs emit it. */
  metricPos: Pos;
}

export interface SweepSpec {
  file: string;
  name: string;
  description?: string;
  kind: Located<JobKind>;
  base: Assignment;
  basePos: Pos;
  matrix: Axis[];
  matrixPos: Pos;
  /** Seeds (each becomes config key `seed`); absent: the base config's seed. */
  seeds?: Located<number>[];
  exclude: ExcludeRule[];
  include: IncludeEntry[];
  /** Explicit stages, or one implicit stage named "main". */
  stages: StageSpec[];
  layouts: LayoutSpec[];
  /** The `gate:` section (regression gate), when present. */
  gate?: GateSection;
  maxAttempts: number;
  /** Per-attempt time limit of every job in seconds (default: derived from each job's size). */
  timeoutS?: number;
  /** Compute backend of train jobs (a name the CLI checks; absent: the `--backend` flag's). */
  backend?: Located<string>;
  /** `seed_batch: K`: jobs that differ only by seed run as units of ≤ K seeds (core/sweep/seed_batch.ts). */
  seedBatch?: Located<number>;
  rootPos: Pos;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

class Ctx {
  issues: SpecIssue[] = [];
  constructor(readonly doc: Document, readonly lc: LineCounter) {}

  pos(node: Node | null | undefined): Pos {
    const off = node?.range?.[0] ?? 0;
    const p = this.lc.linePos(off);
    return { line: p.line, col: p.col };
  }

  error(at: Node | Pos | null | undefined, message: string): void {
    const pos = at && "line" in at ? at : this.pos(at as Node | null | undefined);
    this.issues.push({ ...pos, message });
  }

  resolve(node: unknown): Node | null {
    if (node === null || node === undefined) return null;
    if (isAlias(node)) return (node.resolve(this.doc) as Node | undefined) ?? null;
    return node as Node;
  }

  js(node: Node | null): unknown {
    if (node === null) return null;
    return node.toJS(this.doc);
  }
}

function describe(ctx: Ctx, node: Node | null): string {
  if (node === null) return "nothing";
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  const v = ctx.js(node);
  if (v === null) return "null";
  if (typeof v === "string") return `the string ${JSON.stringify(v)}`;
  return `${typeof v} ${JSON.stringify(v)}`;
}

/** Edit distance with adjacent transpositions (optimal string alignment). */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/** " (did you mean "x"?)" when a known name is close. */
export function suggest(word: string, known: readonly string[]): string {
  let best = "", bestD = Infinity;
  for (const k of known) {
    const d = editDistance(word.toLowerCase(), k.toLowerCase());
    if (d < bestD) [best, bestD] = [k, d];
  }
  return bestD <= Math.max(1, Math.floor(word.length / 3)) ? ` (did you mean "${best}"?)` : "";
}

interface Entry {
  key: string;
  keyNode: Node;
  value: Node | null;
}

/** Entries of a mapping node; reports non-mapping nodes, non-string keys and (if `allowed`) unknown keys. */
function entries(ctx: Ctx, node: Node | null, where: string, allowed?: readonly string[]): Entry[] | null {
  if (node === null || !isMap(node)) {
    ctx.error(node, `${where} must be a mapping, got ${describe(ctx, node)}`);
    return null;
  }
  const out: Entry[] = [];
  for (const pair of node.items) {
    const keyNode = ctx.resolve(pair.key);
    const key = keyNode && isScalar(keyNode) ? keyNode.value : undefined;
    if (typeof key !== "string" || key === "") {
      ctx.error(keyNode, `keys in ${where} must be non-empty strings, got ${describe(ctx, keyNode)}`);
      continue;
    }
    if (allowed && !allowed.includes(key)) {
      ctx.error(
        keyNode,
        `unknown key "${key}" in ${where}${suggest(key, allowed)}; allowed: ${allowed.join(", ")}`,
      );
      continue;
    }
    out.push({ key, keyNode: keyNode!, value: ctx.resolve(pair.value) });
  }
  return out;
}

function seqItems(ctx: Ctx, node: Node | null, where: string, nonEmpty: boolean): Node[] | null {
  if (node === null || !isSeq(node)) {
    ctx.error(node, `${where} must be a list, got ${describe(ctx, node)}`);
    return null;
  }
  if (nonEmpty && node.items.length === 0) {
    ctx.error(node, `${where} must not be empty`);
    return null;
  }
  return node.items.map((n) => ctx.resolve(n)!).filter((n) => n !== null);
}

function str(ctx: Ctx, node: Node | null, where: string): string | null {
  const v = node !== null && isScalar(node) ? node.value : undefined;
  if (typeof v !== "string" || v === "") {
    ctx.error(node, `${where} must be a non-empty string, got ${describe(ctx, node)}`);
    return null;
  }
  return v;
}

function int(ctx: Ctx, node: Node | null, where: string, min: number, max: number): number | null {
  const v = node !== null && isScalar(node) ? node.value : undefined;
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    ctx.error(node, `${where} must be an integer in [${min}, ${max}], got ${describe(ctx, node)}`);
    return null;
  }
  return v;
}

function strList(ctx: Ctx, node: Node | null, where: string, nonEmpty: boolean): Located<string>[] | null {
  const items = seqItems(ctx, node, where, nonEmpty);
  if (!items) return null;
  const out: Located<string>[] = [];
  const seen = new Set<string>();
  for (const it of items) {
    const s = str(ctx, it, `each item of ${where}`);
    if (s === null) continue;
    if (seen.has(s)) ctx.error(it, `"${s}" appears twice in ${where}`);
    seen.add(s);
    out.push({ value: s, pos: ctx.pos(it) });
  }
  return out;
}

/** Canonical text of a value, for equality of axis values. */
function keyOf(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x) =>
      x && typeof x === "object" && !Array.isArray(x)
        ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : 1)))
        : x,
  );
}

function checkConfigValue(ctx: Ctx, node: Node | null, where: string): boolean {
  if (node === null) {
    ctx.error(node, `${where} has no value`);
    return false;
  }
  if (isScalar(node) && node.value === null) {
    ctx.error(node, `${where} must not be null`);
    return false;
  }
  return true;
}

function assignment(ctx: Ctx, node: Node | null, where: string): Assignment {
  const out: Assignment = new Map();
  const es = entries(ctx, node, where);
  for (const e of es ?? []) {
    if (!checkConfigValue(ctx, e.value ?? e.keyNode, `${where}.${e.key}`)) continue;
    out.set(e.key, { value: ctx.js(e.value), pos: ctx.pos(e.value) });
  }
  return out;
}

function axes(ctx: Ctx, node: Node | null, where: string): Axis[] {
  const out: Axis[] = [];
  for (const e of entries(ctx, node, where) ?? []) {
    const name = `axis "${e.key}" in ${where}`;
    if (e.value === null || !isSeq(e.value)) {
      ctx.error(
        e.value ?? e.keyNode,
        `${name} must be a non-empty list of values, got ${describe(ctx, e.value)}`,
      );
      continue;
    }
    const items = seqItems(ctx, e.value, name, true);
    if (!items) continue;
    const values: Located<unknown>[] = [];
    const seen = new Set<string>();
    for (const it of items) {
      if (!checkConfigValue(ctx, it, `a value of ${name}`)) continue;
      const v = ctx.js(it);
      const k = keyOf(v);
      if (seen.has(k)) {
        ctx.error(it, `value ${k} appears twice in ${name}`);
        continue;
      }
      seen.add(k);
      values.push({ value: v, pos: ctx.pos(it) });
    }
    out.push({ key: e.key, pos: ctx.pos(e.keyNode), values });
  }
  return out;
}

function kindOf(ctx: Ctx, node: Node | null, where: string): Located<JobKind> | null {
  const s = str(ctx, node, where);
  if (s === null) return null;
  if (!(JOB_KINDS as readonly string[]).includes(s)) {
    ctx.error(node, `${where} must be one of ${JOB_KINDS.join(", ")}, got "${s}"${suggest(s, JOB_KINDS)}`);
    return null;
  }
  return { value: s as JobKind, pos: ctx.pos(node) };
}

/** Artifact names become one path component of an artifact key (`<job id>/<name>`): no "/", no "..". */
const ARTIFACT_RE = /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$/;

function artifactNameMessage(name: string, where: string): string {
  return `${where}: "${name}" is not an artifact name (letters, digits, ".", "_", "-"; no "/" or "..")`;
}

/** A positive duration: seconds, or a number with unit s, m or h (core/sweep/limits.ts). */
function duration(ctx: Ctx, node: Node | null, where: string): number | null {
  const v = node !== null && isScalar(node) ? node.value : undefined;
  const s = parseDurationS(v);
  if (s === null) {
    ctx.error(
      node,
      `${where} must be a positive number of seconds or a duration like 90s, 10m, 2h, got ${
        describe(ctx, node)
      }`,
    );
  }
  return s;
}

const TOP_KEYS = [
  "name",
  "description",
  "kind",
  "base",
  "matrix",
  "seeds",
  "exclude",
  "include",
  "stages",
  "report",
  "gate",
  "max_attempts",
  "timeout",
  "backend",
  "seed_batch",
] as const;
const STAGE_KEYS = [
  "name",
  "description",
  "kind",
  "set",
  "matrix",
  "needs",
  "match",
  "inputs",
  "artifacts",
  "timeout",
];
const REPORT_KEYS = ["title", "rows", "columns", "metric", "decimals"];

function stage(ctx: Ctx, node: Node | null, index: number): StageSpec | null {
  const es = entries(ctx, node, `stages[${index}]`, STAGE_KEYS);
  if (!es) return null;
  const get = (k: string) => es.find((e) => e.key === k);
  const nameE = get("name");
  if (!nameE) {
    ctx.error(node, `stages[${index}] needs a name`);
    return null;
  }
  const name = str(ctx, nameE.value, `stages[${index}].name`);
  if (name === null) return null;
  if (!NAME_RE.test(name)) {
    ctx.error(nameE.value, `stage name "${name}" may only use letters, digits, ".", "_" and "-"`);
  }
  const where = `stage "${name}"`;
  const st: StageSpec = {
    name,
    pos: ctx.pos(node),
    set: new Map(),
    matrix: [],
    needs: [],
    inputs: new Map(),
    artifacts: [],
  };
  for (const e of es) {
    switch (e.key) {
      case "description":
        str(ctx, e.value, `${where} description`);
        break;
      case "kind":
        st.kind = kindOf(ctx, e.value, `${where} kind`) ?? undefined;
        break;
      case "set":
        st.set = assignment(ctx, e.value, `${where} set`);
        break;
      case "matrix":
        st.matrix = axes(ctx, e.value, `${where} matrix`);
        break;
      case "needs":
        if (e.value && isScalar(e.value)) {
          const s = str(ctx, e.value, `${where} needs`);
          if (s !== null) st.needs = [{ value: s, pos: ctx.pos(e.value) }];
        } else st.needs = strList(ctx, e.value, `${where} needs`, true) ?? [];
        break;
      case "match": {
        const l = strList(ctx, e.value, `${where} match`, true);
        if (l) st.match = { value: l.map((x) => x.value), pos: ctx.pos(e.value) };
        break;
      }
      case "timeout":
        st.timeoutS = duration(ctx, e.value, `${where} timeout`) ?? undefined;
        break;
      case "artifacts":
        st.artifacts = strList(ctx, e.value, `${where} artifacts`, true) ?? [];
        for (const a of st.artifacts) {
          if (!ARTIFACT_RE.test(a.value) || a.value === "." || a.value === "..") {
            ctx.error(a.pos, artifactNameMessage(a.value, `artifact of ${where}`));
          }
        }
        break;
      case "inputs":
        for (const ie of entries(ctx, e.value, `${where} inputs`) ?? []) {
          const s = str(ctx, ie.value, `input "${ie.key}" of ${where}`);
          if (s === null) continue;
          const m = /^([^.]+)\.(.+)$/.exec(s);
          if (!m) {
            ctx.error(ie.value, `input "${ie.key}" of ${where} must name <stage>.<artifact>, got "${s}"`);
            continue;
          }
          if (!ARTIFACT_RE.test(m[2]) || m[2] === "..") {
            ctx.error(ie.value, artifactNameMessage(m[2], `input "${ie.key}" of ${where}`));
            continue;
          }
          st.inputs.set(ie.key, { value: { stage: m[1], artifact: m[2] }, pos: ctx.pos(ie.value) });
        }
        break;
    }
  }
  return st;
}

function layout(ctx: Ctx, node: Node | null, where: string): LayoutSpec | null {
  const es = entries(ctx, node, where, REPORT_KEYS);
  if (!es) return null;
  const get = (k: string) => es.find((e) => e.key === k);
  const rows = get("rows"), columns = get("columns"), metric = get("metric");
  let ok = true;
  for (const [k, e] of [["rows", rows], ["columns", columns], ["metric", metric]] as const) {
    if (!e) {
      ctx.error(node, `${where} needs "${k}"`);
      ok = false;
    }
  }
  if (!ok) return null;
  const r = strList(ctx, rows!.value, `${where}.rows`, true);
  const c = strList(ctx, columns!.value, `${where}.columns`, false);
  const m = str(ctx, metric!.value, `${where}.metric`);
  const d = get("decimals") ? int(ctx, get("decimals")!.value, `${where}.decimals`, 0, 12) : undefined;
  const t = get("title") ? str(ctx, get("title")!.value, `${where}.title`) : undefined;
  if (!r || !c || m === null || d === null || t === null) return null;
  for (const x of r) {
    if (c.some((y) => y.value === x.value)) ctx.error(x.pos, `"${x.value}" is both a row and a column key`);
  }
  const lay: ReportLayout = { rows: r.map((x) => x.value), columns: c.map((x) => x.value), metric: m };
  if (d !== undefined) lay.decimals = d;
  if (t !== undefined) lay.title = t;
  return { layout: lay, pos: ctx.pos(node), keys: [...r, ...c], metricPos: ctx.pos(metric!.value) };
}

/** Parses and checks a spec's structure. Config values are checked later, per resolved job (expand.ts). */
export function parseSpec(text: string, file: string): SweepSpec {
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  const ctx = new Ctx(doc, lc);
  for (const e of [...doc.errors, ...doc.warnings]) {
    const p = lc.linePos(e.pos[0]);
    ctx.issues.push({ line: p.line, col: p.col, message: `YAML: ${e.message.split("\n")[0]}` });
  }
  if (ctx.issues.length) throw new SpecError(file, ctx.issues);
  const root = ctx.resolve(doc.contents);
  if (root === null || !isMap(root)) {
    ctx.error(root, `a sweep spec must be a mapping, got ${describe(ctx, root)}`);
    throw new SpecError(file, ctx.issues);
  }
  const es = entries(ctx, root, "the spec", TOP_KEYS) ?? [];
  const get = (k: string) => es.find((e) => e.key === k);

  const spec: SweepSpec = {
    file,
    name: "",
    kind: { value: "train", pos: ctx.pos(root) },
    base: new Map(),
    basePos: ctx.pos(root),
    matrix: [],
    matrixPos: ctx.pos(root),
    exclude: [],
    include: [],
    stages: [],
    layouts: [],
    maxAttempts: 3,
    rootPos: ctx.pos(root),
  };

  const nameE = get("name");
  if (!nameE) ctx.error(root, `the spec needs a "name"`);
  else {
    const n = str(ctx, nameE.value, "name");
    if (n !== null && !NAME_RE.test(n)) {
      ctx.error(nameE.value, `name "${n}" may only use letters, digits, ".", "_" and "-" (at most 64)`);
    } else if (n !== null) spec.name = n;
  }
  const desc = get("description");
  if (desc) spec.description = str(ctx, desc.value, "description") ?? undefined;
  const kindE = get("kind");
  if (kindE) spec.kind = kindOf(ctx, kindE.value, "kind") ?? spec.kind;
  const baseE = get("base");
  if (baseE) {
    spec.base = assignment(ctx, baseE.value, "base");
    spec.basePos = ctx.pos(baseE.value ?? baseE.keyNode);
  }
  const matrixE = get("matrix");
  if (matrixE) {
    spec.matrix = axes(ctx, matrixE.value, "matrix");
    spec.matrixPos = ctx.pos(matrixE.keyNode);
    if (matrixE.value && isMap(matrixE.value) && matrixE.value.items.length === 0) {
      ctx.error(matrixE.value, "matrix must have at least one axis (omit it for a single job per seed)");
    }
  }
  const seedsE = get("seeds");
  if (seedsE) {
    const v = seedsE.value;
    if (v !== null && isScalar(v) && typeof v.value !== "number") {
      ctx.error(v, `seeds must be a count (an integer ≥ 1) or a list of seeds, got ${describe(ctx, v)}`);
    } else if (v !== null && isScalar(v)) {
      const n = int(ctx, v, "seeds (a count)", 1, 100000);
      if (n !== null) spec.seeds = Array.from({ length: n }, (_, i) => ({ value: i, pos: ctx.pos(v) }));
    } else {
      const items = seqItems(ctx, v, "seeds", true);
      if (items) {
        const seen = new Set<number>();
        spec.seeds = [];
        for (const it of items) {
          const s = int(ctx, it, "each seed", 0, 2 ** 31 - 1);
          if (s === null) continue;
          if (seen.has(s)) ctx.error(it, `seed ${s} appears twice`);
          seen.add(s);
          spec.seeds.push({ value: s, pos: ctx.pos(it) });
        }
      }
    }
    if (spec.matrix.some((a) => a.key === "seed")) {
      ctx.error(
        spec.matrix.find((a) => a.key === "seed")!.pos,
        `"seed" is an axis and "seeds" is set; use one`,
      );
    }
  }
  const exE = get("exclude");
  if (exE) {
    (seqItems(ctx, exE.value, "exclude", true) ?? []).forEach((it, i) => {
      const rule: ExcludeRule = { pos: ctx.pos(it), entries: new Map() };
      const ees = entries(ctx, it, `exclude[${i}]`);
      if (ees && ees.length === 0) ctx.error(it, `exclude[${i}] is empty and would exclude every job`);
      for (const e of ees ?? []) {
        if (e.value && isSeq(e.value)) {
          const items = seqItems(ctx, e.value, `exclude[${i}].${e.key}`, true);
          if (items) rule.entries.set(e.key, { value: items.map((n) => ctx.js(n)), pos: ctx.pos(e.value) });
        } else if (checkConfigValue(ctx, e.value ?? e.keyNode, `exclude[${i}].${e.key}`)) {
          rule.entries.set(e.key, { value: [ctx.js(e.value)], pos: ctx.pos(e.value) });
        }
      }
      spec.exclude.push(rule);
    });
  }
  const inE = get("include");
  if (inE) {
    (seqItems(ctx, inE.value, "include", true) ?? []).forEach((it, i) => {
      const entry: IncludeEntry = { pos: ctx.pos(it), values: new Map() };
      const ies = entries(ctx, it, `include[${i}]`);
      if (ies && ies.length === 0) ctx.error(it, `include[${i}] is empty`);
      for (const e of ies ?? []) {
        if (e.key === "stage") {
          const s = str(ctx, e.value, `include[${i}].stage`);
          if (s !== null) entry.stage = { value: s, pos: ctx.pos(e.value) };
        } else if (checkConfigValue(ctx, e.value ?? e.keyNode, `include[${i}].${e.key}`)) {
          entry.values.set(e.key, { value: ctx.js(e.value), pos: ctx.pos(e.value) });
        }
      }
      spec.include.push(entry);
    });
  }
  const maxE = get("max_attempts");
  if (maxE) spec.maxAttempts = int(ctx, maxE.value, "max_attempts", 1, 100) ?? 3;
  const timeoutE = get("timeout");
  if (timeoutE) spec.timeoutS = duration(ctx, timeoutE.value, "timeout") ?? undefined;
  const backendE = get("backend");
  if (backendE) {
    const b = str(ctx, backendE.value, "backend");
    if (b !== null) spec.backend = { value: b, pos: ctx.pos(backendE.value) };
  }
  const seedBatchE = get("seed_batch");
  if (seedBatchE) {
    const k = int(ctx, seedBatchE.value, "seed_batch", 1, MAX_SEED_BATCH);
    if (k !== null) spec.seedBatch = { value: k, pos: ctx.pos(seedBatchE.value) };
  }

  const stagesE = get("stages");
  if (stagesE) {
    const items = seqItems(ctx, stagesE.value, "stages", true) ?? [];
    const names = new Set<string>();
    items.forEach((it, i) => {
      const st = stage(ctx, it, i);
      if (!st) return;
      if (names.has(st.name)) ctx.error(st.pos, `stage "${st.name}" is defined twice`);
      names.add(st.name);
      spec.stages.push(st);
    });
  } else {
    spec.stages.push({
      name: "main",
      pos: spec.rootPos,
      set: new Map(),
      matrix: [],
      needs: [],
      inputs: new Map(),
      artifacts: [],
    });
  }

  const repE = get("report");
  if (repE) {
    if (repE.value && isSeq(repE.value)) {
      (seqItems(ctx, repE.value, "report", true) ?? []).forEach((it, i) => {
        const l = layout(ctx, it, `report[${i}]`);
        if (l) spec.layouts.push(l);
      });
    } else {
      const l = layout(ctx, repE.value, "report");
      if (l) spec.layouts.push(l);
    }
  }

  const gateE = get("gate");
  if (gateE) spec.gate = gateSection(ctx, gateE.value ?? gateE.keyNode) ?? undefined;

  if (ctx.issues.length) throw new SpecError(file, ctx.issues);
  return spec;
}

// ---------------------------------------------------------------------------------------------------------
// The `gate:` section (regression gate, core/sweep/gate.ts). Metric names are checked against what the jobs
// emit after expansion (expand.ts), like report metrics.

export interface GateSection {
  alpha: number;
  metrics: GateMetric[];
  pos: Pos;
  /** Position of each gated metric name and target, for checking the jobs emit them. */
  metricPos: Located<string>[];
}

const GATE_KEYS = ["alpha", "metrics"];
const GATE_METRIC_KEYS = ["direction", "target", "tolerance", "rel_tolerance"];

function nonNegative(ctx: Ctx, node: Node | null, where: string): number | null {
  const v = node !== null && isScalar(node) ? node.value : undefined;
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
    ctx.error(node, `${where} must be a number ≥ 0, got ${describe(ctx, node)}`);
    return null;
  }
  return v;
}

function gateMetric(ctx: Ctx, metric: string, node: Node | null, out: GateSection): void {
  const where = `gate metric "${metric}"`;
  const known = DEFAULT_DIRECTIONS[metric];
  let direction: Direction | undefined = known?.direction;
  let target: string | undefined;
  let tolerance = 0, relTolerance = 0;
  let dirNode: Node | null = node;
  let es: { key: string; value: Node | null }[] = [];
  if (node !== null && isScalar(node) && typeof node.value === "string") {
    es = [{ key: "direction", value: node }];
  } else if (!(node === null || (isScalar(node) && node.value === null))) {
    es = entries(ctx, node, where, GATE_METRIC_KEYS) ?? [];
  }
  for (const e of es) {
    switch (e.key) {
      case "direction": {
        const d = str(ctx, e.value, `${where} direction`);
        dirNode = e.value;
        if (d === null) return;
        if (!(DIRECTIONS as readonly string[]).includes(d)) {
          ctx.error(
            e.value,
            `${where}: direction must be one of ${DIRECTIONS.join(", ")}, got "${d}"` +
              suggest(d, DIRECTIONS),
          );
          return;
        }
        direction = d as Direction;
        break;
      }
      case "target": {
        const t = str(ctx, e.value, `${where} target`);
        if (t === null) return;
        target = t;
        out.metricPos.push({ value: t, pos: ctx.pos(e.value) });
        break;
      }
      case "tolerance":
        tolerance = nonNegative(ctx, e.value, `${where} tolerance`) ?? 0;
        break;
      case "rel_tolerance":
        relTolerance = nonNegative(ctx, e.value, `${where} rel_tolerance`) ?? 0;
        break;
    }
  }
  if (direction === undefined) {
    ctx.error(dirNode, `${where} needs a direction (${DIRECTIONS.join(", ")}): flowsweep knows none for it`);
    return;
  }
  if (direction === "closer") target ??= known?.target ?? "exact_log_z";
  else if (target !== undefined) {
    ctx.error(dirNode, `${where}: a target is only meaningful with direction "closer"`);
    return;
  }
  out.metrics.push({ metric, direction, target, tolerance, relTolerance });
}

function gateSection(ctx: Ctx, node: Node | null): GateSection | null {
  const es = entries(ctx, node, "gate", GATE_KEYS);
  if (!es) return null;
  const out: GateSection = { alpha: DEFAULT_ALPHA, metrics: [], pos: ctx.pos(node), metricPos: [] };
  const alphaE = es.find((e) => e.key === "alpha");
  if (alphaE) {
    const v = alphaE.value !== null && isScalar(alphaE.value) ? alphaE.value.value : undefined;
    if (typeof v !== "number" || !(v > 0 && v < 1)) {
      ctx.error(alphaE.value, `gate alpha must be a number in (0, 1), got ${describe(ctx, alphaE.value)}`);
    } else out.alpha = v;
  }
  const metricsE = es.find((e) => e.key === "metrics");
  if (!metricsE) {
    ctx.error(node, `gate needs "metrics" (metric → direction, e.g. exact_kl: lower)`);
    return null;
  }
  const ms = entries(ctx, metricsE.value, "gate metrics");
  if (ms && ms.length === 0) ctx.error(metricsE.value, "gate metrics must name at least one metric");
  for (const m of ms ?? []) {
    out.metricPos.push({ value: m.key, pos: ctx.pos(m.keyNode) });
    gateMetric(ctx, m.key, m.value, out);
  }
  return out;
}
