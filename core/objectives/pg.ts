/**
 * GFlowNet training as reinforcement learning (companion paper "GFlowNet Training by Policy Gradients").
 * A trajectory τ = (s_0 → … → s_T) is an episode with per-step cost
 *   c_t = log P_F(s_{t+1}|s_t; φ) − log P_B(s_t|s_{t+1}),   and at the last step additionally  −log R(x) + log Z_ψ,
 * so the return Σ_t c_t = log Z_ψ − log w(τ) and the expected return J(φ) = E_Q[Σ_t c_t] = KL(Q‖P) + log Z_ψ − log Z.
 * The costs depend on φ, but E_Q[∇_φ c_t] = E_Q[∇ log p_t] = 0, so ∇J = E_Q[Σ_t ∇log p_t · G_t] with the cost-to-go
 * G_t = Σ_{t'≥t} c_{t'} (earlier costs are independent of later actions' scores). G_t is replaced by a GAE(λ)
 * advantage from a value network V(s) ≈ E[G_t | s_t = s] (V(s_T) = 0 past the terminal cost, γ = 1):
 *   δ_t = c_t + V(s_{t+1}) − V(s_t),   A_t = Σ_k λ^k δ_{t+k}   (λ = 1: A_t = G_t − V(s_t), unbiased);
 * advantages are centred per step by the leave-one-out mean over the other trajectories of the batch
 * (independent of τ itself, so λ = 1 stays unbiased). We descend the surrogate (1/B) Σ_b Σ_t sg(Â_{t,b}) log p_{t,b}:
 * a step whose cost-to-go is above its baseline loses probability. V is regressed on the λ-returns A_t + V(s_t).
 * log Z_ψ is fitted to E_Q[log w] like the learned control variate. A learned P_B(θ) is trained on the same
 * expected cost: ∇_θ J = −E_Q[∇_θ log P_B] (forward part), and the data FKL term as in αKL (backward part).
 */
import { z } from "zod";
import { mlpBackward, mlpForwardCached } from "../nn/backprop.ts";
import { zerosLike } from "../nn/mlp.ts";
import type { Batch, StepLayout } from "../gfn/batch.ts";
import { fklCoefficients, learnedBaselineGrad, type Objective, type ObjectiveParam } from "./objective.ts";
import { akl } from "./akl.ts";
import { weightedMeanGrad } from "./offpolicy.ts";

export interface PgTerms {
  /** Per-row coefficients on log p_φ (already divided by B). */
  coef: Float64Array;
  /** Per-row regression targets for V(s_t): the λ-returns A_t + V(s_t). */
  valueTarget: Float64Array;
  /** Per-row raw GAE advantages (before centring). */
  advantage: Float64Array;
}

/**
 * GAE advantages and policy-gradient coefficients from per-row costs c_t and values V(s_t).
 * `centre`: subtract the per-step leave-one-out mean of the advantages.
 */
export function pgCoefficients(
  layout: StepLayout,
  cost: ArrayLike<number>,
  value: ArrayLike<number>,
  lambda: number,
  centre = true,
): PgTerms {
  const { B, rows } = layout;
  const advantage = new Float64Array(rows), valueTarget = new Float64Array(rows);
  let maxLen = 0;
  for (let b = 0; b < B; b++) {
    const T = layout.len(b);
    maxLen = Math.max(maxLen, T);
    let next = 0, nextV = 0; // A_{t+1}, V(s_{t+1}); both 0 past the last step
    for (let t = T - 1; t >= 0; t--) {
      const r = layout.row(b, t);
      const delta = cost[r] + nextV - value[r];
      const a = delta + lambda * next;
      advantage[r] = a;
      valueTarget[r] = a + value[r];
      next = a;
      nextV = value[r];
    }
  }
  const coef = new Float64Array(rows);
  const sum = new Float64Array(maxLen), count = new Int32Array(maxLen);
  if (centre) {
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < layout.len(b); t++) {
        sum[t] += advantage[layout.row(b, t)];
        count[t]++;
      }
    }
  }
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < layout.len(b); t++) {
      const r = layout.row(b, t);
      const baseline = centre && count[t] > 1 ? (sum[t] - advantage[r]) / (count[t] - 1) : 0;
      coef[r] = (advantage[r] - baseline) / B;
    }
  }
  return { coef, valueTarget, advantage };
}

/**
 * Per-row costs c_t = log P_F(s_{t+1}|s_t) − log P_B(s_t|s_{t+1}); the last step of each trajectory adds
 * −log R(x) + log Z_ψ.
 */
export function stepCosts(batch: Batch, logZ: number): Float64Array {
  const { layout } = batch;
  const cost = new Float64Array(layout.rows);
  for (let r = 0; r < layout.rows; r++) cost[r] = batch.logPFRows[r] - batch.logPBRows[r];
  for (let b = 0; b < layout.B; b++) cost[layout.row(b, layout.len(b) - 1)] += logZ - batch.logR[b];
  return cost;
}

const PG_LAMBDA: ObjectiveParam = {
  key: "pg_lambda",
  label: "λ",
  schema: z.number().min(0).max(1).default(0.99),
  description: "GAE λ of the policy-gradient objective (λ = 1: unbiased), default 0.99",
};
const LR_VALUE: ObjectiveParam = {
  key: "lr_value",
  schema: z.number().positive().default(1e-3),
  description: "Adam learning rate of the policy-gradient value network, default 1e-3",
};

export const pg: Objective = {
  name: "pg",
  label: "policy gradient",
  description: "policy gradient with per-step costs, a value network and GAE(λ) (companion paper)",
  params: [PG_LAMBDA, LR_VALUE],
  usesCv: false,
  scalar: { symbol: "log Z_ψ", trained: () => true },
  needsValue: true,
  unbiased: (_cv, params) => params.pg_lambda === 1,
  gradient({ alpha, scalar, params, gemm, forward, backward, value, grads }) {
    const result: ReturnType<Objective["gradient"]> = { dScalar: 0, loss: NaN };
    if (forward) {
      if (!value) throw new Error("the pg objective needs a value network");
      const rows = forward.layout.rows;
      const vc = mlpForwardCached(value, gemm, forward.stateInputs(), rows);
      const terms = pgCoefficients(forward.layout, stepCosts(forward, scalar), vc.out, params.pg_lambda);
      const weight = 1 - alpha;
      if (weight !== 1) { for (let r = 0; r < rows; r++) terms.coef[r] *= weight; }
      // off-policy: every row of trajectory b times its importance weight ρ_b (core/objectives/offpolicy.ts)
      const { logRho, layout } = forward;
      if (logRho) {
        for (let b = 0; b < layout.B; b++) {
          const rho = Math.exp(logRho[b]);
          for (let t = 0; t < layout.len(b); t++) terms.coef[layout.row(b, t)] *= rho;
        }
      }
      forward.accumulate(terms.coef, grads);
      const dOut = new (vc.out.constructor as Float64ArrayConstructor)(rows);
      let loss = 0;
      for (let r = 0; r < rows; r++) {
        const e = vc.out[r] - terms.valueTarget[r];
        dOut[r] = e / rows;
        loss += e * e / rows;
      }
      const valueGrads = zerosLike(value);
      mlpBackward(value, gemm, vc, dOut, valueGrads);
      result.valueGrads = valueGrads;
      result.valueLoss = loss;
      result.dScalar = logRho
        ? weightedMeanGrad(scalar, forward.logw, logRho)
        : learnedBaselineGrad(scalar, forward.logw);
    }
    if (backward) backward.accumulate(fklCoefficients(backward.B, alpha), grads);
    return result;
  },
  // The same expected gradient as αKL's (λ = 1 is unbiased for ∇KL(Q‖P)), so the same θ-coefficients and
  // exact target.
  backwardCoefficients: akl.backwardCoefficients,
  exact: akl.exact,
};
