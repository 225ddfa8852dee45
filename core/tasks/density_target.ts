/**
 * The discretised 2D-density target π over all 2^D cells (small bits), the fixed-energy BitTask built on it,
 * and entropy estimators of the discretised data distribution (the lower bound of any model's NLL). Pure.
 *
 * - 8gaussians: exact. The mass of a cell is Σ_k 1/8 · P_k(x-interval) · P_k(y-interval) with Gaussian
 *   interval masses from erfc (`normalIntervalMass`); the clipped last cell of each axis takes the tail.
 * - Every other density: a seeded Monte Carlo histogram of `mcSamples` samples (default 10^7, seed 0) — an
 *   estimate; the standard error of a cell's probability p is √(p(1 − p)/mcSamples).
 * - Floor: log π(x) = log(max(p(x), floor)) − log Σ_y max(p(y), floor) with floor = 1e-12 by default, so every
 *   log-reward is finite (empty MC cells, far tails) and the table is normalised (exactLogZ ≈ 0 up to
 *   rounding). The floor moves at most 2^D · 1e-12 of probability mass.
 *
 * Table index = `cellIndexOfRow` (the D bits as a binary number, first entry most significant).
 */
import { logSumExp } from "../math.ts";
import { Rng } from "../rng.ts";
import {
  EIGHT_GAUSSIANS,
  hasLogDensity,
  LOG_DENSITY_METHOD,
  logDensity,
  normalIntervalMass,
  sampleDensity,
} from "./densities.ts";
import {
  type AxisCell,
  axisCell,
  axisCellInterval,
  axisCellValue,
  axisFromOrdinal,
  cellIndexOfAxes,
  cellIndexOfPoint,
  cellIndexOfRow,
  type DiscretisationScheme,
  encode,
  makeScheme,
} from "./discretise.ts";
import type { BitTask } from "./task.ts";

/** Largest bits per coordinate for which a full table (2^(2·bits) cells) is built. */
export const MAX_TARGET_BITS = 8;
export const DEFAULT_MC_SAMPLES = 10_000_000;
export const DEFAULT_MC_SEED = 0;
export const DEFAULT_FLOOR = 1e-12;
/**
 * Samples are drawn in chunks whose sizes are multiples of 2, 4 and 5, so the samplers' balanced groups
 * (row i → group i mod K) stay exactly balanced across chunks.
 */
const SAMPLE_CHUNK = 65520;
const SMALL_CHUNK = 4080;

function checkTableBits(scheme: DiscretisationScheme): void {
  if (scheme.bits > MAX_TARGET_BITS) {
    throw new RangeError(
      `a full target table needs bits ≤ ${MAX_TARGET_BITS} per coordinate (D ≤ ${2 * MAX_TARGET_BITS}), ` +
        `got ${scheme.bits}`,
    );
  }
}

/**
 * Per-component Gaussian mass of every axis cell, indexed [component][axis ordinal], for 8gaussians.
 * `axis` 0 = x, 1 = y.
 */
function eightGaussiansAxisMasses(scheme: DiscretisationScheme, axis: 0 | 1): Float64Array[] {
  const cells = 2 ** scheme.bits;
  const s = EIGHT_GAUSSIANS.std;
  return EIGHT_GAUSSIANS.centres.map((c) => {
    const mu = c[axis];
    const m = new Float64Array(cells);
    for (let k = 0; k < cells; k++) {
      const a = axisFromOrdinal(k, scheme);
      const [lo, hi] = axisCellInterval(a.sign, a.index, scheme);
      m[k] = normalIntervalMass((lo - mu) / s, (hi - mu) / s);
    }
    return m;
  });
}

/** Exact cell probabilities of 8gaussians (length 2^D, table index order). */
export function eightGaussiansCellProbs(scheme: DiscretisationScheme): Float64Array {
  if (scheme.density !== "8gaussians") {
    throw new RangeError("eightGaussiansCellProbs needs an 8gaussians scheme");
  }
  checkTableBits(scheme);
  const cells = 2 ** scheme.bits;
  const mx = eightGaussiansAxisMasses(scheme, 0);
  const my = eightGaussiansAxisMasses(scheme, 1);
  const out = new Float64Array(2 ** scheme.D);
  for (let kx = 0; kx < cells; kx++) {
    const ax = axisFromOrdinal(kx, scheme);
    for (let ky = 0; ky < cells; ky++) {
      const ay = axisFromOrdinal(ky, scheme);
      let p = 0;
      for (let c = 0; c < 8; c++) p += mx[c][kx] * my[c][ky];
      out[cellIndexOfAxes(ax.sign, ax.index, ay.sign, ay.index, scheme)] = p / 8;
    }
  }
  return out;
}

/** Monte Carlo histogram of `n` seeded samples: estimated cell probabilities (length 2^D). */
export function histogramCellProbs(scheme: DiscretisationScheme, n: number, rng: Rng): Float64Array {
  checkTableBits(scheme);
  const counts = new Float64Array(2 ** scheme.D);
  const chunk = SAMPLE_CHUNK;
  for (let done = 0; done < n; done += chunk) {
    const m = Math.min(chunk, n - done);
    const pts = sampleDensity(scheme.density, m, rng);
    for (let i = 0; i < m; i++) counts[cellIndexOfPoint(pts[2 * i], pts[2 * i + 1], scheme)] += 1;
  }
  for (let i = 0; i < counts.length; i++) counts[i] /= n;
  return counts;
}

export interface TargetOptions {
  /** Monte Carlo sample count for densities without an exact table. Default 10^7. */
  mcSamples?: number;
  /** Seed of the Monte Carlo histogram. Default 0. */
  seed?: number;
  /** Probability floor before renormalisation. Default 1e-12. */
  floor?: number;
  /** Force the Monte Carlo histogram also for 8gaussians. */
  forceMonteCarlo?: boolean;
}

export interface CellTarget {
  readonly scheme: DiscretisationScheme;
  readonly method: "exact" | "monte-carlo";
  /** Sample count and seed of the histogram (monte-carlo only). */
  readonly mcSamples?: number;
  readonly seed?: number;
  readonly floor: number;
  /** The unfloored cell probabilities (exact or estimated), table index order. */
  readonly probs: Float64Array;
  /** log π after flooring and renormalising, table index order. */
  readonly logProbs: Float64Array;
}

/** The discretised target over all 2^D cells (bits ≤ MAX_TARGET_BITS). */
export function cellTarget(density: string, bits: number, opts: TargetOptions = {}): CellTarget {
  const scheme = makeScheme(density, bits);
  checkTableBits(scheme);
  const floor = opts.floor ?? DEFAULT_FLOOR;
  if (!(floor > 0)) throw new RangeError(`floor must be > 0, got ${floor}`);
  let probs: Float64Array;
  let method: "exact" | "monte-carlo";
  let mcSamples: number | undefined;
  let seed: number | undefined;
  if (scheme.density === "8gaussians" && !opts.forceMonteCarlo) {
    probs = eightGaussiansCellProbs(scheme);
    method = "exact";
  } else {
    mcSamples = opts.mcSamples ?? DEFAULT_MC_SAMPLES;
    seed = opts.seed ?? DEFAULT_MC_SEED;
    if (!Number.isInteger(mcSamples) || mcSamples <= 0) {
      throw new RangeError(`mcSamples must be a positive integer, got ${mcSamples}`);
    }
    probs = histogramCellProbs(scheme, mcSamples, new Rng(seed));
    method = "monte-carlo";
  }
  const logProbs = new Float64Array(probs.length);
  for (let i = 0; i < probs.length; i++) logProbs[i] = Math.log(Math.max(probs[i], floor));
  const lz = logSumExp(logProbs);
  for (let i = 0; i < logProbs.length; i++) logProbs[i] -= lz;
  return { scheme, method, mcSamples, seed, floor, probs, logProbs };
}

/** Look up log π for each of the B rows of a ±1 batch. */
export function targetLogProbs(target: CellTarget, x: Int8Array, B: number): Float64Array {
  const D = target.scheme.D;
  if (x.length < B * D) throw new RangeError(`need ${B * D} entries, got ${x.length}`);
  const out = new Float64Array(B);
  for (let r = 0; r < B; r++) out[r] = target.logProbs[cellIndexOfRow(x, r, D)];
  return out;
}

/**
 * The fixed-energy task of a discretised density at `bits` bits per coordinate (D = 2·bits ≤ 16):
 * log R(x) = log π(x) from `cellTarget` (normalised, so exactLogZ ≈ 0); sampleData draws continuous samples
 * and encodes them (exact samples of the unfloored discretised distribution).
 */
export function densityTask(density: string, bits: number, opts: TargetOptions = {}): BitTask & {
  readonly target: CellTarget;
} {
  const target = cellTarget(density, bits, opts);
  const scheme = target.scheme;
  const logZ = logSumExp(target.logProbs);
  return {
    name: `${scheme.density}(bits=${bits})`,
    D: scheme.D,
    target,
    logReward: (x: Int8Array, B: number) => targetLogProbs(target, x, B),
    exactLogZ: () => logZ,
    sampleData: (n: number, rng: Rng) => encode(sampleDensity(scheme.density, n, rng), n, scheme),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Entropy of the discretised distribution

/** −Σ p log p (nats) of a probability vector (zeros contribute 0). */
export function entropyOfProbs(p: ArrayLike<number>): number {
  let h = 0;
  for (let i = 0; i < p.length; i++) if (p[i] > 0) h -= p[i] * Math.log(p[i]);
  return h;
}

export interface PlugInEntropy {
  n: number;
  /** Number of distinct cells seen, K. */
  distinct: number;
  /** −Σ (c/n) log(c/n). Biased low; severely when K is a sizeable fraction of n. */
  plugin: number;
  /** plugin + (K − 1)/(2n). */
  millerMadow: number;
  /** Delta-method standard error √(Var_p̂[log p̂]/n). Ignores the bias. */
  se: number;
}

/** Plug-in and Miller–Madow entropy of a sample of cell indices (any numbers; equal = same cell). */
export function plugInEntropy(cells: Float64Array): PlugInEntropy {
  const n = cells.length;
  if (n === 0) throw new RangeError("need at least one sample");
  const sorted = Float64Array.from(cells).sort();
  let k = 0;
  let s1 = 0; // Σ c log c
  let s2 = 0; // Σ c (log(c/n))²
  let run = 1;
  for (let i = 1; i <= n; i++) {
    if (i < n && sorted[i] === sorted[i - 1]) {
      run++;
      continue;
    }
    k++;
    s1 += run * Math.log(run);
    s2 += run * Math.log(run / n) ** 2;
    run = 1;
  }
  const plugin = Math.log(n) - s1 / n;
  const variance = Math.max(0, s2 / n - plugin * plugin);
  return { n, distinct: k, plugin, millerMadow: plugin + (k - 1) / (2 * n), se: Math.sqrt(variance / n) };
}

/**
 * log of the probability mass of a cell. 8gaussians: exact (erfc). Densities with a continuous log-density:
 * midpoint rule log p(centre) + log(cell area) — accurate when the cell width 1/intScale is much smaller than
 * the density's noise scale (bits ≥ 10); the clipped tail cells are treated as ordinary cells (they hold no
 * measurable mass at the default int_scale). Throws for pinwheel.
 */
export function cellLogMass(scheme: DiscretisationScheme, cx: AxisCell, cy: AxisCell): number {
  if (scheme.density === "8gaussians") {
    const s = EIGHT_GAUSSIANS.std;
    const [xlo, xhi] = axisCellInterval(cx.sign, cx.index, scheme);
    const [ylo, yhi] = axisCellInterval(cy.sign, cy.index, scheme);
    let p = 0;
    for (const [mx, my] of EIGHT_GAUSSIANS.centres) {
      p += normalIntervalMass((xlo - mx) / s, (xhi - mx) / s) *
        normalIntervalMass((ylo - my) / s, (yhi - my) / s);
    }
    return Math.log(p / 8);
  }
  const x = axisCellValue(cx.sign, cx.index, scheme);
  const y = axisCellValue(cy.sign, cy.index, scheme);
  return logDensity(scheme.density, x, y) - 2 * Math.log(scheme.intScale);
}

/** How `cellLogMass` computes the mass for a density, or null when it cannot. */
export function cellMassMethod(density: string): string | null {
  if (density === "8gaussians") return "exact cell mass (erfc)";
  if (!hasLogDensity(density)) return null;
  return `midpoint density × cell area; density: ${LOG_DENSITY_METHOD[density]}`;
}

export interface CellMassEntropy {
  n: number;
  /** −mean log P(cell(x_i)), x_i ~ data: an unbiased estimate of the entropy (up to the mass method). */
  H: number;
  /** Standard error sd(log P)/√n. */
  se: number;
}

/**
 * Entropy H = −E[log P(cell(X))] estimated by Monte Carlo with the exact (or midpoint) cell mass: unbiased
 * however fine the cells are, unlike the plug-in estimate.
 */
export function cellMassEntropy(scheme: DiscretisationScheme, n: number, rng: Rng): CellMassEntropy {
  if (!Number.isInteger(n) || n < 2) throw new RangeError(`need n ≥ 2 samples, got ${n}`);
  let sum = 0;
  let sumSq = 0;
  const chunk = SMALL_CHUNK;
  for (let done = 0; done < n; done += chunk) {
    const m = Math.min(chunk, n - done);
    const pts = sampleDensity(scheme.density, m, rng);
    for (let i = 0; i < m; i++) {
      const l = -cellLogMass(scheme, axisCell(pts[2 * i], scheme), axisCell(pts[2 * i + 1], scheme));
      sum += l;
      sumSq += l * l;
    }
  }
  const H = sum / n;
  const variance = Math.max(0, (sumSq - n * H * H) / (n - 1));
  return { n, H, se: Math.sqrt(variance / n) };
}

/** Cell indices of n seeded samples (for `plugInEntropy`). */
export function sampleCellIndices(scheme: DiscretisationScheme, n: number, rng: Rng): Float64Array {
  const out = new Float64Array(n);
  const chunk = SAMPLE_CHUNK;
  for (let done = 0; done < n; done += chunk) {
    const m = Math.min(chunk, n - done);
    const pts = sampleDensity(scheme.density, m, rng);
    for (let i = 0; i < m; i++) out[done + i] = cellIndexOfPoint(pts[2 * i], pts[2 * i + 1], scheme);
  }
  return out;
}
