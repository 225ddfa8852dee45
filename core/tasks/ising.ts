/**
 * 2D Ising model on the L×L torus as a BitTask, with exact log Z.
 *
 * Site (i, j) is bit i·L + j. Bonds: every site to its right neighbour (i, j+1 mod L) and its down neighbour
 * (i+1 mod L, j), each once, so 2L² bonds (for L = 2 every neighbour pair is bonded twice, by design).
 * log R(s) = β Σ_bonds s_a s_b; β < 0 is antiferromagnetic (frustrated for odd L).
 *
 * Exact log Z by a row transfer matrix. Rows are L-bit integers r (bit j set ⇔ s_j = +1). With
 *   H(r)     = exp(β Σ_j s_j s_{j+1})            (horizontal bonds of a row, diagonal),
 *   V(r, r') = exp(β Σ_j s_j s'_j) = ⊗_j [[e^β, e^-β], [e^-β, e^β]]   (vertical bonds between two rows),
 * Z = Tr((V·H)^L). Fixing row 0 to r0, Z = Σ_r0 Z(r0), and Z(r0) = Z(g·r0) for every g in the group of
 * column rotations, column reflection and global spin flip, so only one representative per orbit is propagated,
 * weighted by the orbit size. Within Z(r0) the torus is cut at row 0 and at row m = ⌊L/2⌋: with
 * v_k = (H·V)^k e_r0 (rows 1..k summed out, H of row k included), up-down reflection gives
 *   Z(r0) = H(r0) Σ_r v_m(r) · v_{L−m}(r) / H(r),
 * so each representative costs L−m row steps, each L butterflies (applying V) and one diagonal product, O(L·2^L).
 * Vectors are rescaled to max 1 after every row and the logs accumulated.
 */
import type { Rng } from "../rng.ts";
import type { BitTask } from "./task.ts";

function checkL(L: number, max = 24): void {
  if (!Number.isInteger(L) || L < 2 || L > max) {
    throw new RangeError(`Ising: L must be an integer in [2, ${max}], got ${L}`);
  }
}

/** The 2L² bonds as pairs of bit indices [a0, b0, a1, b1, ...]: right bonds, then down bonds, row-major. */
export function isingBonds(L: number): Int32Array {
  checkL(L);
  const D = L * L;
  const out = new Int32Array(4 * D);
  for (let i = 0; i < L; i++) {
    for (let j = 0; j < L; j++) {
      const a = i * L + j;
      out[2 * a] = a;
      out[2 * a + 1] = i * L + ((j + 1) % L);
      out[2 * (D + a)] = a;
      out[2 * (D + a) + 1] = ((i + 1) % L) * L + j;
    }
  }
  return out;
}

/**
 * Exact log Z by enumerating all 2^(L²) states (L ≤ 5) in Gray-code order. The integer energies
 * E = Σ_bonds s_a s_b are histogrammed, then log Z = logsumexp_E(log count(E) + βE), which is stable.
 */
export function isingLogZBruteForce(L: number, beta: number): number {
  checkL(L);
  if (L > 5) throw new RangeError(`isingLogZBruteForce: L ≤ 5 (2^25 states), got ${L}`);
  const D = L * L;
  const bonds = isingBonds(L);
  // Neighbour lists with multiplicity (4 per site; duplicates for L = 2 carry the doubled bonds).
  const nb = new Int32Array(4 * D);
  const deg = new Int32Array(D);
  for (let k = 0; k < bonds.length; k += 2) {
    const a = bonds[k], b = bonds[k + 1];
    nb[4 * a + deg[a]++] = b;
    nb[4 * b + deg[b]++] = a;
  }
  const s = new Int8Array(D).fill(-1);
  let E = bonds.length / 2; // all −1: every bond contributes +1
  const counts = new Float64Array(4 * D + 1); // E ∈ [−2D, 2D]
  counts[E + 2 * D]++;
  const n = 2 ** D;
  for (let g = 1; g < n; g++) {
    // Gray code: step g flips the bit at the index of the lowest set bit of g.
    const d = 31 - Math.clz32(g & -g);
    const h = s[nb[4 * d]] + s[nb[4 * d + 1]] + s[nb[4 * d + 2]] + s[nb[4 * d + 3]];
    E -= 2 * s[d] * h;
    s[d] = -s[d];
    counts[E + 2 * D]++;
  }
  let m = -Infinity;
  for (let e = 0; e < counts.length; e++) if (counts[e] > 0) m = Math.max(m, beta * (e - 2 * D));
  let sum = 0;
  for (let e = 0; e < counts.length; e++) {
    if (counts[e] > 0) sum += counts[e] * Math.exp(beta * (e - 2 * D) - m);
  }
  return m + Math.log(sum);
}

/** Orbit representatives of L-bit rows under column rotation, column reflection and global flip. */
function rowOrbits(L: number): { reps: number[]; sizes: number[] } {
  const N = 1 << L;
  const mask = N - 1;
  const size = new Map<number, number>();
  for (let r = 0; r < N; r++) {
    let rev = 0;
    for (let j = 0; j < L; j++) if ((r >> j) & 1) rev |= 1 << (L - 1 - j);
    let best = r;
    for (const base of [r, rev, r ^ mask, rev ^ mask]) {
      let x = base;
      for (let k = 0; k < L; k++) {
        if (x < best) best = x;
        x = ((x << 1) | (x >> (L - 1))) & mask;
      }
    }
    size.set(best, (size.get(best) ?? 0) + 1);
  }
  const reps = [...size.keys()].sort((a, b) => a - b);
  return { reps, sizes: reps.map((r) => size.get(r)!) };
}

/**
 * Exact log Z by the row transfer matrix (see the header comment), O(#orbits · L² · 2^L); L ≤ 24 in principle,
 * L = 15 (D = 225) is the intended largest size.
 */
export function isingLogZTransfer(L: number, beta: number): number {
  checkL(L);
  const N = 1 << L;
  const ab = Math.abs(beta);
  // Factor e^{|β|} out of every bond so all weights are ≤ 1; the bond count 2L² adds it back at the end.
  const ep = Math.exp(beta - ab), em = Math.exp(-beta - ab);
  const logH = new Float64Array(N); // log H(r) − |β|L
  for (let r = 0; r < N; r++) {
    let e = 0;
    for (let j = 0; j < L; j++) e += ((r >> j) & 1) === ((r >> ((j + 1) % L)) & 1) ? 1 : -1;
    logH[r] = beta * e - ab * L;
  }
  const H = logH.map(Math.exp);
  const invH = H.map((h) => 1 / h);
  const m = L >> 1;
  const v = new Float64Array(N);
  const a = new Float64Array(N);
  const { reps, sizes } = rowOrbits(L);
  let maxLog = -Infinity;
  const logs: number[] = [];
  for (let q = 0; q < reps.length; q++) {
    const r0 = reps[q];
    v.fill(0);
    v[r0] = 1;
    let logScale = 0, logScaleA = 0;
    for (let k = 1; k <= L - m; k++) {
      // v ← V v: one 2×2 butterfly per column.
      for (let h = 1; h < N; h <<= 1) {
        for (let i = 0; i < N; i += h << 1) {
          for (let j = i; j < i + h; j++) {
            const x = v[j], y = v[j + h];
            v[j] = ep * x + em * y;
            v[j + h] = em * x + ep * y;
          }
        }
      }
      // v ← H v, rescaled to max 1.
      let mx = 0;
      for (let r = 0; r < N; r++) {
        const t = v[r] * H[r];
        v[r] = t;
        if (t > mx) mx = t;
      }
      const inv = 1 / mx;
      for (let r = 0; r < N; r++) v[r] *= inv;
      logScale += Math.log(mx);
      if (k === m) {
        a.set(v);
        logScaleA = logScale;
      }
    }
    let s = 0;
    for (let r = 0; r < N; r++) s += a[r] * v[r] * invH[r];
    const lz = Math.log(sizes[q]) + logH[r0] + logScaleA + logScale + Math.log(s);
    logs.push(lz);
    if (lz > maxLog) maxLog = lz;
  }
  let sum = 0;
  for (const lz of logs) sum += Math.exp(lz - maxLog);
  return maxLog + Math.log(sum) + ab * 2 * L * L;
}

/**
 * Kaufman's (1949) closed form for the L×L torus, β > 0 only; a cross-check of the transfer matrix:
 * Z = ½ (2 sinh 2β)^{L²/2} Σ_{i=1..4} Z_i with Z_1 = Π_r 2cosh(L γ_{2r+1}/2), Z_2 = Π_r 2sinh(L γ_{2r+1}/2),
 * Z_3 = Π_r 2cosh(L γ_{2r}/2), Z_4 = Π_r 2sinh(L γ_{2r}/2) (r = 0..L−1),
 * cosh γ_k = cosh 2β coth 2β − cos(πk/L) for k ≠ 0, γ_0 = 2β + log tanh β (may be negative).
 */
export function isingLogZKaufman(L: number, beta: number): number {
  checkL(L, 1 << 20);
  if (!(beta > 0)) throw new RangeError(`isingLogZKaufman: β > 0 required, got ${beta}`);
  const c = Math.cosh(2 * beta) / Math.tanh(2 * beta);
  const gamma = (k: number) =>
    k === 0 ? 2 * beta + Math.log(Math.tanh(beta)) : Math.acosh(c - Math.cos(Math.PI * k / L));
  // Each Z_i as (log |Z_i|, sign).
  const terms: [number, number][] = [];
  for (const [off, useSinh] of [[1, false], [1, true], [0, false], [0, true]] as const) {
    let lg = 0, sign = 1;
    for (let r = 0; r < L; r++) {
      const x = L * gamma(2 * r + off) / 2;
      if (!useSinh) lg += Math.log(2 * Math.cosh(x));
      else {
        if (x < 0) sign = -sign;
        lg += Math.log(2 * Math.sinh(Math.abs(x))); // −Infinity when x = 0: that Z_i vanishes
      }
    }
    terms.push([lg, sign]);
  }
  const mx = Math.max(...terms.map((t) => t[0]));
  let s = 0;
  for (const [lg, sign] of terms) s += sign * Math.exp(lg - mx);
  return -Math.LN2 + (L * L / 2) * Math.log(2 * Math.sinh(2 * beta)) + mx + Math.log(s);
}

// Cache (explicit, the module's only state): exact log Z per (L, β), a pure function of its key.
const logZCache = new Map<string, number>();

/** Cached exact log Z for (L, β) via the transfer matrix. */
export function isingExactLogZ(L: number, beta: number): number {
  const key = `${L},${beta}`;
  let v = logZCache.get(key);
  if (v === undefined) {
    v = isingLogZTransfer(L, beta);
    logZCache.set(key, v);
  }
  return v;
}

/** The Ising target on the L×L torus at inverse temperature β. `sampleData` exists only for D ≤ 20. */
export function isingTask(L: number, beta: number): BitTask {
  checkL(L);
  if (!Number.isFinite(beta)) throw new RangeError(`Ising: β must be finite, got ${beta}`);
  const D = L * L;
  const right = new Int32Array(D), down = new Int32Array(D);
  for (let i = 0; i < L; i++) {
    for (let j = 0; j < L; j++) {
      right[i * L + j] = i * L + ((j + 1) % L);
      down[i * L + j] = ((i + 1) % L) * L + j;
    }
  }
  const logReward = (x: Int8Array, B: number): Float64Array => {
    if (x.length < B * D) throw new RangeError(`Ising logReward: need ${B}×${D} entries, got ${x.length}`);
    const out = new Float64Array(B);
    for (let b = 0, o = 0; b < B; b++, o += D) {
      let e = 0;
      for (let a = 0; a < D; a++) e += x[o + a] * (x[o + right[a]] + x[o + down[a]]);
      out[b] = beta * e;
    }
    return out;
  };
  const task: BitTask = {
    name: `ising(L=${L},beta=${beta})`,
    D,
    logReward,
    exactLogZ: () => isingExactLogZ(L, beta),
  };
  if (D <= 20) {
    let cdf: Float64Array | null = null;
    task.sampleData = (n: number, rng: Rng): Int8Array => {
      const S = 2 ** D;
      if (cdf === null) {
        // All states: state k has x_d = +1 iff bit d of k is set.
        const all = new Int8Array(S * D);
        for (let k = 0; k < S; k++) for (let d = 0; d < D; d++) all[k * D + d] = (k >> d) & 1 ? 1 : -1;
        const lr = logReward(all, S);
        let mx = -Infinity;
        for (let k = 0; k < S; k++) if (lr[k] > mx) mx = lr[k];
        cdf = new Float64Array(S);
        let c = 0;
        for (let k = 0; k < S; k++) cdf[k] = c += Math.exp(lr[k] - mx);
      }
      const total = cdf[S - 1];
      const out = new Int8Array(n * D);
      for (let i = 0; i < n; i++) {
        const u = rng.uniform() * total;
        let lo = 0, hi = S - 1; // first k with cdf[k] > u
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if (cdf[mid] > u) hi = mid;
          else lo = mid + 1;
        }
        for (let d = 0; d < D; d++) out[i * D + d] = (lo >> d) & 1 ? 1 : -1;
      }
      return out;
    };
  }
  return task;
}
