/**
 * Seed batching on the device (docs/device.md §"Seed batching"): K independent policies trained in one device
 * program, the seed index a leading tensor dimension — parameters [K, in, out] and [K, 1, out], states
 * [K, rows, D], every GEMM a batched matMul — each seed with its own parameters, uniforms (seeded per seed exactly
 * as a separate run's), objective scalar and coefficients (the registry entry runs once per seed on that seed's B
 * log w). Same math as backends/device/engine.ts (see there), with K·B floats read back per batch.
 */
import type * as tfc from "@tensorflow/tfjs-core";
import { jsGemm } from "../../core/nn/gemm.ts";
import type { Mlp } from "../../core/nn/mlp.ts";
import {
  act,
  actDeriv,
  CoefficientBatch,
  DeviceAdam,
  type DeviceReward,
  type DeviceStepInput,
  deviceSupports,
  mlpLogits,
  sumPartGrads,
  type Tf,
  TransferCounter,
} from "./engine.ts";

type T = tfc.Tensor;

/** K batches of B trajectories: x [K, B, D] (±1), order [K, B, D] (step → position). */
export interface SeedTrajectories {
  x: T;
  order: T;
}

export interface SeedGradient {
  grads: T[];
  dScalar: number[];
  loss: number[];
  logwForward?: Float64Array[];
}

export class SeedBatchEngine {
  readonly K: number;
  readonly D: number;
  readonly vars: tfc.Variable[];
  readonly counter: TransferCounter;
  private readonly adam: DeviceAdam;
  private readonly activation: Mlp["activation"];
  private readonly sizes: number[];

  constructor(
    readonly tf: Tf,
    nets: Mlp[],
    private readonly reward: DeviceReward,
    lr: number,
    counter?: TransferCounter,
  ) {
    const K = this.K = nets.length;
    const sizes = this.sizes = [...nets[0].sizes];
    this.D = sizes[0];
    this.activation = nets[0].activation;
    this.counter = counter ?? new TransferCounter();
    this.vars = [];
    for (let l = 0; l + 1 < sizes.length; l++) {
      const fin = sizes[l], fout = sizes[l + 1];
      const W = new Float32Array(K * fin * fout), b = new Float32Array(K * fout);
      nets.forEach((n, k) => (W.set(n.W[l], k * fin * fout), b.set(n.b[l], k * fout)));
      this.vars.push(tf.variable(tf.tensor3d(W, [K, fin, fout]), true));
      this.vars.push(tf.variable(tf.tensor3d(b, [K, 1, fout]), true));
    }
    this.adam = new DeviceAdam(tf, this.vars, lr);
  }

  private logits(X: T): T {
    return mlpLogits(this.tf, this.vars, this.activation, X);
  }

  /** l₊ − l₋ at each row's position: logits [K, n, 2D], oneHot [K, n, D] → [K, n]. */
  private pairDiff(logits: T, oneHot: T): T {
    const { tf, K, D } = this;
    const n = oneHot.shape[1]!;
    const [lm, lp] = tf.split(tf.reshape(logits, [K, n, D, 2]), 2, 3);
    return tf.sum(tf.mul(tf.sub(tf.reshape(lp, [K, n, D]), tf.reshape(lm, [K, n, D])), oneHot), 2);
  }

  /** Per seed k the [B, D] uniforms a separate run seeded `seeds[k]` draws, stacked [K, B, D] (counted). */
  private uniforms(B: number, seeds: number[]): T {
    this.counter.written += 4 * B * this.D * this.K;
    return this.tf.tidy(() =>
      this.tf.stack(seeds.map((s) => this.tf.randomUniform([B, this.D], 0, 1, "float32", s)))
    );
  }

  /** B trajectories per seed from each seed's Q; seeds[k] seeds seed k's uniforms as in DeviceEngine.sample. */
  sample(B: number, seeds: number[]): SeedTrajectories {
    const { tf, D, K } = this;
    const keys = this.uniforms(B, seeds);
    const order = tf.tidy(() => tf.cast(tf.topk(keys, D).indices, "int32"));
    keys.dispose();
    const u = this.uniforms(B, seeds.map((s) => s ^ 0x3c6ef372));
    let S: T = tf.zeros([K, B, D]);
    for (let t = 0; t < D; t++) {
      const next = tf.tidy(() => {
        const pos = tf.reshape(tf.slice(order, [0, 0, t], [K, B, 1]), [K, B]);
        const oh = tf.oneHot(pos, D, 1, 0, "float32") as T;
        const pPlus = tf.sigmoid(this.pairDiff(this.logits(S), oh));
        const ut = tf.reshape(tf.slice(u, [0, 0, t], [K, B, 1]), [K, B]);
        const v = tf.sub(tf.mul(2, tf.cast(tf.less(ut, pPlus), "float32")), 1);
        return tf.add(S, tf.mul(oh, tf.reshape(v, [K, B, 1])));
      });
      S.dispose();
      S = next;
    }
    u.dispose();
    return { x: S, order };
  }

  /** Uploads K host batches (x: B × D, order[b·D + t]) — counted. */
  upload(xs: Int8Array[], orders: Int32Array[], B: number): SeedTrajectories {
    const { tf, D, K } = this;
    const x = new Float32Array(K * B * D), o = new Int32Array(K * B * D);
    xs.forEach((v, k) => x.set(Float32Array.from(v.subarray(0, B * D)), k * B * D));
    orders.forEach((v, k) => o.set(v, k * B * D));
    this.counter.written += 8 * K * B * D;
    return { x: tf.tensor3d(x, [K, B, D]), order: tf.tensor3d(o, [K, B, D], "int32") };
  }

  /**
   * Step rows per seed, step-major (row t·B + b): states [K, T·B, D], position one-hots, values. No transposes:
   * rank[k, b, d] = the step position d is set at; row (t, b) has position d iff rank = t and s_t = x ⊙ [rank < t].
   */
  private rows(traj: SeedTrajectories): { states: T; ohPos: T; v: T } {
    const { tf, D, K } = this;
    const B = traj.x.shape[1]!;
    const ohOrder = tf.reshape(tf.oneHot(tf.reshape(traj.order, [K * B, D]), D, 1, 0, "float32"), [
      K * B,
      D,
      D,
    ]);
    const steps = tf.range(0, D, 1, "float32");
    const rank = tf.reshape(tf.matMul(tf.tile(tf.reshape(steps, [1, 1, D]), [K * B, 1, 1]), ohOrder), [
      K,
      1,
      B,
      D,
    ]);
    const tcol = tf.reshape(steps, [1, D, 1, 1]);
    const x4 = tf.reshape(traj.x, [K, 1, B, D]);
    const states = tf.reshape(tf.mul(tf.cast(tf.less(rank, tcol), "float32"), x4), [K, D * B, D]);
    const oh4 = tf.cast(tf.equal(rank, tcol), "float32"); // [K, T, B, D]
    const v = tf.reshape(tf.sum(tf.mul(oh4, x4), 3), [K, D * B]);
    return { states, ohPos: tf.reshape(oh4, [K, D * B, D]), v };
  }

  /** log q_φ per seed and trajectory: [K, B]. */
  logq(traj: SeedTrajectories): T {
    const { tf, D, K } = this;
    const B = traj.x.shape[1]!;
    const { states, ohPos, v } = this.rows(traj);
    const logp = tf.logSigmoid(tf.mul(v, this.pairDiff(this.logits(states), ohPos)));
    return tf.sum(tf.reshape(logp, [K, D, B]), 1);
  }

  private backward(traj: SeedTrajectories, coef: T): T[] {
    const { tf, D, K } = this;
    const B = traj.x.shape[1]!, n = D * B;
    const { states, ohPos, v } = this.rows(traj);
    const Lr = this.vars.length / 2;
    const As: T[] = [states], Zs: T[] = [];
    let a = states;
    for (let l = 0; l < Lr; l++) {
      const z = tf.add(tf.matMul(a, this.vars[2 * l]), this.vars[2 * l + 1]);
      Zs.push(z);
      if (l + 1 < Lr) As.push(a = act(tf, this.activation, z));
    }
    const g = tf.sub(tf.div(tf.add(v, 1), 2), tf.sigmoid(this.pairDiff(Zs[Lr - 1], ohPos))); // [K, n]
    const cRow = tf.reshape(tf.tile(tf.reshape(coef, [K, 1, B]), [1, D, 1]), [K, n]);
    const G = tf.mul(ohPos, tf.reshape(tf.mul(cRow, g), [K, n, 1]));
    let delta: T = tf.reshape(tf.stack([tf.neg(G), G], 3), [K, n, 2 * D]);
    const grads: T[] = new Array(2 * Lr);
    for (let l = Lr - 1; l >= 0; l--) {
      grads[2 * l] = tf.matMul(As[l], delta, true, false);
      grads[2 * l + 1] = tf.sum(delta, 1, true);
      if (l > 0) {
        delta = tf.mul(
          tf.matMul(delta, this.vars[2 * l], false, true),
          actDeriv(tf, this.activation, Zs[l - 1], As[l]),
        );
      }
    }
    return grads;
  }

  /** log w per seed (K·B float32 read back, counted). */
  private async readLogw(traj: SeedTrajectories): Promise<Float64Array[]> {
    const { tf, K, D } = this;
    const B = traj.x.shape[1]!;
    const t = tf.tidy(() =>
      tf.sub(tf.reshape(this.reward(tf, tf.reshape(traj.x, [K * B, D])), [K, B]), this.logq(traj))
    );
    const data = (await t.data()) as Float32Array;
    this.counter.read += data.byteLength;
    t.dispose();
    return Array.from({ length: K }, (_, k) => Float64Array.from(data.subarray(k * B, (k + 1) * B)));
  }

  /** The gradient of one step for every seed; `scalars[k]` is seed k's objective scalar. */
  async gradient(
    input: Omit<DeviceStepInput, "forward" | "backward" | "scalar"> & {
      scalars: number[];
      forward?: SeedTrajectories;
      backward?: SeedTrajectories;
    },
  ): Promise<SeedGradient> {
    const { tf, D, K } = this;
    const { objective, cv, forward, backward } = input;
    const why = deviceSupports(objective, cv);
    if (why) throw new Error(why);
    const B = (forward ?? backward)!.x.shape[1]!;
    const lwF = forward ? await this.readLogw(forward) : undefined;
    const lwB = backward ? await this.readLogw(backward) : undefined;
    const cF = new Float32Array(K * B), cB = new Float32Array(K * B);
    const dScalar: number[] = [], loss: number[] = [];
    for (let k = 0; k < K; k++) {
      const fw = lwF ? new CoefficientBatch(B, D, lwF[k]) : undefined;
      const bw = lwB ? new CoefficientBatch(B, D, lwB[k]) : undefined;
      const r = objective.gradient({
        alpha: input.alpha,
        cv,
        scalar: input.scalars[k],
        params: input.params,
        gemm: jsGemm,
        forward: fw,
        backward: bw,
        grads: [],
      });
      if (fw) cF.set(fw.coef, k * B);
      if (bw) cB.set(bw.coef, k * B);
      dScalar.push(r.dScalar);
      loss.push(r.loss);
    }
    const parts: [SeedTrajectories, Float32Array][] = [];
    if (forward) parts.push([forward, cF]);
    if (backward) parts.push([backward, cB]);
    const coefs = parts.map(([, c]) => {
      this.counter.written += c.byteLength;
      return tf.tensor2d(c, [K, B]);
    });
    const grads = sumPartGrads(tf, this.vars, parts.length, (i) => this.backward(parts[i][0], coefs[i]));
    for (const c of coefs) c.dispose();
    return { grads, dScalar, loss, logwForward: lwF };
  }

  apply(grads: T[]): void {
    this.adam.step(grads);
    for (const g of grads) g.dispose();
  }

  /** Seed k's parameters copied to the host. */
  async toHost(k: number): Promise<Mlp> {
    const W: Float32Array[] = [], b: Float32Array[] = [];
    for (let i = 0; i < this.vars.length; i++) {
      const d = (await this.vars[i].data()) as Float32Array;
      const per = d.length / this.K;
      (i % 2 === 0 ? W : b).push(Float32Array.from(d.subarray(k * per, (k + 1) * per)));
    }
    return { sizes: [...this.sizes], activation: this.activation, W, b };
  }

  dispose(): void {
    this.adam.dispose();
    for (const v of this.vars) v.dispose();
  }
}
