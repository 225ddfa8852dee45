/**
 * One gradient estimate of a training objective over the batch contract (core/gfn/batch.ts): samples the batches
 * the objective needs (τ ~ Q when α < 1, τ ~ P when α > 0), under the uniform or the learned backward policy, and
 * hands them to the objective's entry (core/objectives/). Nothing here depends on the environment or on which
 * objective or control variate runs.
 */
import type { Gemm, Vec } from "../nn/gemm.ts";
import { type Mlp, zerosLike } from "../nn/mlp.ts";
import type { Batch, ForwardOptions, PolicyView, Sampler } from "../gfn/batch.ts";
import type { StepBehaviour } from "../gfn/behaviour.ts";
import type { Rng } from "../rng.ts";
import { objectiveNamed, objectiveParams } from "../objectives/registry.ts";
import { controlVariateNamed } from "../baselines/registry.ts";
import type { ObjectiveParams } from "../objectives/objective.ts";

/** Defaults of the objectives' parameters where a spec leaves them out (the config schema's defaults). */
const PARAM_DEFAULTS: ObjectiveParams = Object.fromEntries(
  objectiveParams().map((p) => [p.key, p.schema.parse(undefined) as number]),
);

export interface ObjectiveSpec {
  /** A registered objective's name (core/objectives/registry.ts). */
  objective: string;
  /** Backward ratio at this step. */
  alpha: number;
  /** A registered control variate's name (objectives with `usesCv`); default `none`. */
  cv?: string;
  /** The objective's parameters (div_alpha, pg_lambda, …). */
  params?: Partial<Record<string, number>>;
  /** The value network V(s) of objectives that need one. */
  value?: Mlp;
  /** A learned backward policy P_B(θ); absent = uniform P_B. */
  backwardPolicy?: Mlp;
  /**
   * Draw the forward batch from a behaviour (per-step ε / T, and a replay buffer) instead of Q
   * (core/gfn/behaviour.ts, docs/offpolicy.md). Needs the uniform P_B and a scalar control variate.
   */
  behaviour?: StepBehaviour;
  replay?: ForwardOptions["replay"];
}

export interface GradientEstimate {
  grads: Vec[];
  /** ∂/∂ of the scalar parameter (log Z_ψ, c_ψ, log Ẑ); 0 when the objective has none. */
  dScalar: number;
  /** Value of the sampled loss where it is defined (αTB), else NaN. */
  loss: number;
  forward?: Batch;
  backward?: Batch;
  valueGrads?: Vec[];
  valueLoss?: number;
  /** ∇_θ of the learned backward policy (when spec.backwardPolicy is set). */
  backwardGrads?: Vec[];
}

/** The φ-, scalar-, value- and θ-gradients of the objective on freshly sampled batches. */
export function estimateGradient(
  sampler: Sampler,
  pol: PolicyView,
  gemm: Gemm,
  B: number,
  rng: Rng,
  spec: ObjectiveSpec,
  scalar: number,
): GradientEstimate {
  const objective = objectiveNamed(spec.objective);
  const cv = controlVariateNamed(spec.cv ?? "none");
  const params = { ...PARAM_DEFAULTS, ...spec.params } as ObjectiveParams;
  const { alpha } = spec;
  const pb = spec.backwardPolicy;
  const offPolicy = spec.behaviour !== undefined || spec.replay !== undefined;
  if (offPolicy && (pb || cv.needsScores)) {
    throw new Error("a behaviour policy needs the uniform backward policy and a scalar control variate");
  }
  const forward = alpha < 1
    ? sampler.forward(pol, gemm, B, rng, { pb, behaviour: spec.behaviour, replay: spec.replay })
    : undefined;
  const backward = alpha > 0 ? sampler.backward(pol, gemm, B, rng, pb) : undefined;
  let backwardGrads: Vec[] | undefined;
  if (pb) {
    backwardGrads = zerosLike(pb);
    for (
      const [part, batch, weight] of [["forward", forward, 1 - alpha], ["backward", backward, alpha]] as const
    ) {
      if (!batch?.pb || weight === 0) continue;
      batch.pb.accumulate(
        objective.backwardCoefficients(part, batch.logw, weight, scalar, params),
        backwardGrads,
      );
    }
  }
  const grads = zerosLike(pol.net);
  const r = objective.gradient({
    alpha,
    cv,
    scalar,
    params,
    gemm,
    forward,
    backward,
    value: spec.value,
    grads,
  });
  return { grads, ...r, forward, backward, backwardGrads };
}

/** Sample variance Σ_params of K gradient estimates: (1/(K−1)) Σ_k ‖g_k − ḡ‖² (metric grad_var). */
export function gradientVariance(draws: Vec[][]): number {
  const K = draws.length;
  let total = 0;
  for (let l = 0; l < draws[0].length; l++) {
    const n = draws[0][l].length;
    for (let j = 0; j < n; j++) {
      let m = 0;
      for (let k = 0; k < K; k++) m += draws[k][l][j];
      m /= K;
      for (let k = 0; k < K; k++) total += (draws[k][l][j] - m) ** 2;
    }
  }
  return total / (K - 1);
}
