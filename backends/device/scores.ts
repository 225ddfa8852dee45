/**
 * Per-sample scores and the optimal baselines on the device (docs/math.md §"Control variates", docs/device.md):
 * h_s = ∇_φ log q_φ(τ_s) for every trajectory s of a batch, and the opt-scalar / opt-vector gradients (global and
 * leave-one-out) from them, as tensor programs — nothing but what the caller reads is copied back.
 *
 * Everything here is seed-batched: a leading K dimension (K = 1 for one model). Parameters are
 * [W₁, b₁, …, W_L, b_L] with W_l [K, in, out] and b_l [K, 1, out]; a batch of B trajectories of T steps has
 * n = T·B step rows per seed, step-major (row t·B + b, as the CPU engine and backends/device/engine.ts).
 *
 * The backward pass is linear in the per-row coefficient: for a unit coefficient on every row the layer signals
 * are δ_l (δ_{L} = ±g at the two logits of the row's position, g = [v > 0] − σ(l₊ − l₋); δ_{l−1} =
 * (δ_l W_lᵀ) ⊙ act'(Z_{l−1})), and for coefficients c_r the gradient is dW_l = A_lᵀ (c ⊙ δ_l), db_l = Σ_r c_r δ_l.
 * So one forward + one unit backward (`policySignals`) serves every coefficient vector (`layerGrads`) and the
 * per-sample scores: trajectory s owns the rows {t·B + s}, so its score is, per layer, G_s = X_sᵀ Δ_s with X_s
 * [T, in] and Δ_s [T, out] its rows — one batched matMul [c, in, T] × [c, T, out] → [c, in, out] over a chunk
 * of c trajectories (no S backward passes). Chunks bound the memory: a chunk's largest score tensor holds at
 * most `budget` floats (default 2^24 = 64 MiB; at D = 225, B = 256, 256-wide layers the largest layer has
 * 256·450 parameters, so one seed's whole batch is 2 chunks).
 */
import type * as tfc from "@tensorflow/tfjs-core";
import type { Mlp } from "../../core/nn/mlp.ts";
import { layerGrads, mlpDeltas, mlpPass } from "./nn.ts";
import type { RowOrder, Tf } from "./sampler.ts";
import type { OptimalBaseline } from "../../core/gfn/batch.ts";

type T = tfc.Tensor;

/** Teacher-forced step rows per seed: states s_t [K, n, D], one-hot of the position set [K, n, D], value ±1 [K, n]. */
export interface StepRows {
  states: T;
  ohPos: T;
  v: T;
}

export type { RowOrder };

/** A unit backward pass of the policy over teacher-forced rows: what every coefficient vector's gradient needs. */
export interface PolicySignals {
  K: number;
  /** Trajectories per seed and steps per trajectory (n = T·B rows). */
  B: number;
  T: number;
  order: RowOrder;
  inputs: T[];
  deltas: T[];
  /** The policy's output on the rows [K, n, out]. */
  logits: T;
}

/**
 * The forward pass over the rows X [K, n, in] and the unit backward pass from `unitSignal(logits)` = ∂/∂logits of
 * Σ_r log P_F(row r) (a sampler's output signal with coefficient 1 on every real row).
 */
export function signalsOf(
  tf: Tf,
  vars: readonly T[],
  activation: Mlp["activation"],
  X: T,
  unitSignal: (logits: T) => T,
  B: number,
  order: RowOrder,
): PolicySignals {
  const [K, n] = X.shape as [number, number, number];
  const pass = mlpPass(tf, vars, activation, X);
  const deltas = mlpDeltas(tf, vars, activation, pass, unitSignal(pass.out));
  return { K, B, T: n / B, order, inputs: pass.inputs, deltas, logits: pass.out };
}

/** l₊ − l₋ at each row's position: logits [K, n, 2D], one-hot [K, n, D] → [K, n]. */
export function pairDiff(tf: Tf, logits: T, ohPos: T): T {
  const [K, n, D] = ohPos.shape as [number, number, number];
  const [lm, lp] = tf.split(tf.reshape(logits, [K, n, D, 2]), 2, 3);
  return tf.sum(tf.mul(tf.sub(tf.reshape(lp, [K, n, D]), tf.reshape(lm, [K, n, D])), ohPos), 2);
}

/**
 * The bit-vector policy's unit output signal: ±g at the two logits (l₋, l₊) = columns (2d, 2d+1) of the row's
 * position d, g = ∂ log σ(v (l₊ − l₋))/∂l₊ = [v > 0] − σ(l₊ − l₋).
 */
export function bitUnitSignal(tf: Tf, rows: StepRows, logits: T): T {
  const [K, n, D] = rows.ohPos.shape as [number, number, number];
  const g = tf.sub(tf.div(tf.add(rows.v, 1), 2), tf.sigmoid(pairDiff(tf, logits, rows.ohPos)));
  const G = tf.mul(rows.ohPos, tf.expandDims(g, 2));
  return tf.reshape(tf.stack([tf.neg(G), G], 3), [K, n, 2 * D]);
}

/** log p_φ(v | s, d) per bit-vector row [K, n] (without the ordering term −log(D − t)). */
export function bitRowLogp(tf: Tf, rows: StepRows, logits: T): T {
  return tf.logSigmoid(tf.mul(rows.v, pairDiff(tf, logits, rows.ohPos)));
}

/** The bit-vector policy's signals over the step-major rows of B trajectories per seed. */
export function policySignals(
  tf: Tf,
  vars: readonly T[],
  activation: Mlp["activation"],
  rows: StepRows,
  B: number,
): PolicySignals {
  return signalsOf(tf, vars, activation, rows.states, (l) => bitUnitSignal(tf, rows, l), B, "step-major");
}

/** Per-trajectory coefficients [K, B] as per-row ones [K, T·B] (every row of trajectory b gets c_b). */
export function rowsOf(tf: Tf, coef: T, T: number, order: RowOrder = "step-major"): T {
  const [K, B] = coef.shape as [number, number];
  return order === "step-major"
    ? tf.reshape(tf.tile(tf.reshape(coef, [K, 1, B]), [1, T, 1]), [K, T * B])
    : tf.reshape(tf.tile(tf.reshape(coef, [K, B, 1]), [1, 1, T]), [K, T * B]);
}

/** ∇_φ Σ_b coef_b · log P_F(τ_b) per seed (coef [K, B]) from the unit signals. */
export function trajectoryGrads(tf: Tf, sig: PolicySignals, coef: T): T[] {
  return layerGrads(tf, sig.inputs, sig.deltas, rowsOf(tf, coef, sig.T, sig.order));
}

/** Default float budget of one chunk's largest per-sample score tensor (2^24 float32 = 64 MiB). */
export const SCORE_BUDGET = 1 << 24;

/** Trajectories per chunk so that K·c·(largest layer's parameters) ≤ budget (at least 1, at most B). */
export function scoreChunk(sig: PolicySignals, budget = SCORE_BUDGET): number {
  let maxP = 1;
  for (let l = 0; l < sig.deltas.length; l++) {
    maxP = Math.max(maxP, sig.inputs[l].shape[2]! * sig.deltas[l].shape[2]!);
  }
  return Math.max(1, Math.min(sig.B, Math.floor(budget / (sig.K * maxP))));
}

/**
 * The per-sample scores of layer l for trajectories b0 … b0+c−1 of every seed, flattened: [K, c, in·out] for W_l
 * and [K, c, out] for b_l.
 */
export function layerScores(tf: Tf, sig: PolicySignals, b0: number, c: number, l: number): [T, T] {
  const { K, B, T } = sig;
  // rows of trajectories b0..b0+c−1 as [K·c, T, width]
  const perTraj = (x: T) => {
    const w = x.shape[2]!;
    if (sig.order === "trajectory-major") {
      return tf.reshape(tf.slice(tf.reshape(x, [K, B, T, w]), [0, b0, 0, 0], [K, c, T, w]), [K * c, T, w]);
    }
    const s = tf.slice(tf.reshape(x, [K, T, B, w]), [0, 0, b0, 0], [K, T, c, w]);
    return tf.reshape(tf.transpose(s, [0, 2, 1, 3]), [K * c, T, w]);
  };
  const X = perTraj(sig.inputs[l]), Dl = perTraj(sig.deltas[l]);
  const fin = X.shape[2]!, fout = Dl.shape[2]!;
  return [
    tf.reshape(tf.matMul(X, Dl, true, false), [K, c, fin * fout]),
    tf.reshape(tf.sum(Dl, 1), [K, c, fout]),
  ];
}

/** Every parameter's per-sample scores for trajectories b0 … b0+c−1, in the order of the parameters. */
export function chunkScores(tf: Tf, sig: PolicySignals, b0: number, c: number): T[] {
  return sig.deltas.flatMap((_, l) => layerScores(tf, sig, b0, c, l));
}

/** Calls fn(b0, c) for the chunks [b0, b0 + c) covering 0 … B−1. */
function forChunks(B: number, chunk: number, fn: (b0: number, c: number) => void): void {
  for (let b0 = 0; b0 < B; b0 += chunk) fn(b0, Math.min(chunk, B - b0));
}

/** ‖h_s‖² per seed and trajectory [K, B] (the optimal scalar baseline's weights). */
export function scoreNorms2(tf: Tf, sig: PolicySignals, budget = SCORE_BUDGET): T {
  const parts: T[] = [];
  forChunks(sig.B, scoreChunk(sig, budget), (b0, c) => {
    const perLayer = sig.deltas.map((_, l) =>
      tf.tidy(() => tf.addN(layerScores(tf, sig, b0, c, l).map((x) => tf.sum(tf.square(x), 2))))
    );
    parts.push(tf.addN(perLayer));
    tf.dispose(perLayer);
  });
  const out = parts.length === 1 ? parts[0] : tf.concat(parts, 1);
  if (parts.length > 1) { for (const p of parts) p.dispose(); }
  return out;
}

/** b_s = mean_{s'≠s} log w_{s'} per seed (logw [K, B] → [K, B]). */
export function looMean(tf: Tf, logw: T): T {
  const B = logw.shape[1]!;
  return tf.div(tf.sub(tf.sum(logw, 1, true), logw), B - 1);
}

/** y / x where x > 0, else `otherwise` (no division by 0 is evaluated into the result). */
function divWherePositive(tf: Tf, y: T, x: T, otherwise: T): T {
  const pos = tf.greater(x, 0);
  return tf.where(pos, tf.div(y, tf.where(pos, x, tf.onesLike(x))), tf.add(otherwise, tf.zerosLike(x)));
}

/** Σ_{s'≠s} x_{s'} per seed (x [K, B]) as the exclusive prefix plus suffix sums: no difference of sums. */
export function othersSum(tf: Tf, x: T): T {
  return tf.add(tf.cumsum(x, 1, true, false), tf.cumsum(x, 1, true, true));
}

/**
 * The optimal scalar baseline per seed and trajectory [K, B] (core/baselines/cv.ts `optimalScalarBaseline`):
 * global b = Σ log w_s n_s / Σ n_s, LOO b_s = Σ_{s'≠s} log w n / Σ_{s'≠s} n (the other samples' sums directly,
 * not total − own: float32 keeps them accurate when one sample's ‖h‖² dominates); where the denominator is 0 the
 * (LOO) mean of log w.
 */
export function optimalScalarBaseline(tf: Tf, logw: T, norms2: T, leaveOneOut: boolean): T {
  const wn = tf.mul(logw, norms2);
  if (!leaveOneOut) {
    const num = tf.sum(wn, 1, true), den = tf.sum(norms2, 1, true);
    return tf.add(divWherePositive(tf, num, den, tf.mean(logw, 1, true)), tf.zerosLike(logw));
  }
  return divWherePositive(tf, othersSum(tf, wn), othersSum(tf, norms2), looMean(tf, logw));
}

/** weight · mean_s (b_s − log w_s) h_s with the optimal scalar baseline (per seed; grads [K, …] per parameter). */
export function optimalScalarGradient(
  tf: Tf,
  sig: PolicySignals,
  logw: T,
  leaveOneOut: boolean,
  weight: number,
  budget = SCORE_BUDGET,
): T[] {
  return tf.tidy(() => {
    const b = optimalScalarBaseline(tf, logw, scoreNorms2(tf, sig, budget), leaveOneOut);
    return trajectoryGrads(tf, sig, tf.mul(tf.sub(b, logw), weight / sig.B));
  });
}

/** For each s the min and the max of log w over the other trajectories of its seed ([K, B] each). */
export function othersRange(tf: Tf, logw: T): [T, T] {
  const B = logw.shape[1]!;
  const idx = tf.expandDims(tf.range(0, B, 1, "int32"), 0);
  const other = (x: T) => {
    const top = tf.topk(x, 2);
    const [v1, v2] = tf.split(top.values, 2, 1);
    const [i1] = tf.split(top.indices, 2, 1);
    return tf.where(tf.equal(idx, i1), tf.add(v2, tf.zerosLike(x)), tf.add(v1, tf.zerosLike(x)));
  };
  return [tf.neg(other(tf.neg(logw))), other(logw)];
}

/**
 * weight · mean_s (b_s − log w_s) h_s with the optimal vector baseline (core/baselines/estimator.ts
 * `addOptimalVectorGradient`), per seed, as [K, …] tensors shaped like the parameters. A first pass over the
 * chunks sums Σ_s h², Σ_s log w·h² per element; the global form is then g_d = (b_d Σ_s h_{s,d} − Σ_s log w_s
 * h_{s,d}) / S with b_d = Σ log w h² / Σ h² (the mean of log w where Σh² = 0), Σ_s h and Σ_s log w·h being two
 * coefficient gradients (no scores). Leave-one-out: a second pass applies b_{s,d} = (Σ log w h² − log w_s
 * h_{s,d}²) / (Σ h² − h_{s,d}²) per sample (the LOO mean where the denominator is 0), clamped to the range of the
 * other samples' log w. Each layer's scores of a chunk live only while that layer is reduced.
 */
export function optimalVectorGradient(
  tf: Tf,
  sig: PolicySignals,
  logw: T,
  leaveOneOut: boolean,
  weight: number,
  shapes: readonly number[][],
  budget = SCORE_BUDGET,
): T[] {
  const { K, B } = sig;
  const chunk = scoreChunk(sig, budget);
  const layers = sig.deltas.length;
  const lwChunk = (b0: number, c: number) => tf.reshape(tf.slice(logw, [0, b0], [K, c]), [K, c, 1]);
  /** Per parameter p the sums over the chunks of fn(p, its scores, the chunk's log w [K, c, 1], b0, c). */
  const sumOverChunks = (fn: (p: number, h: T, lw: T, b0: number, c: number) => T[]): T[][] => {
    let acc: T[][] | null = null;
    for (let b0 = 0; b0 < B; b0 += chunk) {
      const c = Math.min(chunk, B - b0);
      const add: T[][] = [];
      for (let l = 0; l < layers; l++) {
        add.push(...tf.tidy(() => {
          const lw = lwChunk(b0, c);
          return layerScores(tf, sig, b0, c, l).map((h, i) => fn(2 * l + i, h, lw, b0, c));
        }));
      }
      if (!acc) acc = add;
      else {
        const prev: T[][] = acc;
        acc = prev.map((ts, p) => ts.map((t, i) => tf.add(t, add[p][i])));
        tf.dispose([...prev.flat(), ...add.flat()]);
      }
    }
    return acc!;
  };
  const sums = sumOverChunks((_p, h, lw) => {
    const sq = tf.square(h);
    return [tf.sum(sq, 1), tf.sum(tf.mul(lw, sq), 1)];
  });
  const scale = weight / B;
  let grads: T[];
  if (!leaveOneOut) {
    grads = tf.tidy(() => {
      const mean = tf.mean(logw, 1, true);
      const g1 = trajectoryGrads(tf, sig, tf.onesLike(logw)), g2 = trajectoryGrads(tf, sig, logw);
      return sums.map(([h2, w2], p) => {
        const b = divWherePositive(tf, w2, h2, mean);
        return tf.mul(tf.sub(tf.mul(tf.reshape(b, shapes[p]), g1[p]), g2[p]), scale);
      });
    });
  } else {
    const [fb, lo, hi] = tf.tidy(() => [looMean(tf, logw), ...othersRange(tf, logw)]);
    const cut = (x: T, b0: number, c: number) => tf.reshape(tf.slice(x, [0, b0], [K, c]), [K, c, 1]);
    const g = sumOverChunks((p, h, lw, b0, c) => {
      const [h2, w2] = sums[p].map((t) => tf.expandDims(t, 1));
      const sq = tf.square(h);
      const bsd = divWherePositive(tf, tf.sub(w2, tf.mul(lw, sq)), tf.sub(h2, sq), cut(fb, b0, c));
      const clamped = tf.minimum(tf.maximum(bsd, cut(lo, b0, c)), cut(hi, b0, c));
      return [tf.sum(tf.mul(tf.sub(clamped, lw), h), 1)];
    });
    grads = g.map(([t], q) => tf.tidy(() => tf.reshape(tf.mul(t, scale), shapes[q])));
    tf.dispose([...g.flat(), fb, lo, hi]);
  }
  tf.dispose(sums.flat());
  return grads;
}

/**
 * grads of weight · mean_s (b_s − log w_s) h_s with an optimal baseline, per seed: [K, in, out] and [K, 1, out]
 * per parameter (the seed-batched parameters' shapes). logw [K, B] on the device.
 */
export function optimalBaselineGradient(
  tf: Tf,
  sig: PolicySignals,
  logw: T,
  baseline: OptimalBaseline,
  weight: number,
  budget = SCORE_BUDGET,
): T[] {
  const { kind, leaveOneOut } = baseline;
  if (kind === "scalar") return optimalScalarGradient(tf, sig, logw, leaveOneOut, weight, budget);
  const shapes = sig.deltas.flatMap((d, l) => {
    const fin = sig.inputs[l].shape[2]!, fout = d.shape[2]!;
    return [[sig.K, fin, fout], [sig.K, 1, fout]];
  });
  return optimalVectorGradient(tf, sig, logw, leaveOneOut, weight, shapes, budget);
}
