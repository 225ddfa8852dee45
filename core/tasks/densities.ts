/**
 * The 2D toy densities of Grathwohl et al. (FFJORD, `lib/toy_data.py`) as used by Dai et al. 2020 and the
 * GFlowNet-EBM experiments: seeded samplers and, where it can be computed, the continuous log-density.
 *
 * Pure: randomness comes from the `Rng` passed in; no I/O.
 *
 * Faithfulness to the reference generators (see docs/data.md):
 * - 8gaussians and 2spirals follow docs/math.md §"Tasks" exactly (2spirals uses n = √U·3π, which equals the
 *   reference's √U·540·2π/360).
 * - Where the reference splits a batch into equal groups (2spirals' two arms, circles' two circles, moons' two
 *   moons, rings' four rings, pinwheel's five arms) row i belongs to group i mod K, so every batch is balanced
 *   as in the reference. Where the reference places points on an even grid (`np.linspace` angles in
 *   circles / moons / rings) we draw the parameter uniformly — the distribution the grid stands for — so that
 *   rows are independent given their group.
 * - The outputs are the reference's float64 values (no float32 rounding).
 */
import type { Rng } from "../rng.ts";
import { logSumExp } from "../math.ts";

export const DENSITY_NAMES = [
  "2spirals",
  "8gaussians",
  "circles",
  "moons",
  "pinwheel",
  "swissroll",
  "checkerboard",
  "rings",
] as const;
export type DensityName = typeof DENSITY_NAMES[number];

export function isDensityName(name: string): name is DensityName {
  return (DENSITY_NAMES as readonly string[]).includes(name);
}

function checkName(name: string): DensityName {
  if (!isDensityName(name)) {
    throw new RangeError(`unknown density "${name}" (one of ${DENSITY_NAMES.join(", ")})`);
  }
  return name;
}

const INV_SQRT2 = 1 / Math.SQRT2;
/** The 8 unit directions of 8gaussians, in the reference's order. */
const EIGHT_DIRS: readonly (readonly [number, number])[] = [
  [1, 0],
  [-1, 0],
  [0, 1],
  [0, -1],
  [INV_SQRT2, INV_SQRT2],
  [INV_SQRT2, -INV_SQRT2],
  [-INV_SQRT2, INV_SQRT2],
  [-INV_SQRT2, -INV_SQRT2],
];
/** 8gaussians: centre radius, per-coordinate noise std and final divisor (all before division). */
const G8_SCALE = 4;
const G8_STD = 0.5;
const G8_DIV = 1.414;
const SPIRAL_TMAX = 3 * Math.PI;
const SPIRAL_STD = 0.1;

/**
 * Draw n points of the named density: a row-major n×2 Float64Array (x of row i at 2i, y at 2i + 1).
 */
export function sampleDensity(name: string, n: number, rng: Rng): Float64Array {
  const d = checkName(name);
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`n must be a non-negative integer, got ${n}`);
  const out = new Float64Array(2 * n);
  for (let i = 0; i < n; i++) {
    let x: number;
    let y: number;
    switch (d) {
      case "8gaussians": {
        // reference order: the noise (randn(2)) first, then the centre index
        const nx = rng.normal() * G8_STD;
        const ny = rng.normal() * G8_STD;
        const u = EIGHT_DIRS[rng.int(8)];
        x = (nx + G8_SCALE * u[0]) / G8_DIV;
        y = (ny + G8_SCALE * u[1]) / G8_DIV;
        break;
      }
      case "2spirals": {
        const t = Math.sqrt(rng.uniform()) * SPIRAL_TMAX;
        const ax = -Math.cos(t) * t + rng.uniform() * 0.5;
        const ay = Math.sin(t) * t + rng.uniform() * 0.5;
        const s = i % 2 === 0 ? 1 : -1; // half the rows on the arm, half on −arm
        x = (s * ax) / 3 + rng.normal() * SPIRAL_STD;
        y = (s * ay) / 3 + rng.normal() * SPIRAL_STD;
        break;
      }
      case "circles": {
        // sklearn make_circles(factor=0.5, noise=0.08), then ×3
        const r = i % 2 === 0 ? 1 : 0.5;
        const a = rng.uniform() * 2 * Math.PI;
        x = (r * Math.cos(a) + rng.normal() * 0.08) * 3;
        y = (r * Math.sin(a) + rng.normal() * 0.08) * 3;
        break;
      }
      case "moons": {
        // sklearn make_moons(noise=0.1), then ×2 + (−1, −0.2)
        const a = rng.uniform() * Math.PI;
        let mx: number;
        let my: number;
        if (i % 2 === 0) {
          mx = Math.cos(a);
          my = Math.sin(a);
        } else {
          mx = 1 - Math.cos(a);
          my = 1 - Math.sin(a) - 0.5;
        }
        x = (mx + rng.normal() * 0.1) * 2 - 1;
        y = (my + rng.normal() * 0.1) * 2 - 0.2;
        break;
      }
      case "pinwheel": {
        const k = i % 5;
        const r = rng.normal() * 0.3 + 1; // radial
        const tg = rng.normal() * 0.1; // tangential
        const a = (2 * Math.PI * k) / 5 + 0.25 * Math.exp(r);
        const c = Math.cos(a);
        const sn = Math.sin(a);
        x = 2 * (r * c + tg * sn);
        y = 2 * (-r * sn + tg * c);
        break;
      }
      case "swissroll": {
        // sklearn make_swiss_roll(noise=1.0): t = 1.5π(1 + 2U), columns (t cos t, t sin t) + N(0,1); then /5
        const t = 1.5 * Math.PI * (1 + 2 * rng.uniform());
        x = (t * Math.cos(t) + rng.normal()) / 5;
        y = (t * Math.sin(t) + rng.normal()) / 5;
        break;
      }
      case "checkerboard": {
        const x1 = rng.uniform() * 4 - 2;
        const x2r = rng.uniform() - rng.int(2) * 2;
        const f = Math.floor(x1);
        x = x1 * 2;
        y = (x2r + (((f % 2) + 2) % 2)) * 2;
        break;
      }
      case "rings": {
        // radii 1, 0.75, 0.5, 0.25 (×3), then + N(0, 0.08²) after scaling
        const r = RING_RADII[i % 4];
        const a = rng.uniform() * 2 * Math.PI;
        x = r * Math.cos(a) + rng.normal() * 0.08;
        y = r * Math.sin(a) + rng.normal() * 0.08;
        break;
      }
    }
    out[2 * i] = x;
    out[2 * i + 1] = y;
  }
  return out;
}

const RING_RADII = [3, 2.25, 1.5, 0.75];

// ---------------------------------------------------------------------------------------------------------
// Special functions

const TWO_OVER_SQRT_PI = 2 / Math.sqrt(Math.PI);
const INV_SQRT_PI = 1 / Math.sqrt(Math.PI);

/** erf(x) for 0 ≤ x < 2 by the all-positive series erf x = 2/√π e^{−x²} Σ (2x²)^k x / (2k+1)!!. */
function erfSeries(x: number): number {
  const x2 = 2 * x * x;
  let term = x;
  let sum = x;
  for (let k = 1; k < 200; k++) {
    term *= x2 / (2 * k + 1);
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return TWO_OVER_SQRT_PI * Math.exp(-x * x) * sum;
}

/**
 * erfc(x) for x ≥ 2 by the continued fraction erfc x = e^{−x²}/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + …)))),
 * evaluated with the modified Lentz method.
 */
function erfcFraction(x: number): number {
  if (x === Infinity) return 0;
  const tiny = 1e-300;
  let f = x;
  let C = x;
  let Dv = 0;
  for (let k = 1; k < 500; k++) {
    const a = k / 2;
    Dv = x + a * Dv;
    if (Math.abs(Dv) < tiny) Dv = tiny;
    C = x + a / C;
    if (Math.abs(C) < tiny) C = tiny;
    Dv = 1 / Dv;
    const delta = C * Dv;
    f *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return Math.exp(-x * x) * INV_SQRT_PI / f;
}

/** The error function, accurate to ~1e-15 relative. */
export function erf(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return -erf(-x);
  if (x < 2) return erfSeries(x);
  return 1 - erfcFraction(x);
}

/** The complementary error function 1 − erf(x), accurate to ~1e-14 relative also deep in the tail. */
export function erfc(x: number): number {
  if (Number.isNaN(x)) return NaN;
  if (x < 0) return 2 - erfc(-x);
  if (x < 2) return 1 - erfSeries(x);
  return erfcFraction(x);
}

/** Upper tail of the standard normal, Q(z) = P(Z > z). */
export function normalTail(z: number): number {
  return 0.5 * erfc(z * INV_SQRT2);
}

/**
 * P(a < Z ≤ b) for Z ~ N(0, 1), computed from the tail on the side that avoids cancellation (small relative
 * error also when both ends are deep in one tail). a may be −Infinity and b +Infinity.
 */
export function normalIntervalMass(a: number, b: number): number {
  if (!(b > a)) return 0;
  if (a >= 0) return normalTail(a) - normalTail(b);
  if (b <= 0) return normalTail(-b) - normalTail(-a);
  return 1 - normalTail(-a) - normalTail(b);
}

/** log I₀(z) (modified Bessel function of the first kind, order 0), z ≥ 0. */
export function logBesselI0(z: number): number {
  if (z < 0) z = -z;
  if (z <= 30) {
    const q = (z * z) / 4;
    let term = 1;
    let sum = 1;
    for (let k = 1; k < 300; k++) {
      term *= q / (k * k);
      sum += term;
      if (term < 1e-17 * sum) break;
    }
    return Math.log(sum);
  }
  // asymptotic series e^z/√(2πz) Σ ((2k−1)!!)² / (k! (8z)^k); terms decrease until k ≈ 2z ≥ 60
  let term = 1;
  let sum = 1;
  for (let k = 1; k < 60; k++) {
    term *= ((2 * k - 1) * (2 * k - 1)) / (8 * k * z);
    sum += term;
    if (term < 1e-17 * sum) break;
  }
  return z - 0.5 * Math.log(2 * Math.PI * z) + Math.log(sum);
}

// ---------------------------------------------------------------------------------------------------------
// Continuous log-densities

/** Densities whose continuous log-density `logDensity` can evaluate. */
export const LOG_DENSITY_NAMES: readonly DensityName[] = [
  "8gaussians",
  "2spirals",
  "checkerboard",
  "circles",
  "rings",
  "moons",
  "swissroll",
];

export function hasLogDensity(name: string): boolean {
  return (LOG_DENSITY_NAMES as readonly string[]).includes(name);
}

/** How `logDensity` computes each density (for documentation and CLI output). */
export const LOG_DENSITY_METHOD: Readonly<Record<string, string>> = {
  "8gaussians": "exact (Gaussian mixture)",
  "checkerboard": "exact (uniform on 8 squares, 1/32)",
  "circles": "exact (ring mixture, Bessel I0)",
  "rings": "exact (ring mixture, Bessel I0)",
  "2spirals": "quadrature over the arm parameter (Simpson, 2048 intervals per arm; box ⊗ Gaussian exact)",
  "moons": "quadrature over the angle (Simpson, 512 intervals per moon)",
  "swissroll": "quadrature over the roll parameter (Simpson, 1024 intervals)",
};

/** The 8gaussians mixture: centres (after the final division) and per-coordinate std. */
export const EIGHT_GAUSSIANS = {
  centres: EIGHT_DIRS.map(([ux, uy]) => [(G8_SCALE * ux) / G8_DIV, (G8_SCALE * uy) / G8_DIV] as const),
  std: G8_STD / G8_DIV,
} as const;

const LOG_2PI = Math.log(2 * Math.PI);

function logDensity8g(x: number, y: number): number {
  const s = EIGHT_GAUSSIANS.std;
  const terms = new Float64Array(8);
  for (let k = 0; k < 8; k++) {
    const [cx, cy] = EIGHT_GAUSSIANS.centres[k];
    terms[k] = -((x - cx) ** 2 + (y - cy) ** 2) / (2 * s * s);
  }
  return logSumExp(terms) - Math.log(8) - LOG_2PI - 2 * Math.log(s);
}

function logDensityCheckerboard(x: number, y: number): number {
  const u = x / 2;
  const w = y / 2;
  if (!(u >= -2 && u < 2 && w >= -2 && w < 2)) return -Infinity;
  const d = Math.floor(w) - Math.floor(u);
  return d % 2 === 0 ? -Math.log(32) : -Infinity;
}

/** Mixture of equally weighted circles of the given radii, angle uniform, isotropic noise std `s`. */
function logDensityRings(x: number, y: number, radii: readonly number[], s: number): number {
  const rho = Math.hypot(x, y);
  const s2 = s * s;
  const terms = new Float64Array(radii.length);
  for (let k = 0; k < radii.length; k++) {
    const r = radii[k];
    // ∫ (1/2π) N(x; r(cos θ, sin θ), s² I) dθ = exp(−(ρ² + r²)/(2s²)) I₀(ρ r / s²) / (2π s²)
    terms[k] = -((rho - r) ** 2) / (2 * s2) + (logBesselI0((rho * r) / s2) - (rho * r) / s2);
  }
  return logSumExp(terms) - Math.log(radii.length) - LOG_2PI - Math.log(s2);
}

/** A curve c(t), t ∈ [t0, t1] with parameter density `density(t)`; Simpson quadrature nodes (`nodes` even). */
interface CurveTable {
  cx: Float64Array;
  cy: Float64Array;
  /** quadrature weight × parameter density × component weight */
  w: Float64Array;
}

function makeCurve(
  t0: number,
  t1: number,
  nodes: number,
  f: (t: number) => [number, number],
  density: (t: number) => number,
  componentWeight: number,
): CurveTable {
  const cx = new Float64Array(nodes + 1);
  const cy = new Float64Array(nodes + 1);
  const w = new Float64Array(nodes + 1);
  const h = (t1 - t0) / nodes;
  for (let j = 0; j <= nodes; j++) {
    const t = t0 + j * h;
    const [a, b] = f(t);
    cx[j] = a;
    cy[j] = b;
    // composite Simpson weights (nodes is even): h/3 · (1, 4, 2, 4, …, 4, 1)
    const sw = j === 0 || j === nodes ? 1 : j % 2 === 1 ? 4 : 2;
    w[j] = ((sw * h) / 3) * density(t) * componentWeight;
  }
  return { cx, cy, w };
}

// Cache (explicit, the module's only state): the quadrature tables of each curve density, built on first use
// from constants only, so every caller sees the same values whatever the order of calls.
let spiralTables: CurveTable[] | null = null;
let moonTables: CurveTable[] | null = null;
let swissTables: CurveTable[] | null = null;
/** Simpson nodes per curve (even). Chosen so that the max |error| of log p is below ~1e-5 (docs/data.md). */
const QUAD_NODES: Readonly<Record<string, number>> = { "2spirals": 2048, "moons": 512, "swissroll": 1024 };

/** Σ over curves and nodes of w · kernel(x − c), skipping nodes farther than `cut` in either coordinate. */
function curveSum(
  x: number,
  y: number,
  tables: CurveTable[],
  cut: number,
  kernel: (dx: number, dy: number) => number,
): number {
  let sum = 0;
  for (const tb of tables) {
    const n = tb.w.length;
    for (let j = 0; j < n; j++) {
      const dx = x - tb.cx[j];
      const dy = y - tb.cy[j];
      if (dx > cut || dx < -cut || dy > cut || dy < -cut) continue;
      sum += tb.w[j] * kernel(dx, dy);
    }
  }
  return sum;
}

const SPIRAL_BOX = 0.5 / 3; // the U'·0.5 term after the division by 3

function logDensity2spirals(x: number, y: number): number {
  if (spiralTables === null) {
    // node = lower-left corner L of the uniform box [L, L + 1/6]² of the arm point for this t
    const dens = (t: number) => (2 * t) / (SPIRAL_TMAX * SPIRAL_TMAX); // n = √U·3π
    spiralTables = [
      makeCurve(
        0,
        SPIRAL_TMAX,
        QUAD_NODES["2spirals"],
        (t) => [(-Math.cos(t) * t) / 3, (Math.sin(t) * t) / 3],
        dens,
        0.5,
      ),
      makeCurve(
        0,
        SPIRAL_TMAX,
        QUAD_NODES["2spirals"],
        (t) => [(Math.cos(t) * t) / 3 - SPIRAL_BOX, (-Math.sin(t) * t) / 3 - SPIRAL_BOX],
        dens,
        0.5,
      ),
    ];
  }
  const s = SPIRAL_STD;
  // density at d = x − L of (uniform[0, b] + N(0, s²)) is (1/b)·P((d − b)/s < Z ≤ d/s), per coordinate
  const kernel = (dx: number, dy: number) =>
    (normalIntervalMass((dx - SPIRAL_BOX) / s, dx / s) / SPIRAL_BOX) *
    (normalIntervalMass((dy - SPIRAL_BOX) / s, dy / s) / SPIRAL_BOX);
  let p = curveSum(x, y, spiralTables, SPIRAL_BOX + 7 * s, kernel);
  if (p === 0) p = curveSum(x, y, spiralTables, Infinity, kernel);
  return Math.log(p);
}

function gaussKernel(s: number): (dx: number, dy: number) => number {
  const c = 1 / (2 * Math.PI * s * s);
  return (dx, dy) => c * Math.exp(-(dx * dx + dy * dy) / (2 * s * s));
}

function logDensityMoons(x: number, y: number): number {
  if (moonTables === null) {
    const dens = () => 1 / Math.PI;
    moonTables = [
      makeCurve(0, Math.PI, QUAD_NODES.moons, (a) => [2 * Math.cos(a) - 1, 2 * Math.sin(a) - 0.2], dens, 0.5),
      makeCurve(0, Math.PI, QUAD_NODES.moons, (a) => [1 - 2 * Math.cos(a), 0.8 - 2 * Math.sin(a)], dens, 0.5),
    ];
  }
  const k = gaussKernel(0.2);
  let p = curveSum(x, y, moonTables, 0.2 * 7, k);
  if (p === 0) p = curveSum(x, y, moonTables, Infinity, k);
  return Math.log(p);
}

function logDensitySwissroll(x: number, y: number): number {
  if (swissTables === null) {
    const t0 = 1.5 * Math.PI;
    const t1 = 4.5 * Math.PI;
    swissTables = [
      makeCurve(
        t0,
        t1,
        QUAD_NODES.swissroll,
        (t) => [(t * Math.cos(t)) / 5, (t * Math.sin(t)) / 5],
        () => 1 / (t1 - t0),
        1,
      ),
    ];
  }
  const k = gaussKernel(0.2);
  let p = curveSum(x, y, swissTables, 0.2 * 7, k);
  if (p === 0) p = curveSum(x, y, swissTables, Infinity, k);
  return Math.log(p);
}

/**
 * The continuous log-density log p(x, y) of the named density (see LOG_DENSITY_METHOD for how). Throws for
 * densities without one (pinwheel).
 */
export function logDensity(name: string, x: number, y: number): number {
  const d = checkName(name);
  switch (d) {
    case "8gaussians":
      return logDensity8g(x, y);
    case "checkerboard":
      return logDensityCheckerboard(x, y);
    case "circles":
      return logDensityRings(x, y, [3, 1.5], 0.24);
    case "rings":
      return logDensityRings(x, y, RING_RADII, 0.08);
    case "2spirals":
      return logDensity2spirals(x, y);
    case "moons":
      return logDensityMoons(x, y);
    case "swissroll":
      return logDensitySwissroll(x, y);
    default:
      throw new RangeError(`no continuous log-density for "${d}"`);
  }
}
