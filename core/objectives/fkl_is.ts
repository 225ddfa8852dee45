/**
 * Forward KL from forward samples by self-normalised importance sampling (for when no data exists).
 *   KL(P‖Q) = E_P[log P − log Q],   ∇_φ KL(P‖Q) = −E_P[h] = −E_Q[(P/Q) h] = −E_Q[w h] / E_Q[w],
 * with w = P̃/Q, h = ∇_φ log Q (E_Q[w] = Z, so the unnormalised weights need no log Z). From N forward samples:
 *   ĝ = −Σ_i (ŵ_i − 1/N) h_i,   ŵ_i = softmax_i(log w)
 * (the 1/N baseline has zero mean). Biased, O(1/N), like any self-normalised estimate. It is the α → 0 limit of
 * the Rényi coefficients divided by α: α/(α−1)/α → −1 and softmax((1−α) log w) → softmax(log w).
 */
import { centredSoftmax } from "./renyi.ts";

/** Per-trajectory coefficients on log q_φ: −weight · (softmax_i(log w) − 1/N). */
export function fklIsCoefficients(logw: ArrayLike<number>, weight = 1): Float64Array {
  return centredSoftmax(logw, 1, -weight);
}
