/**
 * On-device uniforms (the DeviceRandom of backends/device/sampler.ts), so that no per-step random numbers cross
 * from the host: the generator's state lives on the device, is seeded once (one upload at construction), and
 * every draw is a handful of elementwise tensor ops.
 *
 * The law. A combined multiplicative congruential generator in the style of Wichmann & Hill (1982): four
 * components s_c ← a_c·s_c mod m_c with (m, a) = (30269, 171), (30307, 172), (30323, 170) (Wichmann–Hill's) and
 * (32363, 157) (L'Ecuyer 1988's first 16-bit component); every m_c is prime and a_c a primitive root mod m_c (so
 * each component runs through all of 1..m_c − 1), and every product a_c·s_c < 2^23, so the recurrence is exact
 * integer arithmetic in float32 on every backend. The output is u = frac(Σ_c s_c / m_c) ∈ [0, 1). The state
 * sequence has period lcm(m_c − 1) = 112,516,328,971,071,564 ≈ 1.1·10^17 (Wichmann–Hill's three alone: 6.95·10^12).
 *
 * Exactness: x mod m is computed as r = x − floor(x·m⁻¹)·m, then r += m if r < 0 and r −= m if r ≥ m (the
 * product x·m⁻¹ is rounded, so the floor can be one off; the correction makes r exact). WGSL's division is not
 * correctly rounded, so there is none: only products, sums and floors, each its own tfjs kernel and each correctly
 * rounded in float32 (WGSL's f32 ×, +, − are; tfjs-cpu computes each op in float64, exact for these operands, then
 * rounds once), so the output is bit-for-bit the same on tfjs-cpu and WebGPU (`hostUniforms` is the float32
 * reference the tests compare both with). The fractions are summed one at a time and reduced to [0, 1) after each
 * addition (an exact subtraction of 1), so u resolves 2^−23 ≈ 1.2·10^−7.
 *
 * Streams: `lanes` independent generators per seed (one per uniform of the largest request, e.g. B·D for the
 * bit-vector sampler), every lane's four components seeded by that seed's host Rng (core/rng.ts) uniformly in
 * 1..m_c − 1. A request of n uniforms per seed advances every lane ⌈n / lanes⌉ times and uses the first n outputs,
 * lane-major; seed k's uniforms depend on seed k's Rng only, so K seeds batched = K separate runs. With random
 * starts on a cycle of 1.1·10^17, N lanes drawing L values each overlap with probability ≈ N²L / 10^17 (e.g.
 * 5·10^-3 for N = 57,600 lanes and L = 10^5 draws).
 */
import type * as tfc from "@tensorflow/tfjs-core";
import type { Rng } from "../../core/rng.ts";
import type { DeviceRandom, T, Tf } from "./sampler.ts";
import { keepOnDevice, variableOf } from "./nn.ts";

/** (modulus, multiplier) of the four components. */
export const RNG_COMPONENTS: readonly (readonly [number, number])[] = [
  [30269, 171],
  [30307, 172],
  [30323, 170],
  [32363, 157],
];

/** One lane's initial state (four components) from a host Rng. */
function laneSeed(rng: Rng): number[] {
  return RNG_COMPONENTS.map(([m]) => 1 + rng.int(m - 1));
}

/** The initial states of `lanes` lanes from each seed's Rng: [c][k·lanes + i]. */
export function seedStates(rngs: readonly Rng[], lanes: number): Float32Array[] {
  const out = RNG_COMPONENTS.map(() => new Float32Array(rngs.length * lanes));
  rngs.forEach((rng, k) => {
    for (let i = 0; i < lanes; i++) {
      const s = laneSeed(rng);
      for (let c = 0; c < s.length; c++) out[c][k * lanes + i] = s[c];
    }
  });
  return out;
}

/**
 * The float32 reference of one draw (every op rounded to float32 as on the device): advances `state` ([c][lane],
 * integers) in place and returns the uniforms, one per lane.
 */
export function hostUniforms(state: Float32Array[]): Float32Array {
  const f = Math.fround;
  const n = state[0].length;
  const u = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let acc = 0;
    for (let c = 0; c < RNG_COMPONENTS.length; c++) {
      const [m, a] = RNG_COMPONENTS[c];
      const inv = f(1 / m);
      const x = f(state[c][i] * a);
      const q = Math.floor(f(x * inv));
      let r = f(x - f(q * m));
      if (r < 0) r = f(r + m);
      if (r >= m) r = f(r - m);
      state[c][i] = r;
      const t = f(r * inv);
      acc = c === 0 ? t : f(acc + t);
      if (acc >= 1) acc = f(acc - 1);
    }
    u[i] = acc;
  }
  return u;
}

/** K seeds × `lanes` lanes of the combined generator on the device. */
export class DeviceUniforms implements DeviceRandom {
  readonly K: number;
  private readonly state: tfc.Variable[];
  private readonly c: { a: T; m: T; inv: T }[];
  private readonly zero: T;
  private readonly one: T;

  /** Seeds every lane of seed k from `rngs[k]` (one upload of 16·K·lanes bytes). */
  constructor(private readonly tf: Tf, rngs: readonly Rng[], readonly lanes: number) {
    if (!Number.isInteger(lanes) || lanes < 1) throw new RangeError(`DeviceUniforms: lanes = ${lanes}`);
    keepOnDevice(tf);
    this.K = rngs.length;
    const init = seedStates(rngs, lanes);
    this.state = init.map((s) => variableOf(tf, tf.tensor2d(s, [this.K, lanes]), false));
    this.c = RNG_COMPONENTS.map(([m, a]) => ({ a: tf.scalar(a), m: tf.scalar(m), inv: tf.scalar(1 / m) }));
    this.zero = tf.scalar(0);
    this.one = tf.scalar(1);
  }

  /** Advances every lane once: [K, lanes] uniforms. */
  private next(): T {
    const { tf, zero, one } = this;
    return tf.tidy(() => {
      let acc: T | null = null;
      for (let c = 0; c < this.c.length; c++) {
        const { a, m, inv } = this.c[c];
        const x = tf.mul(this.state[c], a);
        let r = tf.sub(x, tf.mul(tf.floor(tf.mul(x, inv)), m));
        r = tf.add(r, tf.mul(tf.cast(tf.less(r, zero), "float32"), m));
        r = tf.sub(r, tf.mul(tf.cast(tf.greaterEqual(r, m), "float32"), m));
        this.state[c].assign(r);
        const t = tf.mul(r, inv);
        if (acc === null) acc = t;
        else {
          const s: T = tf.add(acc, t);
          acc = tf.sub(s, tf.cast(tf.greaterEqual(s, one), "float32"));
        }
      }
      return acc!;
    });
  }

  uniform(shape: readonly number[]): T {
    const { tf, K, lanes } = this;
    const n = shape.reduce((p, q) => p * q, 1);
    const rounds = Math.ceil(n / lanes);
    const draws: T[] = [];
    for (let r = 0; r < rounds; r++) draws.push(this.next());
    return tf.tidy(() => {
      const all = draws.length === 1 ? draws[0] : tf.concat(draws, 1);
      const used = n === all.shape[1] ? all : tf.slice(all, [0, 0], [K, n]);
      const out = tf.reshape(used, [K, ...shape]);
      for (const d of draws) d.dispose();
      return out;
    });
  }

  /** The lanes' current states copied to the host ([c][k·lanes + i]; tests). */
  async states(): Promise<Float32Array[]> {
    const out: Float32Array[] = [];
    for (const s of this.state) out.push(Float32Array.from((await s.data()) as Float32Array));
    return out;
  }

  dispose(): void {
    for (const s of this.state) s.dispose();
    for (const c of this.c) (c.a.dispose(), c.m.dispose(), c.inv.dispose());
    this.zero.dispose();
    this.one.dispose();
  }
}
