/**
 * A generic discrete-action GFlowNet runner: environments with a masked action set, variable-length trajectories
 * ending with a stop action (hypergrid, …). The policy is an MLP over state encodings with one logit per action;
 * P_F(a|s) = softmax over the valid actions. Its backward pass shares `hiddenBackward` (core/nn/backprop.ts) with
 * every other network; the bit-vector path (core/gfn/trajectories.ts) keeps its specialised kernels.
 * Rows are appended step by step over the trajectories still running (row(b, t) via `rowOf`).
 */
import type { Gemm, Vec } from "../nn/gemm.ts";
import { ctorOf, firstLayer, hiddenForward, maxOf, type Mlp, mlpForward, outputLayer } from "../nn/mlp.ts";
import { alloc, allocRaw } from "../nn/arena.ts";
import { forEachGroupGrad, mlpBackward, type MlpCache, mlpForwardCached } from "../nn/backprop.ts";
import type { Rng } from "../rng.ts";
import type { StepLayout } from "./batch.ts";
import { behaviourProbs, isIdentity, type StepBehaviour } from "./behaviour.ts";

export interface DiscreteEnv {
  readonly name: string;
  /** Width of the network input encoding of a state. */
  readonly inputDim: number;
  readonly nActions: number;
  /** Integers per state. */
  readonly stateSize: number;
  /** Upper bound on the number of actions in a trajectory (including stop). */
  readonly maxSteps: number;
  initialState(out: Int32Array): void;
  encode(state: Int32Array, out: Vec, offset: number): void;
  /** mask[a] = 1 where action a is allowed in `state`. */
  validActions(state: Int32Array, mask: Uint8Array): void;
  /** Applies the action in place; returns true when it terminated the trajectory (stop). */
  apply(state: Int32Array, action: number): boolean;
  /** log P_B(s | s') of the transition s → s' just taken with `action` (s' = stateAfter). */
  logBackward(stateAfter: Int32Array, action: number): number;
  /** log R of n terminal states (row-major n × stateSize). */
  logReward(states: Int32Array, n: number): Float64Array;
  /**
   * The forward actions (ending with stop) of a trajectory drawn backwards from the terminal state x by P_B:
   * what a replay buffer replays (core/gfn/replay.ts). Optional; environments without it have no replay.
   */
  backwardActions?(x: Int32Array, rng: Rng): number[];
  /**
   * Backward moves: mask[a] = 1 where `state` can be reached by the non-stop action a from a parent (the
   * parents of s are its backward moves; the stop transition into a terminal state has P_B = 1).
   */
  parentActions(state: Int32Array, mask: Uint8Array): void;
  /** Undoes the non-stop action a in place (state ← its parent). */
  revert(state: Int32Array, action: number): void;
  /** Whether `state` is the initial state s₀. */
  isInitial(state: Int32Array): boolean;
  /** n exact samples x ~ π (row-major n × stateSize), when the target can be sampled. */
  sampleData?(n: number, rng: Rng): Int32Array;
}

export interface DiscreteRunOptions {
  /** Draw actions from this per-step behaviour instead of P_F (core/gfn/behaviour.ts); logb is then kept. */
  behaviour?: StepBehaviour;
  /**
   * Teacher forcing: trajectory b takes the actions given[b·maxSteps + t] (t until the stop action) instead of
   * sampling; each must be valid where it is taken. A trajectory whose first entry is −1 is sampled. With a
   * behaviour, logb also holds the behaviour's log-probability of the given trajectories.
   */
  given?: Int32Array;
}

export interface DiscreteBatch {
  B: number;
  rows: number;
  /** Terminal states (B × stateSize). */
  x: Int32Array;
  /** Number of actions per trajectory. */
  len: Int32Array;
  /** Per row: trajectory, action, log P_F(a|s), log P_B(s|s'). */
  traj: Int32Array;
  action: Int32Array;
  logp: Float64Array;
  logPB: Float64Array;
  /** Per trajectory: Σ log P_F and Σ log P_B. */
  logq: Float64Array;
  logPBTraj: Float64Array;
  /** Per trajectory: Σ log β of the per-step behaviour; absent when that behaviour is P_F itself. */
  logb?: Float64Array;
  /** Row of step t of trajectory b at rowOf[b·maxSteps + t]. */
  rowOf: Int32Array;
  maxSteps: number;
  /** Per row: the state after the step (rows × stateSize; the learned backward policy reads it). */
  after: Int32Array;
  /** Network cache over all rows, masked softmax probabilities (rows × nActions). */
  cache: MlpCache;
  probs: Float64Array;
  mask: Uint8Array;
}

/** Masked softmax of one row of logits into probs (0 at invalid actions); returns log Σ exp over valid ones. */
function maskedSoftmax(
  logits: Vec,
  o: number,
  mask: Uint8Array,
  mo: number,
  n: number,
  probs: Float64Array,
  po: number,
) {
  let m = -Infinity;
  for (let a = 0; a < n; a++) if (mask[mo + a] && logits[o + a] > m) m = logits[o + a];
  let s = 0;
  for (let a = 0; a < n; a++) s += probs[po + a] = mask[mo + a] ? Math.exp(logits[o + a] - m) : 0;
  for (let a = 0; a < n; a++) probs[po + a] /= s;
  return m + Math.log(s);
}

/**
 * Samples B trajectories from P_F, or from a per-step behaviour, or follows given actions. One B-row forward pass
 * per step is also the cached pass: its inputs, activations and logits are the batch's rows (appended step by
 * step), so no second forward pass over all rows is needed; every per-row buffer is a typed array of capacity
 * B·maxSteps from the step arena (no JS arrays grown per row).
 */
export function runDiscrete(
  env: DiscreteEnv,
  net: Mlp,
  gemm: Gemm,
  B: number,
  rng: Rng,
  opts: DiscreteRunOptions = {},
): DiscreteBatch {
  const behaviour = isIdentity(opts.behaviour) ? undefined : opts.behaviour!;
  const given = opts.given;
  const logb = behaviour ? new Float64Array(B) : undefined;
  const F = ctorOf(net);
  const A = env.nActions, S = env.stateSize, I = env.inputDim, T = env.maxSteps;
  const k = net.sizes.length - 2;
  const hidden = net.sizes.slice(1, k + 1);
  const states = new Int32Array(B * S);
  for (let b = 0; b < B; b++) env.initialState(states.subarray(b * S, (b + 1) * S));
  const done = new Uint8Array(B), len = new Int32Array(B);
  const rowOf = new Int32Array(B * T).fill(-1);
  const cap = B * T;
  const X = allocRaw(F, cap * I), allMask = alloc(Uint8Array, cap * A);
  const traj = allocRaw(Int32Array, cap),
    action = allocRaw(Int32Array, cap),
    logPBRows = allocRaw(Float64Array, cap);
  const allProbs = alloc(Float64Array, cap * A), logpRows = allocRaw(Float64Array, cap);
  const logq = new Float64Array(B), logPBTraj = new Float64Array(B);
  const after = allocRaw(Int32Array, cap * S);
  const ids = alloc(Int32Array, B), probs = new Float64Array(A);
  // the network's rows, written in place step by step (rows of a step are contiguous): the backward cache
  const nOut = net.sizes[k + 1];
  const acts = hidden.map((h) => allocRaw(F, cap * h)), dacts = hidden.map((h) => allocRaw(F, cap * h));
  const outs = allocRaw(F, cap * nOut);
  const z0 = allocRaw(F, B * hidden[0]), scratch = allocRaw(F, B * maxOf(hidden));
  let active = B, rows = 0;
  for (let t = 0; active > 0; t++) {
    if (t >= T) throw new Error(`${env.name}: trajectory longer than maxSteps = ${T}`);
    let n = 0;
    for (let b = 0; b < B; b++) if (!done[b]) ids[n++] = b;
    const r0 = rows;
    for (let i = 0; i < n; i++) {
      const s = states.subarray(ids[i] * S, (ids[i] + 1) * S);
      env.encode(s, X, (r0 + i) * I);
      env.validActions(s, allMask.subarray((r0 + i) * A, (r0 + i + 1) * A));
    }
    firstLayer(net, gemm, X.subarray(r0 * I, (r0 + n) * I), n, z0);
    const rowsOf = (a: Vec, h: number) => a.subarray(r0 * h, (r0 + n) * h);
    const stepActs = acts.map((a, l) => rowsOf(a, hidden[l]));
    hiddenForward(net, gemm, z0, n, stepActs, dacts.map((a, l) => rowsOf(a, hidden[l])), scratch);
    const logits = rowsOf(outs, nOut);
    outputLayer(net, gemm, stepActs[k - 1], n, logits);
    for (let i = 0; i < n; i++) {
      const b = ids[i], r = r0 + i;
      const lse = maskedSoftmax(logits, i * A, allMask, r * A, A, allProbs, r * A);
      let a = -1;
      if (behaviour) behaviourProbs(logits, i * A, allMask, r * A, A, behaviour, probs, 0);
      else probs.set(allProbs.subarray(r * A, (r + 1) * A));
      if (given && given[b * T] >= 0) {
        a = given[b * T + t];
        if (!(a >= 0 && a < A && allMask[r * A + a])) {
          throw new RangeError(`${env.name}: given action ${a} of trajectory ${b} at step ${t} is not valid`);
        }
      } else {
        let u = rng.uniform();
        for (let k = 0; k < A; k++) {
          if (!allMask[r * A + k]) continue;
          a = k;
          u -= probs[k];
          if (u < 0) break;
        }
      }
      if (logb) logb[b] += Math.log(probs[a]);
      rowOf[b * T + t] = r;
      traj[r] = b;
      action[r] = a;
      logpRows[r] = logits[i * A + a] - lse;
      logq[b] += logpRows[r];
      const s = states.subarray(b * S, (b + 1) * S);
      const stop = env.apply(s, a);
      logPBRows[r] = env.logBackward(s, a);
      after.set(s, r * S);
      logPBTraj[b] += logPBRows[r];
      len[b] = t + 1;
      if (stop) {
        done[b] = 1;
        active--;
      }
    }
    rows += n;
  }
  return {
    B,
    rows,
    x: states,
    len,
    traj: traj.subarray(0, rows),
    action: action.subarray(0, rows),
    logp: logpRows.subarray(0, rows),
    logPB: logPBRows.subarray(0, rows),
    logq,
    logPBTraj,
    logb,
    rowOf,
    maxSteps: T,
    after: after.subarray(0, rows * S),
    cache: {
      n: rows,
      X: X.subarray(0, rows * I),
      acts: acts.map((a, l) => a.subarray(0, rows * hidden[l])),
      dacts: dacts.map((a, l) => a.subarray(0, rows * hidden[l])),
      out: outs.subarray(0, rows * nOut),
    },
    probs: allProbs.subarray(0, rows * A),
    mask: allMask.subarray(0, rows * A),
  };
}

/** The batch's row layout for per-step objectives (pg). */
export function discreteLayout(batch: DiscreteBatch): StepLayout {
  return {
    B: batch.B,
    rows: batch.rows,
    len: (b) => batch.len[b],
    row: (b, t) => batch.rowOf[b * batch.maxSteps + t],
  };
}

/**
 * grads += ∇_φ Σ coef · log P_F: per trajectory (length B) or per row (length rows).
 * ∂ log P_F(a|s)/∂ logit_{a'} = [a' = a] − softmax_{a'} over the valid actions.
 */
export function accumulateDiscreteGrads(
  net: Mlp,
  gemm: Gemm,
  batch: DiscreteBatch,
  coef: ArrayLike<number>,
  grads: Vec[],
): void {
  const { rows, B } = batch;
  const A = net.sizes[net.sizes.length - 1];
  const perRow = coef.length === rows;
  if (!perRow && coef.length !== B) throw new RangeError(`coef: length B = ${B} or rows = ${rows}`);
  const dOut = alloc(ctorOf(net), rows * A);
  for (let r = 0; r < rows; r++) {
    const c = coef[perRow ? r : batch.traj[r]];
    if (c === 0) continue;
    for (let a = 0; a < A; a++) dOut[r * A + a] = -c * batch.probs[r * A + a];
    dOut[r * A + batch.action[r]] += c;
  }
  mlpBackward(net, gemm, batch.cache, dOut, grads);
}

/** ∂ Σ coef · log P_F / ∂ logits: coef·([a' = a] − softmax_{a'}) per row (coef per trajectory or per row). */
function logitGrad(
  batch: DiscreteBatch,
  A: number,
  coef: ArrayLike<number> | null,
  F: Float32ArrayConstructor | Float64ArrayConstructor,
): Vec {
  const { rows, B } = batch;
  const perRow = coef !== null && coef.length === rows;
  if (coef !== null && !perRow && coef.length !== B) {
    throw new RangeError(`coef: length B = ${B} or rows = ${rows}`);
  }
  const dOut = new F(rows * A);
  for (let r = 0; r < rows; r++) {
    const c = coef === null ? 1 : coef[perRow ? r : batch.traj[r]];
    if (c === 0) continue;
    for (let a = 0; a < A; a++) dOut[r * A + a] = -c * batch.probs[r * A + a];
    dOut[r * A + batch.action[r]] += c;
  }
  return dOut;
}

/** The rows of each trajectory, in step order. */
function trajectoryRows(batch: DiscreteBatch): Int32Array[] {
  return Array.from(
    { length: batch.B },
    (_, b) => batch.rowOf.subarray(b * batch.maxSteps, b * batch.maxSteps + batch.len[b]),
  );
}

/** fn(s, h_s) with the per-trajectory score h_s = ∇_φ log P_F(τ_s) (per-layer outer products; one backward pass). */
export function forEachDiscreteScore(
  net: Mlp,
  gemm: Gemm,
  batch: DiscreteBatch,
  fn: (s: number, h: Vec[]) => void,
): void {
  const dOut = logitGrad(batch, net.sizes[net.sizes.length - 1], null, ctorOf(net));
  forEachGroupGrad(net, gemm, batch.cache, dOut, trajectoryRows(batch), fn);
}

/**
 * Backward trajectories from terminal states x (B × stateSize) under P_B: the stop transition (P_B = 1), then
 * parents drawn uniformly or from a learned backward policy `pb` (masked softmax over `parentActions`) until s₀.
 * Returns the forward actions (actions[b·maxSteps + t]) for teacher forcing with `runDiscrete`.
 */
export function sampleDiscreteBackward(
  env: DiscreteEnv,
  pb: Mlp | undefined,
  gemm: Gemm,
  x: Int32Array,
  B: number,
  rng: Rng,
): Int32Array {
  const S = env.stateSize, T = env.maxSteps, A = env.nActions, I = env.inputDim;
  const states = x.slice(0, B * S);
  const reversed: number[][] = Array.from({ length: B }, () => []);
  const mask = new Uint8Array(B * A);
  const F = pb ? ctorOf(pb) : Float64Array;
  const enc = new F(B * I), probs = new Float64Array(A);
  for (let step = 0; step < T; step++) {
    const ids: number[] = [];
    for (let b = 0; b < B; b++) if (!env.isInitial(states.subarray(b * S, (b + 1) * S))) ids.push(b);
    if (ids.length === 0) break;
    const n = ids.length;
    for (let i = 0; i < n; i++) {
      const s = states.subarray(ids[i] * S, (ids[i] + 1) * S);
      env.parentActions(s, mask.subarray(i * A, (i + 1) * A));
      if (pb) env.encode(s, enc, i * I);
    }
    const logits = pb ? mlpForward(pb, gemm, enc.subarray(0, n * I), n) : null;
    for (let i = 0; i < n; i++) {
      const b = ids[i];
      let a = -1;
      if (logits) {
        maskedSoftmax(logits, i * A, mask, i * A, A, probs, 0);
        let u = rng.uniform();
        for (let k = 0; k < A; k++) {
          if (!mask[i * A + k]) continue;
          a = k;
          u -= probs[k];
          if (u < 0) break;
        }
      } else {
        let count = 0;
        for (let k = 0; k < A; k++) count += mask[i * A + k];
        let j = rng.int(count);
        for (let k = 0; k < A; k++) {
          if (!mask[i * A + k]) continue;
          if (j-- === 0) {
            a = k;
            break;
          }
        }
      }
      reversed[b].push(a);
      env.revert(states.subarray(b * S, (b + 1) * S), a);
    }
  }
  const stop = A - 1;
  const actions = new Int32Array(B * T).fill(-1);
  for (let b = 0; b < B; b++) {
    const r = reversed[b];
    if (r.length + 1 > T) throw new Error(`${env.name}: backward trajectory longer than maxSteps = ${T}`);
    for (let t = 0; t < r.length; t++) actions[b * T + t] = r[r.length - 1 - t];
    actions[b * T + r.length] = stop;
  }
  return actions;
}

/** A learned P_B(θ) on a discrete batch: per row log P_B(s_t | s_{t+1}; θ) (0 at the stop row) and its gradient. */
export interface DiscreteBackwardEval {
  logPBRows: Float64Array;
  logPB: Float64Array;
  accumulate(coef: ArrayLike<number>, grads: Vec[]): void;
}

/**
 * Evaluates a learned backward policy (state → one logit per action, softmax over `parentActions` of s_{t+1})
 * on every non-stop transition of the batch. ∂ log P_B/∂ logit_j = [j = a] − softmax_j.
 */
export function evaluateDiscreteBackward(
  env: DiscreteEnv,
  pb: Mlp,
  gemm: Gemm,
  batch: DiscreteBatch,
): DiscreteBackwardEval {
  const S = env.stateSize, A = env.nActions, I = env.inputDim, stop = A - 1;
  const F = ctorOf(pb);
  const { rows, B } = batch;
  const X = new F(rows * I), mask = new Uint8Array(rows * A);
  for (let r = 0; r < rows; r++) {
    const s = batch.after.subarray(r * S, (r + 1) * S);
    env.encode(s, X, r * I);
    if (batch.action[r] !== stop) env.parentActions(s, mask.subarray(r * A, (r + 1) * A));
  }
  const cache = mlpForwardCached(pb, gemm, X, rows);
  const probs = new Float64Array(rows * A);
  const logPBRows = new Float64Array(rows), logPB = new Float64Array(B);
  for (let r = 0; r < rows; r++) {
    if (batch.action[r] === stop) continue;
    const lse = maskedSoftmax(cache.out, r * A, mask, r * A, A, probs, r * A);
    logPBRows[r] = cache.out[r * A + batch.action[r]] - lse;
    logPB[batch.traj[r]] += logPBRows[r];
  }
  return {
    logPBRows,
    logPB,
    accumulate(coef, grads) {
      const perRow = coef.length === rows;
      if (!perRow && coef.length !== B) throw new RangeError(`coef: length B = ${B} or rows = ${rows}`);
      const dOut = new F(rows * A);
      for (let r = 0; r < rows; r++) {
        const c = coef[perRow ? r : batch.traj[r]];
        if (c === 0 || batch.action[r] === stop) continue;
        for (let a = 0; a < A; a++) dOut[r * A + a] = -c * probs[r * A + a];
        dOut[r * A + batch.action[r]] += c;
      }
      mlpBackward(pb, gemm, cache, dOut, grads);
    },
  };
}
