/**
 * The policy-gradient objective's device half (core/objectives/pg.ts, docs/math.md §"Objectives"): the per-step
 * costs, the value network V(s) (forward, backward, Adam) and the GAE(λ) advantages
 * with their per-step leave-one-out centring, as tensor programs over [K, …] seed-batched tensors (K = 1 for one
 * model; rows in either order of backends/device/scores.ts `RowOrder`, padding rows masked).
 *
 *   c_t = log P_F(s_{t+1}|s_t) − log P_B(s_t|s_{t+1}) (bit vectors, uniform P_B: log p_φ(v_t|s_t, d_t) − log(D − t)
 *         + log(t + 1)), the last step adding log Z_ψ − log R(x);
 *   δ_t = c_t + V(s_{t+1}) − V(s_t) (V = 0 past the last step),  A_t = Σ_k λ^k δ_{t+k} = (Λ δ)_t with the
 *   upper-triangular Λ_{t,t'} = λ^{t'−t} (one matMul over the T steps instead of a scan);
 *   φ-coefficients weight · (A_t − mean_{b'≠b} A_{t,b'}) / B per row, value targets A_t + V(s_t) (λ-returns),
 *   value loss mean_rows (V − target)² with output signal (V − target)/rows (pg.ts' convention).
 */
import type * as tfc from "@tensorflow/tfjs-core";
import type { Mlp } from "../../core/nn/mlp.ts";
import type { CoefficientFn, CoefficientOutput } from "./engine.ts";
import { DeviceAdam, layerGrads, mlpDeltas, mlpPass, variableOf } from "./nn.ts";
import type { RowOrder, Tf } from "./sampler.ts";

type T = tfc.Tensor;

/** Per-row values [K, T·B] in the batch's row order → [K, T, B] (the step axis second). */
export function stepView(tf: Tf, x: T, B: number, order: RowOrder): T {
  const [K, n] = x.shape as [number, number];
  return order === "step-major"
    ? tf.reshape(x, [K, n / B, B])
    : tf.transpose(tf.reshape(x, [K, B, n / B]), [0, 2, 1]);
}

/** The inverse of `stepView`: [K, T, B] → [K, T·B] in the row order. */
export function rowView(tf: Tf, x: T, order: RowOrder): T {
  const [K, T, B] = x.shape as [number, number, number];
  return order === "step-major"
    ? tf.reshape(x, [K, T * B])
    : tf.reshape(tf.transpose(x, [0, 2, 1]), [K, T * B]);
}

/** V(s_{t+1}) for every step [K, T, B] from V(s_t): shifted up one step, 0 past the last row. */
function nextStep(tf: Tf, v: T): T {
  const [K, T, B] = v.shape as [number, number, number];
  return T > 1
    ? tf.concat([tf.slice(v, [0, 1, 0], [K, T - 1, B]), tf.fill([K, 1, B], 0)], 1)
    : tf.zerosLike(v);
}

/**
 * Per-step costs [K, T, B] (core/objectives/pg.ts `stepCosts`): c = log P_F − log P_B per row, the last real step
 * of each trajectory adding log Z_ψ − log R(x). Rows [K, T·B] in `order`; logR [K, B]; logZ per seed [K]; `mask`
 * [K, T·B] is 1 on real rows (absent: every row is real; the padding rows' costs are 0).
 */
export function stepCosts(
  tf: Tf,
  rowLogPF: T,
  rowLogPB: T,
  logR: T,
  logZ: T,
  order: RowOrder,
  mask?: T,
): T {
  const [K, B] = logR.shape as [number, number];
  return tf.tidy(() => {
    const c = stepView(tf, tf.sub(rowLogPF, rowLogPB), B, order);
    const terminal = tf.reshape(tf.sub(tf.reshape(logZ, [K, 1]), logR), [K, 1, B]);
    if (!mask) {
      const T = c.shape[1]!;
      const last = T > 1 ? tf.concat([tf.fill([K, T - 1, B], 0), terminal], 1) : terminal;
      return tf.add(c, last);
    }
    const m = stepView(tf, mask, B, order);
    const last = tf.sub(m, nextStep(tf, m)); // 1 on the last real step of each trajectory
    return tf.add(tf.mul(c, m), tf.mul(last, terminal));
  });
}

/** Λ [T, T]: Λ_{t,t'} = λ^{t'−t} for t' ≥ t, else 0 (a constant of the run, like the reward's matrix). */
export function gaeMatrix(tf: Tf, T: number, lambda: number): T {
  const m = new Float32Array(T * T);
  for (let t = 0; t < T; t++) for (let u = t; u < T; u++) m[t * T + u] = lambda ** (u - t);
  return tf.tensor2d(m, [T, T]);
}

export interface PgRowTerms {
  /** φ-coefficients per row [K, T·B] in the batch's row order (weight and 1/B included; 0 on padding). */
  coef: T;
  /** Value targets (λ-returns) per row [K, T·B]. */
  target: T;
}

/**
 * GAE(λ) advantages centred per step by the leave-one-out mean over the trajectories that reach that step
 * (core/objectives/pg.ts `pgCoefficients`): cost [K, T, B] (`stepCosts`), values V(s_t) per row [K, T·B] in
 * `order`, Λ from `gaeMatrix`, `mask` as in `stepCosts`.
 */
export function pgRowTerms(
  tf: Tf,
  cost: T,
  valueRows: T,
  lambdaMatrix: T,
  weight: number,
  order: RowOrder,
  mask?: T,
): PgRowTerms {
  const [K, T, B] = cost.shape as [number, number, number];
  return tf.tidy(() => {
    const m = mask ? stepView(tf, mask, B, order) : null;
    const value = m ? tf.mul(stepView(tf, valueRows, B, order), m) : stepView(tf, valueRows, B, order);
    const delta = tf.sub(tf.add(cost, nextStep(tf, value)), value); // 0 on padding
    // A = Λ δ per seed: the T steps as rows of one [T, K·B] GEMM
    const flat = tf.reshape(tf.transpose(delta, [1, 0, 2]), [T, K * B]);
    const adv = tf.transpose(tf.reshape(tf.matMul(lambdaMatrix, flat), [T, K, B]), [1, 0, 2]);
    let centred: T;
    if (!m) centred = B > 1 ? tf.sub(adv, tf.div(tf.sub(tf.sum(adv, 2, true), adv), B - 1)) : adv;
    else {
      const count = tf.sum(m, 2, true), others = tf.sub(count, 1);
      const loo = tf.div(tf.sub(tf.sum(tf.mul(adv, m), 2, true), adv), tf.maximum(others, 1));
      centred = tf.mul(tf.sub(adv, tf.where(tf.greater(others, 0), loo, tf.zerosLike(loo))), m);
    }
    return {
      coef: rowView(tf, tf.mul(centred, weight / B), order),
      target: rowView(tf, tf.add(adv, value), order),
    };
  });
}

/** The value network V(s) of K seeds on the device: parameters [K, in, out], [K, 1, out] and their Adam. */
export class DeviceValueNet {
  readonly vars: tfc.Variable[];
  readonly activation: Mlp["activation"];
  private readonly sizes: number[];
  private readonly adam: DeviceAdam;

  constructor(readonly tf: Tf, nets: readonly Mlp[], lr: number) {
    const K = nets.length;
    this.sizes = [...nets[0].sizes];
    this.activation = nets[0].activation;
    this.vars = [];
    for (let l = 0; l + 1 < this.sizes.length; l++) {
      const fin = this.sizes[l], fout = this.sizes[l + 1];
      const W = new Float32Array(K * fin * fout), b = new Float32Array(K * fout);
      nets.forEach((n, k) => (W.set(n.W[l], k * fin * fout), b.set(n.b[l], k * fout)));
      this.vars.push(variableOf(tf, tf.tensor3d(W, [K, fin, fout]), true));
      this.vars.push(variableOf(tf, tf.tensor3d(b, [K, 1, fout]), true));
    }
    this.adam = new DeviceAdam(tf, this.vars, lr);
  }

  /** V(s) of the rows X [K, n, in] → [K, n]. */
  values(X: T): T {
    const { tf } = this;
    return tf.tidy(() => tf.squeeze(mlpPass(tf, this.vars, this.activation, X).out, [2]));
  }

  /**
   * The regression mean_rows (V(s) − target)² per seed over the real rows (`mask` [K, n], absent: all): gradients
   * (shaped like `vars`) and the loss [K] (output signal (V − target)/rows, as core/objectives/pg.ts).
   */
  regression(X: T, target: T, mask?: T): { grads: T[]; loss: T } {
    const { tf } = this;
    return tf.tidy(() => {
      const pass = mlpPass(tf, this.vars, this.activation, X);
      let e = tf.sub(tf.squeeze(pass.out, [2]), target);
      if (mask) e = tf.mul(e, mask);
      const n = mask ? tf.sum(mask, 1, true) : tf.scalar(X.shape[1]!); // real rows per seed
      const deltas = mlpDeltas(tf, this.vars, this.activation, pass, tf.expandDims(tf.div(e, n), 2));
      const loss = tf.reshape(tf.div(tf.sum(tf.square(e), 1, true), n), [X.shape[0]!]);
      return { grads: layerGrads(tf, pass.inputs, deltas, null), loss };
    });
  }

  /** One Adam step along `grads` (disposed). */
  apply(grads: T[]): void {
    this.adam.step(grads);
    for (const g of grads) g.dispose();
  }

  /** Seed k's value network copied to the host. */
  async toHost(k: number): Promise<Mlp> {
    const K = this.vars[0].shape[0]!;
    const W: Float32Array[] = [], b: Float32Array[] = [];
    for (let i = 0; i < this.vars.length; i++) {
      const d = (await this.vars[i].data()) as Float32Array;
      const per = d.length / K;
      (i % 2 === 0 ? W : b).push(Float32Array.from(d.subarray(k * per, (k + 1) * per)));
    }
    return { sizes: [...this.sizes], activation: this.activation, W, b };
  }

  dispose(): void {
    this.adam.dispose();
    for (const v of this.vars) v.dispose();
  }
}

/**
 * The pg objective on the device engine: its `coefficients` (a CoefficientFn of backends/device/engine.ts) give
 * the forward batch's per-row coefficients (GAE advantages from the value network, centred; weight 1 − α), the
 * backward batch's forward-KL coefficients −α/B per trajectory, ∂/∂log Z_ψ = mean_s (log Z_ψ − log w_s) per seed
 * (log Z_ψ fitted like the learned control variate), and the value network's regression gradients, which
 * `update` applies (Adam with lr_value) after the step. Nothing is read back.
 */
export class DevicePg {
  readonly value: DeviceValueNet;
  /** The value regression's loss per seed [K] of the last forward batch (owned here). */
  valueLoss: T | null = null;
  private pending: T[] | null = null;
  private readonly lambdas = new Map<number, T>();

  constructor(
    readonly tf: Tf,
    valueNets: readonly Mlp[],
    lrValue: number,
    private readonly lambda: number,
  ) {
    this.value = new DeviceValueNet(tf, valueNets, lrValue);
  }

  /** Λ for trajectories of T steps (made once per T). */
  private lambdaMatrix(T: number): T {
    let m = this.lambdas.get(T);
    if (!m) this.lambdas.set(T, m = gaeMatrix(this.tf, T, this.lambda));
    return m;
  }

  readonly coefficients: CoefficientFn = ({ alpha, scalar, forward, backward }) => {
    const { tf } = this;
    const K = scalar.shape[0]!;
    const out: CoefficientOutput = {
      dScalar: tf.tidy(() => forward ? tf.sub(scalar, tf.mean(forward.logw, 1)) : tf.zerosLike(scalar)),
      loss: tf.fill([K], NaN),
    };
    if (backward) out.backward = { traj: tf.fill([K, backward.batch.B], -alpha / backward.batch.B) };
    if (forward) {
      const { batch, logits } = forward;
      const cost = tf.tidy(() =>
        stepCosts(
          tf,
          batch.rowLogPF(logits),
          batch.logPBRows,
          batch.logR,
          scalar,
          batch.rowOrder,
          batch.rowMask,
        )
      );
      const values = this.value.values(batch.inputs);
      const Lambda = this.lambdaMatrix(batch.rows / batch.B);
      const terms = pgRowTerms(tf, cost, values, Lambda, 1 - alpha, batch.rowOrder, batch.rowMask);
      tf.dispose([cost, values]);
      const reg = this.value.regression(batch.inputs, terms.target, batch.rowMask);
      terms.target.dispose();
      this.dropPending();
      this.pending = reg.grads;
      this.valueLoss?.dispose();
      this.valueLoss = reg.loss;
      out.forward = { rows: terms.coef };
    }
    return out;
  };

  /** The value network's gradients from the last forward batch, until `update` applies them. */
  get valueGrads(): readonly T[] | null {
    return this.pending;
  }

  /** The value network's Adam step along the last forward batch's regression gradients (once per step). */
  update(): void {
    if (!this.pending) return;
    this.value.apply(this.pending);
    this.pending = null;
  }

  private dropPending(): void {
    if (this.pending) this.tf.dispose(this.pending);
    this.pending = null;
  }

  dispose(): void {
    this.dropPending();
    this.valueLoss?.dispose();
    for (const m of this.lambdas.values()) m.dispose();
    this.value.dispose();
  }
}
