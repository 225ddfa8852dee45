/**
 * Gradient estimates of the companion papers' objectives on a forward batch (and, for a backward ratio α > 0, the
 * data forward-KL term as in αKL): grads ∝ (1−α)·∇(divergence) + α·∇FKL(data).
 *   renyi    (1−α)·α'/(α'−1)·Σ_i (softmax_i((1−α')·log w) − 1/N)·h_i          (α' = div_alpha; no scalar)
 *   tsallis  (1−α)·α'/(α'−1)·(1/N)·Σ_i (u_i − mean_{j≠i} u_j)·h_i, u = (w/Ẑ)^{1−α'}; the scalar is log Ẑ
 *   fkl-is   −(1−α)·Σ_i (softmax_i(log w) − 1/N)·h_i                               (no scalar)
 *   pg       (1−α)·(1/B)·Σ_{b,t} Â_{t,b}·∇log p_{t,b}; the scalar is log Z_ψ in the terminal cost (fitted to
 *            E_Q[log w] like the learned control variate); the value network is regressed on λ-returns.
 * Sign convention: every coefficient multiplies log q_φ (or log p_φ of a step) in a surrogate that is descended.
 */
import type { Gemm, Vec } from "../nn/gemm.ts";
import { type Mlp, zerosLike } from "../nn/mlp.ts";
import { mlpBackward, mlpForwardCached } from "../nn/backprop.ts";
import { accumulateGrads, type Policy, type TrajBatch } from "../gfn/trajectories.ts";
import { renyiCoefficients } from "../objectives/renyi.ts";
import { tsallisCoefficients, tsallisLogZGrad } from "../objectives/tsallis.ts";
import { fklIsCoefficients } from "../objectives/fkl_is.ts";
import { bitVectorCosts, pgCoefficients, stepMajorLayout } from "../objectives/pg.ts";
import { fklCoefficients, learnedBaselineGrad } from "../objectives/akl.ts";
import type { Objective } from "./config.ts";
import type { BackwardEval } from "../gfn/backward.ts";
import { logFactorial } from "../math.ts";
import {
  fklOffPolicyCoefficients,
  importanceLogZ,
  renyiOffPolicyCoefficients,
  tsallisOffPolicyCoefficients,
  weightedMeanGrad,
} from "../objectives/offpolicy.ts";

export type CompanionObjective = Exclude<Objective, "atb" | "akl">;

export interface CompanionOptions {
  /** α of Rényi-α / Tsallis-α (default 0.5). */
  divAlpha?: number;
  /** Policy gradient: the value network V(s) (D → … → 1) and GAE λ (default 0.99). */
  value?: Mlp;
  pgLambda?: number;
  /** Policy gradient: centre advantages per step with the leave-one-out mean (default true). */
  pgCentre?: boolean;
}

export interface CompanionResult {
  dScalar: number;
  /** Gradient of the value network's regression loss (pg). */
  valueGrads?: Vec[];
  /** Mean squared error of the value network on this batch's λ-returns (pg). */
  valueLoss?: number;
}

export function addCompanionGradient(
  objective: CompanionObjective,
  pol: Policy,
  gemm: Gemm,
  forward: { batch: TrajBatch; logw: Float64Array; pb?: BackwardEval; logRho?: Float64Array } | undefined,
  backward: { batch: TrajBatch; logw: Float64Array } | undefined,
  alpha: number,
  scalar: number,
  opts: CompanionOptions,
  grads: Vec[],
): CompanionResult {
  const divAlpha = opts.divAlpha ?? 0.5;
  const result: CompanionResult = { dScalar: 0 };
  if (forward) {
    const { batch, logw, logRho } = forward;
    const weight = 1 - alpha;
    // off-policy (logRho present): importance-weighted forms, core/objectives/offpolicy.ts
    switch (objective) {
      case "renyi": {
        const coef = logRho
          ? renyiOffPolicyCoefficients(logw, logRho, divAlpha, weight)
          : renyiCoefficients(logw, divAlpha, weight);
        accumulateGrads(pol, gemm, batch, coef, grads);
        break;
      }
      case "tsallis": {
        const coef = logRho
          ? tsallisOffPolicyCoefficients(logw, logRho, divAlpha, scalar, weight)
          : tsallisCoefficients(logw, divAlpha, scalar, weight);
        accumulateGrads(pol, gemm, batch, coef, grads);
        result.dScalar = logRho ? scalar - importanceLogZ(logw, logRho) : tsallisLogZGrad(scalar, logw);
        break;
      }
      case "fkl-is": {
        const coef = logRho
          ? fklOffPolicyCoefficients(logw, logRho, weight)
          : fklIsCoefficients(logw, weight);
        accumulateGrads(pol, gemm, batch, coef, grads);
        break;
      }
      case "pg": {
        if (!opts.value) throw new Error("the pg objective needs a value network");
        Object.assign(
          result,
          pgStep(pol, gemm, batch, logw, forward.pb, scalar, opts.value, opts, weight, grads, logRho),
        );
        result.dScalar = logRho ? weightedMeanGrad(scalar, logw, logRho) : learnedBaselineGrad(scalar, logw);
        break;
      }
    }
  }
  if (backward) accumulateGrads(pol, gemm, backward.batch, fklCoefficients(backward.batch.B, alpha), grads);
  return result;
}

/** Values, per-step costs, GAE coefficients into grads; returns the value network's gradient and loss. */
function pgStep(
  pol: Policy,
  gemm: Gemm,
  batch: TrajBatch,
  logw: Float64Array,
  pb: BackwardEval | undefined,
  logZ: number,
  value: Mlp,
  opts: CompanionOptions,
  weight: number,
  grads: Vec[],
  logRho?: Float64Array,
): { valueGrads: Vec[]; valueLoss: number } {
  const { D, B } = batch;
  const rows = D * B;
  if (!batch.cache) throw new Error("pg needs a batch sampled with cache");
  const vc = mlpForwardCached(value, gemm, batch.cache.X, rows);
  // log R from log w = log R + log P_B(τ|x) + log D! − log q (uniform P_B: log R − log q)
  const logR = new Float64Array(B), lf = logFactorial(D);
  for (let b = 0; b < B; b++) logR[b] = logw[b] + batch.logq[b] - (pb ? pb.logPB[b] + lf : 0);
  const cost = bitVectorCosts(D, B, batch.logp, logR, logZ, pb ? pb.logPBRows : null);
  const terms = pgCoefficients(
    stepMajorLayout(B, D),
    cost,
    vc.out,
    opts.pgLambda ?? 0.99,
    opts.pgCentre ?? true,
  );
  if (weight !== 1) { for (let r = 0; r < rows; r++) terms.coef[r] *= weight; }
  // off-policy: every row of trajectory b (rows t·B + b) times its importance weight ρ_b
  if (logRho) { for (let r = 0; r < rows; r++) terms.coef[r] *= Math.exp(logRho[r % B]); }
  accumulateGrads(pol, gemm, batch, terms.coef, grads);
  const dOut = new (vc.out.constructor as Float64ArrayConstructor)(rows);
  let loss = 0;
  for (let r = 0; r < rows; r++) {
    const e = vc.out[r] - terms.valueTarget[r];
    dOut[r] = e / rows;
    loss += e * e / rows;
  }
  const valueGrads = zerosLike(value);
  mlpBackward(value, gemm, vc, dOut, valueGrads);
  return { valueGrads, valueLoss: loss };
}
