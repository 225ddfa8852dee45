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
 */

/** A batch of trajectories laid out in rows: row(b, t) is the row of step t of trajectory b, t < len(b). */
export interface StepLayout {
  B: number;
  rows: number;
  len(b: number): number;
  row(b: number, t: number): number;
}

/** The fixed-length bit-vector layout: D steps per trajectory, step-major rows t·B + b. */
export function stepMajorLayout(B: number, T: number): StepLayout {
  return { B, rows: B * T, len: () => T, row: (b, t) => t * B + b };
}

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
 * Per-row costs of the bit-vector GFlowNet: c_t = log p_φ(v_t|s_t,d_t) − log(D − t) − log P_B(s_t|s_{t+1}), with
 * log P_B = −log(t + 1) for the uniform backward policy (or the given per-row values of a learned one); the last
 * step adds −log R(x) + log Z_ψ. Rows are step-major (t·B + b).
 */
export function bitVectorCosts(
  D: number,
  B: number,
  logp: ArrayLike<number>,
  logR: ArrayLike<number>,
  logZ: number,
  logPB: ArrayLike<number> | null,
): Float64Array {
  const cost = new Float64Array(D * B);
  for (let t = 0; t < D; t++) {
    const pb = -Math.log(t + 1), pf = -Math.log(D - t);
    for (let b = 0; b < B; b++) {
      const r = t * B + b;
      cost[r] = logp[r] + pf - (logPB ? logPB[r] : pb);
      if (t === D - 1) cost[r] += logZ - logR[b];
    }
  }
  return cost;
}
