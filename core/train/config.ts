/**
 * The fully resolved configuration of one training run. A sweep job is exactly one of these; its canonical
 * JSON form (sorted keys, defaults filled) is what the job id hashes.
 */
import { z } from "zod";

/**
 * atb, akl: the main paper. renyi, tsallis: Rényi-α / Tsallis-α divergences (α = div_alpha), fkl-is: forward KL by
 * self-normalised importance sampling from Q, pg: policy gradient with a value network (companion papers).
 */
export const OBJECTIVES = ["atb", "akl", "renyi", "tsallis", "fkl-is", "pg"] as const;
export type Objective = typeof OBJECTIVES[number];

export const CONTROL_VARIATES = [
  "none",
  "learned",
  "loo-logw",
  "loo-logz",
  "opt-scalar",
  "opt-vector",
  "opt-scalar-loo",
  "opt-vector-loo",
] as const;
export type ControlVariate = typeof CONTROL_VARIATES[number];

export const ACTIVATIONS = ["swish", "relu", "elu", "tanh"] as const;
export type Activation = typeof ACTIVATIONS[number];

export const ALPHA_SCHEDULES = ["constant", "anneal"] as const;
export type AlphaSchedule = typeof ALPHA_SCHEDULES[number];

export const TASKS = ["ising"] as const;

export const BACKENDS = ["auto", "blas", "wasm", "cpu", "tensorflow"] as const;
export type BackendName = typeof BACKENDS[number];

export const TrainConfigSchema = z.strictObject({
  task: z.enum(TASKS).default("ising"),
  /** Ising lattice side (D = L²) and inverse temperature. */
  L: z.int().min(2).default(3),
  beta: z.number().default(0.4),
  objective: z.enum(OBJECTIVES).default("atb"),
  /** Backward ratio α ∈ [0,1]; with schedule `anneal` it is the starting value (DESIGN §3). */
  alpha: z.number().min(0).max(1).default(0),
  alpha_schedule: z.enum(ALPHA_SCHEDULES).default("constant"),
  /** α of the Rényi-α / Tsallis-α objectives (≠ 1; α → 1 is the reverse KL). Distinct from the backward ratio. */
  div_alpha: z.number().refine((a) => a !== 1, "div_alpha must differ from 1 (α = 1 is the reverse KL)")
    .default(0.5),
  /** GAE λ of the policy-gradient objective (its value network has the policy's hidden sizes). */
  pg_lambda: z.number().min(0).max(1).default(0.99),
  /** Adam learning rate of the policy-gradient value network. */
  lr_value: z.number().positive().default(1e-3),
  cv: z.enum(CONTROL_VARIATES).default("learned"),
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
});

export type TrainConfig = z.infer<typeof TrainConfigSchema>;

/** Validates and fills defaults. Throws a ZodError naming the offending field. */
export function parseTrainConfig(raw: unknown): TrainConfig {
  return TrainConfigSchema.parse(raw);
}

/** Canonical JSON: keys sorted recursively, so equal configs give equal strings (and equal job ids). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
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
