/**
 * Command-line overrides of a sweep spec or a training config, `key=value` (issue 10, item 7):
 *
 *   flowsweep sweep sweeps/table3.yaml steps=200 matrix.beta=[0.2,0.4] seeds=3
 *   flowsweep train steps=200 beta=0.3 hidden=[64,64]
 *
 * The value is YAML (`200` a number, `[0.2,0.4]` a list, `learned` a string). In a sweep, `key=value` sets
 * `base.key` (and fixes an axis of that name to the one value), `matrix.key=[...]` replaces or adds an axis,
 * `base.key=...` is explicit, and `seeds`, `max_attempts`, `name`, `kind`, `description`, `backend`,
 * `seed_batch` set the spec's own
 * keys. Overrides are checked exactly like the file: a problem is reported at the override (`override
 * steps=abc: ...`), so errors name it. Pure.
 */
import { parse as parseYaml } from "yaml";
import {
  type Axis,
  JOB_KINDS,
  type JobKind,
  type Located,
  type Pos,
  SpecError,
  suggest,
  type SweepSpec,
} from "./spec.ts";
import { MAX_SEED_BATCH } from "./limits.ts";

export interface Override {
  /** The override as typed, e.g. `matrix.beta=[0.2,0.4]`. */
  text: string;
  path: string[];
  value: unknown;
}

/** The position of an override in spec issues: formatted as `override TEXT` instead of file:line:col. */
export function overridePos(text: string): Pos {
  return { line: 0, col: 0, source: `override ${text}` };
}

/** Parses `key=value` (value as YAML); throws an Error naming the override when it is malformed. */
export function parseOverride(text: string): Override {
  const eq = text.indexOf("=");
  const key = eq > 0 ? text.slice(0, eq).trim() : "";
  if (eq <= 0 || key === "" || key.split(".").some((p) => p === "")) {
    throw new Error(`override "${text}" must be key=value (e.g. steps=200 or matrix.beta=[0.2,0.4])`);
  }
  let value: unknown;
  try {
    value = parseYaml(text.slice(eq + 1));
  } catch (err) {
    throw new Error(
      `override ${text}: the value is not valid YAML (${(err as Error).message.split("\n")[0]})`,
    );
  }
  if (value === null || value === undefined) throw new Error(`override ${text}: the value is empty`);
  return { text, path: key.split("."), value };
}

/** Returns the spec with the overrides applied; throws SpecError (issues at the overrides) when one is bad. */
export function applyOverrides(spec: SweepSpec, overrides: readonly Override[]): SweepSpec {
  const out: SweepSpec = {
    ...spec,
    base: new Map(spec.base),
    matrix: spec.matrix.map((a) => ({ ...a })),
  };
  const issues: { pos: Pos; message: string }[] = [];
  const bad = (o: Override, message: string) => issues.push({ pos: overridePos(o.text), message });
  for (const o of overrides) {
    const pos = overridePos(o.text);
    const [head, ...rest] = o.path;
    if (head === "matrix" || head === "base") {
      if (rest.length !== 1) {
        bad(o, `${head}.KEY=VALUE sets one key, got "${o.path.join(".")}"`);
        continue;
      }
      const key = rest[0];
      if (head === "base") {
        const err = setBase(out, key, { value: o.value, pos });
        if (err) bad(o, err);
      } else {
        const axis = overrideAxis(o, key, pos);
        const st = out.stages.find((s) => s.set.has(key) || s.matrix.some((a) => a.key === key));
        if (st) bad(o, `stage "${st.name}" sets "${key}" itself; edit the spec to change it`);
        else if (typeof axis === "string") bad(o, axis);
        else {
          const i = out.matrix.findIndex((a) => a.key === key);
          if (i >= 0) out.matrix[i] = axis;
          else out.matrix.push(axis);
          out.base.delete(key);
          if (key === "seed" && out.seeds) bad(o, `"seed" is an axis and "seeds" is set; use one`);
        }
      }
      continue;
    }
    if (rest.length) {
      bad(
        o,
        `unknown section "${head}"${
          suggest(head, ["matrix", "base"])
        }; use KEY=VALUE, base.KEY or matrix.KEY`,
      );
      continue;
    }
    switch (head) {
      case "seeds": {
        const seeds = overrideSeeds(o.value, pos);
        if (typeof seeds === "string") bad(o, seeds);
        else out.seeds = seeds;
        break;
      }
      case "max_attempts":
        if (!Number.isInteger(o.value) || (o.value as number) < 1 || (o.value as number) > 100) {
          bad(o, `max_attempts must be an integer in [1, 100]`);
        } else out.maxAttempts = o.value as number;
        break;
      case "name":
        if (typeof o.value !== "string" || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(o.value)) {
          bad(o, `name may only use letters, digits, ".", "_" and "-" (at most 64)`);
        } else out.name = o.value;
        break;
      case "kind":
        if (!(JOB_KINDS as readonly unknown[]).includes(o.value)) {
          bad(o, `kind must be one of ${JOB_KINDS.join(", ")}${suggest(String(o.value), JOB_KINDS)}`);
        } else out.kind = { value: o.value as JobKind, pos };
        break;
      case "description":
        out.description = String(o.value);
        break;
      case "backend":
        if (typeof o.value !== "string" || o.value === "") bad(o, `backend must be a backend name`);
        else out.backend = { value: o.value, pos };
        break;
      case "seed_batch":
        if (!Number.isInteger(o.value) || (o.value as number) < 1 || (o.value as number) > MAX_SEED_BATCH) {
          bad(o, `seed_batch must be an integer in [1, ${MAX_SEED_BATCH}], got ${JSON.stringify(o.value)}`);
        } else out.seedBatch = { value: o.value as number, pos };
        break;
      default: {
        const err = setBase(out, head, { value: o.value, pos });
        if (err) bad(o, err);
      }
    }
  }
  if (issues.length) throw new SpecError(spec.file, issues.map((i) => ({ ...i.pos, message: i.message })));
  return out;
}

/** `key=value` on the base: also fixes an axis of the same name to that one value. */
function setBase(spec: SweepSpec, key: string, v: Located<unknown>): string | undefined {
  const st = spec.stages.find((s) => s.set.has(key));
  if (st) return `stage "${st.name}" sets "${key}" itself; edit the spec to change it`;
  spec.base.set(key, v);
  spec.matrix = spec.matrix.filter((a) => a.key !== key);
}

function overrideAxis(o: Override, key: string, pos: Pos): Axis | string {
  const list = Array.isArray(o.value) ? o.value : [o.value];
  if (list.length === 0) return `axis "${key}" must not be empty`;
  const seen = new Set<string>();
  for (const v of list) {
    if (v === null) return `a value of axis "${key}" must not be null`;
    const k = JSON.stringify(v);
    if (seen.has(k)) return `value ${k} appears twice in axis "${key}"`;
    seen.add(k);
  }
  return { key, pos, values: list.map((value) => ({ value, pos })) };
}

function overrideSeeds(v: unknown, pos: Pos): Located<number>[] | string {
  if (typeof v === "number") {
    if (!Number.isInteger(v) || v < 1 || v > 100000) {
      return `seeds (a count) must be an integer in [1, 100000]`;
    }
    return Array.from({ length: v }, (_, i) => ({ value: i, pos }));
  }
  if (!Array.isArray(v) || v.length === 0) return `seeds must be a count or a non-empty list of seeds`;
  if (v.some((s) => !Number.isInteger(s) || s < 0 || s > 2 ** 31 - 1)) {
    return `each seed must be an integer in [0, ${2 ** 31 - 1}]`;
  }
  if (new Set(v).size !== v.length) return `a seed appears twice`;
  return v.map((s) => ({ value: s as number, pos }));
}

/**
 * `train KEY=VALUE ...`: the overrides as raw config keys (only plain keys: a training config is flat), with
 * the override that set each key, for error messages.
 */
export function trainOverrides(
  texts: readonly string[],
): { raw: Record<string, unknown>; by: Map<string, string> } {
  const raw: Record<string, unknown> = {};
  const by = new Map<string, string>();
  for (const t of texts) {
    const o = parseOverride(t);
    if (o.path.length !== 1) throw new Error(`override ${t}: a training option is a plain key (no dots)`);
    if (by.has(o.path[0])) {
      throw new Error(`override ${t}: "${o.path[0]}" is set twice (also ${by.get(o.path[0])})`);
    }
    raw[o.path[0]] = o.value;
    by.set(o.path[0], t);
  }
  return { raw, by };
}

/**
 * The spec text a run keeps: the file's text, then one `# override: KEY=VALUE` line per override, so the run
 * directory's spec.yaml says what ran and a later resume sees an override change (core/sweep/resume.ts).
 */
export function textWithOverrides(text: string, overrides: readonly Override[]): string {
  if (overrides.length === 0) return text;
  return `${text.replace(/\n*$/, "\n")}${overrides.map((o) => `${OVERRIDE_LINE}${o.text}\n`).join("")}`;
}

/** Prefix of the lines `textWithOverrides` appends. */
export const OVERRIDE_LINE = "# override: ";
