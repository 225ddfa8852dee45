/**
 * The control variates, as values (docs/math.md §"Control variates"; paper §2.2.1). Each entry owns its name,
 * what it needs and its gradient: grads += weight · mean_s (b_s − log w_s) h_s, h_s = ∇_φ log P_F(τ_s).
 * The config schema, the CLI help, spec validation and the estimator tests read their lists from here.
 * Adding a control variate = one entry below + its tests run by tests/estimators_test.ts over the registry.
 */
import type { OptimalBaseline, TrajectoryBatch } from "../gfn/batch.ts";
import type { Algebra } from "../algebra.ts";
import { looLogMeanExpOf, looMeanOf } from "./cv.ts";
import { addBaselineGradient } from "./estimator.ts";

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
  /** The optimal baseline it forms from the per-sample scores (the opt-* entries; engines implement it). */
  readonly optimal?: OptimalBaseline;
  /**
   * grads += weight · mean_s (b_s − log w_s) h_s over any engine's batch and array algebra (core/algebra.ts);
   * `scalar` is the current c_ψ (length-1).
   */
  addGradient<V, G>(
    alg: Algebra<V>,
    batch: TrajectoryBatch<V, G>,
    logw: V,
    scalar: V,
    weight: number,
    grads: G,
  ): void;
  /**
   * The per-sample baseline b_s (length B, or length-1 when it is the same for every sample) when it needs no
   * scores (also the importance-weighted forms from a behaviour batch, core/objectives/offpolicy.ts); absent for
   * the optimal baselines.
   */
  baseline?<V>(alg: Algebra<V>, logw: V, scalar: V): V;
}

/** A baseline that needs no scores: b from log w and the scalar c_ψ. */
type ScalarBaseline = <V>(alg: Algebra<V>, logw: V, c: V) => V;

function scalarCv(
  name: string,
  label: string,
  description: string,
  baseline: ScalarBaseline,
): ControlVariate {
  return {
    name,
    label,
    description,
    needsScores: false,
    unbiased: true,
    learnsScalar: name === "learned",
    baseline,
    addGradient(alg, batch, logw, scalar, weight, grads) {
      if (weight === 0) return;
      addBaselineGradient(alg, batch, logw, baseline(alg, logw, scalar), weight, grads);
    },
  };
}

function optimalCv(kind: "scalar" | "vector", leaveOneOut: boolean): ControlVariate {
  const name = `opt-${kind}${leaveOneOut ? "-loo" : ""}`;
  const what = kind === "scalar"
    ? "b = Σ log w_s ‖h_s‖² / Σ ‖h_s‖²"
    : "b_d = Σ log w_s h_{s,d}² / Σ h_{s,d}² per parameter element";
  const optimal: OptimalBaseline = { kind, leaveOneOut };
  return {
    name,
    label: `optimal ${kind}${leaveOneOut ? " (LOO)" : ""}`,
    description: `optimal ${kind} baseline ${what}${
      leaveOneOut ? ", leave-one-out (unbiased)" : " (global, O(1/S) bias)"
    }`,
    needsScores: true,
    unbiased: leaveOneOut,
    learnsScalar: false,
    optimal,
    addGradient(_alg, batch, logw, _scalar, weight, grads) {
      if (weight === 0) return;
      if (!batch.addOptimalBaselineGradient) {
        throw new Error(`cv ${name} needs per-sample scores: not available on this engine`);
      }
      batch.addOptimalBaselineGradient(optimal, logw, weight, grads);
    },
  };
}

/** Every control variate, in the order the CLI help and reports list them. */
export const CONTROL_VARIATE_REGISTRY: readonly ControlVariate[] = [
  scalarCv("none", "none", "b = 0", (alg) => alg.scalar(0)),
  scalarCv("learned", "learned", "b = c_ψ, a scalar trained by ½(c_ψ − log w)²", (_alg, _logw, c) => c),
  scalarCv("loo-logw", "LOO mean log w", "b_s = mean_{s'≠s} log w_{s'} (leave-one-out mean)", looMeanOf),
  // the paper's "log Z" baseline is the leave-one-out log-mean-exp; its optimal ones are the global forms
  scalarCv(
    "loo-logz",
    "log Z",
    "b_s = logsumexp_{s'≠s} log w_{s'} − log(S−1) (leave-one-out log-mean-exp)",
    looLogMeanExpOf,
  ),
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
