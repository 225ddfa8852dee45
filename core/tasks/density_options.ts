/**
 * The options of the 2D-density tasks (docs/energy-checkpoint.md, docs/table2-profile.md) and their defaults.
 * The defaults are not filled into a config (keys absent from Ising configs keep their job ids);
 * `resolveDensityOptions` resolves them for a run.
 */
import type { MhRule } from "../energy/mh.ts";

/** Energy of a 2D-density task: trained by contrastive divergence, loaded from a checkpoint, or the exact table. */
export const ENERGIES = ["learned", "fixed", "exact"] as const;
export type EnergyKind = typeof ENERGIES[number];

export const DENSITY_DEFAULTS = {
  bits: 16,
  energy: "learned" as EnergyKind,
  energy_hidden: [256, 256, 256],
  energy_lr: 1e-3,
  mh_rule: "barker" as MhRule,
  nll_points: 10000,
  nll_trajectories: 20,
  mmd_samples: 4000,
};
/** Largest bits per coordinate of `energy: exact` (the full table, core/tasks/density_target.ts). */
export const MAX_EXACT_ENERGY_BITS = 8;

/** The resolved options of a 2D-density run. */
export interface DensityOptions {
  bits: number;
  energy: EnergyKind;
  energy_file?: string;
  energy_hidden: number[];
  energy_lr: number;
  mh_rule: MhRule;
  nll_points: number;
  nll_trajectories: number;
  mmd_samples: number;
  test_seed: number;
}

/** The options as a config gives them (any may be absent). */
export type DensityOptionsInput = Partial<DensityOptions> & { task: string };

export function resolveDensityOptions(c: DensityOptionsInput): DensityOptions {
  return {
    bits: c.bits ?? DENSITY_DEFAULTS.bits,
    energy: c.energy ?? DENSITY_DEFAULTS.energy,
    energy_file: c.energy_file,
    energy_hidden: c.energy_hidden ?? DENSITY_DEFAULTS.energy_hidden,
    energy_lr: c.energy_lr ?? DENSITY_DEFAULTS.energy_lr,
    mh_rule: c.mh_rule ?? DENSITY_DEFAULTS.mh_rule,
    nll_points: c.nll_points ?? DENSITY_DEFAULTS.nll_points,
    nll_trajectories: c.nll_trajectories ?? DENSITY_DEFAULTS.nll_trajectories,
    mmd_samples: c.mmd_samples ?? DENSITY_DEFAULTS.mmd_samples,
    test_seed: c.test_seed ?? testSeedOf(c.task),
  };
}

/**
 * Default seed of a task's held-out test points: a function of the task name only (FNV-1a of the name, mixed
 * with 0x7e57da7a), so the test set is the same for every training seed (the paper's Table 2 is mean ± std over
 * seeds on one test set) and is a stream distinct from the training Rng(seed) of small seeds.
 */
export function testSeedOf(task: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < task.length; i++) h = Math.imul(h ^ task.charCodeAt(i), 0x01000193);
  return ((h ^ 0x7e57da7a) >>> 0) & 0x7fffffff;
}
