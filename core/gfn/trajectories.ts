/**
 * The bit-vector GFlowNet (DESIGN §3): states s ∈ {−1,0,+1}^D, one entry set per step, the position chosen
 * uniformly among unset entries and its value v ∈ {−1,+1} from softmax(f_φ(s)_d). All B trajectories of a batch
 * advance together, so each step is one B-row pass through the network.
 *
 * Two facts no framework exploits are used here: each step needs only the 2 logits of the chosen position (the
 * output layer is a gather of 2 columns), and consecutive states differ in one entry (the first layer's
 * pre-activation is updated incrementally: Z₀(s_{t+1}) = Z₀(s_t) + v·W₀[d,:]).
 *
 * Rows are step-major: row = t·B + s.
 */
import type { Gemm, Vec } from "../nn/gemm.ts";
import { ctorOf, fillRows, hiddenForward, type Mlp, transpose } from "../nn/mlp.ts";
import type { Rng } from "../rng.ts";
import type { BitTask } from "../tasks/task.ts";

/** A policy network together with views derived from it once per parameter update. */
export interface Policy {
  net: Mlp;
  D: number;
  /** Output weights transposed (2D × h_k) so the 2 columns of a position are contiguous rows. */
  woutT: Vec;
  /**
   * Run the output layer as dense GEMMs (all 2D logits, a dense output gradient) instead of touching only the
   * 2 columns of each chosen position. For small D a few hundred MFLOP in the GEMM beat millions of scalar
   * gather operations in TypeScript; preparePolicy sets it for D ≤ DENSE_OUTPUT_MAX_D. Both give the same math.
   */
  denseOutput: boolean;
}

export const DENSE_OUTPUT_MAX_D = 64;

export function preparePolicy(net: Mlp): Policy {
  const k = net.sizes.length - 2;
  const D = net.sizes[0];
  if (net.sizes[k + 1] !== 2 * D) {
    throw new Error(`policy output must be 2D = ${2 * D}, got ${net.sizes[k + 1]}`);
  }
  const woutT = new (ctorOf(net))(2 * D * net.sizes[k]);
  transpose(net.W[k], net.sizes[k], 2 * D, woutT);
  return { net, D, woutT, denseOutput: D <= DENSE_OUTPUT_MAX_D };
}

export interface TrajBatch {
  D: number;
  B: number;
  /** Terminal states x (B × D, entries ±1). */
  x: Int8Array;
  /** log q_φ(τ) = Σ_t log p_φ(v_t | s_t, d_t) (the ordering terms −log(D−t) are not included; DESIGN §3). */
  logq: Float64Array;
  /** Per row: position set, value set, log p of that value, and g = ∂ log p(v)/∂ l₊ (so ∂/∂ l₋ = −g). */
  pos: Int32Array;
  val: Int8Array;
  logp: Float64Array;
  g: Vec;
  /** Present when sampled with cache: per-row inputs and activations for the backward pass. */
  cache?: {
    /** States as network inputs (rows × D). */
    X: Vec;
    /** acts[l] = A_{l+1} = act(Z_l), rows × h_{l+1}. */
    acts: Vec[];
    /** dacts[l] = act'(Z_l). */
    dacts: Vec[];
    /** Unit signals δ_l = ∂ log p_row / ∂ Z_l, filled by computeSignals. */
    dZ?: Vec[];
  };
}

export interface RunOptions {
  /** Keep what the backward pass needs. */
  cache: boolean;
  /**
   * Teacher forcing: follow the given terminal states and orders (order[b·D + t] is the position set at step t).
   * A backward trajectory from x under the uniform P_B is x with a uniformly random order.
   */
  given?: { x: Int8Array; order: Int32Array };
  /**
   * Start from these partial states (B × D, entries in {−1, 0, +1}) instead of s₀ = 0. Every row must have the
   * same number n₀ of set entries; the trajectories run the remaining D − n₀ steps (rows are then
   * (t − n₀)·B + s) and logq sums only those steps. The first pre-activation is one GEMM of the start states,
   * then incremental. With `given`, order[b·D + t] for t ≥ n₀ is the position set at step t and x must agree
   * with the start on its set entries. Not combinable with `cache`.
   */
  start?: Int8Array;
}

/** Samples B forward trajectories from Q, or evaluates the given ones (teacher forcing). */
export function runTrajectories(pol: Policy, gemm: Gemm, B: number, rng: Rng, opts: RunOptions): TrajBatch {
  const { net, D, woutT } = pol;
  const F = ctorOf(net);
  const k = net.sizes.length - 2;
  const hidden = net.sizes.slice(1, k + 1);
  const hk = hidden[k - 1], h1 = hidden[0];
  const n0 = opts.start ? startDepth(opts.start, B, D) : 0;
  if (opts.start && opts.cache) throw new Error("runTrajectories: `start` cannot be combined with `cache`");
  const rows = (D - n0) * B;
  const cacheRows = opts.cache ? rows : B;
  const acts = hidden.map((h) => new F(cacheRows * h));
  const dacts = hidden.map((h) => new F(cacheRows * h));
  const X = opts.cache ? new F(rows * D) : null;
  const scratch = new F(B * Math.max(...hidden));
  const logits = pol.denseOutput ? new F(B * 2 * D) : null;
  const z0 = new F(B * h1);
  fillRows(z0, net.b[0], B); // s₀ = 0: the first pre-activation is the bias
  const W0 = net.W[0], bout = net.b[k];
  if (opts.start) gemm.gemm(false, false, B, h1, D, F.from(opts.start), W0, z0, 1);

  const state = opts.start ? opts.start.slice(0, B * D) : new Int8Array(B * D);
  const unset = new Int32Array(B * D); // per trajectory, its unset positions in the first D − t slots
  for (let b = 0; b < B; b++) {
    let j = 0;
    for (let d = 0; d < D; d++) if (state[b * D + d] === 0) unset[b * D + j++] = d;
  }
  const x = opts.given ? opts.given.x : state.slice();
  const pos = new Int32Array(rows), val = new Int8Array(rows);
  const logp = new Float64Array(rows), g = new F(rows), logq = new Float64Array(B);

  for (let t = n0; t < D; t++) {
    const off = opts.cache ? t * B : 0;
    const stepActs = acts.map((a, l) => a.subarray(off * hidden[l], (off + B) * hidden[l]));
    const stepDacts = dacts.map((a, l) => a.subarray(off * hidden[l], (off + B) * hidden[l]));
    if (X) {
      if (t === n0) X.set(state.subarray(0, B * D), t * B * D);
      else {
        // s_t = s_{t−1} with one more entry set: copy the previous block, then write the B new entries
        X.copyWithin(t * B * D, (t - 1) * B * D, t * B * D);
        for (let b = 0, r = (t - 1 - n0) * B; b < B; b++, r++) X[(t * B + b) * D + pos[r]] = val[r];
      }
    }
    hiddenForward(net, gemm, z0, B, stepActs, opts.cache ? stepDacts : stepDacts.map(() => null), scratch);
    const top = stepActs[k - 1];
    if (logits) {
      fillRows(logits, bout, B);
      gemm.gemm(false, false, B, 2 * D, hk, top, net.W[k], logits, 1);
    }
    for (let b = 0; b < B; b++) {
      let d: number;
      if (opts.given) d = opts.given.order[b * D + t];
      else {
        const j = rng.int(D - t);
        const base = b * D;
        d = unset[base + j];
        unset[base + j] = unset[base + D - t - 1];
      }
      // the two logits of position d: l₋ = column 2d, l₊ = column 2d+1
      let lm: number, lp: number;
      if (logits) {
        lm = logits[b * 2 * D + 2 * d];
        lp = logits[b * 2 * D + 2 * d + 1];
      } else {
        lm = bout[2 * d];
        lp = bout[2 * d + 1];
        const ta = b * hk, wm = 2 * d * hk, wp = wm + hk;
        for (let j = 0; j < hk; j++) {
          const a = top[ta + j];
          lm += a * woutT[wm + j];
          lp += a * woutT[wp + j];
        }
      }
      const diff = lp - lm; // p₊ = σ(diff)
      const pPlus = 1 / (1 + Math.exp(-diff));
      let v: number;
      if (opts.given) v = opts.given.x[b * D + d];
      else v = rng.uniform() < pPlus ? 1 : -1;
      const row = (t - n0) * B + b;
      pos[row] = d;
      val[row] = v;
      const lp_ = v > 0 ? logSigmoid(diff) : logSigmoid(-diff);
      logp[row] = lp_;
      logq[b] += lp_;
      g[row] = (v > 0 ? 1 : 0) - pPlus;
      state[b * D + d] = v;
      if (!opts.given) x[b * D + d] = v;
      const z = b * h1, w = d * h1;
      if (v > 0) { for (let j = 0; j < h1; j++) z0[z + j] += W0[w + j]; }
      else for (let j = 0; j < h1; j++) z0[z + j] -= W0[w + j];
    }
  }
  return { D, B, x, logq, pos, val, logp, g, cache: X ? { X, acts, dacts } : undefined };
}

/** The common number of set entries of B start states (throws when rows differ or an entry is not −1/0/+1). */
function startDepth(start: Int8Array, B: number, D: number): number {
  if (start.length < B * D) throw new RangeError(`start needs ${B * D} entries, got ${start.length}`);
  let n0 = -1;
  for (let b = 0; b < B; b++) {
    let n = 0;
    for (let d = 0; d < D; d++) {
      const v = start[b * D + d];
      if (v !== 0 && v !== 1 && v !== -1) {
        throw new RangeError(`start state entries must be −1, 0 or +1, got ${v}`);
      }
      if (v !== 0) n++;
    }
    if (n0 === -1) n0 = n;
    else if (n !== n0) {
      throw new RangeError(
        `every start state must have the same number of set entries (${n0} vs ${n} in row ${b})`,
      );
    }
  }
  return Math.max(n0, 0);
}

/** The output-layer gradient as a dense rows × 2D matrix: ±scale·g at columns 2d+1 / 2d of each row. */
function denseOutputGrad(
  batch: TrajBatch,
  scale: ArrayLike<number> | null,
  F: Float32ArrayConstructor | Float64ArrayConstructor,
) {
  const { B, D } = batch, rows = batch.g.length;
  const dOut = new F(rows * 2 * D);
  for (let r = 0; r < rows; r++) {
    const gr = scale ? scale[scale.length === rows ? r : r % B] * batch.g[r] : batch.g[r];
    const o = r * 2 * D + 2 * batch.pos[r];
    dOut[o + 1] = gr;
    dOut[o] = -gr;
  }
  return dOut;
}

/** log σ(z), stable for large |z|. */
export function logSigmoid(z: number): number {
  return z >= 0 ? -Math.log1p(Math.exp(-z)) : z - Math.log1p(Math.exp(z));
}

/** Backward trajectories from terminal states x: uniformly random deletion orders (DESIGN §3). */
export function randomOrders(B: number, D: number, rng: Rng): Int32Array {
  const order = new Int32Array(B * D);
  const perm = new Int32Array(D);
  for (let b = 0; b < B; b++) order.set(rng.permutation(perm), b * D);
  return order;
}

/** log w(τ) = log R(x) − log q_φ(τ) (the P_B and ordering terms cancel; DESIGN §3). */
export function logWeights(batch: TrajBatch, task: BitTask): { logR: Float64Array; logw: Float64Array } {
  const logR = task.logReward(batch.x, batch.B);
  const logw = new Float64Array(batch.B);
  for (let b = 0; b < batch.B; b++) logw[b] = logR[b] - batch.logq[b];
  return { logR, logw };
}

/**
 * Fills cache.dZ with the unit signals δ_l = ∂ log p_row / ∂ Z_l (one backward pass for the whole batch).
 * ∂ log p/∂ A_k = g·(W_out[:,2d+1] − W_out[:,2d]); δ_l = (∂/∂A_{l+1}) ⊙ act'(Z_l); ∂/∂A_l = δ_l W_lᵀ.
 */
export function computeSignals(pol: Policy, gemm: Gemm, batch: TrajBatch): Vec[] {
  const c = requireCache(batch);
  c.dZ ??= backpropSignals(pol, gemm, batch, null);
  return c.dZ;
}

/** The backward chain for per-trajectory output scales (null = 1): δ_l of Σ_s scale_s log q(τ_s). */
function backpropSignals(pol: Policy, gemm: Gemm, batch: TrajBatch, scale: ArrayLike<number> | null): Vec[] {
  const c = requireCache(batch);
  const { net, woutT } = pol;
  const F = ctorOf(net);
  const k = net.sizes.length - 2;
  const B = batch.B, rows = batch.D * B;
  const dZ = net.sizes.slice(1, k + 1).map((h) => new F(rows * h));
  const hk = net.sizes[k];
  const top = dZ[k - 1];
  if (pol.denseOutput) {
    gemm.gemm(false, true, rows, hk, 2 * batch.D, denseOutputGrad(batch, scale, F), net.W[k], top, 0);
  } else {
    for (let r = 0; r < rows; r++) {
      const gr = scale ? scale[scale.length === rows ? r : r % B] * batch.g[r] : batch.g[r];
      if (gr === 0) continue;
      const wm = 2 * batch.pos[r] * hk, wp = wm + hk, o = r * hk;
      for (let j = 0; j < hk; j++) top[o + j] = gr * (woutT[wp + j] - woutT[wm + j]);
    }
  }
  for (let l = k - 1; l >= 0; l--) {
    const dz = dZ[l], da = c.dacts[l];
    for (let i = 0; i < dz.length; i++) dz[i] *= da[i];
    if (l > 0) gemm.gemm(false, true, rows, net.sizes[l], net.sizes[l + 1], dz, net.W[l], dZ[l - 1], 0);
  }
  return dZ;
}

/**
 * grads += ∇_φ Σ_s coef[s] · log q_φ(τ_s), for per-trajectory coefficients (stop-gradient; length B), or
 * grads += ∇_φ Σ_r coef[r] · log p_φ(row r) for per-row (per-step) coefficients (length D·B, rows t·B + s; policy
 * gradients). Every surrogate loss of the engine (TB, RKL, FKL, …) is of this form for scalar baselines. When
 * the unit signals are already computed (per-sample baselines) they are reused, scaled per row; otherwise the
 * coefficients are folded into one scaled backward pass.
 */
export function accumulateGrads(
  pol: Policy,
  gemm: Gemm,
  batch: TrajBatch,
  coef: ArrayLike<number>,
  grads: Vec[],
) {
  const c = requireCache(batch);
  const { net, D } = pol;
  const F = ctorOf(net);
  const k = net.sizes.length - 2;
  const B = batch.B, rows = D * B;
  const perRow = coef.length === rows;
  if (!perRow && coef.length !== B) {
    throw new RangeError(`coef: length B = ${B} or D·B = ${rows}, got ${coef.length}`);
  }
  // output layer: only columns 2d, 2d+1 of each row get a gradient
  const hk = net.sizes[k];
  const dbout = grads[2 * k + 1];
  const top = c.acts[k - 1];
  const ones = new F(rows).fill(1);
  if (pol.denseOutput) {
    const dOut = denseOutputGrad(batch, coef, F);
    gemm.gemm(true, false, hk, 2 * D, rows, top, dOut, grads[2 * k], 1);
    gemm.gemm(false, false, 1, 2 * D, rows, ones, dOut, dbout, 1);
  } else accumulateSparseOutputGrads(batch, coef, top, hk, grads[2 * k], dbout, F);
  // hidden layers: dW_l += A_lᵀ (coef ⊙ δ_l), db_l += 1ᵀ (coef ⊙ δ_l)
  const unit = c.dZ;
  const dZ = unit ?? backpropSignals(pol, gemm, batch, coef);
  for (let l = 0; l < k; l++) {
    const h = net.sizes[l + 1];
    let signal = dZ[l];
    if (unit) {
      signal = new F(rows * h);
      for (let r = 0; r < rows; r++) {
        const cr = coef[perRow ? r : r % B], o = r * h;
        for (let j = 0; j < h; j++) signal[o + j] = cr * unit[l][o + j];
      }
    }
    gemm.gemm(false, false, 1, h, rows, ones, signal, grads[2 * l + 1], 1);
    const input = l === 0 ? c.X : c.acts[l - 1];
    gemm.gemm(true, false, net.sizes[l], h, rows, input, signal, grads[2 * l], 1);
  }
}

/** Output-layer gradient touching only columns 2d, 2d+1 of each row (large D). */
function accumulateSparseOutputGrads(
  batch: TrajBatch,
  coef: ArrayLike<number>,
  top: Vec,
  hk: number,
  dWout: Vec,
  dbout: Vec,
  F: Float32ArrayConstructor | Float64ArrayConstructor,
): void {
  const { B, D } = batch, rows = batch.g.length;
  const perRow = coef.length === rows;
  const dWoutT = new F(2 * D * hk);
  for (let r = 0; r < rows; r++) {
    const cg = coef[perRow ? r : r % B] * batch.g[r];
    if (cg === 0) continue;
    const d = batch.pos[r], wm = 2 * d * hk, wp = wm + hk, o = r * hk;
    for (let j = 0; j < hk; j++) {
      const v = cg * top[o + j];
      dWoutT[wp + j] += v;
      dWoutT[wm + j] -= v;
    }
    dbout[2 * d + 1] += cg;
    dbout[2 * d] -= cg;
  }
  for (let j = 0; j < hk; j++) for (let o = 0; o < 2 * D; o++) dWout[j * 2 * D + o] += dWoutT[o * hk + j];
}

/**
 * Calls fn(s, h) with the per-trajectory score h = ∇_φ log q_φ(τ_s) for s = 0..B−1, each layer computed as
 * A_l[rows of s]ᵀ δ_l[rows of s] (one small GEMM per layer and trajectory). `h` is reused between calls.
 */
export function forEachSampleGrad(
  pol: Policy,
  gemm: Gemm,
  batch: TrajBatch,
  fn: (s: number, h: Vec[]) => void,
): void {
  const c = requireCache(batch);
  const dZ = computeSignals(pol, gemm, batch);
  const { net, D } = pol;
  const F = ctorOf(net);
  const k = net.sizes.length - 2;
  const B = batch.B, T = D;
  const h: Vec[] = [];
  for (let l = 0; l <= k; l++) h.push(new F(net.sizes[l] * net.sizes[l + 1]), new F(net.sizes[l + 1]));
  const inputs = [c.X, ...c.acts.slice(0, k - 1)];
  const gatherIn = inputs.map((_, l) => new F(T * net.sizes[l]));
  const gatherZ = dZ.map((_, l) => new F(T * net.sizes[l + 1]));
  const hk = net.sizes[k], top = c.acts[k - 1], out = 2 * D;
  for (let s = 0; s < B; s++) {
    for (let l = 0; l < k; l++) {
      const nin = net.sizes[l], nout = net.sizes[l + 1];
      const gi = gatherIn[l], gz = gatherZ[l], src = inputs[l], dz = dZ[l];
      const db = h[2 * l + 1];
      db.fill(0);
      for (let t = 0; t < T; t++) {
        const r = t * B + s;
        gi.set(src.subarray(r * nin, (r + 1) * nin), t * nin);
        const zrow = dz.subarray(r * nout, (r + 1) * nout);
        gz.set(zrow, t * nout);
        for (let j = 0; j < nout; j++) db[j] += zrow[j];
      }
      gemm.gemm(true, false, nin, nout, T, gi, gz, h[2 * l], 0);
    }
    const dW = h[2 * k], db = h[2 * k + 1];
    dW.fill(0);
    db.fill(0);
    for (let t = 0; t < T; t++) {
      const r = t * B + s, gr = batch.g[r], d = batch.pos[r], o = r * hk;
      for (let j = 0; j < hk; j++) {
        const v = gr * top[o + j];
        dW[j * out + 2 * d + 1] += v;
        dW[j * out + 2 * d] -= v;
      }
      db[2 * d + 1] += gr;
      db[2 * d] -= gr;
    }
    fn(s, h);
  }
}

function requireCache(batch: TrajBatch): NonNullable<TrajBatch["cache"]> {
  if (!batch.cache) throw new Error("this batch was sampled without cache; no backward pass possible");
  return batch.cache;
}
