/**
 * Exact evaluation for small D (DESIGN §5): push probability through the DAG of all 3^D states in order of |s|.
 * F(s₀) = 1, F(s') += F(s)·P_F(s'|s) with P_F = p_φ(v|s,d)/(D−|s|); the terminal marginal is Q_T(x) = F(x).
 *   E_Q[log q] = Σ_s F(s)/(D−|s|) Σ_{d unset} Σ_v p log p,
 *   E_Q[log w] = Σ_x Q_T(x) log R(x) − E_Q[log q],
 *   KL(Q‖P) (trajectories) = log Z − E_Q[log w],  KL(Q_T‖π), TV(Q_T, π) over terminal states.
 * Terminal index: bit d of the index is set when x_d = +1.
 */
import type { Gemm } from "../nn/gemm.ts";
import { ctorOf, mlpForward } from "../nn/mlp.ts";
import type { Policy } from "../gfn/trajectories.ts";
import { logSigmoid } from "../gfn/trajectories.ts";
import type { BitTask } from "../tasks/task.ts";
import { logSumExp } from "../math.ts";

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
}

/** The exact terminal marginal of the forward policy and E_Q[log q] by dynamic programming over 3^D states. */
export function exactForward(pol: Policy, gemm: Gemm, chunk = 4096): ExactForward {
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
  for (let c = 0; c < nStates; c++) layers[layerOf[c]][fill[layerOf[c]]++] = c;

  const flow = new Float64Array(nStates);
  flow[0] = 1;
  let eLogq = 0;
  for (let t = 0; t < D; t++) {
    const states = layers[t];
    for (let start = 0; start < states.length; start += chunk) {
      const n = Math.min(chunk, states.length - start);
      const X = new F(n * D);
      for (let i = 0; i < n; i++) {
        let r = states[start + i];
        for (let d = 0; d < D; d++, r = (r / 3) | 0) X[i * D + d] = r % 3 === 0 ? 0 : r % 3 === 1 ? -1 : 1;
      }
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
  return { qT, eLogq };
}

export interface ExactMetrics {
  exact_log_z: number;
  exact_e_logw: number;
  /** Trajectory-level KL(Q‖P) = log Z − E_Q[log w] ≥ 0. */
  exact_kl: number;
  exact_kl_terminal: number;
  exact_tv: number;
}

/** `forward` may be passed when the caller already ran the DP for this policy (it is the expensive part). */
export function exactMetrics(
  pol: Policy,
  gemm: Gemm,
  target: ExactTarget,
  forward: ExactForward = exactForward(pol, gemm),
): ExactMetrics {
  const { qT, eLogq } = forward;
  let eLogR = 0, klT = 0, tv = 0;
  for (let i = 0; i < qT.length; i++) {
    const q = qT[i], logPi = target.logR[i] - target.logZ;
    eLogR += q * target.logR[i];
    if (q > 0) klT += q * (Math.log(q) - logPi);
    tv += Math.abs(q - Math.exp(logPi));
  }
  const eLogw = eLogR - eLogq;
  return {
    exact_log_z: target.logZ,
    exact_e_logw: eLogw,
    exact_kl: target.logZ - eLogw,
    exact_kl_terminal: klT,
    exact_tv: tv / 2,
  };
}
