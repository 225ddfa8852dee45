/**
 * The control variates, as values (docs/math.md §"Control variates"; paper §2.2.1). Each entry owns its name,
 * what it needs and its gradient: grads += weight · mean_s (b_s − log w_s) h_s, h_s = ∇_φ log P_F(τ_s).
 * The config schema, the CLI help, spec validation and the estimator tests read their lists from here.
 * Adding a control variate = one entry below + its tests run by tests/estimators_test.ts over the registry.
 */
import type { Vec } from "../nn/gemm.ts";
import type { Batch } from "../gfn/batch.ts";
import { scalarBaseline } from "./cv.ts";
import {
  addOptimalScalarGradient,
  addOptimalVectorGradient,
  addScalarBaselineGradient,
} from "./estimator.ts";

export interface ControlVariate {
  readonly name: string;
  /** How the paper writes it (tables and plots, report/labels.ts). */
  readonly label: string;
  readonly description: string;
  /** Needs the per-sample scores h_s (computed as per-layer outer products, never S backward passes). */
  readonly needsScores: boolean;
  /** b_s independent of τ_s, so the estimate is unbiased; the global optimal baselines are not (O(1/S)). */
  readonly unbiased: boolean;
  /** Trains the objective's scalar c_ψ by ½(c_ψ − log w)² (c_ψ → E_Q[log w]; it plays log Z_ψ in αTB). */
  readonly learnsScalar: boolean;
  /** grads += weight · mean_s (b_s − log w_s) h_s; `scalar` is the current c_ψ. */
  addGradient(batch: Batch, logw: Float64Array, scalar: number, weight: number, grads: Vec[]): void;
  /**
   * The per-sample baseline b_s when it needs no scores (importance-weighted forms from a behaviour batch,
   * core/objectives/offpolicy.ts); absent for the optimal baselines.
   */
  baseline?(logw: Float64Array, scalar: number): Float64Array;
}

function scalarCv(
  name: "none" | "learned" | "loo-logw" | "loo-logz",
  label: string,
  description: string,
): ControlVariate {
  return {
    name,
    label,
    description,
    needsScores: false,
    unbiased: true,
    learnsScalar: name === "learned",
    baseline: (logw, scalar) => scalarBaseline(name, logw, scalar),
    addGradient(batch, logw, scalar, weight, grads) {
      if (weight === 0) return;
      addScalarBaselineGradient(batch, logw, scalarBaseline(name, logw, scalar), weight, grads);
    },
  };
}

function optimalCv(kind: "scalar" | "vector", leaveOneOut: boolean): ControlVariate {
  const name = `opt-${kind}${leaveOneOut ? "-loo" : ""}`;
  const what = kind === "scalar"
    ? "b = Σ log w_s ‖h_s‖² / Σ ‖h_s‖²"
    : "b_d = Σ log w_s h_{s,d}² / Σ h_{s,d}² per parameter element";
  return {
    name,
    label: `optimal ${kind}${leaveOneOut ? " (LOO)" : ""}`,
    description: `optimal ${kind} baseline ${what}${
      leaveOneOut ? ", leave-one-out (unbiased)" : " (global, O(1/S) bias)"
    }`,
    needsScores: true,
    unbiased: leaveOneOut,
    learnsScalar: false,
    addGradient(batch, logw, _scalar, weight, grads) {
      if (weight === 0) return;
      if (kind === "scalar") addOptimalScalarGradient(batch, logw, leaveOneOut, weight, grads);
      else addOptimalVectorGradient(batch, logw, leaveOneOut, weight, grads);
    },
  };
}

/** Every control variate, in the order the CLI help and reports list them. */
export const CONTROL_VARIATE_REGISTRY: readonly ControlVariate[] = [
  scalarCv("none", "none", "b = 0"),
  scalarCv("learned", "learned", "b = c_ψ, a scalar trained by ½(c_ψ − log w)²"),
  scalarCv("loo-logw", "LOO mean log w", "b_s = mean_{s'≠s} log w_{s'} (leave-one-out mean)"),
  // the paper's "log Z" baseline is the leave-one-out log-mean-exp; its optimal ones are the global forms
  scalarCv("loo-logz", "log Z", "b_s = logsumexp_{s'≠s} log w_{s'} − log(S−1) (leave-one-out log-mean-exp)"),
  optimalCv("scalar", false),
  optimalCv("vector", false),
  optimalCv("scalar", true),
  optimalCv("vector", true),
];

export const CONTROL_VARIATE_NAMES: readonly string[] = CONTROL_VARIATE_REGISTRY.map((c) => c.name);

export function controlVariateNamed(name: string): ControlVariate {
  const c = CONTROL_VARIATE_REGISTRY.find((e) => e.name === name);
  if (!c) throw new Error(`unknown control variate ${name} (one of ${CONTROL_VARIATE_NAMES.join(", ")})`);
  return c;
}
