/**
 * The device engine's network pieces (backends/device/engine.ts and the device kernels of scores.ts, value.ts,
 * discrete.ts import them from here, so that nothing imports the engine back): activations and their
 * derivatives, the batched MLP pass and its explicit backward pass (layer signals, weight gradients), Adam over
 * device variables, variables that take over their initial
 * tensor, and keeping tfjs-backend-webgpu's work on the GPU.
 */
import type * as tfc from "@tensorflow/tfjs-core";
import type { Mlp } from "../../core/nn/mlp.ts";
import type { T, Tf } from "./sampler.ts";

/**
 * Keeps the program on the device: tfjs-backend-webgpu runs kernels whose inputs are all small (< 1000 elements)
 * and still host-resident on the CPU (`WEBGPU_CPU_FORWARD`), and uploads the results when a GPU kernel needs
 * them; the engine's state is made on the host once (then host-resident until first used), so that would move
 * small per-step work to the CPU and its results back up every step. Turned off for the device engine.
 */
export function keepOnDevice(tf: Tf): void {
  if (tf.getBackend() === "webgpu" && tf.env().getFlags()["WEBGPU_CPU_FORWARD"] !== false) {
    tf.env().set("WEBGPU_CPU_FORWARD", false);
  }
}

/** A device variable holding `init` (which it takes over: the initial tensor is released, not leaked). */
export function variableOf(tf: Tf, init: T, trainable: boolean): tfc.Variable {
  const v = tf.variable(init, trainable);
  init.dispose();
  return v;
}

/**
 * act'(z) given z and a = act(z) (the CPU kernels' derivatives, core/nn/kernels.ts); `one`: a kept scalar 1 (else
 * a scalar is made per call, a 4-byte upload).
 */
export function actDeriv(tf: Tf, kind: Mlp["activation"], z: T, a: T, one: T | number = 1): T {
  switch (kind) {
    case "swish": {
      const s = tf.sigmoid(z);
      return tf.mul(s, tf.add(one, tf.mul(z, tf.sub(one, s))));
    }
    case "relu":
      return tf.cast(tf.greater(z, tf.zerosLike(z)), "float32");
    case "elu":
      return tf.where(tf.greater(z, tf.zerosLike(z)), tf.onesLike(z), tf.add(a, one));
    case "tanh":
      return tf.sub(one, tf.square(a));
  }
}

export function act(tf: Tf, kind: Mlp["activation"], z: T): T {
  switch (kind) {
    case "swish":
      return tf.mul(z, tf.sigmoid(z));
    case "relu":
      return tf.relu(z);
    case "elu":
      return tf.elu(z);
    case "tanh":
      return tf.tanh(z);
  }
}

/**
 * The MLP's output for the rows X: vars = [W₁, b₁, …, W_L, b_L], activation between layers, none after the
 * last. K batched models: X [K, n, in], W [K, in, out], b [K, 1, out].
 */
export function mlpLogits(tf: Tf, vars: readonly T[], activation: Mlp["activation"], X: T): T {
  let a = X;
  const L = vars.length / 2;
  for (let l = 0; l < L; l++) {
    const z = tf.add(tf.matMul(a, vars[2 * l]), vars[2 * l + 1]);
    a = l + 1 < L ? act(tf, activation, z) : z;
  }
  return a;
}

/** The tensors of one MLP pass: inputs[l] = A_l (the input of layer l, A_0 = X), zs[l] = Z_l = A_l W_l + b_l. */
export interface MlpPass {
  inputs: T[];
  zs: T[];
  out: T;
}

/** The MLP over rows X [K, n, in] with seed-batched parameters (identity after the last layer). */
export function mlpPass(tf: Tf, vars: readonly T[], activation: Mlp["activation"], X: T): MlpPass {
  const L = vars.length / 2;
  const inputs: T[] = [X], zs: T[] = [];
  let a = X;
  for (let l = 0; l < L; l++) {
    const z = tf.add(tf.matMul(a, vars[2 * l]), vars[2 * l + 1]);
    zs.push(z);
    if (l + 1 < L) inputs.push(a = act(tf, activation, z));
  }
  return { inputs, zs, out: zs[L - 1] };
}

/**
 * The layer signals δ_l = ∂(Σ dOut ⊙ out)/∂Z_l from the output signal dOut [K, n, out] (δ_{L−1} = dOut); `one`: a
 * kept scalar 1 (else one is made per call).
 */
export function mlpDeltas(
  tf: Tf,
  vars: readonly T[],
  activation: Mlp["activation"],
  pass: MlpPass,
  dOut: T,
  one?: T,
): T[] {
  const L = vars.length / 2;
  const deltas: T[] = new Array(L);
  let delta = dOut;
  for (let l = L - 1; l >= 0; l--) {
    deltas[l] = delta;
    if (l > 0) {
      delta = tf.mul(
        tf.matMul(delta, vars[2 * l], false, true),
        actDeriv(tf, activation, pass.zs[l - 1], pass.inputs[l], one),
      );
    }
  }
  return deltas;
}

/**
 * Gradients of Σ_r c_r (Σ dOut ⊙ out)_r from the unit signals: dW_l = A_lᵀ (c ⊙ δ_l) [K, in, out], db_l =
 * Σ_r c_r δ_l [K, 1, out]; `coefRow` [K, n], or null for c = 1.
 */
export function layerGrads(tf: Tf, inputs: readonly T[], deltas: readonly T[], coefRow: T | null): T[] {
  const grads: T[] = [];
  for (let l = 0; l < deltas.length; l++) {
    const d = coefRow ? tf.mul(deltas[l], tf.expandDims(coefRow, 2)) : deltas[l];
    grads.push(tf.matMul(inputs[l], d, true, false), tf.sum(d, 1, true));
  }
  return grads;
}

/** Adam (core/nn/adam.ts, the same update and bias correction) over device variables. */
export class DeviceAdam {
  private readonly m: tfc.Variable[];
  private readonly v: tfc.Variable[];
  private readonly c: { b1: T; nb1: T; b2: T; nb2: T };
  private t = 0;
  constructor(
    private readonly tf: Tf,
    private readonly vars: tfc.Variable[],
    private readonly lr: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly eps = 1e-8,
  ) {
    this.m = vars.map((p) => variableOf(tf, tf.zerosLike(p), false));
    this.v = vars.map((p) => variableOf(tf, tf.zerosLike(p), false));
    this.c = {
      b1: tf.scalar(beta1),
      nb1: tf.scalar(1 - beta1),
      b2: tf.scalar(beta2),
      nb2: tf.scalar(1 - beta2),
    };
  }
  /** One update along `grads` (not disposed). Uploads two scalars (the step's bias-corrected rate and ε). */
  step(grads: readonly T[]): void {
    const { tf, beta1, beta2, c } = this;
    this.t++;
    const c1 = 1 - beta1 ** this.t, c2 = 1 - beta2 ** this.t;
    tf.tidy(() => {
      const a = tf.scalar(this.lr * Math.sqrt(c2) / c1);
      const epsHat = tf.scalar(this.eps * Math.sqrt(c2));
      for (let k = 0; k < this.vars.length; k++) {
        const g = grads[k];
        const m = tf.add(tf.mul(c.b1, this.m[k]), tf.mul(c.nb1, g));
        const v = tf.add(tf.mul(c.b2, this.v[k]), tf.mul(c.nb2, tf.square(g)));
        this.m[k].assign(m);
        this.v[k].assign(v);
        this.vars[k].assign(tf.sub(this.vars[k], tf.div(tf.mul(a, m), tf.add(tf.sqrt(v), epsHat))));
      }
    });
  }
  dispose(): void {
    for (const x of [...this.m, ...this.v]) x.dispose();
    for (const x of Object.values(this.c)) x.dispose();
  }
}
