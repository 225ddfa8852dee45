/**
 * The policy-gradient objective's device half (core/objectives/pg.ts, docs/math.md §"Objectives"): the per-step
 * costs of bit-vector trajectories, the value network V(s) (forward, backward, Adam) and the GAE(λ) advantages
 * with their per-step leave-one-out centring, as tensor programs over [K, …] seed-batched tensors (K = 1 for one
 * model; rows step-major, row t·B + b, as in backends/device/scores.ts).
 *
 *   c_t = log P_F(s_{t+1}|s_t) − log P_B(s_t|s_{t+1}) = log p_φ(v_t|s_t, d_t) − log(D − t) + log(t + 1)
 *         (uniform P_B), the last step adding log Z_ψ − log R(x);
 *   δ_t = c_t + V(s_{t+1}) − V(s_t) (V = 0 past the last step),  A_t = Σ_k λ^k δ_{t+k} = (Λ δ)_t with the
 *   upper-triangular Λ_{t,t'} = λ^{t'−t} (one matMul over the T steps instead of a scan);
 *   φ-coefficients weight · (A_t − mean_{b'≠b} A_{t,b'}) / B per row, value targets A_t + V(s_t) (λ-returns),
 *   value loss mean_rows (V − target)² with output signal (V − target)/rows (pg.ts' convention).
 */
import type * as tfc from "@tensorflow/tfjs-core";
import type { Mlp } from "../../core/nn/mlp.ts";
import { DeviceAdam, type Tf } from "./engine.ts";
import { layerGrads, mlpDeltas, mlpPass } from "./scores.ts";

type T = tfc.Tensor;

/** Per-row costs [K, T, B] from the rows' log p_φ [K, T·B], log R [K, B] and log Z_ψ per seed [K]. */
export function bitStepCosts(tf: Tf, logp: T, logR: T, logZ: T, D: number): T {
  const [K, B] = logR.shape as [number, number];
  const T = logp.shape[1]! / B;
  return tf.tidy(() => {
    const t = tf.range(0, T, 1, "float32");
    // −log(D − t) + log(t + 1): the ordering term of log P_F and the uniform log P_B
    const order = tf.reshape(tf.sub(tf.log(tf.add(t, 1)), tf.log(tf.sub(D, t))), [1, T, 1]);
    const last = tf.reshape(tf.sub(tf.reshape(logZ, [K, 1]), logR), [K, 1, B]);
    const terminal = T > 1 ? tf.concat([tf.zeros([K, T - 1, B]), last], 1) : last;
    return tf.add(tf.add(tf.reshape(logp, [K, T, B]), order), terminal);
  });
}

/** Λ [T, T]: Λ_{t,t'} = λ^{t'−t} for t' ≥ t, else 0 (a constant of the run, like the reward's matrix). */
export function gaeMatrix(tf: Tf, T: number, lambda: number): T {
  const m = new Float32Array(T * T);
  for (let t = 0; t < T; t++) for (let u = t; u < T; u++) m[t * T + u] = lambda ** (u - t);
  return tf.tensor2d(m, [T, T]);
}

export interface PgRowTerms {
  /** φ-coefficients per row [K, T·B] (weight and 1/B included). */
  coef: T;
  /** Value targets (λ-returns) per row [K, T·B]. */
  target: T;
}

/**
 * GAE(λ) advantages, centred per step by the leave-one-out mean over the batch (pg.ts `pgCoefficients` on the
 * fixed-length layout): cost and value [K, T, B], Λ from `gaeMatrix`.
 */
export function pgRowTerms(tf: Tf, cost: T, value: T, lambdaMatrix: T, weight: number): PgRowTerms {
  const [K, T, B] = cost.shape as [number, number, number];
  return tf.tidy(() => {
    const vNext = T > 1
      ? tf.concat([tf.slice(value, [0, 1, 0], [K, T - 1, B]), tf.zeros([K, 1, B])], 1)
      : tf.zerosLike(value);
    const delta = tf.sub(tf.add(cost, vNext), value);
    // A = Λ δ per seed: the T steps as rows of one [T, K·B] GEMM
    const flat = tf.reshape(tf.transpose(delta, [1, 0, 2]), [T, K * B]);
    const adv = tf.transpose(tf.reshape(tf.matMul(lambdaMatrix, flat), [T, K, B]), [1, 0, 2]);
    const centred = B > 1 ? tf.sub(adv, tf.div(tf.sub(tf.sum(adv, 2, true), adv), B - 1)) : adv;
    return {
      coef: tf.reshape(tf.mul(centred, weight / B), [K, T * B]),
      target: tf.reshape(tf.add(adv, value), [K, T * B]),
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
      this.vars.push(tf.variable(tf.tensor3d(W, [K, fin, fout]), true));
      this.vars.push(tf.variable(tf.tensor3d(b, [K, 1, fout]), true));
    }
    this.adam = new DeviceAdam(tf, this.vars, lr);
  }

  /** V(s) of the rows X [K, n, in] → [K, n]. */
  values(X: T): T {
    const { tf } = this;
    return tf.tidy(() => tf.squeeze(mlpPass(tf, this.vars, this.activation, X).out, [2]));
  }

  /**
   * The regression mean_rows (V(s) − target)² per seed: gradients (shaped like `vars`) and the loss [K]
   * (output signal (V − target)/rows, as core/objectives/pg.ts).
   */
  regression(X: T, target: T): { grads: T[]; loss: T } {
    const { tf } = this;
    return tf.tidy(() => {
      const n = X.shape[1]!;
      const pass = mlpPass(tf, this.vars, this.activation, X);
      const e = tf.sub(tf.squeeze(pass.out, [2]), target);
      const deltas = mlpDeltas(tf, this.vars, this.activation, pass, tf.expandDims(tf.div(e, n), 2));
      return { grads: layerGrads(tf, pass.inputs, deltas, null), loss: tf.div(tf.sum(tf.square(e), 1), n) };
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
