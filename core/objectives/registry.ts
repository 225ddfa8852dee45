/**
 * The objectives, as values (core/objectives/objective.ts). The config schema, the CLI help, spec validation and
 * the estimator tests read their lists from here. Adding an objective = one file exporting its entry + one line
 * below + its tests (tests/estimators_test.ts runs every entry against its exact gradient).
 */
import type { Objective, ObjectiveParam } from "./objective.ts";
import { atb } from "./atb.ts";
import { akl } from "./akl.ts";
import { renyi } from "./renyi.ts";
import { tsallis } from "./tsallis.ts";
import { fklIs } from "./fkl_is.ts";
import { pg } from "./pg.ts";

export const OBJECTIVE_REGISTRY: readonly Objective[] = [atb, akl, renyi, tsallis, fklIs, pg];

export const OBJECTIVE_NAMES: readonly string[] = OBJECTIVE_REGISTRY.map((o) => o.name);

export function objectiveNamed(name: string): Objective {
  const o = OBJECTIVE_REGISTRY.find((e) => e.name === name);
  if (!o) throw new Error(`unknown objective ${name} (one of ${OBJECTIVE_NAMES.join(", ")})`);
  return o;
}

/** Every objective parameter (a config key), once, in registry order. */
export function objectiveParams(): ObjectiveParam[] {
  const seen = new Map<string, ObjectiveParam>();
  for (const o of OBJECTIVE_REGISTRY) for (const p of o.params) if (!seen.has(p.key)) seen.set(p.key, p);
  return [...seen.values()];
}
