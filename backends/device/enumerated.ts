/**
 * x ~ π on the device for a task whose terminal states can be enumerated (the hypergrid's grid, Ising's 2^D
 * states for D ≤ 20): tables built once on the host in float64, uploaded once, and drawn from with two device
 * uniforms per draw — nothing crosses per call. Both device samplers (bitvector.ts, discrete.ts) use it.
 */
import type { T, Tf } from "./sampler.ts";

/**
 * Two-level inverse-CDF tables of a distribution over N enumerated states (host float64, uploaded once): `hi` the
 * CDF over ⌈N / nLo⌉ blocks of nLo = ⌈√N⌉ consecutive states, `lo` [nHi, nLo] the CDF within each block, each
 * level normalised to end at exactly 1 (from its last state of positive mass on: so no empty block or padding
 * entry is ever drawn). Two uniforms per draw, and each level resolves probabilities to float32 on its own, so
 * states far below float32's 2^−24 of the total are still drawn at their rate (a single float32 CDF over 160,000
 * hypergrid states would resolve a state of mass 10^−7 to ±60%).
 */
export interface EnumeratedTarget {
  N: number;
  nLo: number;
  hi: T;
  lo: T;
  /** Kept int32 scalars: the last block and entry indices, nLo. */
  consts: { lastHi: T; lastLo: T; nLo: T };
  dispose(): void;
}

export function enumeratedTarget(tf: Tf, logp: ArrayLike<number>): EnumeratedTarget {
  const N = logp.length;
  const nLo = Math.max(1, Math.ceil(Math.sqrt(N))), nHi = Math.ceil(N / nLo);
  let mx = -Infinity;
  for (let i = 0; i < N; i++) mx = Math.max(mx, logp[i]);
  const p = (i: number) => (i < N ? Math.exp(logp[i] - mx) : 0);
  const hi = new Float32Array(nHi), lo = new Float32Array(nHi * nLo).fill(1);
  const mass = new Float64Array(nHi);
  for (let j = 0; j < nHi; j++) {
    for (let l = 0; l < nLo; l++) mass[j] += p(j * nLo + l);
    let acc = 0, last = -1;
    for (let l = 0; l < nLo; l++) if (p(j * nLo + l) > 0) last = l;
    for (let l = 0; l < last; l++) lo[j * nLo + l] = (acc += p(j * nLo + l)) / mass[j];
  }
  const total = mass.reduce((a, b) => a + b, 0);
  let lastBlock = 0;
  for (let j = 0; j < nHi; j++) if (mass[j] > 0) lastBlock = j;
  for (let j = 0, acc = 0; j < nHi; j++) hi[j] = j >= lastBlock ? 1 : (acc += mass[j]) / total;
  const t = { hi: tf.tensor1d(hi), lo: tf.tensor2d(lo, [nHi, nLo]) };
  const consts = {
    lastHi: tf.scalar(nHi - 1, "int32"),
    lastLo: tf.scalar(nLo - 1, "int32"),
    nLo: tf.scalar(nLo, "int32"),
  };
  return {
    N,
    nLo,
    ...t,
    consts,
    dispose: () => [t.hi, t.lo, ...Object.values(consts)].forEach((x) => x.dispose()),
  };
}

/** State indices [n] (int32) drawn from the tables with two uniforms per draw (u: [n, 2]). */
export function drawEnumerated(tf: Tf, t: EnumeratedTarget, u: T): T {
  const n = u.shape[0];
  const { lastHi, lastLo, nLo } = t.consts;
  const [u1, u2] = tf.split(u, 2, 1); // [n, 1] each
  // the first block / state whose CDF exceeds u (upperBound; 1-D inputs give [1, n]); the CDFs end at 1 > u
  const j = tf.minimum(tf.reshape(tf.upperBound(t.hi, tf.reshape(u1, [-1])), [n]), lastHi);
  const l = tf.minimum(tf.reshape(tf.upperBound(tf.gather(t.lo, j), u2), [n]), lastLo);
  return tf.add(tf.mul(j, nLo), l);
}
