/**
 * Expansion of a parsed sweep spec into jobs: stages in dependency order, the cartesian product of the axes
 * (first axis outermost, seeds innermost), exclusions, inclusions, per-job validation of the resolved config
 * (train jobs through `TrainConfigSchema`, errors reported at the YAML node that produced the bad value), job
 * ids and stage dependencies. Pure.
 */
import type { Job, ReportLayout } from "./job.ts";
import { canonicalJson } from "../canonical.ts";
import { jobConfig, TrainConfigSchema } from "../train/config.ts";
import { jobMetrics } from "../train/metrics.ts";
import { applyOverrides, type Override } from "./overrides.ts";
import { sha256Hex } from "../sha256.ts";
import { defaultTimeoutS } from "./limits.ts";
import { type GateSpec, specHash } from "./gate.ts";
import {
  type Axis,
  type JobKind,
  type Located,
  parseSpec,
  type Pos,
  SpecError,
  type SpecIssue,
  type StageSpec,
  suggest,
  type SweepSpec,
} from "./spec.ts";

/** Upper bound on the number of jobs one spec may expand to. */
export const MAX_JOBS = 200_000;

export interface PlannedJob {
  job: Job;
  /** Ids of the jobs this one waits for (earlier stages). */
  deps: string[];
  /** The job's values of the sweep's varying keys (axes, include keys, seed) — for tables. */
  axes: Record<string, unknown>;
}

export interface SweepPlan {
  name: string;
  file: string;
  jobs: PlannedJob[];
  stages: { name: string; kind: JobKind; jobs: number; needs: string[] }[];
  /** Varying keys in display order. */
  axes: string[];
  /**
   * Every key the user varied: the axes, include keys and seed, plus the keys stages `set` differently. Reports
   * group by these only (minus the seed); anything derived from them is never a grouping key.
   */
  varied: string[];
  layouts: ReportLayout[];
  /** What the regression gate compares (the spec's `gate:` section), if anything. */
  gate?: GateSpec;
  /** Hash of what the spec measures (core/sweep/gate.ts `specHash`): a baseline is only valid for the same. */
  specHash: string;
  maxAttempts: number;
  /** Spec `backend:` (checked by the CLI), when set. */
  backend?: string;
  /** Spec `seed_batch:` (core/sweep/seed_batch.ts), when set. */
  seedBatch?: number;
  counts: { total: number; excluded: number; included: number; duplicates: number };
}

export interface ExpandOptions {
  /** Validate each resolved config (fills defaults for train jobs). Default true. */
  validate?: boolean;
  /** Command-line overrides applied to the parsed spec (core/sweep/overrides.ts). */
  overrides?: Override[];
}

/** Job id: the first 16 hex digits of SHA-256 over the canonical JSON of kind, resolved config and inputs. */
export function jobId(
  kind: JobKind,
  config: Record<string, unknown>,
  inputs?: Record<string, string>,
): string {
  const payload: Record<string, unknown> = { kind, config };
  if (inputs && Object.keys(inputs).length) payload.inputs = inputs;
  return sha256Hex(canonicalJson(payload)).slice(0, 16);
}

/** Parses and expands a spec file's text; throws SpecError naming file:line:column. */
export function loadSweep(text: string, file: string, opts: ExpandOptions = {}): SweepPlan {
  return expandSpec(applyOverrides(parseSpec(text, file), opts.overrides ?? []), opts);
}

type Raw = Record<string, unknown>;
type Prov = Map<string, Pos>;

const same = (a: unknown, b: unknown) => canonicalJson(a) === canonicalJson(b);

function show(v: unknown): string {
  return typeof v === "string" ? v : canonicalJson(v);
}

class Issues {
  list: SpecIssue[] = [];
  #seen = new Set<string>();
  add(pos: Pos, message: string): void {
    const k = `${pos.source ?? ""}:${pos.line}:${pos.col}:${message}`;
    if (this.#seen.has(k)) return;
    this.#seen.add(k);
    this.list.push({ ...pos, message });
  }
}

/** Stages ordered so that every stage comes after the stages it needs. */
function orderStages(spec: SweepSpec, issues: Issues): StageSpec[] {
  const byName = new Map(spec.stages.map((s) => [s.name, s]));
  for (const st of spec.stages) {
    for (const n of st.needs) {
      if (n.value === st.name) issues.add(n.pos, `stage "${st.name}" cannot need itself`);
      else if (!byName.has(n.value)) {
        issues.add(
          n.pos,
          `stage "${st.name}" needs unknown stage "${n.value}"${suggest(n.value, [...byName.keys()])}`,
        );
      }
    }
    for (const [name, inp] of st.inputs) {
      const { stage, artifact } = inp.value;
      const dep = byName.get(stage);
      if (!st.needs.some((n) => n.value === stage)) {
        issues.add(
          inp.pos,
          `input "${name}" of stage "${st.name}" comes from stage "${stage}", which it does not need`,
        );
      } else if (dep && !dep.artifacts.some((a) => a.value === artifact)) {
        issues.add(
          inp.pos,
          `stage "${stage}" does not produce artifact "${artifact}" (add it to its artifacts)`,
        );
      }
    }
  }
  const out: StageSpec[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (st: StageSpec, chain: string[]) => {
    const s = state.get(st.name);
    if (s === "done") return;
    if (s === "visiting") {
      issues.add(st.pos, `stages form a cycle: ${[...chain, st.name].join(" → ")}`);
      return;
    }
    state.set(st.name, "visiting");
    for (const n of st.needs) {
      const dep = byName.get(n.value);
      if (dep && dep !== st) visit(dep, [...chain, st.name]);
    }
    state.set(st.name, "done");
    out.push(st);
  };
  for (const st of spec.stages) visit(st, []);
  return out;
}

function stageAxes(spec: SweepSpec, st: StageSpec): Axis[] {
  const axes = spec.matrix.filter((a) => !st.set.has(a.key)).map((a) => ({ ...a }));
  for (const a of st.matrix) {
    const i = axes.findIndex((x) => x.key === a.key);
    if (i >= 0) axes[i] = a;
    else axes.push(a);
  }
  return axes;
}

function* product(axes: Axis[]): Generator<Located<unknown>[]> {
  if (axes.length === 0) {
    yield [];
    return;
  }
  const idx = new Array(axes.length).fill(0);
  while (true) {
    yield idx.map((i, a) => axes[a].values[i]);
    let a = axes.length - 1;
    while (a >= 0 && ++idx[a] === axes[a].values.length) idx[a--] = 0;
    if (a < 0) return;
  }
}

/** Validates one raw config; returns the resolved config or null after adding issues at the right nodes. */
function resolve(kind: JobKind, raw: Raw, prov: Prov, fallback: Pos, issues: Issues): Raw | null {
  const at = (key: string | undefined) => (key !== undefined ? prov.get(key) : undefined) ?? fallback;
  if (kind === "train") {
    const r = TrainConfigSchema.safeParse(raw);
    if (r.success) return jobConfig(r.data) as Raw;
    for (const issue of r.error.issues) {
      if (issue.code === "unrecognized_keys") {
        for (const k of issue.keys) {
          issues.add(
            at(k),
            `unknown training option "${k}"${suggest(k, Object.keys(TrainConfigSchema.shape))}`,
          );
        }
        continue;
      }
      const key = issue.path.length ? String(issue.path[0]) : undefined;
      const path = issue.path.join(".");
      const got = key !== undefined && key in raw ? ` (got ${show(raw[key])})` : "";
      issues.add(at(key), `${path || "config"}: ${issue.message}${got}`);
    }
    return null;
  }
  let ok = true;
  if (kind === "sleep" && raw.ms !== undefined && !(typeof raw.ms === "number" && raw.ms >= 0)) {
    issues.add(at("ms"), `ms of a sleep job must be a number ≥ 0 (got ${show(raw.ms)})`);
    ok = false;
  }
  if (kind === "fail" && raw.reason !== undefined && typeof raw.reason !== "string") {
    issues.add(at("reason"), `reason of a fail job must be a string (got ${show(raw.reason)})`);
    ok = false;
  }
  if (raw.seed !== undefined && !(Number.isInteger(raw.seed) && (raw.seed as number) >= 0)) {
    issues.add(at("seed"), `seed must be a non-negative integer (got ${show(raw.seed)})`);
    ok = false;
  }
  return ok ? raw : null;
}

/** Jobs a spec's stages would expand to before exclusions and dedupe: Σ_stage (Π |axis| + includes) × seeds. */
export function gridSize(spec: SweepSpec, stages: StageSpec[] = spec.stages): number {
  const seeds = spec.seeds?.length ?? 1;
  let total = 0;
  for (const st of stages) {
    const combos = stageAxes(spec, st).reduce((n, a) => n * a.values.length, 1);
    const includes = spec.include.filter((e) => !e.stage || e.stage.value === st.name).length;
    total += (combos + includes) * seeds;
  }
  return total;
}

/** Expands a parsed spec into jobs; throws SpecError naming file:line:column. */
export function expandSpec(spec: SweepSpec, opts: ExpandOptions = {}): SweepPlan {
  const validate = opts.validate ?? true;
  const issues = new Issues();
  const order = orderStages(spec, issues);
  if (issues.list.length) throw new SpecError(spec.file, issues.list);

  const jobs: PlannedJob[] = [];
  const ids = new Set<string>();
  const byStage = new Map<string, PlannedJob[]>();
  const varying = new Map<string, string[]>();
  const ruleHits = spec.exclude.map(() => 0);
  const counts = { total: 0, excluded: 0, included: 0, duplicates: 0 };
  const stageInfo: SweepPlan["stages"] = [];
  const allAxes: string[] = [];
  const addAxis = (k: string) => {
    if (!allAxes.includes(k)) allAxes.push(k);
  };
  const knownKeys = new Set<string>(["seed", "stage", ...spec.base.keys()]);

  // The size of the grid, from the axes alone, before anything is built: a spec that cannot fit is refused
  // without allocating its jobs (exclusions can only remove jobs, so this bounds the expansion from above).
  const grid = gridSize(spec, order);
  if (grid > MAX_JOBS) {
    throw new SpecError(spec.file, [{
      ...spec.rootPos,
      message: `the spec's axes expand to ${
        grid < 1e15 ? grid.toLocaleString("en-US") : grid.toExponential(2)
      } jobs before exclusions, more than the limit of ${MAX_JOBS.toLocaleString("en-US")}`,
    }]);
  }

  for (const st of order) {
    const kind = st.kind?.value ?? spec.kind.value;
    const axes = stageAxes(spec, st);
    const includes = spec.include.filter((e) => !e.stage || e.stage.value === st.name);
    const vary = [...axes.map((a) => a.key)];
    for (const inc of includes) for (const k of inc.values.keys()) if (!vary.includes(k)) vary.push(k);
    if (spec.seeds) vary.push("seed");
    varying.set(st.name, vary);
    vary.forEach(addAxis);
    for (const k of st.set.keys()) knownKeys.add(k);
    for (const k of vary) knownKeys.add(k);

    // Dependency matching.
    const deps = st.needs.map((n) => {
      const depVary = varying.get(n.value) ?? [];
      const match = st.match?.value ?? vary.filter((k) => depVary.includes(k) && !st.set.has(k));
      if (st.match) {
        for (const k of st.match.value) {
          if (!vary.includes(k) && !st.set.has(k) && !spec.base.has(k)) {
            issues.add(st.match.pos, `match key "${k}" is not a key of stage "${st.name}"'s jobs`);
          }
        }
      }
      return { name: n.value, pos: n.pos, match, jobs: byStage.get(n.value) ?? [] };
    });

    const seeds: (Located<number> | null)[] = spec.seeds ?? [null];
    const candidates: { raw: Raw; prov: Prov; included: boolean }[] = [];
    for (const combo of product(axes)) {
      const raw: Raw = {};
      const prov: Prov = new Map();
      for (const [k, v] of spec.base) (raw[k] = v.value, prov.set(k, v.pos));
      for (const [k, v] of st.set) (raw[k] = v.value, prov.set(k, v.pos));
      combo.forEach((v, a) => (raw[axes[a].key] = v.value, prov.set(axes[a].key, v.pos)));
      candidates.push({ raw, prov, included: false });
    }
    for (const inc of includes) {
      const raw: Raw = {};
      const prov: Prov = new Map();
      for (const [k, v] of spec.base) (raw[k] = v.value, prov.set(k, v.pos));
      for (const [k, v] of st.set) (raw[k] = v.value, prov.set(k, v.pos));
      for (const [k, v] of inc.values) (raw[k] = v.value, prov.set(k, v.pos));
      candidates.push({ raw, prov, included: true });
    }

    const mine: PlannedJob[] = [];
    for (const cand of candidates) {
      for (const seed of seeds) {
        const raw = { ...cand.raw };
        const prov = new Map(cand.prov);
        if (seed) (raw.seed = seed.value, prov.set("seed", seed.pos));
        if (!cand.included) {
          let excluded = false;
          spec.exclude.forEach((rule, i) => {
            const hit = [...rule.entries].every(([k, vals]) =>
              vals.value.some((v) => same(k === "stage" ? st.name : raw[k], v))
            );
            if (hit) (ruleHits[i]++, excluded = true);
          });
          if (excluded) {
            counts.excluded++;
            continue;
          }
        }
        if (jobs.length + mine.length >= MAX_JOBS) {
          issues.add(spec.rootPos, `the spec expands to more than ${MAX_JOBS} jobs`);
          throw new SpecError(spec.file, issues.list);
        }
        const config = validate ? resolve(kind, raw, prov, st.set.size ? st.pos : spec.basePos, issues) : raw;
        if (config === null) continue;

        // Dependencies and inputs.
        const depIds: string[] = [];
        let inputs: Record<string, string> | undefined;
        let depOk = true;
        for (const d of deps) {
          const found = d.jobs.filter((j) => d.match.every((k) => same(j.job.config[k], config[k])));
          if (found.length !== 1) {
            const what = d.match.map((k) => `${k}=${show(config[k])}`).join(", ") || "(no keys to match on)";
            issues.add(
              d.pos,
              found.length === 0
                ? `no job of stage "${d.name}" matches ${what} for stage "${st.name}"`
                : `${found.length} jobs of stage "${d.name}" match ${what}; list the keys to match on in "match:"`,
            );
            depOk = false;
            continue;
          }
          const dep = found[0].job;
          depIds.push(dep.id);
          for (const [name, inp] of st.inputs) {
            if (inp.value.stage === d.name) (inputs ??= {})[name] = `${dep.id}/${inp.value.artifact}`;
          }
        }
        if (!depOk) continue;

        const id = jobId(kind, config, inputs);
        if (ids.has(id)) {
          counts.duplicates++;
          continue;
        }
        ids.add(id);
        if (cand.included) counts.included++;
        const job: Job = { id, sweep: spec.name, stage: st.name, kind, config };
        if (inputs) job.inputs = inputs;
        job.limits = {
          timeout_s: st.timeoutS ?? spec.timeoutS ?? defaultTimeoutS(kind, config),
          max_attempts: spec.maxAttempts,
        };
        const axesOf: Record<string, unknown> = {};
        for (const k of vary) axesOf[k] = config[k];
        mine.push({ job, deps: depIds, axes: axesOf });
      }
    }
    byStage.set(st.name, mine);
    jobs.push(...mine);
    stageInfo.push({ name: st.name, kind, jobs: mine.length, needs: st.needs.map((n) => n.value) });
  }

  // Exclusion rules must name known keys and remove something.
  spec.exclude.forEach((rule, i) => {
    for (const [k, v] of rule.entries) {
      if (!knownKeys.has(k)) {
        issues.add(
          v.pos,
          `exclude[${i}] uses "${k}", which is not an axis or config key${suggest(k, [...knownKeys])}`,
        );
      }
    }
    if (ruleHits[i] === 0 && [...rule.entries.keys()].every((k) => knownKeys.has(k))) {
      issues.add(rule.pos, `exclude[${i}] matches no job`);
    }
  });
  if (issues.list.length) throw new SpecError(spec.file, issues.list);
  // Report keys must be config keys of some job.
  const configKeys = new Set<string>(["stage"]);
  for (const j of jobs) for (const k of Object.keys(j.job.config)) configKeys.add(k);
  for (const l of spec.layouts) {
    for (const k of l.keys) {
      if (!configKeys.has(k.value)) {
        issues.add(
          k.pos,
          `report key "${k.value}" is not a config key of any job${suggest(k.value, [...configKeys])}`,
        );
      }
    }
  }
  // Report metrics must be emitted by the jobs (train jobs: core/train/metrics.ts; test kinds are not checked).
  if (jobs.length && jobs.every((j) => j.job.kind === "train")) {
    const emitted = [...new Set(jobs.flatMap((j) => jobMetrics(j.job.kind, j.job.config)))];
    for (const l of spec.layouts) {
      const m = l.layout.metric;
      if (!emitted.includes(m)) {
        issues.add(
          l.metricPos,
          `report metric "${m}" is not a metric of this sweep's jobs${suggest(m, emitted)}; they emit: ${
            emitted.join(", ")
          }`,
        );
      }
    }
  }
  // Gated metrics (and `closer` targets) must be emitted by the jobs too.
  if (spec.gate && jobs.length) {
    const emitted = [...new Set(jobs.flatMap((j) => jobMetrics(j.job.kind, j.job.config)))];
    for (const m of spec.gate.metricPos) {
      if (!emitted.includes(m.value)) {
        issues.add(
          m.pos,
          `gate metric "${m.value}" is not a metric of this sweep's jobs${
            suggest(m.value, emitted)
          }; they emit: ${emitted.join(", ")}`,
        );
      }
    }
  }
  if (issues.list.length) throw new SpecError(spec.file, issues.list);
  if (jobs.length === 0) {
    throw new SpecError(spec.file, [{
      ...spec.rootPos,
      message: "the spec expands to no jobs (all excluded)",
    }]);
  }
  counts.total = jobs.length;
  return {
    name: spec.name,
    file: spec.file,
    jobs,
    stages: stageInfo,
    axes: allAxes,
    varied: [...allAxes, ...new Set(spec.stages.flatMap((st) => [...st.set.keys()]))].filter((k, i, a) =>
      a.indexOf(k) === i
    ),
    layouts: spec.layouts.map((l) => l.layout),
    gate: spec.gate ? { alpha: spec.gate.alpha, metrics: spec.gate.metrics } : undefined,
    specHash: specHash(spec),
    maxAttempts: spec.maxAttempts,
    ...(spec.backend ? { backend: spec.backend.value } : {}),
    ...(spec.seedBatch ? { seedBatch: spec.seedBatch.value } : {}),
    counts,
  };
}
