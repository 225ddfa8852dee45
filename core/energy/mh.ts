/**
 * Back-and-forth Metropolis–Hastings chains with GFlowNet proposals (GFlowNet-EBM, Zhang et al. 2022; the
 * negative samples of contrastive divergence, docs/math.md §"Tasks").
 *
 * One step from x: delete K uniformly chosen entries (a uniformly random ordered K-subset σ — K backward steps
 * of the uniform P_B) to get s; re-add them with the forward policy along a sampled order ρ, giving x'. Accept
 * with probability a(log r), log r = log π̃(x') − log π̃(x) + log P_F(s → x) − log P_F(s → x'), where
 * log P_F(s → x') is the value log-probability along ρ and log P_F(s → x) is x's deleted values re-added in the
 * reverse deletion order σ_K, …, σ_1 (teacher forcing from s). The position factors 1/(D − |s|) and the
 * P_B factors are the same for both directions and cancel.
 *
 * Why this is exact: the reverse move of (σ, ρ) from x is (rev ρ, rev σ) from x', a bijection with equal
 * probability of the deletion orders; with a(l) = σ(l) (Barker) or min(1, e^l) (MH), a(l) = e^l a(−l), so
 * π̃(x) U(σ) P_F(ρ, x'|s) a(log r) is symmetric: detailed balance, π̃ is invariant for every K and policy.
 */
import type { Gemm } from "../nn/gemm.ts";
import { type Policy, runTrajectories } from "../gfn/trajectories.ts";
import type { Rng } from "../rng.ts";

/** Acceptance rule of the back-and-forth MH chains: Barker σ(log r) or Metropolis–Hastings min(1, r). */
export const MH_RULES = ["barker", "mh"] as const;
export type MhRule = typeof MH_RULES[number];

/** K at (0-based) step of steps_total: max(1, min(D, ⌊D·(step+1)/steps_total⌋)) (reference schedule). */
export function scheduledK(D: number, step: number, stepsTotal: number): number {
  return Math.max(1, Math.min(D, Math.floor(D * (step + 1) / stepsTotal)));
}

/** Acceptance probability of log-ratio l. */
export function acceptProb(rule: MhRule, l: number): number {
  if (rule === "mh") return l >= 0 ? 1 : Math.exp(l);
  return l >= 0 ? 1 / (1 + Math.exp(-l)) : Math.exp(l) / (1 + Math.exp(l));
}

export interface MhResult {
  /** The chains' states after the step (B × D). */
  x: Int8Array;
  /** The proposals x' (B × D). */
  proposal: Int8Array;
  /** log r per chain. */
  logRatio: Float64Array;
  accepted: number;
}

/**
 * One back-and-forth MH step for B chains at x (B × D, ±1), K entries deleted and re-added. `logProb` is the
 * target's log π̃ (e.g. the current energy).
 */
export function backForthStep(
  pol: Policy,
  gemm: Gemm,
  logProb: (x: Int8Array, n: number) => Float64Array,
  x: Int8Array,
  B: number,
  K: number,
  rng: Rng,
  rule: MhRule = "barker",
): MhResult {
  const D = pol.D;
  if (!(Number.isInteger(K) && K >= 1 && K <= D)) {
    throw new RangeError(`K must be an integer in [1, ${D}], got ${K}`);
  }
  const start = x.slice(0, B * D);
  const order = new Int32Array(B * D);
  const perm = new Int32Array(D);
  for (let b = 0; b < B; b++) {
    rng.permutation(perm); // σ = perm[0..K): deleted first to last
    for (let i = 0; i < K; i++) {
      start[b * D + perm[i]] = 0;
      order[b * D + D - K + i] = perm[K - 1 - i]; // re-add in reverse deletion order
    }
  }
  const fwd = runTrajectories(pol, gemm, B, rng, { cache: false, start });
  const back = runTrajectories(pol, gemm, B, rng, { cache: false, start, given: { x, order } });
  const lpNew = logProb(fwd.x, B), lpOld = logProb(x, B);
  const out = x.slice(0, B * D);
  const logRatio = new Float64Array(B);
  let accepted = 0;
  for (let b = 0; b < B; b++) {
    const l = lpNew[b] - lpOld[b] + back.logq[b] - fwd.logq[b];
    logRatio[b] = l;
    if (rng.uniform() < acceptProb(rule, l)) {
      out.set(fwd.x.subarray(b * D, (b + 1) * D), b * D);
      accepted++;
    }
  }
  return { x: out, proposal: fwd.x, logRatio, accepted };
}
