/**
 * The fully resolved configuration of one training run. A sweep job is exactly one of these; its canonical
 * JSON form (sorted keys, defaults filled) is what the job id hashes.
 */
import { z } from "zod";
import { DENSITY_NAMES, isDensityName } from "../tasks/densities.ts";
import {
  behaviourProblem,
  BEHAVIOURS,
  type BehaviourSpec,
  EPSILON_SCHEDULES,
  ON_POLICY,
  REPLAY_SAMPLING,
} from "../gfn/behaviour.ts";
import { ACTIVATIONS } from "../nn/mlp.ts";
import { MH_RULES } from "../energy/mh.ts";
import {
  DENSITY_DEFAULTS,
  type DensityOptions,
  ENERGIES,
  MAX_EXACT_ENERGY_BITS,
  resolveDensityOptions,
} from "../tasks/density_options.ts";
import { OBJECTIVE_NAMES, objectiveNamed, objectiveParams } from "../objectives/registry.ts";
import { CONTROL_VARIATE_NAMES } from "../baselines/registry.ts";

/** A non-empty name list as zod's enum wants it. */
const names = (list: readonly string[]) => list as [string, ...string[]];

/** Objective and control-variate names come from their registries (core/objectives/, core/baselines/). */
export const OBJECTIVES: readonly string[] = OBJECTIVE_NAMES;
export const CONTROL_VARIATES: readonly string[] = CONTROL_VARIATE_NAMES;

export const ALPHA_SCHEDULES = ["constant", "anneal"] as const;

/** `ising` and the 2D densities of core/tasks/densities.ts (with `bits`, `energy`, … below). */
export const TASKS = ["ising", "hypergrid", ...DENSITY_NAMES] as const;

const DENSITY_KEYS = [
  "bits",
  "energy",
  "energy_file",
  "energy_hidden",
  "energy_lr",
  "mh_rule",
  "nll_points",
  "nll_trajectories",
  "mmd_samples",
  "test_seed",
] as const;

export const TrainConfigSchema = z.strictObject({
  task: z.enum(TASKS).default("ising"),
  /** Ising lattice side (D = L²) and inverse temperature. */
  L: z.int().min(2).default(3),
  beta: z.number().default(0.4),
  objective: z.enum(names(OBJECTIVES)).default("atb"),
  /** Backward ratio α ∈ [0,1]; with schedule `anneal` it is the starting value (docs/math.md). */
  alpha: z.number().min(0).max(1).default(0),
  alpha_schedule: z.enum(ALPHA_SCHEDULES).default("constant"),
  /** The objectives' own parameters (div_alpha, pg_lambda, lr_value, …), owned by their registry entries. */
  ...Object.fromEntries(objectiveParams().map((p) => [p.key, p.schema])) as {
    div_alpha: z.ZodDefault<z.ZodNumber>;
    pg_lambda: z.ZodDefault<z.ZodNumber>;
    lr_value: z.ZodDefault<z.ZodNumber>;
  },
  /**
   * Backward policy: `uniform` (fixed; docs/math.md) or `learned` (an MLP over states, masked softmax over the
   * parents; trained with the policy's lr by every objective's θ-coefficients — core/objectives/).
   */
  backward_policy: z.enum(["uniform", "learned"]).default("uniform"),
  /** Hypergrid (task hypergrid; core/tasks/hypergrid.ts): dimension d, side H, reward R0 + R1·[…] + R2·[…]. */
  grid_dim: z.int().min(1).default(2),
  grid_size: z.int().min(2).default(8),
  r0: z.number().positive().default(1e-3),
  r1: z.number().min(0).default(0.5),
  r2: z.number().min(0).default(2),
  cv: z.enum(names(CONTROL_VARIATES)).default("learned"),
  steps: z.int().positive().default(2000),
  batch: z.int().min(2).default(256),
  lr: z.number().positive().default(1e-3),
  /** Learning rate of the scalar parameter log Z_ψ / c_ψ. */
  lr_logz: z.number().positive().default(0.1),
  hidden: z.array(z.int().positive()).min(1).default([256, 256, 256]),
  activation: z.enum(ACTIVATIONS).default("swish"),
  /** Weight init: `he-uniform` (fan-in scaled) or `xavier-uniform`. */
  init: z.enum(["he-uniform", "xavier-uniform"]).default("he-uniform"),
  seed: z.int().min(0).default(0),
  eval_every: z.int().positive().default(100),
  /** Forward samples M for E_Q[log w] and log Ẑ at each evaluation (reference: 4000). */
  eval_samples: z.int().positive().default(4000),
  // 2D-density tasks only (defaults in DENSITY_DEFAULTS; docs/energy-checkpoint.md, docs/table2-profile.md)
  /** Bits per coordinate (D = 2·bits), default 16. */
  bits: z.int().min(2).max(32).optional(),
  /** learned (default): CD-trained energy MLP; fixed: a saved energy; exact: the discretised target table. */
  energy: z.enum(ENERGIES).optional(),
  /** Local path of the energy checkpoint for `energy: fixed` (in sweeps the stage input `energy` instead). */
  energy_file: z.string().min(1).optional(),
  /** Hidden sizes of the energy MLP (ELU), default [256, 256, 256]. */
  energy_hidden: z.array(z.int().positive()).min(1).optional(),
  /** Adam learning rate of the energy, default 1e-3. */
  energy_lr: z.number().positive().optional(),
  /** MH acceptance of the CD chains, default barker. */
  mh_rule: z.enum(MH_RULES).optional(),
  /** Test points of the IS NLL (Eq. 7), default 10000; 0 turns the NLL off. */
  nll_points: z.int().min(0).optional(),
  /** Backward trajectories per test point, default 20. */
  nll_trajectories: z.int().positive().optional(),
  /** Model and data samples of the MMD, default 4000; 0 turns it off. */
  mmd_samples: z.int().min(0).refine((n) => n !== 1, "mmd_samples must be 0 (off) or ≥ 2").optional(),
  /**
   * Seed of the held-out test points (default: derived from the task, not the training seed, so every seed of a
   * sweep cell is scored on the same test set and the report averages over seeds; `testSeedOf`).
   */
  test_seed: z.int().min(0).optional(),
  // Behaviour policy of the forward samples (core/gfn/behaviour.ts, docs/offpolicy.md). Absent = on-policy; the
  // options are not filled into the config (on-policy job ids are unchanged); `behaviourSpec` resolves them.
  /** on-policy (default), epsilon (ε-uniform mixing), tempered (logits / T), replay (buffer through P_B). */
  behaviour: z.enum(BEHAVIOURS).optional(),
  /** ε of ε-uniform mixing at the first step (epsilon: default 0.1; replay: default 0). */
  epsilon: z.number().min(0).max(1).optional(),
  /** ε at the last step with epsilon_schedule linear (default: epsilon). */
  epsilon_end: z.number().min(0).max(1).optional(),
  /** constant (default) or linear from epsilon to epsilon_end over training. */
  epsilon_schedule: z.enum(EPSILON_SCHEDULES).optional(),
  /** Temperature T of the behaviour's logits (tempered: default 2; replay: default 1). */
  temperature: z.number().positive().optional(),
  /** Replay: capacity in distinct terminal states (default 1000), share of replayed samples (default 0.5). */
  replay_size: z.int().min(1).optional(),
  replay_ratio: z.number().min(0).lt(1).optional(),
  /** Replay sampling rule: uniform over the buffer (default) or proportional to R. */
  replay_sampling: z.enum(REPLAY_SAMPLING).optional(),
  /** Hypergrid: K ≥ 2 independent gradient estimates per evaluation → metric grad_var (absent/0: off). */
  grad_var_batches: z.int().min(0).optional(),
}).superRefine((c, ctx) => {
  const problem = behaviourProblem(behaviourSpec(c));
  if (problem) ctx.addIssue({ code: "custom", path: ["behaviour"], message: problem });
  if (!isDensityName(c.task)) {
    for (const k of DENSITY_KEYS) {
      if (c[k] !== undefined) {
        ctx.addIssue({ code: "custom", path: [k], message: `${k} applies to the 2D density tasks only` });
      }
    }
    return;
  }
  const energy = c.energy ?? DENSITY_DEFAULTS.energy;
  const bits = c.bits ?? DENSITY_DEFAULTS.bits;
  if (energy === "exact" && bits > MAX_EXACT_ENERGY_BITS) {
    ctx.addIssue({
      code: "custom",
      path: ["energy"],
      message: `energy exact needs bits ≤ ${MAX_EXACT_ENERGY_BITS} (the full 2^D table), got bits ${bits}`,
    });
  }
  if (c.energy_file !== undefined && energy !== "fixed") {
    ctx.addIssue({ code: "custom", path: ["energy_file"], message: `energy_file needs energy: fixed` });
  }
});

export type TrainConfig = z.infer<typeof TrainConfigSchema>;

/** Validates and fills defaults. Throws a ZodError naming the offending field. */
export function parseTrainConfig(raw: unknown): TrainConfig {
  return TrainConfigSchema.parse(raw);
}

/** The 2D-density options of a config with their defaults filled in (core/tasks/density_options.ts). */
export function densityDefaults(c: TrainConfig): DensityOptions {
  return resolveDensityOptions(c);
}

type BehaviourKeys = Partial<
  Record<
    | "behaviour"
    | "epsilon"
    | "epsilon_end"
    | "epsilon_schedule"
    | "temperature"
    | "replay_size"
    | "replay_ratio"
    | "replay_sampling",
    unknown
  >
>;

/** The behaviour policy of a config with its defaults (core/gfn/behaviour.ts); on-policy when absent. */
export function behaviourSpec(c: BehaviourKeys): BehaviourSpec {
  const kind = (c.behaviour ?? "on-policy") as BehaviourSpec["kind"];
  if (kind === "on-policy") return ON_POLICY;
  const epsilon = (c.epsilon as number | undefined) ?? (kind === "epsilon" ? 0.1 : 0);
  const spec: BehaviourSpec = {
    ...ON_POLICY,
    kind,
    epsilon: kind === "tempered" ? 0 : epsilon,
    epsilonEnd: kind === "tempered" ? 0 : (c.epsilon_end as number | undefined) ?? epsilon,
    schedule: kind === "tempered"
      ? "constant"
      : (c.epsilon_schedule as BehaviourSpec["schedule"]) ?? "constant",
    temperature: kind === "epsilon"
      ? 1
      : (c.temperature as number | undefined) ?? (kind === "tempered" ? 2 : 1),
  };
  if (kind === "replay") {
    spec.replaySize = (c.replay_size as number | undefined) ?? 1000;
    spec.replayRatio = (c.replay_ratio as number | undefined) ?? 0.5;
    spec.replaySampling = (c.replay_sampling as BehaviourSpec["replaySampling"]) ?? "uniform";
  }
  return spec;
}

/** The behaviour keys a job records: the resolved options its kind reads. */
function behaviourJobKeys(c: TrainConfig): Record<string, unknown> {
  const b = behaviourSpec(c);
  // on-policy: recorded only when the config names it (so configs that never mention it keep their job ids)
  if (b.kind === "on-policy") return c.behaviour ? { behaviour: "on-policy" } : {};
  const out: Record<string, unknown> = { behaviour: b.kind };
  if (b.kind !== "tempered") {
    Object.assign(out, { epsilon: b.epsilon, epsilon_schedule: b.schedule });
    if (b.schedule === "linear") out.epsilon_end = b.epsilonEnd;
  }
  if (b.kind !== "epsilon") out.temperature = b.temperature;
  if (b.kind === "replay") {
    Object.assign(out, {
      replay_size: b.replaySize,
      replay_ratio: b.replayRatio,
      replay_sampling: b.replaySampling,
    });
  }
  return out;
}

/**
 * The identity of a run, as a sweep job stores and hashes it: defaults filled in, and the options this task and
 * objective never read removed (Ising's L/β off the Ising task, hypergrid and 2D-density options off theirs, an
 * objective's parameters off the other objectives, cv off objectives without one — the registries say; the
 * behaviour options resolved for their kind and absent on-policy). So an
 * unused option neither changes a job id nor shows up as an axis in reports; `parseTrainConfig` of the result
 * gives back the same run.
 */
export function jobConfig(c: TrainConfig): Record<string, unknown> {
  const out: Record<string, unknown> = { ...c };
  const drop = (...keys: string[]) => keys.forEach((k) => delete out[k]);
  if (c.task !== "ising") drop("L", "beta");
  if (c.task !== "hypergrid") drop("grid_dim", "grid_size", "r0", "r1", "r2");
  if (isDensityName(c.task)) {
    for (const [k, v] of Object.entries(densityDefaults(c))) if (v !== undefined) out[k] = v;
  }
  drop(
    "behaviour",
    "epsilon",
    "epsilon_end",
    "epsilon_schedule",
    "temperature",
    "replay_size",
    "replay_ratio",
    "replay_sampling",
  );
  Object.assign(out, behaviourJobKeys(c));
  const objective = objectiveNamed(c.objective);
  const reads = new Set(objective.params.map((p) => p.key));
  for (const p of objectiveParams()) if (!reads.has(p.key)) drop(p.key);
  if (!objective.usesCv) drop("cv");
  return out;
}

/** One evaluation record, printed as a JSON line by `train --json` and streamed as job progress. */
export interface EvalRecord {
  step: number;
  seconds: number;
  e_logw: number;
  log_z_hat: number;
  /** Current value of the learned scalar (log Z_ψ or c_ψ) when there is one. */
  log_z_param?: number;
  exact_log_z?: number;
  exact_e_logw?: number;
  /** Exact trajectory-level KL(Q‖P) = log Z − E_Q[log w]. */
  exact_kl?: number;
  /** Exact terminal KL(Q_T‖π). */
  exact_kl_terminal?: number;
  exact_tv?: number;
  // Task-specific metrics (nll, mmd, tv, ...) are further numeric fields.
  [metric: string]: number | string | boolean | undefined;
}

export interface TrainSummary extends EvalRecord {
  final: true;
  steps: number;
  backend: string;
  ms_per_step: number;
}
