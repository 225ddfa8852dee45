/**
 * Hypergrid (Bengio et al. 2021; the companion papers' benchmark): states x ∈ {0, …, H−1}^d, s₀ = 0; an action
 * increments one coordinate (if < H−1) or stops. Backward policy: uniform over the parents of a non-terminal
 * state (the coordinates that are > 0); the stop transition has P_B = 1. Standard reward with
 * u_i = |x_i/(H−1) − 0.5|:
 *   R(x) = R0 + R1·Π_i [0.25 < u_i ≤ 0.5] + R2·Π_i [0.3 < u_i < 0.4]   (R0 = 1e-3, R1 = 0.5, R2 = 2).
 * Modes are the states of maximal reward R0 + R1 + R2 (2^d of them for H = 8). Exact evaluation enumerates the
 * H^d states in order of Σ_i x_i and pushes probability through the DAG.
 */
import type { Gemm, Vec } from "../nn/gemm.ts";
import { ctorOf, type Mlp, mlpForward } from "../nn/mlp.ts";
import type { DiscreteEnv } from "../gfn/discrete.ts";
import { logSumExp } from "../math.ts";

export interface HypergridParams {
  d: number;
  H: number;
  R0: number;
  R1: number;
  R2: number;
}

export interface Hypergrid extends DiscreteEnv {
  readonly params: HypergridParams;
  /** Number of states H^d. */
  readonly nStates: number;
  /** Index Σ_i x_i H^i of a state. */
  index(state: ArrayLike<number>, offset?: number): number;
  /** log R for every state index. */
  readonly logR: Float64Array;
  readonly logZ: number;
  /** Indices of the modes (maximal reward). */
  readonly modes: Int32Array;
}

export function hypergrid(p: HypergridParams): Hypergrid {
  const { d, H } = p;
  if (d < 1 || H < 2) throw new RangeError(`hypergrid needs d ≥ 1 and H ≥ 2, got d = ${d}, H = ${H}`);
  const nStates = H ** d;
  if (nStates > 1 << 22) throw new RangeError(`hypergrid H^d = ${nStates} states is too large to enumerate`);
  const reward = (x: ArrayLike<number>, o: number) => {
    let all1 = true, all2 = true;
    for (let i = 0; i < d; i++) {
      const u = Math.abs(x[o + i] / (H - 1) - 0.5);
      if (!(u > 0.25 && u <= 0.5)) all1 = false;
      if (!(u > 0.3 && u < 0.4)) all2 = false;
    }
    return p.R0 + (all1 ? p.R1 : 0) + (all2 ? p.R2 : 0);
  };
  const index = (x: ArrayLike<number>, o = 0) => {
    let idx = 0;
    for (let i = d - 1; i >= 0; i--) idx = idx * H + x[o + i];
    return idx;
  };
  const logR = new Float64Array(nStates);
  const coords = new Int32Array(d);
  let maxR = -Infinity;
  for (let s = 0; s < nStates; s++) {
    for (let i = 0, r = s; i < d; i++, r = Math.floor(r / H)) coords[i] = r % H;
    logR[s] = Math.log(reward(coords, 0));
    maxR = Math.max(maxR, logR[s]);
  }
  const logZ = logSumExp(logR);
  // cumulative π over state indices: the exact sampler of `sampleData`
  const cdf = new Float64Array(nStates);
  for (let s = 0, acc = 0; s < nStates; s++) cdf[s] = acc += Math.exp(logR[s] - logZ);
  const modes = Int32Array.from([...logR.keys()].filter((s) => logR[s] >= maxR - 1e-12));
  return {
    name: `hypergrid(d=${d},H=${H})`,
    params: { ...p },
    inputDim: d * H,
    nActions: d + 1,
    stateSize: d,
    maxSteps: d * (H - 1) + 1,
    nStates,
    index,
    logR,
    logZ,
    modes,
    initialState: (out) => out.fill(0),
    encode(state, out, offset) {
      out.fill(0, offset, offset + d * H);
      for (let i = 0; i < d; i++) out[offset + i * H + state[i]] = 1;
    },
    validActions(state, mask) {
      for (let i = 0; i < d; i++) mask[i] = state[i] < H - 1 ? 1 : 0;
      mask[d] = 1;
    },
    apply(state, action) {
      if (action === d) return true;
      state[action]++;
      return false;
    },
    parentActions(state, mask) {
      for (let i = 0; i < d; i++) mask[i] = state[i] > 0 ? 1 : 0;
      mask[d] = 0;
    },
    revert(state, action) {
      if (action === d || state[action] === 0) {
        throw new RangeError(`hypergrid: action ${action} has no parent`);
      }
      state[action]--;
    },
    isInitial(state) {
      for (let i = 0; i < d; i++) if (state[i] !== 0) return false;
      return true;
    },
    sampleData(n, rng) {
      const out = new Int32Array(n * d);
      for (let b = 0; b < n; b++) {
        const u = rng.uniform();
        let lo = 0, hi = nStates - 1;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (cdf[mid] > u) hi = mid;
          else lo = mid + 1;
        }
        for (let i = 0, r = lo; i < d; i++, r = Math.floor(r / H)) out[b * d + i] = r % H;
      }
      return out;
    },
    logBackward(stateAfter, action) {
      if (action === d) return 0;
      let parents = 0;
      for (let i = 0; i < d; i++) if (stateAfter[i] > 0) parents++;
      return -Math.log(parents);
    },
    logReward(states, n) {
      const out = new Float64Array(n);
      for (let b = 0; b < n; b++) out[b] = logR[index(states, b * d)];
      return out;
    },
    backwardActions(x, rng) {
      // P_B: a uniformly chosen coordinate > 0 is decremented, back to s₀; the forward actions are the reverse
      const s = Int32Array.from(x.subarray(0, d));
      const back: number[] = [];
      const parents: number[] = [];
      for (;;) {
        parents.length = 0;
        for (let i = 0; i < d; i++) if (s[i] > 0) parents.push(i);
        if (parents.length === 0) break;
        const i = parents[rng.int(parents.length)];
        s[i]--;
        back.push(i);
      }
      return [...back.reverse(), d];
    },
  };
}

export interface HypergridExact {
  /** Q_T over state indices. */
  qT: Float64Array;
  exact_log_z: number;
  /** E_Q[log w] = E_Q[log R(x) + log P_B(τ|x) − log P_F(τ)]. */
  exact_e_logw: number;
  exact_kl: number;
  exact_kl_terminal: number;
  exact_tv: number;
  exact_jsd: number;
}

/** log P_B(s | s') for every state s' and parent action a (table n × A; −∞ where a is no parent move). */
function learnedBackwardTable(env: Hypergrid, pb: Mlp, gemm: Gemm, X: Vec, states: Int32Array): Float64Array {
  const n = env.nStates, A = env.nActions, d = env.params.d;
  const logits = mlpForward(pb, gemm, X, n);
  const out = new Float64Array(n * A).fill(-Infinity);
  const mask = new Uint8Array(A);
  for (let s = 0; s < n; s++) {
    env.parentActions(states.subarray(s * d, (s + 1) * d), mask);
    const valid = [...mask.keys()].filter((a) => mask[a]);
    if (valid.length === 0) continue;
    const lse = logSumExp(valid.map((a) => logits[s * A + a]));
    for (const a of valid) out[s * A + a] = logits[s * A + a] - lse;
  }
  return out;
}

/**
 * Exact terminal marginal and divergences of the policy network on the hypergrid (DP over H^d states);
 * E_Q[log w] and the trajectory KL under the learned backward policy `pb` when given (uniform P_B otherwise).
 */
export function hypergridExact(env: Hypergrid, net: Mlp, gemm: Gemm, pb?: Mlp): HypergridExact {
  const { d, H } = env.params;
  const n = env.nStates, A = env.nActions, I = env.inputDim;
  const F = ctorOf(net);
  const X = new F(n * I);
  const states = new Int32Array(n * d), sums = new Int32Array(n);
  for (let s = 0; s < n; s++) {
    for (let i = 0, r = s; i < d; i++, r = Math.floor(r / H)) states[s * d + i] = r % H;
    for (let i = 0; i < d; i++) sums[s] += states[s * d + i];
    env.encode(states.subarray(s * d, (s + 1) * d), X, s * I);
  }
  const logits: Vec = mlpForward(net, gemm, X, n);
  // log P_B(s | s') of a non-stop move into s': uniform over parents, or the learned policy's masked softmax
  const logPBInto = pb ? learnedBackwardTable(env, pb, gemm, X, states) : null;
  const order = [...sums.keys()].sort((a, b) => sums[a] - sums[b]);
  const flow = new Float64Array(n), qT = new Float64Array(n);
  flow[0] = 1;
  const mask = new Uint8Array(A), stride = new Int32Array(d);
  for (let i = 0, m = 1; i < d; i++, m *= H) stride[i] = m;
  let eLogFB = 0; // E_Q[log P_F − log P_B]
  const after = new Int32Array(d);
  for (const s of order) {
    const f = flow[s];
    if (f === 0) continue;
    const st = states.subarray(s * d, (s + 1) * d);
    env.validActions(st, mask);
    let m = -Infinity;
    for (let a = 0; a < A; a++) if (mask[a] && logits[s * A + a] > m) m = logits[s * A + a];
    let z = 0;
    for (let a = 0; a < A; a++) if (mask[a]) z += Math.exp(logits[s * A + a] - m);
    const lz = m + Math.log(z);
    for (let a = 0; a < A; a++) {
      if (!mask[a]) continue;
      const lp = logits[s * A + a] - lz, p = Math.exp(lp);
      after.set(st);
      env.apply(after, a);
      const lb = logPBInto && a !== d ? logPBInto[(s + stride[a]) * A + a] : env.logBackward(after, a);
      eLogFB += f * p * (lp - lb);
      if (a === d) qT[s] += f * p;
      else flow[s + stride[a]] += f * p;
    }
  }
  let eLogR = 0, kl = 0, tv = 0, jsd = 0;
  for (let s = 0; s < n; s++) {
    const q = qT[s], pi = Math.exp(env.logR[s] - env.logZ);
    eLogR += q * env.logR[s];
    if (q > 0) kl += q * (Math.log(q) - Math.log(pi));
    tv += Math.abs(q - pi);
    const mix = 0.5 * (q + pi);
    if (q > 0) jsd += 0.5 * q * Math.log(q / mix);
    jsd += 0.5 * pi * Math.log(pi / mix);
  }
  const eLogw = eLogR - eLogFB;
  return {
    qT,
    exact_log_z: env.logZ,
    exact_e_logw: eLogw,
    exact_kl: env.logZ - eLogw,
    exact_kl_terminal: kl,
    exact_tv: tv / 2,
    exact_jsd: jsd,
  };
}
