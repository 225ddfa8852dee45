/**
 * What a regression gate compares: the spec's `gate:` section as parsed (core/sweep/spec.ts), its defaults and
 * the metric names it reads. Apart from core/sweep/gate.ts so the spec parser and the gate do not import each other.
 */

export type Direction = "lower" | "higher" | "closer";
export const DIRECTIONS: readonly Direction[] = ["lower", "higher", "closer"];

export interface GateMetric {
  metric: string;
  direction: Direction;
  /** `closer` only: the metric of the same job the value should be close to (e.g. exact_log_z). */
  target?: string;
  /** Absolute practical tolerance δ (in the compared quantity's units), ≥ 0. */
  tolerance: number;
  /** Relative tolerance: δ ≥ rel_tolerance · |baseline mean|, ≥ 0. */
  relTolerance: number;
}

export interface GateSpec {
  /** Family-wise error rate of the regression verdict (Holm over every cell × metric). */
  alpha: number;
  metrics: GateMetric[];
}

export const DEFAULT_ALPHA = 0.05;

/** Directions of the metrics the jobs emit, used when a spec's gate names a metric without one. */
export const DEFAULT_DIRECTIONS: Readonly<Record<string, { direction: Direction; target?: string }>> = {
  exact_kl: { direction: "lower" },
  exact_kl_terminal: { direction: "lower" },
  exact_tv: { direction: "lower" },
  exact_jsd: { direction: "lower" },
  nll: { direction: "lower" },
  exact_nll: { direction: "lower" },
  mmd: { direction: "lower" },
  modes_found: { direction: "higher" },
  e_logw: { direction: "closer", target: "exact_log_z" },
  log_z_hat: { direction: "closer", target: "exact_log_z" },
  exact_e_logw: { direction: "closer", target: "exact_log_z" },
  log_z_param: { direction: "closer", target: "exact_log_z" },
};

/** The metric names a gate reads from the jobs (gated metrics and their targets). */
export function gateInputs(gate: GateSpec): string[] {
  const out: string[] = [];
  for (const m of gate.metrics) for (const k of [m.metric, m.target]) if (k && !out.includes(k)) out.push(k);
  return out;
}

/** How the compared quantity is written: the metric, or |target − metric|. */
export function quantityName(m: GateMetric): string {
  return m.direction === "closer" ? `|${m.target} − ${m.metric}|` : m.metric;
}
