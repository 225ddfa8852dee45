/**
 * A replay buffer of past terminal states (docs/offpolicy.md). It holds up to `capacity` *distinct* states (the
 * oldest is evicted first) with their log R, and draws from them by a rule whose probability B(x) is known
 * exactly, so the replay behaviour's log-density log β(τ) = log B(x) + log P_B(τ|x) can enter importance weights:
 *   uniform   B(x) = 1 / |buffer|
 *   reward    B(x) = R(x) / Σ_{x' ∈ buffer} R(x')
 * B(x) = 0 for a state not in the buffer. States are rows of any integer array (bit vectors, grid coordinates).
 */
import { logSumExp } from "../math.ts";
import type { Rng } from "../rng.ts";

type Row = Int8Array | Int32Array;

export class ReplayBuffer<S extends Row> {
  private readonly rows = new Map<string, { state: S; logR: number }>();

  constructor(
    readonly capacity: number,
    readonly sampling: "uniform" | "reward",
    readonly stateSize: number,
  ) {
    if (!(capacity >= 1)) throw new RangeError(`replay buffer capacity must be ≥ 1, got ${capacity}`);
  }

  get size(): number {
    return this.rows.size;
  }

  /** Adds the n states (row-major, n × stateSize) not already held; evicts the oldest beyond capacity. */
  add(states: S, logR: ArrayLike<number>, n: number): void {
    const k = this.stateSize;
    for (let b = 0; b < n; b++) {
      const state = states.slice(b * k, (b + 1) * k) as S;
      const key = keyOf(state);
      if (this.rows.has(key)) continue;
      this.rows.set(key, { state, logR: logR[b] });
      if (this.rows.size > this.capacity) this.rows.delete(this.rows.keys().next().value!);
    }
  }

  /** log B(x) of each of n states (−Infinity where absent). */
  logProb(states: S, n: number): Float64Array {
    const k = this.stateSize, out = new Float64Array(n).fill(-Infinity);
    if (this.rows.size === 0) return out;
    const norm = this.logNorm();
    for (let b = 0; b < n; b++) {
      const row = this.rows.get(keyOf(states.subarray(b * k, (b + 1) * k)));
      if (row) out[b] = this.sampling === "uniform" ? -norm : row.logR - norm;
    }
    return out;
  }

  /** n states drawn independently by the sampling rule, written row-major into out. Needs a non-empty buffer. */
  sample(n: number, rng: Rng, out: S): void {
    if (this.rows.size === 0) throw new Error("cannot sample from an empty replay buffer");
    const all = [...this.rows.values()];
    const k = this.stateSize;
    let cdf: Float64Array | null = null;
    if (this.sampling === "reward") {
      const norm = this.logNorm();
      cdf = new Float64Array(all.length);
      let c = 0;
      for (let i = 0; i < all.length; i++) cdf[i] = c += Math.exp(all[i].logR - norm);
    }
    for (let b = 0; b < n; b++) {
      let i: number;
      if (!cdf) i = rng.int(all.length);
      else {
        const u = rng.uniform() * cdf[cdf.length - 1];
        let lo = 0, hi = cdf.length - 1;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (cdf[mid] > u) hi = mid;
          else lo = mid + 1;
        }
        i = lo;
      }
      out.set(all[i].state, b * k);
    }
  }

  /** log of the normaliser: log |buffer| (uniform) or log Σ R (reward). */
  private logNorm(): number {
    if (this.sampling === "uniform") return Math.log(this.rows.size);
    return logSumExp([...this.rows.values()].map((r) => r.logR));
  }
}

function keyOf(state: ArrayLike<number>): string {
  return Array.prototype.join.call(state, ",");
}
