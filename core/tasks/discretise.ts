/**
 * Discretisation of 2D points into bit vectors (docs/math.md §"Tasks"), pure.
 *
 * Per coordinate `bits` bits: a sign bit (1 when the value is negative), then the (bits−1)-bit Gray code
 * g = i XOR (i >> 1) of i = floor(|v| · intScale), most significant bit first, with i clipped to
 * 2^(bits−1) − 1. x's bits come first, then y's: D = 2·bits. A bit b is the GFlowNet entry 2b − 1 (±1).
 *
 * A coordinate cell is (sign, i): for sign 0 the interval [i/s, (i+1)/s), for sign 1 the interval
 * (−(i+1)/s, −i/s] (s = intScale); the clipped last index i = 2^(bits−1) − 1 takes the whole tail
 * [i/s, ∞) (resp. (−∞, −i/s]). Decoding returns the cell's centre ±(i + 0.5)/s (also for the tail cell).
 */
import { DENSITY_NAMES, type DensityName, isDensityName } from "./densities.ts";

/**
 * int_scale at 16 bits per coordinate: 2^15 / (max|v| + 2) over 5000 seeded samples. 2spirals and 8gaussians
 * are the reference implementation's constants (docs/math.md §"Tasks"); the others come from
 * `sampleDensity(name, 5000, new Rng(0))` here (see `deriveIntScale16`, checked by tests/data_test.ts).
 */
export const INT_SCALE_16: Readonly<Record<DensityName, number>> = {
  "2spirals": 5978.486250346338,
  "8gaussians": 5289.617763,
  "circles": 5678.425018694095,
  "moons": 5801.538653864974,
  "pinwheel": 5693.426054334243,
  "swissroll": 6162.401982458576,
  "checkerboard": 5461.352231415222,
  "rings": 6283.939879175967,
};

/** The rule behind INT_SCALE_16, applied to a row-major n×2 sample: 2^15 / (max|v| + 2). */
export function deriveIntScale16(points: Float64Array): number {
  let m = 0;
  for (let i = 0; i < points.length; i++) {
    const a = Math.abs(points[i]);
    if (a > m) m = a;
  }
  return 32768 / (m + 2);
}

export interface DiscretisationScheme {
  readonly density: DensityName;
  /** Bits per coordinate (sign + bits−1 Gray-code bits). */
  readonly bits: number;
  /** Bit-vector length D = 2·bits. */
  readonly D: number;
  /** Cells per unit length: INT_SCALE_16[density] · 2^(bits−16). */
  readonly intScale: number;
  /** Largest magnitude index 2^(bits−1) − 1 (the clipped tail cell). */
  readonly maxIndex: number;
}

export const MIN_BITS = 2;
export const MAX_BITS = 32;

/** The scheme for a density at `bits` bits per coordinate (default 16). */
export function makeScheme(density: string, bits = 16): DiscretisationScheme {
  if (!isDensityName(density)) {
    throw new RangeError(`unknown density "${density}" (one of ${DENSITY_NAMES.join(", ")})`);
  }
  if (!Number.isInteger(bits) || bits < MIN_BITS || bits > MAX_BITS) {
    throw new RangeError(`bits per coordinate must be an integer in [${MIN_BITS}, ${MAX_BITS}], got ${bits}`);
  }
  return {
    density,
    bits,
    D: 2 * bits,
    intScale: INT_SCALE_16[density] * 2 ** (bits - 16),
    maxIndex: 2 ** (bits - 1) - 1,
  };
}

/** Gray code of a non-negative integer < 2^31. */
export function grayEncode(i: number): number {
  return (i ^ (i >>> 1)) >>> 0;
}

/** Inverse Gray code. */
export function grayDecode(g: number): number {
  let i = g >>> 0;
  for (let sh = 1; sh < 32; sh <<= 1) i = (i ^ (i >>> sh)) >>> 0;
  return i;
}

/** A coordinate cell: sign (1 = negative) and magnitude index i ∈ [0, maxIndex]. */
export interface AxisCell {
  sign: 0 | 1;
  index: number;
}

/** The cell of one coordinate value. Throws on a non-finite value. */
export function axisCell(v: number, scheme: DiscretisationScheme): AxisCell {
  if (!Number.isFinite(v)) throw new RangeError(`cannot discretise non-finite value ${v}`);
  const sign = v < 0 ? 1 : 0;
  let i = Math.floor(Math.abs(v) * scheme.intScale);
  if (i > scheme.maxIndex) i = scheme.maxIndex;
  return { sign, index: i };
}

/** The value representing a coordinate cell: its centre ±(i + 0.5)/intScale. */
export function axisCellValue(sign: number, index: number, scheme: DiscretisationScheme): number {
  const v = (index + 0.5) / scheme.intScale;
  return sign === 1 ? -v : v;
}

/**
 * The interval [lo, hi] of a coordinate cell (lo may be −Infinity and hi +Infinity for the clipped tail).
 * Boundary convention: sign 0 is [lo, hi), sign 1 is (lo, hi].
 */
export function axisCellInterval(
  sign: number,
  index: number,
  scheme: DiscretisationScheme,
): [number, number] {
  const s = scheme.intScale;
  const inner = index / s;
  const outer = index === scheme.maxIndex ? Infinity : (index + 1) / s;
  return sign === 1 ? [-outer, -inner] : [inner, outer];
}

/**
 * Monotone position of a coordinate cell along its axis, 0 … 2^bits − 1 (most negative cell first):
 * sign 1 → 2^(bits−1) − 1 − i, sign 0 → 2^(bits−1) + i. Used to lay cells out on a grid.
 */
export function axisOrdinal(sign: number, index: number, scheme: DiscretisationScheme): number {
  const half = scheme.maxIndex + 1;
  return sign === 1 ? half - 1 - index : half + index;
}

/** Inverse of `axisOrdinal`. */
export function axisFromOrdinal(k: number, scheme: DiscretisationScheme): AxisCell {
  const half = scheme.maxIndex + 1;
  return k < half ? { sign: 1, index: half - 1 - k } : { sign: 0, index: k - half };
}

/** Write one coordinate's bits (0/1) into `out[at .. at + bits)`. */
function writeAxisBits(
  sign: number,
  index: number,
  bits: number,
  out: Uint8Array | number[],
  at: number,
): void {
  out[at] = sign;
  const g = grayEncode(index);
  for (let k = 0; k < bits - 1; k++) out[at + 1 + k] = (g >>> (bits - 2 - k)) & 1;
}

function readAxis(bitAt: (k: number) => number, at: number, bits: number): AxisCell {
  const sign = bitAt(at) === 1 ? 1 : 0;
  let g = 0;
  for (let k = 0; k < bits - 1; k++) g = g * 2 + bitAt(at + 1 + k);
  return { sign, index: grayDecode(g) };
}

/** The D bits (0/1) of the point (x, y). */
export function pointBits(x: number, y: number, scheme: DiscretisationScheme): Uint8Array {
  const out = new Uint8Array(scheme.D);
  const cx = axisCell(x, scheme);
  const cy = axisCell(y, scheme);
  writeAxisBits(cx.sign, cx.index, scheme.bits, out, 0);
  writeAxisBits(cy.sign, cy.index, scheme.bits, out, scheme.bits);
  return out;
}

/** Encode n points (row-major n×2) as n×D entries ±1 (bit b ↦ 2b − 1). */
export function encode(points: Float64Array, n: number, scheme: DiscretisationScheme): Int8Array {
  if (points.length < 2 * n) throw new RangeError(`need ${2 * n} coordinates, got ${points.length}`);
  const D = scheme.D;
  const out = new Int8Array(n * D);
  const tmp = new Uint8Array(D);
  for (let r = 0; r < n; r++) {
    const cx = axisCell(points[2 * r], scheme);
    const cy = axisCell(points[2 * r + 1], scheme);
    writeAxisBits(cx.sign, cx.index, scheme.bits, tmp, 0);
    writeAxisBits(cy.sign, cy.index, scheme.bits, tmp, scheme.bits);
    for (let k = 0; k < D; k++) out[r * D + k] = 2 * tmp[k] - 1;
  }
  return out;
}

function checkEntry(e: number): number {
  if (e === 1) return 1;
  if (e === -1) return 0;
  throw new RangeError(`bit-vector entries must be ±1, got ${e}`);
}

/** The (x, y) cells of row `r` of a ±1 batch. */
export function rowCells(x: Int8Array, r: number, scheme: DiscretisationScheme): [AxisCell, AxisCell] {
  const D = scheme.D;
  const at = (k: number) => checkEntry(x[r * D + k]);
  return [readAxis(at, 0, scheme.bits), readAxis(at, scheme.bits, scheme.bits)];
}

/** Decode n rows of ±1 entries (n×D) into the cells' centre values (row-major n×2). */
export function decode(x: Int8Array, n: number, scheme: DiscretisationScheme): Float64Array {
  if (x.length < n * scheme.D) throw new RangeError(`need ${n * scheme.D} entries, got ${x.length}`);
  const out = new Float64Array(2 * n);
  for (let r = 0; r < n; r++) {
    const [cx, cy] = rowCells(x, r, scheme);
    out[2 * r] = axisCellValue(cx.sign, cx.index, scheme);
    out[2 * r + 1] = axisCellValue(cy.sign, cy.index, scheme);
  }
  return out;
}

/**
 * Cell index of a bit vector: the D bits read as a binary number, first entry most significant
 * (0 … 2^D − 1; exact in a double for D ≤ 53). This is the index order of `density_target` tables.
 */
export function cellIndexOfRow(x: Int8Array, r: number, D: number): number {
  let idx = 0;
  for (let k = 0; k < D; k++) idx = idx * 2 + checkEntry(x[r * D + k]);
  return idx;
}

/** Cell index of the point (x, y). */
export function cellIndexOfPoint(x: number, y: number, scheme: DiscretisationScheme): number {
  const cx = axisCell(x, scheme);
  const cy = axisCell(y, scheme);
  return cellIndexOfAxes(cx.sign, cx.index, cy.sign, cy.index, scheme);
}

/** Cell index from the two coordinate cells. */
export function cellIndexOfAxes(
  sx: number,
  ix: number,
  sy: number,
  iy: number,
  scheme: DiscretisationScheme,
): number {
  const half = 2 ** (scheme.bits - 1);
  const ax = sx * half + grayEncode(ix);
  const ay = sy * half + grayEncode(iy);
  return ax * 2 ** scheme.bits + ay;
}

/** The two coordinate cells of a cell index. */
export function axesOfCellIndex(idx: number, scheme: DiscretisationScheme): [AxisCell, AxisCell] {
  const full = 2 ** scheme.bits;
  const half = full / 2;
  const ax = Math.floor(idx / full);
  const ay = idx - ax * full;
  const sx = ax >= half ? 1 : 0;
  const sy = ay >= half ? 1 : 0;
  return [
    { sign: sx, index: grayDecode(ax - sx * half) },
    { sign: sy, index: grayDecode(ay - sy * half) },
  ];
}

/** The ±1 row of a cell index (length D). */
export function rowOfCellIndex(idx: number, scheme: DiscretisationScheme): Int8Array {
  const D = scheme.D;
  const out = new Int8Array(D);
  let v = idx;
  for (let k = D - 1; k >= 0; k--) {
    const b = v % 2;
    out[k] = 2 * b - 1;
    v = (v - b) / 2;
  }
  return out;
}

/** The 0/1 string of a ±1 row, e.g. for printing. */
export function rowToBitString(x: Int8Array, r: number, D: number): string {
  let s = "";
  for (let k = 0; k < D; k++) s += checkEntry(x[r * D + k]) === 1 ? "1" : "0";
  return s;
}

/** Parse a 0/1 string of length D into a ±1 row. Throws RangeError on other characters or length. */
export function bitStringToRow(s: string, D: number): Int8Array {
  if (s.length !== D) throw new RangeError(`expected ${D} bits, got ${s.length}`);
  const out = new Int8Array(D);
  for (let k = 0; k < D; k++) {
    const c = s[k];
    if (c !== "0" && c !== "1") throw new RangeError(`bit string may only contain 0 and 1, got "${c}"`);
    out[k] = c === "1" ? 1 : -1;
  }
  return out;
}
