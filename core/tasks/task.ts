import type { Rng } from "../rng.ts";

/**
 * A target over terminal bit vectors x ∈ {−1,+1}^D, given by its log-reward log R(x) (unnormalised).
 * Terminal batches are row-major Int8Array of shape B×D with entries ±1.
 */
export interface BitTask {
  /** Short name used in outputs, e.g. `ising(L=3,beta=0.4)`. */
  readonly name: string;
  readonly D: number;
  /** log R(x) for each of the B rows of `x`. */
  logReward(x: Int8Array, B: number): Float64Array;
  /** Exact log Z = log Σ_x R(x) when it is known (enumeration, transfer matrix, ...). */
  exactLogZ?(): number;
  /** Draw n exact samples x ~ π (row-major n×D) when the task has data or an exact sampler. */
  sampleData?(n: number, rng: Rng): Int8Array;
}
