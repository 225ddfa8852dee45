/**
 * The metrics a train job emits (its evaluation records and final summary), by task: what report layouts and
 * `--layout` may ask for. tests/metrics_test.ts trains every task briefly and checks that what it emits is
 * listed here, so a new metric cannot be missed. Pure.
 */
import { isDensityName } from "../tasks/densities.ts";

/** Every task: the log-weight estimates (Eq. 9), the learned scalar, exact quantities when enumerable. */
export const COMMON_METRICS = [
  "e_logw",
  "log_z_hat",
  "log_z_param",
  "exact_log_z",
  "exact_e_logw",
  "exact_kl",
  "exact_kl_terminal",
  "exact_tv",
  "exact_jsd",
  "ms_per_step",
  // with a learned backward policy the metrics above use it; the uniform-P_B values stay available
  "e_logw_uniform_pb",
  "log_z_hat_uniform_pb",
  "exact_e_logw_uniform_pb",
  "exact_kl_uniform_pb",
] as const;
/** The hypergrid's mode counts (core/tasks/runtime.ts). */
export const HYPERGRID_METRICS = ["modes_found", "modes_total"] as const;
/**
 * Off-policy training (docs/offpolicy.md): the behaviour's ε now, the mean effective sample size of the importance
 * weights over the steps since the last evaluation (fraction of the batch), the replay buffer's size, and the
 * sample variance of `grad_var_batches` independent gradient estimates.
 */
export const OFFPOLICY_METRICS = ["epsilon_now", "is_ess_fraction", "replay_buffer", "grad_var"] as const;
/** 2D densities: test NLL (Eq. 7), MMD, the energy's CD diagnostics (core/tasks/runtime.ts). */
export const DENSITY_METRICS = [
  "nll",
  "nll_se",
  "nll_bits_per_dim",
  "exact_nll",
  "energy_exact_nll",
  "mmd",
  "mmd_unbiased",
  "mh_accept",
  "mh_k",
  "cd_gap",
] as const;

/** Metric names a train job of this task emits (some only when exact enumeration is possible). */
export function trainMetrics(task: string): string[] {
  if (task === "hypergrid") return [...COMMON_METRICS, ...HYPERGRID_METRICS, ...OFFPOLICY_METRICS];
  if (isDensityName(task)) return [...COMMON_METRICS, ...DENSITY_METRICS, ...OFFPOLICY_METRICS];
  return [...COMMON_METRICS, ...OFFPOLICY_METRICS];
}

/** Metric names of the test job kinds (workers/execute.ts). */
export const TEST_KIND_METRICS: Record<string, readonly string[]> = {
  noop: ["ok"],
  sleep: ["slept_ms"],
  fail: [],
};

/** The metrics jobs of this kind and config emit. */
export function jobMetrics(kind: string, config: Record<string, unknown>): string[] {
  return kind === "train"
    ? trainMetrics(String(config.task ?? "ising"))
    : [...(TEST_KIND_METRICS[kind] ?? [])];
}
