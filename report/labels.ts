/**
 * How the paper writes axes and values (issue 10, item 5): β and α as Greek letters, objectives as αTB / αKL,
 * control variates by the paper's names, energies and tasks in words. Tables (Markdown, LaTeX, HTML) and plots
 * use these labels; CSV keeps the raw config values. Keys and values not listed show as they are.
 */
import { formatAxisValue } from "../core/sweep/aggregate.ts";
import { OBJECTIVE_REGISTRY, objectiveParams } from "../core/objectives/registry.ts";
import { CONTROL_VARIATE_REGISTRY } from "../core/baselines/registry.ts";

export const AXIS_NAMES: Record<string, string> = {
  beta: "β",
  alpha: "α",
  // the objectives' parameters are labelled by their registry entries
  ...Object.fromEntries(objectiveParams().filter((p) => p.label).map((p) => [p.key, p.label!])),
  cv: "control variate",
};

export const VALUE_NAMES: Record<string, Record<string, string>> = {
  // objectives and control variates as their registry entries write them
  objective: Object.fromEntries(OBJECTIVE_REGISTRY.map((o) => [o.name, o.label])),
  cv: Object.fromEntries(CONTROL_VARIATE_REGISTRY.map((c) => [c.name, c.label])),
  energy: { learned: "learned energy", fixed: "fixed energy", exact: "exact energy" },
  task: {
    ising: "Ising",
    hypergrid: "hypergrid",
    "2spirals": "2 spirals",
    "8gaussians": "8 Gaussians",
    circles: "circles",
    moons: "moons",
    pinwheel: "pinwheel",
    swissroll: "swiss roll",
    checkerboard: "checkerboard",
    rings: "rings",
  },
};

/** The paper's name of a config key (`beta` → `β`). */
export function axisName(axis: string): string {
  return AXIS_NAMES[axis] ?? axis;
}

/** The paper's name of a value of a key (`objective: atb` → `αTB`); numbers and unknown values as they are. */
export function valueName(axis: string, value: unknown): string {
  return typeof value === "string" ? VALUE_NAMES[axis]?.[value] ?? value : formatAxisValue(value);
}

/** A column header: `β = 0.2` for numbers, the value's name alone when it names itself (`learned energy`). */
export function headerName(axis: string, value: unknown): string {
  return typeof value === "string" && VALUE_NAMES[axis]?.[value] !== undefined
    ? VALUE_NAMES[axis][value]
    : `${axisName(axis)} = ${valueName(axis, value)}`;
}

/** `β = 0.2, αKL` style label of a group. */
export function groupName(axes: Record<string, unknown>, keys: string[] = Object.keys(axes)): string {
  const parts = keys.map((k) => headerName(k, axes[k]));
  return parts.length ? parts.join(", ") : "all";
}
