/**
 * Exact evaluation for small D (docs/math.md §"Metrics"): push probability through the DAG of all 3^D states in order of |s|.
 * F(s₀) = 1, F(s') += F(s)·P_F(s'|s) with P_F = p_φ(v|s,d)/(D−|s|); the terminal marginal is Q_T(x) = F(x).
 *   E_Q[log q] = Σ_s F(s)/(D−|s|) Σ_{d unset} Σ_v p log p,
 *   E_Q[log w] = Σ_x Q_T(x) log R(x) + E_Q[log P_B(τ|x)] + log D! − E_Q[log q]   (the middle terms cancel
 *   under the uniform P_B),
 *   KL(Q‖P) (trajectories) = log Z − E_Q[log w],  KL(Q_T‖π), TV(Q_T, π) over terminal states.
 * Terminal index: bit d of the index is set when x_d = +1.
 */
import type { Gemm, Vec } from "../nn/gemm.ts";
import { ctorOf, type Mlp, mlpForward } from "../nn/mlp.ts";
import type { Policy } from "../gfn/trajectories.ts";
import { logSigmoid } from "../gfn/trajectories.ts";
import type { BitTask } from "../tasks/task.ts";
import { logFactorial, logSumExp } from "../math.ts";

export const MAX_EXACT_D = 12;

export interface ExactTarget {
  D: number;
  /** log R(x) for every terminal index. */
  logR: Float64Array;
  logZ: number;
}

/** Enumerates log R over all 2^D terminal states. */
export function exactTarget(task: BitTask): ExactTarget {
  const D = task.D;
  if (D > 20) throw new RangeError(`exact target needs D ≤ 20, got ${D}`);
  const n = 1 << D;
  const x = new Int8Array(n * D);
  for (let i = 0; i < n; i++) for (let d = 0; d < D; d++) x[i * D + d] = (i >> d) & 1 ? 1 : -1;
  const logR = task.logReward(x, n);
  return { D, logR, logZ: logSumExp(logR) };
}

export interface ExactForward {
  /** Q_T(x) for every terminal index. */
  qT: Float64Array;
  /** E_Q[log q_φ(τ)] = E_Q[Σ_t log p_φ(v_t|s_t,d_t)]. */
  eLogq: number;
  /**
   * With a learned backward policy: E_Q[log P_B(τ|x; θ)] + log D! (the uniform P_B's value, −log D!, is the
   * reference 0 of the log w convention; absent = uniform P_B).
   */
  eLogPB?: number;
}

/**
 * The exact terminal marginal of the forward policy and E_Q[log q] by dynamic programming over 3^D states; with
 * a learned backward policy `pb` also E_Q[log P_B(τ|x; θ)] = Σ_{s→s'} F(s)·P_F(s'|s)·log P_B(s|s'; θ).
 */
export function exactForward(pol: Policy, gemm: Gemm, pb?: Mlp, chunk = 4096): ExactForward {
  const { net, D } = pol;
  if (D > MAX_EXACT_D) throw new RangeError(`exact mode needs D ≤ ${MAX_EXACT_D}, got ${D}`);
  const F = ctorOf(net);
  const nStates = 3 ** D;
  const pow3 = new Int32Array(D);
  for (let d = 0, p = 1; d < D; d++, p *= 3) pow3[d] = p;
  // group states by the number of set entries (digit 0 = unset, 1 = −1, 2 = +1)
  const layerOf = new Uint8Array(nStates);
  const counts = new Int32Array(D + 1);
  for (let c = 0; c < nStates; c++) {
    let t = 0;
    for (let r = c; r > 0; r = (r / 3) | 0) if (r % 3 !== 0) t++;
    layerOf[c] = t;
    counts[t]++;
  }
  const layers: Int32Array[] = Array.from({ length: D + 1 }, (_, t) => new Int32Array(counts[t]));
  const fill = new Int32Array(D + 1);
  const slot = new Int32Array(nStates); // index of a state within its layer
  for (let c = 0; c < nStates; c++) {
    slot[c] = fill[layerOf[c]];
    layers[layerOf[c]][fill[layerOf[c]]++] = c;
  }
  const decode = (c: number, X: Vec, o: number) => {
    for (let d = 0, r = c; d < D; d++, r = (r / 3) | 0) X[o + d] = r % 3 === 0 ? 0 : r % 3 === 1 ? -1 : 1;
  };
  let eLogPB = 0;

  const flow = new Float64Array(nStates);
  flow[0] = 1;
  let eLogq = 0;
  for (let t = 0; t < D; t++) {
    const states = layers[t];
    const logPBNext = pb ? backwardLogProbs(pb, gemm, layers[t + 1], D, decode, chunk) : null;
    for (let start = 0; start < states.length; start += chunk) {
      const n = Math.min(chunk, states.length - start);
      const X = new F(n * D);
      for (let i = 0; i < n; i++) decode(states[start + i], X, i * D);
      const logits = mlpForward(net, gemm, X, n);
      for (let i = 0; i < n; i++) {
        const c = states[start + i];
        const f = flow[c] / (D - t);
        if (f === 0) continue;
        for (let d = 0; d < D; d++) {
          if (X[i * D + d] !== 0) continue;
          const diff = logits[i * 2 * D + 2 * d + 1] - logits[i * 2 * D + 2 * d];
          const lpPlus = logSigmoid(diff), lpMinus = logSigmoid(-diff);
          const pPlus = Math.exp(lpPlus), pMinus = Math.exp(lpMinus);
          flow[c + pow3[d]] += f * pMinus;
          flow[c + 2 * pow3[d]] += f * pPlus;
          eLogq += f * (pPlus * lpPlus + pMinus * lpMinus);
          if (logPBNext) {
            eLogPB += f *
              (pMinus * logPBNext[slot[c + pow3[d]] * D + d] +
                pPlus * logPBNext[slot[c + 2 * pow3[d]] * D + d]);
          }
        }
      }
    }
  }
  const qT = new Float64Array(1 << D);
  for (let i = 0; i < qT.length; i++) {
    let c = 0;
    for (let d = 0; d < D; d++) c += ((i >> d) & 1 ? 2 : 1) * pow3[d];
    qT[i] = flow[c];
  }
  return pb ? { qT, eLogq, eLogPB: eLogPB + logFactorial(D) } : { qT, eLogq };
}

/** log P_B(delete d | s'; θ) for the states s' of one layer (rows = slot in the layer, D columns). */
function backwardLogProbs(
  pb: Mlp,
  gemm: Gemm,
  states: Int32Array,
  D: number,
  decode: (c: number, X: Vec, o: number) => void,
  chunk: number,
): Float64Array {
  const F = ctorOf(pb);
  const out = new Float64Array(states.length * D);
  for (let start = 0; start < states.length; start += chunk) {
    const n = Math.min(chunk, states.length - start);
    const X = new F(n * D);
    for (let i = 0; i < n; i++) decode(states[start + i], X, i * D);
    const logits = mlpForward(pb, gemm, X, n);
    for (let i = 0; i < n; i++) {
      const o = i * D;
      let m = -Infinity;
      for (let d = 0; d < D; d++) if (X[o + d] !== 0 && logits[o + d] > m) m = logits[o + d];
      let z = 0;
      for (let d = 0; d < D; d++) if (X[o + d] !== 0) z += Math.exp(logits[o + d] - m);
      const lse = m + Math.log(z);
      for (let d = 0; d < D; d++) out[(start + i) * D + d] = X[o + d] !== 0 ? logits[o + d] - lse : -Infinity;
    }
  }
  return out;
}

export interface ExactMetrics {
  exact_log_z: number;
  exact_e_logw: number;
  /** Trajectory-level KL(Q‖P) = log Z − E_Q[log w] ≥ 0. */
  exact_kl: number;
  exact_kl_terminal: number;
  exact_tv: number;
  /** Jensen–Shannon divergence between Q_T and π (nats). */
  exact_jsd: number;
}

/** `forward` may be passed when the caller already ran the DP for this policy (it is the expensive part). */
export function exactMetrics(
  pol: Policy,
  gemm: Gemm,
  target: ExactTarget,
  forward: ExactForward = exactForward(pol, gemm),
): ExactMetrics {
  const { qT, eLogq } = forward;
  // log w = log R + (log P_B(τ|x) + log D!) − log q_φ; the bracket is 0 under the uniform P_B
  const eLogPB = forward.eLogPB ?? 0;
  let eLogR = 0, klT = 0, tv = 0, jsd = 0;
  for (let i = 0; i < qT.length; i++) {
    const q = qT[i], logPi = target.logR[i] - target.logZ, pi = Math.exp(logPi);
    eLogR += q * target.logR[i];
    if (q > 0) klT += q * (Math.log(q) - logPi);
    tv += Math.abs(q - pi);
    // JSD = ½KL(Q_T‖M) + ½KL(π‖M), M = (Q_T + π)/2
    const m = 0.5 * (q + pi);
    if (q > 0) jsd += 0.5 * q * Math.log(q / m);
    if (pi > 0) jsd += 0.5 * pi * Math.log(pi / m);
  }
  const eLogw = eLogR + eLogPB - eLogq;
  return {
    exact_log_z: target.logZ,
    exact_e_logw: eLogw,
    exact_kl: target.logZ - eLogw,
    exact_kl_terminal: klT,
    exact_tv: tv / 2,
    exact_jsd: jsd,
  };
}
