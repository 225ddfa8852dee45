/**
 * A learned backward policy P_B(s|s'; θ) for the bit-vector GFlowNet (main paper §3.2, Table 1): an MLP over states
 * g_θ : R^D → R^D whose softmax over the SET positions of s' is the probability of deleting each of them.
 * log P_B(τ|x; θ) = Σ_t log P_B(s_t | s_{t+1}; θ), and the log-weight no longer loses its ordering terms:
 *   log w = log R(x) + log P_B(τ|x; θ) − log Q(τ) = log R(x) + log P_B(τ|x; θ) + log D! − log q_φ(τ)
 * (log Q = log q_φ − log D!; with the uniform P_B, log P_B = −log D! and this is the usual log R − log q_φ).
 * Rows follow the forward batch: row t·B + b holds P_B(s_t | s_{t+1}) of trajectory b, the state after forward step
 * t, and the deleted position is the one set at step t.
 */
import type { Gemm, Vec } from "../nn/gemm.ts";
import { ctorOf, type Mlp } from "../nn/mlp.ts";
import { alloc, allocRaw } from "../nn/arena.ts";
import { mlpBackward, type MlpCache, mlpForwardCached } from "../nn/backprop.ts";
import { mlpForward } from "../nn/mlp.ts";
import type { Rng } from "../rng.ts";
import type { TrajBatch } from "./trajectories.ts";
import { logFactorial } from "../math.ts";

export interface BackwardEval {
  B: number;
  D: number;
  /** Per row (t·B + b): log P_B(s_t | s_{t+1}; θ). */
  logPBRows: Float64Array;
  /** Per trajectory: log P_B(τ|x; θ). */
  logPB: Float64Array;
  /** For the θ-gradient: the network cache, the deleted position per row and the masked softmax. */
  cache: MlpCache;
  pos: Int32Array;
  probs: Float64Array;
}

/** States after each forward step: row t·B + b is s_{t+1} of trajectory b (positions pos[≤ t] set to x). */
function statesAfterSteps(batch: TrajBatch, F: Float32ArrayConstructor | Float64ArrayConstructor): Vec {
  const { D, B, x, pos } = batch;
  const X = allocRaw(F, D * B * D);
  const state = new Int8Array(B * D);
  for (let t = 0; t < D; t++) {
    for (let b = 0; b < B; b++) {
      const d = pos[t * B + b];
      state[b * D + d] = x[b * D + d];
      const o = (t * B + b) * D;
      for (let j = 0; j < D; j++) X[o + j] = state[b * D + j];
    }
  }
  return X;
}

/** log P_B of every step of the batch's trajectories (with what the θ-gradient needs). */
export function evaluateBackward(pb: Mlp, gemm: Gemm, batch: TrajBatch): BackwardEval {
  const { D, B } = batch;
  const rows = D * B;
  const X = statesAfterSteps(batch, ctorOf(pb));
  const cache = mlpForwardCached(pb, gemm, X, rows);
  const probs = alloc(Float64Array, rows * D);
  const logPBRows = alloc(Float64Array, rows), logPB = alloc(Float64Array, B);
  for (let r = 0; r < rows; r++) {
    const o = r * D;
    let m = -Infinity;
    for (let j = 0; j < D; j++) if (X[o + j] !== 0 && cache.out[o + j] > m) m = cache.out[o + j];
    let s = 0;
    for (let j = 0; j < D; j++) if (X[o + j] !== 0) s += probs[o + j] = Math.exp(cache.out[o + j] - m);
    for (let j = 0; j < D; j++) probs[o + j] /= s;
    const lp = cache.out[o + batch.pos[r]] - m - Math.log(s);
    logPBRows[r] = lp;
    logPB[r % B] += lp;
  }
  return { B, D, logPBRows, logPB, cache, pos: batch.pos, probs };
}

/** log w under the learned P_B from the uniform-P_B log w (log R − log q): + log P_B(τ|x) + log D!. */
export function learnedLogWeights(logwUniform: Float64Array, ev: BackwardEval): Float64Array {
  const lf = logFactorial(ev.D);
  return logwUniform.map((v, b) => v + ev.logPB[b] + lf);
}

/**
 * grads += ∇_θ Σ coef · log P_B: per trajectory (length B: Σ_b coef_b log P_B(τ_b|x_b)) or per row (length D·B).
 * ∂ log P_B(row)/∂ logits_j = [j = deleted] − softmax_j over set positions (0 at unset ones).
 */
export function accumulateBackwardGrads(
  pb: Mlp,
  gemm: Gemm,
  ev: BackwardEval,
  coef: ArrayLike<number>,
  grads: Vec[],
): void {
  const { D, B } = ev;
  const rows = D * B;
  const perRow = coef.length === rows;
  if (!perRow && coef.length !== B) throw new RangeError(`coef: length B = ${B} or D·B = ${rows}`);
  const dOut = new (ctorOf(pb))(rows * D);
  for (let r = 0; r < rows; r++) {
    const c = coef[perRow ? r : r % B];
    if (c === 0) continue;
    const o = r * D;
    for (let j = 0; j < D; j++) dOut[o + j] = -c * ev.probs[o + j];
    dOut[o + ev.pos[r]] += c;
  }
  mlpBackward(pb, gemm, ev.cache, dOut, grads);
}

/**
 * Backward trajectories from terminal states x under P_B(θ): repeatedly delete a set position drawn from the masked
 * softmax. Returns forward orders (order[b·D + t] = position set at forward step t = deleted at backward step
 * D − 1 − t), ready for teacher forcing.
 */
export function sampleBackwardOrders(
  pb: Mlp,
  gemm: Gemm,
  x: Int8Array,
  B: number,
  D: number,
  rng: Rng,
): Int32Array {
  const F = ctorOf(pb);
  const state = new F(B * D);
  for (let i = 0; i < B * D; i++) state[i] = x[i];
  const order = new Int32Array(B * D);
  for (let k = D - 1; k >= 0; k--) {
    const logits = mlpForward(pb, gemm, state, B);
    for (let b = 0; b < B; b++) {
      const o = b * D;
      let m = -Infinity;
      for (let j = 0; j < D; j++) if (state[o + j] !== 0 && logits[o + j] > m) m = logits[o + j];
      let s = 0;
      for (let j = 0; j < D; j++) if (state[o + j] !== 0) s += Math.exp(logits[o + j] - m);
      let u = rng.uniform() * s, pick = -1;
      for (let j = 0; j < D; j++) {
        if (state[o + j] === 0) continue;
        pick = j;
        u -= Math.exp(logits[o + j] - m);
        if (u < 0) break;
      }
      order[b * D + k] = pick;
      state[o + pick] = 0;
    }
  }
  return order;
}

/** A backward-policy network D → hidden → D whose output layer starts at 0: P_B starts uniform. */
export function zeroOutput(pb: Mlp): Mlp {
  const k = pb.W.length - 1;
  pb.W[k].fill(0);
  pb.b[k].fill(0);
  return pb;
}
