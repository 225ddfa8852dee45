/**
 * The bit-vector GFlowNet (docs/math.md §"Bit vectors"): states s ∈ {−1,0,+1}^D, one entry set per step, the position chosen
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
import { ctorOf, fillRows, hiddenForward, maxOf, type Mlp, outputLayer, transpose } from "../nn/mlp.ts";
import { kernelsOf, stateGradScratch } from "../nn/kernels.ts";
import { alloc, allocRaw, arenaCopy } from "../nn/arena.ts";
import type { Rng } from "../rng.ts";
import type { BitTask } from "../tasks/task.ts";
import { behaviourPlus, isIdentity, type StepBehaviour } from "./behaviour.ts";

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

/** Whether this pass runs the output layer densely: the policy asks for it and the kernels gain from it. */
function denseOutput(pol: Policy, gemm: Gemm): boolean {
  return pol.denseOutput && !kernelsOf(gemm).sparseOutput;
}

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
  /** log q_φ(τ) = Σ_t log p_φ(v_t | s_t, d_t) (the ordering terms −log(D−t) are not included; docs/math.md §"Bit vectors"). */
  logq: Float64Array;
  /** Σ_t log β(v_t | s_t, d_t) of the per-step behaviour (core/gfn/behaviour.ts), when it is not P_F. */
  logb?: Float64Array;
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
  /**
   * Draw the values from this per-step behaviour (ε-uniform / tempered; core/gfn/behaviour.ts) instead of P_F;
   * logb then holds its log-probability (also of `given` trajectories). logq/logp/g stay those of P_F.
   */
  behaviour?: StepBehaviour;
}

/**
 * Samples B forward trajectories from Q, or evaluates the given ones (teacher forcing). Per step: the hidden
 * stack (GEMM + fused bias/activation kernels), then the positions and uniforms of all B rows (drawn in the same
 * order as one row at a time: position, then uniform), the 2-logit gather as one kernel call, the values, and
 * the first layer's incremental update as one kernel call. Buffers come from the step arena inside a step.
 */
export function runTrajectories(pol: Policy, gemm: Gemm, B: number, rng: Rng, opts: RunOptions): TrajBatch {
  const { net, D } = pol;
  const K = kernelsOf(gemm);
  const F = ctorOf(net);
  const k = net.sizes.length - 2;
  const hidden = net.sizes.slice(1, k + 1);
  const hk = hidden[k - 1], h1 = hidden[0];
  const n0 = opts.start ? startDepth(opts.start, B, D) : 0;
  if (opts.start && opts.cache) throw new Error("runTrajectories: `start` cannot be combined with `cache`");
  const rows = (D - n0) * B;
  const cacheRows = opts.cache ? rows : B;
  const acts = hidden.map((h) => allocRaw(F, cacheRows * h));
  const dacts = opts.cache ? hidden.map((h) => allocRaw(F, cacheRows * h)) : null;
  const scratch = allocRaw(F, B * maxOf(hidden));
  const logits = denseOutput(pol, gemm) ? allocRaw(F, B * 2 * D) : null;
  const woutT = logits ? pol.woutT : arenaCopy(pol.woutT);
  const z0 = allocRaw(F, B * h1);
  fillRows(z0, net.b[0], B); // s₀ = 0: the first pre-activation is the bias
  const W0 = arenaCopy(net.W[0]), bout = net.b[k];
  if (opts.start) {
    const s0 = allocRaw(F, B * D);
    for (let i = 0; i < B * D; i++) s0[i] = opts.start[i];
    gemm.gemm(false, false, B, h1, D, s0, W0, z0, 1);
  }

  const state = opts.start ? opts.start.slice(0, B * D) : new Int8Array(B * D);
  const unset = alloc(Int32Array, B * D); // per trajectory, its unset positions in the first D − t slots
  for (let b = 0; b < B; b++) {
    let j = 0;
    for (let d = 0; d < D; d++) if (state[b * D + d] === 0) unset[b * D + j++] = d;
  }
  const x = opts.given ? opts.given.x : state.slice();
  const pos = alloc(Int32Array, rows), val = alloc(Int8Array, rows);
  const logp = alloc(Float64Array, rows), g = alloc(F, rows), logq = new Float64Array(B);
  const u = alloc(Float64Array, B), lm = alloc(F, B), lp = alloc(F, B);
  const behaviour = isIdentity(opts.behaviour) ? null : opts.behaviour!;
  const logb = behaviour ? new Float64Array(B) : undefined;

  for (let t = n0; t < D; t++) {
    const off = opts.cache ? t * B : 0;
    const stepActs = acts.map((a, l) => a.subarray(off * hidden[l], (off + B) * hidden[l]));
    const stepDacts = dacts
      ? dacts.map((a, l) => a.subarray(off * hidden[l], (off + B) * hidden[l]))
      : hidden.map(() => null);
    const r0 = (t - n0) * B;
    if (t === 0) firstStepForward(net, gemm, z0, B, stepActs, stepDacts, scratch);
    else if (t === 1 && n0 === 0) {
      secondStepForward(net, gemm, z0, B, stepActs, stepDacts, scratch, stateGroups(pos, val, B, D));
    } else hiddenForward(net, gemm, z0, B, stepActs, stepDacts, scratch);
    const top = stepActs[k - 1];
    const stepPos = pos.subarray(r0, r0 + B), stepVal = val.subarray(r0, r0 + B);
    for (let b = 0; b < B; b++) {
      if (opts.given) stepPos[b] = opts.given.order[b * D + t];
      else {
        const j = rng.int(D - t);
        const base = b * D;
        stepPos[b] = unset[base + j];
        unset[base + j] = unset[base + D - t - 1];
        u[b] = rng.uniform();
      }
    }
    // the two logits of position d: l₋ = column 2d, l₊ = column 2d+1
    if (logits) {
      outputLayer(net, gemm, top, B, logits);
      for (let b = 0; b < B; b++) {
        const o = b * 2 * D + 2 * stepPos[b];
        lm[b] = logits[o];
        lp[b] = logits[o + 1];
      }
    } else K.pairLogits(top, woutT, bout, stepPos, B, hk, lm, lp);
    for (let b = 0; b < B; b++) {
      const d = stepPos[b];
      const diff = lp[b] - lm[b]; // p₊ = σ(diff)
      const pPlus = 1 / (1 + Math.exp(-diff));
      const pDraw = behaviour ? behaviourPlus(diff, behaviour) : pPlus;
      const v = opts.given ? opts.given.x[b * D + d] : u[b] < pDraw ? 1 : -1;
      if (logb) logb[b] += Math.log(v > 0 ? pDraw : 1 - pDraw);
      const row = r0 + b;
      stepVal[b] = v;
      const lp_ = v > 0 ? logSigmoid(diff) : logSigmoid(-diff);
      logp[row] = lp_;
      logq[b] += lp_;
      g[row] = (v > 0 ? 1 : 0) - pPlus;
      state[b * D + d] = v;
      if (!opts.given) x[b * D + d] = v;
    }
    K.addSignedRows(z0, W0, stepPos, stepVal, B, h1);
  }
  if (!dacts) return { D, B, x, logq, logb, pos, val, logp, g };
  // the state rows as network inputs are built only when something reads them (a value network, the learned
  // P_B): the policy's own first-layer gradient comes from pos/val (stateGrad)
  let X: Vec | null = null;
  const cache = {
    acts,
    dacts,
    get X(): Vec {
      return X ??= stateRows(pos, val, B, D, F);
    },
  };
  return { D, B, x, logq, logb, pos, val, logp, g, cache };
}

/**
 * The hidden stack at t = 0: every trajectory is in s₀ = 0, so all B rows of Z₀ are the bias row and every
 * activation row is the same. One row is computed and copied to the others (1/D of the sampling GEMMs and
 * activation work saved); `accumulateGrads` uses the same fact for the weight gradients of the t = 0 rows.
 */
function firstStepForward(
  net: Mlp,
  gemm: Gemm,
  z0: Vec,
  B: number,
  acts: Vec[],
  dacts: (Vec | null)[],
  scratch: Vec,
): void {
  const hidden = net.sizes.slice(1, -1);
  hiddenForward(
    net,
    gemm,
    z0.subarray(0, hidden[0]),
    1,
    acts.map((a, l) => a.subarray(0, hidden[l])),
    dacts.map((a, l) => a ? a.subarray(0, hidden[l]) : null),
    scratch,
  );
  for (let l = 0; l < hidden.length; l++) {
    broadcastRow(acts[l], hidden[l], B);
    const da = dacts[l];
    if (da) broadcastRow(da, hidden[l], B);
  }
}

/**
 * The trajectories' states at t = 1 (one entry set): at most 2D distinct, so for B > 2D many rows coincide.
 * group[b] is the index of trajectory b's state among the U distinct ones, rep[u] the first trajectory in it.
 */
interface Groups {
  U: number;
  group: Int32Array;
  rep: Int32Array;
}

function stateGroups(pos: Int32Array, val: Int8Array, B: number, D: number): Groups {
  const index = alloc(Int32Array, 2 * D); // 1 + group of state (d, v), 0 = not seen
  const group = allocRaw(Int32Array, B), rep = allocRaw(Int32Array, B);
  let U = 0;
  for (let b = 0; b < B; b++) {
    const key = 2 * pos[b] + (val[b] > 0 ? 1 : 0);
    if (index[key] === 0) {
      rep[U] = b;
      index[key] = ++U;
    }
    group[b] = index[key] - 1;
  }
  return { U, group, rep };
}

/** The hidden stack at t = 1: once per distinct state (stateGroups), rows copied to the trajectories in it. */
function secondStepForward(
  net: Mlp,
  gemm: Gemm,
  z0: Vec,
  B: number,
  acts: Vec[],
  dacts: (Vec | null)[],
  scratch: Vec,
  { U, group, rep }: Groups,
): void {
  if (U === B) return hiddenForward(net, gemm, z0, B, acts, dacts, scratch);
  const F = ctorOf(net);
  const hidden = net.sizes.slice(1, -1), h1 = hidden[0];
  const zc = allocRaw(F, B * h1);
  for (let u = 0; u < U; u++) zc.set(z0.subarray(rep[u] * h1, (rep[u] + 1) * h1), u * h1);
  const actsC = hidden.map((h) => allocRaw(F, B * h));
  const dactsC = hidden.map((h, l) => (dacts[l] ? allocRaw(F, B * h) : null));
  hiddenForward(net, gemm, zc, U, actsC, dactsC, scratch);
  for (let l = 0; l < hidden.length; l++) {
    const h = hidden[l], ac = actsC[l], dc = dactsC[l], a = acts[l], da = dacts[l];
    for (let b = 0; b < B; b++) {
      const o = group[b] * h;
      a.set(ac.subarray(o, o + h), b * h);
      if (da && dc) da.set(dc.subarray(o, o + h), b * h);
    }
  }
}

/** Copies row 0 (h entries) of a into rows 1..n−1, doubling the copied block each time. */
function broadcastRow(a: Vec, h: number, n: number): void {
  for (let done = 1; done < n;) {
    const m = Math.min(done, n - done);
    a.copyWithin(done * h, 0, m * h);
    done += m;
  }
}

/** Rows t·B + b = the state s_t of trajectory b before step t (entries set at steps t' < t), as inputs. */
function stateRows(
  pos: Int32Array,
  val: Int8Array,
  B: number,
  D: number,
  F: Float32ArrayConstructor | Float64ArrayConstructor,
): Vec {
  const X = alloc(F, D * B * D);
  for (let t = 1; t < D; t++) {
    // s_t = s_{t−1} with one more entry set: copy the previous block, then write the B new entries
    X.copyWithin(t * B * D, (t - 1) * B * D, t * B * D);
    for (let b = 0, r = (t - 1) * B; b < B; b++, r++) X[(t * B + b) * D + pos[r]] = val[r];
  }
  return X;
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
  const dOut = alloc(F, rows * 2 * D);
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

/** Backward trajectories from terminal states x: uniformly random deletion orders (docs/math.md §"Bit vectors"). */
export function randomOrders(B: number, D: number, rng: Rng): Int32Array {
  const order = new Int32Array(B * D);
  const perm = new Int32Array(D);
  for (let b = 0; b < B; b++) order.set(rng.permutation(perm), b * D);
  return order;
}

/** log w(τ) = log R(x) − log q_φ(τ) (the P_B and ordering terms cancel; docs/math.md §"Bit vectors"). */
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
  c.dZ ??= backpropSignals(pol, gemm, batch, null, null);
  return c.dZ;
}

/**
 * The backward chain for per-trajectory output scales (null = 1): δ_l of Σ_s scale_s log q(τ_s). With `dbias`
 * (the hidden layers' bias gradients), also dbias[l] += Σ_rows δ_l, in the same pass as δ_l's last factor.
 */
function backpropSignals(
  pol: Policy,
  gemm: Gemm,
  batch: TrajBatch,
  scale: ArrayLike<number> | null,
  dbias: Vec[] | null,
): Vec[] {
  const c = requireCache(batch);
  const { net } = pol;
  const K = kernelsOf(gemm);
  const F = ctorOf(net);
  const k = net.sizes.length - 2;
  const B = batch.B, rows = batch.D * B;
  const dZ = net.sizes.slice(1, k + 1).map((h) => allocRaw(F, rows * h));
  topSignal(pol, gemm, batch, scale, dZ[k - 1]);
  for (let l = k - 1; l >= 0; l--) {
    const dz = dZ[l];
    if (dbias) K.mulColSumAdd(dz, c.dacts[l], rows, net.sizes[l + 1], dbias[l]);
    else K.mulInPlace(dz, c.dacts[l], dz.length);
    if (l > 0) gemm.gemm(false, true, rows, net.sizes[l], net.sizes[l + 1], dz, net.W[l], dZ[l - 1], 0);
  }
  return dZ;
}

/** top (rows × h_k) = ∂ Σ_r scale_r log p_r / ∂ A_k: the output layer's backward, dense or by 2 columns. */
function topSignal(
  pol: Policy,
  gemm: Gemm,
  batch: TrajBatch,
  scale: ArrayLike<number> | null,
  top: Vec,
): void {
  const { net } = pol;
  const k = net.sizes.length - 2, hk = net.sizes[k], rows = batch.D * batch.B;
  const F = ctorOf(net);
  if (denseOutput(pol, gemm)) {
    gemm.gemm(false, true, rows, hk, 2 * batch.D, denseOutputGrad(batch, scale, F), net.W[k], top, 0);
  } else {
    kernelsOf(gemm).pairSignal(
      rowCoefficients(batch, scale, F),
      batch.pos,
      arenaCopy(pol.woutT),
      rows,
      hk,
      top,
    );
  }
}

/**
 * The hidden layers' gradients of Σ_r coef_r log p_r when no unit signals are kept (one scaled backward chain).
 * The rows of t = 0 and t = 1 are shared: within one of their states (all B trajectories at t = 0, a distinct
 * state of stateGroups at t = 1) every layer's input and act' are the same row, so the chain is linear in the
 * group's summed top signal and each group is backpropagated as one row (1 + U rows instead of 2B; see
 * firstStepForward / secondStepForward). The rows t ≥ 2 are backpropagated one time step (B rows) at a time,
 * t = D−1 down to 2: the step's signals, four B × h blocks, stay in cache from the top layer to the first-layer
 * sweep (stateGradStep, which runs over t in that order), so no rows × h signal matrix is written, zeroed by the
 * GEMM and read back. `rowCoef` (coef·g per row) is given with the sparse output, null with the dense one.
 */
function sharedBackward(
  pol: Policy,
  gemm: Gemm,
  batch: TrajBatch,
  coef: ArrayLike<number>,
  rowCoef: Vec | null,
  grads: Vec[],
): void {
  const c = requireCache(batch);
  const { net, D } = pol;
  const K = kernelsOf(gemm);
  const F = ctorOf(net);
  const k = net.sizes.length - 2;
  const hidden = net.sizes.slice(1, k + 1), hk = hidden[k - 1], h0 = hidden[0];
  const B = batch.B, rows = D * B, r0 = 2 * B;
  const { U, group, rep } = stateGroups(batch.pos, batch.val, B, D);
  const ns = 1 + U; // shared row 0: t = 0; shared row 1 + u: the t = 1 state u
  const repRow = allocRaw(Int32Array, ns);
  repRow[0] = 0;
  for (let u = 0; u < U; u++) repRow[1 + u] = B + rep[u];
  const gather = (src: Vec, h: number): Vec => {
    const out = allocRaw(F, ns * h);
    for (let i = 0; i < ns; i++) out.set(src.subarray(repRow[i] * h, (repRow[i] + 1) * h), i * h);
    return out;
  };
  const dense = rowCoef === null;
  const woutT = dense ? null : arenaCopy(pol.woutT);
  // the top signal: every row's with the dense output (a GEMM), the shared rows' with the sparse one (the rows
  // t ≥ 2 get theirs step by step below), summed per shared state
  const top = allocRaw(F, (dense ? rows : r0) * hk);
  if (dense) topSignal(pol, gemm, batch, coef, top);
  else K.pairSignal(rowCoef!, batch.pos, woutT!, r0, hk, top);
  const S = hidden.map((h) => alloc(F, ns * h));
  const sharedOf = allocRaw(Int32Array, r0); // row t·B + b (t < 2) → its shared row
  for (let b = 0; b < B; b++) {
    sharedOf[b] = 0;
    sharedOf[B + b] = 1 + group[b];
  }
  K.rowGroupSum(top, sharedOf, r0, hk, S[k - 1]);
  for (let l = k - 1; l >= 0; l--) {
    const h = hidden[l], sl = S[l];
    K.mulColSumAdd(sl, gather(c.dacts[l], h), ns, h, grads[2 * l + 1]);
    if (l > 0) {
      const nin = net.sizes[l];
      gemm.gemm(true, false, nin, h, ns, gather(c.acts[l - 1], nin), sl, grads[2 * l], 1);
      gemm.gemm(false, true, ns, nin, h, sl, net.W[l], S[l - 1], 0);
    } else {
      // the first layer's input is the state: the t = 0 state is 0 (no weight gradient), the t = 1 state of group
      // u is val·e_pos of its first step
      const dW = grads[0];
      for (let u = 0; u < U; u++) {
        const d = batch.pos[rep[u]], v = batch.val[rep[u]], o = (1 + u) * h;
        for (let j = 0; j < h; j++) dW[d * h + j] += v * sl[o + j];
      }
    }
  }
  // the rows t ≥ 2, one step at a time; the first layer's weight gradient of every row comes from the sweep
  // (stateGradStep: δ₀ and its bias sum fused in, δ₀ never written), which also visits t = 1, 0 (their set
  // entries get the later steps' signal)
  const maxh = maxOf(hidden);
  let dz: Vec = allocRaw(F, B * maxh), next: Vec = allocRaw(F, B * maxh);
  const acc = alloc(F, stateGradScratch(B, h0));
  for (let t = D - 1; t >= 0; t--) {
    const r = t * B;
    const step = (v: Vec, h: number) => v.subarray(r * h, (r + B) * h);
    const pos = batch.pos.subarray(r, r + B), val = batch.val.subarray(r, r + B);
    if (t < 2) {
      K.stateGradStep(null, null, pos, val, B, h0, acc, grads[0], grads[1]);
      continue;
    }
    // the top hidden layer's signal of the step's rows; its δ (act′ and bias sum) here unless it is the first
    // layer, whose δ the sweep forms
    const topAct = k > 1 ? step(c.dacts[k - 1], hk) : null;
    if (dense) {
      dz.set(step(top, hk));
      if (topAct) K.mulColSumAdd(dz, topAct, B, hk, grads[2 * (k - 1) + 1]);
    } else if (topAct) {
      K.pairSignalAct(rowCoef!.subarray(r, r + B), pos, woutT!, topAct, B, hk, dz, grads[2 * (k - 1) + 1]);
    } else K.pairSignal(rowCoef!.subarray(r, r + B), pos, woutT!, B, hk, dz);
    for (let l = k - 1; l > 0; l--) {
      const h = hidden[l], nin = net.sizes[l];
      gemm.gemm(true, false, nin, h, B, step(c.acts[l - 1], nin), dz, grads[2 * l], 1);
      gemm.gemm(false, true, B, nin, h, dz, net.W[l], next, 0);
      if (l > 1) K.mulColSumAdd(next, step(c.dacts[l - 1], nin), B, nin, grads[2 * (l - 1) + 1]);
      [dz, next] = [next, dz];
    }
    K.stateGradStep(dz, step(c.dacts[0], h0), pos, val, B, h0, acc, grads[0], grads[1]);
  }
}

/** Per row r: scale(r)·g_r (scale per trajectory, r mod B, or per row; null = 1). */
function rowCoefficients(
  batch: TrajBatch,
  scale: ArrayLike<number> | null,
  F: Float32ArrayConstructor | Float64ArrayConstructor,
): Vec {
  const { B } = batch, rows = batch.g.length;
  const out = allocRaw(F, rows);
  if (!scale) out.set(batch.g);
  else {
    const perRow = scale.length === rows;
    for (let r = 0; r < rows; r++) out[r] = scale[perRow ? r : r % B] * batch.g[r];
  }
  return out;
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
  const K = kernelsOf(gemm);
  const F = ctorOf(net);
  const k = net.sizes.length - 2;
  const B = batch.B, rows = D * B;
  const perRow = coef.length === rows;
  if (!perRow && coef.length !== B) {
    throw new RangeError(`coef: length B = ${B} or D·B = ${rows}, got ${coef.length}`);
  }
  // output layer: only columns 2d, 2d+1 of each row get a gradient; bias gradients are column sums
  const hk = net.sizes[k];
  const dbout = grads[2 * k + 1];
  const top = c.acts[k - 1];
  let rowCoef: Vec | null = null; // per row coef·g (sparse output)
  if (denseOutput(pol, gemm)) {
    const dOut = denseOutputGrad(batch, coef, F);
    gemm.gemm(true, false, hk, 2 * D, rows, top, dOut, grads[2 * k], 1);
    K.colSumAdd(dOut, rows, 2 * D, dbout);
  } else {
    rowCoef = rowCoefficients(batch, coef, F);
    K.pairGrad(rowCoef, batch.pos, top, rows, hk, D, grads[2 * k], dbout);
  }
  // hidden layers: dW_l += A_lᵀ (coef ⊙ δ_l), db_l += Σ_rows (coef ⊙ δ_l)
  const unit = c.dZ;
  if (!unit && D > 1) return sharedBackward(pol, gemm, batch, coef, rowCoef, grads);
  // without unit signals the bias gradients are summed inside the backward chain (mulColSumAdd)
  const dZ = unit ??
    backpropSignals(pol, gemm, batch, coef, net.sizes.slice(1, k + 1).map((_, l) => grads[2 * l + 1]));
  const coefV = unit ? asVec(coef) : null;
  // the t = 1 rows' distinct states (secondStepForward), for the hidden weight gradients
  const groups = D > 1 && k > 1 ? stateGroups(batch.pos, batch.val, B, D) : null;
  for (let l = 0; l < k; l++) {
    const h = net.sizes[l + 1];
    let signal = dZ[l];
    if (unit && coefV) {
      signal = allocRaw(F, rows * h);
      K.scaleRows(unit[l], coefV, perRow ? rows : B, rows, h, signal);
    }
    if (unit) K.colSumAdd(signal, rows, h, grads[2 * l + 1]);
    // the first layer's input is the state: its gradient from the set entries, not a GEMM with X (stateGrad)
    if (l === 0) K.stateGrad(signal, batch.pos, batch.val, D, B, h, grads[0]);
    else {
      // rows t = 0 share one input row a (all in s₀ = 0, see firstStepForward): Σ_{b} a ⊗ δ_b = a ⊗ Σ_b δ_b
      const nin = net.sizes[l], input = c.acts[l - 1];
      const first = alloc(F, h);
      K.colSumAdd(signal, B, h, first);
      gemm.gemm(true, false, nin, h, 1, input, first, grads[2 * l], 1);
      // rows t = 1 share an input row per distinct state (secondStepForward): Σ_u a_u ⊗ (Σ_{b in u} δ_b)
      let done = B;
      if (groups && groups.U < B) {
        const { U, group, rep } = groups;
        const ac = allocRaw(F, B * nin), sc = alloc(F, B * h);
        for (let u = 0; u < U; u++) {
          ac.set(input.subarray((B + rep[u]) * nin, (B + rep[u] + 1) * nin), u * nin);
        }
        for (let b = 0; b < B; b++) {
          const o = group[b] * h, r = (B + b) * h;
          for (let j = 0; j < h; j++) sc[o + j] += signal[r + j];
        }
        gemm.gemm(true, false, nin, h, U, ac, sc, grads[2 * l], 1);
        done = 2 * B;
      }
      if (rows > done) {
        const rest = rows - done;
        gemm.gemm(
          true,
          false,
          nin,
          h,
          rest,
          input.subarray(done * nin),
          signal.subarray(done * h),
          grads[2 * l],
          1,
        );
      }
    }
  }
}

function asVec(v: ArrayLike<number>): Vec {
  return v instanceof Float64Array || v instanceof Float32Array ? v : Float64Array.from(v);
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
  const K = kernelsOf(gemm);
  const h: Vec[] = [];
  for (let l = 0; l <= k; l++) h.push(alloc(F, net.sizes[l] * net.sizes[l + 1]), alloc(F, net.sizes[l + 1]));
  const inputs = [null, ...c.acts.slice(0, k - 1)]; // layer 0: stateGrad from pos/val, no state rows
  const gatherIn = inputs.map((_, l) => allocRaw(F, l === 0 ? 0 : T * net.sizes[l]));
  const gatherZ = dZ.map((_, l) => allocRaw(F, T * net.sizes[l + 1]));
  const hk = net.sizes[k], top = c.acts[k - 1], out = 2 * D;
  const sPos = alloc(Int32Array, T), sVal = alloc(Int8Array, T);
  for (let s = 0; s < B; s++) {
    for (let t = 0; t < T; t++) {
      sPos[t] = batch.pos[t * B + s];
      sVal[t] = batch.val[t * B + s];
    }
    for (let l = 0; l < k; l++) {
      const nin = net.sizes[l], nout = net.sizes[l + 1];
      const gi = gatherIn[l], gz = gatherZ[l], src = inputs[l], dz = dZ[l];
      const db = h[2 * l + 1];
      db.fill(0);
      for (let t = 0; t < T; t++) {
        const r = t * B + s;
        if (src) gi.set(src.subarray(r * nin, (r + 1) * nin), t * nin);
        gz.set(dz.subarray(r * nout, (r + 1) * nout), t * nout);
      }
      K.colSumAdd(gz, T, nout, db);
      if (l > 0) gemm.gemm(true, false, nin, nout, T, gi, gz, h[2 * l], 0);
      else {
        // the state inputs of trajectory s: its gradient from the set entries (stateGrad), not a GEMM
        h[0].fill(0);
        K.stateGrad(gz, sPos, sVal, T, 1, nout, h[0]);
      }
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
