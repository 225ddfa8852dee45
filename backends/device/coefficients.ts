/**
 * The device engine's coefficients (docs/device.md §"Coefficients"): the objective's registry entry runs
 * unchanged on the device — its `trajectoryGradient` (core/objectives/objective.ts: the per-trajectory coefficient
 * math of docs/math.md §"Objectives" and the control variates of §"Control variates", written once over the array
 * algebra of core/algebra.ts) over the tensor algebra (backends/device/algebra.ts), on each part's device-resident
 * log w [K, B], all K seeds at once (reductions per seed). The per-trajectory coefficients [K, B], ∂loss/∂scalar
 * [K] and the loss [K] stay on the device: the step driver (backends/device/engine.ts) builds the backward signal
 * from the coefficients there, and Adam reads ∂/∂scalar there, so nothing is read back for the coefficients
 * (the caller reads the loss if it reports it: K floats). Uploaded: the few scalar constants the math uses.
 *
 * Supported: every objective with a `trajectoryGradient` (atb, akl, renyi, tsallis, fkl-is) with every control
 * variate, on-policy. The optimal baselines reach the batch through `TrajectoryBatch.addOptimalBaselineGradient`
 * (core/gfn/batch.ts): the device batch records the request (baseline, weight) and the engine adds its gradient
 * from the per-sample scores of its unit backward pass (backends/device/scores.ts). pg (per-row coefficients and
 * a value network) has no `trajectoryGradient`: backends/device/value.ts `DevicePg`.
 */
import type { OptimalBaseline, TrajectoryBatch } from "../../core/gfn/batch.ts";
import type { Objective, ObjectiveParams } from "../../core/objectives/objective.ts";
import type { ControlVariate } from "../../core/baselines/registry.ts";
import { OBJECTIVE_REGISTRY } from "../../core/objectives/registry.ts";
import type { T, Tf } from "./sampler.ts";
import { tensorAlgebra } from "./algebra.ts";

/** The objectives whose coefficients run on the device: those with a `trajectoryGradient`. */
export const DEVICE_OBJECTIVES: readonly string[] = OBJECTIVE_REGISTRY.filter((o) => o.trajectoryGradient)
  .map((
    o,
  ) => o.name);

/** Why this objective × control variate has no device coefficients, or null. */
export function deviceCoefficientSupport(objective: Objective, cv: ControlVariate): string | null {
  if (!objective.trajectoryGradient) {
    return `objective ${objective.name} is not on the device engine (per-trajectory coefficients only)`;
  }
  void cv; // every control variate (the optimal baselines' gradients: the engine, backends/device/scores.ts)
  return null;
}

/**
 * One part (forward or backward batch) as the registry's coefficient code sees it on the device: log w [K, B],
 * and `accumulate` sums the coefficients asked for (on device) instead of running a backward pass; the engine's
 * step driver back-propagates the sum once. The gradient target G is unused (null).
 */
export class DeviceTrajectoryBatch implements TrajectoryBatch<T, null> {
  readonly B: number;
  /** The optimal baselines asked for: their gradients need the per-sample scores (the engine adds them). */
  readonly optimal: { baseline: OptimalBaseline; weight: number }[] = [];
  private coef: T | null = null;
  constructor(private readonly tf: Tf, readonly logw: T) {
    this.B = logw.shape[logw.rank - 1]!;
  }
  accumulate(coef: T): void {
    const c = this.tf.broadcastTo(coef, this.logw.shape);
    this.coef = this.coef ? this.tf.add(this.coef, c) : c;
  }
  /** Records weight · mean_s (b_s − log w_s) h_s with an optimal baseline (computed by the engine). */
  addOptimalBaselineGradient(baseline: OptimalBaseline, _logw: T, weight: number): void {
    if (weight !== 0) this.optimal.push({ baseline, weight });
  }
  /** Σ of the accumulated coefficients [K, B], or null when none were asked for. */
  coefficients(): T | null {
    return this.coef;
  }
}

/** What the coefficients read: each part's log w [K, B] and the objective's scalar per seed [K] (device). */
export interface DeviceCoefficientInput {
  tf: Tf;
  objective: Objective;
  cv: ControlVariate;
  params: ObjectiveParams;
  alpha: number;
  scalar: T;
  forward?: { logw: T };
  backward?: { logw: T };
}

/** weight · mean_s (b_s − log w_s) h_s with an optimal baseline (the same for every seed; backends/device/scores.ts). */
export interface OptimalRequest {
  baseline: OptimalBaseline;
  weight: number;
}

/** Per-trajectory coefficients [K, B] of each part, ∂loss/∂scalar [K] and the loss [K] (device; caller owns). */
export interface DeviceCoefficientOutput {
  forward?: { traj: T; optimal?: OptimalRequest[] };
  backward?: { traj: T; optimal?: OptimalRequest[] };
  dScalar: T;
  loss: T;
}

/**
 * The registry entry's coefficients computed on the device from the device-resident log w (the engine's default
 * `CoefficientFn`). Reads nothing back.
 */
export function deviceCoefficients(input: DeviceCoefficientInput): DeviceCoefficientOutput {
  const { tf, objective, cv, params, alpha, scalar } = input;
  const why = deviceCoefficientSupport(objective, cv);
  if (why) throw new Error(why);
  const gradient = objective.trajectoryGradient!;
  const alg = tensorAlgebra(tf);
  try {
    return tf.tidy(() => {
      const K = scalar.shape[0]!;
      const forward = input.forward && new DeviceTrajectoryBatch(tf, input.forward.logw);
      const backward = input.backward && new DeviceTrajectoryBatch(tf, input.backward.logw);
      const r = gradient<T, null>({
        alg,
        alpha,
        cv,
        params,
        scalar: tf.reshape(scalar, [K, 1]),
        forward,
        backward,
        grads: null,
      });
      const perSeed = (v: T) => tf.reshape(tf.broadcastTo(v, [K, 1]), [K]);
      const out: DeviceCoefficientOutput = { dScalar: perSeed(r.dScalar), loss: perSeed(r.loss) };
      const fc = forward?.coefficients(), bc = backward?.coefficients();
      // a part that only asked for an optimal baseline has zero coefficients besides it
      if (forward && (fc || forward.optimal.length)) {
        out.forward = { traj: fc ?? tf.zerosLike(forward.logw), optimal: forward.optimal };
      }
      if (backward && (bc || backward.optimal.length)) {
        out.backward = { traj: bc ?? tf.zerosLike(backward.logw), optimal: backward.optimal };
      }
      return out as unknown as Record<string, T>;
    }) as unknown as DeviceCoefficientOutput;
  } finally {
    alg.dispose();
  }
}
