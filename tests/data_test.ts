import assert from "node:assert/strict";
import { Rng } from "../core/rng.ts";
import {
  DENSITY_NAMES,
  EIGHT_GAUSSIANS,
  erf,
  erfc,
  LOG_DENSITY_NAMES,
  logDensity,
  normalIntervalMass,
  sampleDensity,
} from "../core/tasks/densities.ts";
import {
  axesOfCellIndex,
  axisCell,
  axisCellInterval,
  axisFromOrdinal,
  axisOrdinal,
  bitStringToRow,
  cellIndexOfAxes,
  cellIndexOfPoint,
  cellIndexOfRow,
  decode,
  deriveIntScale16,
  encode,
  grayDecode,
  grayEncode,
  INT_SCALE_16,
  makeScheme,
  pointBits,
  rowOfCellIndex,
  rowToBitString,
} from "../core/tasks/discretise.ts";
import {
  cellMassEntropy,
  cellTarget,
  densityTask,
  eightGaussiansCellProbs,
  entropyOfProbs,
  histogramCellProbs,
  plugInEntropy,
} from "../core/tasks/density_target.ts";
import { cellGrid, heatmapSvg, histogram2d } from "../report/heatmap.ts";
import { svgToPng } from "../report/png.ts";

const bitStr = (x: number, y: number, scheme: ReturnType<typeof makeScheme>) =>
  rowToBitString(encode(Float64Array.of(x, y), 1, scheme), 0, scheme.D);

/** Equal typed arrays, reporting only the first difference (assert.deepEqual's diff of large arrays is slow). */
function assertSameArray(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  assert.equal(a.length, b.length, `${what}: length`);
  for (let i = 0; i < a.length; i++) {
    if (!Object.is(a[i], b[i])) assert.fail(`${what}: first difference at ${i}: ${a[i]} vs ${b[i]}`);
  }
}

Deno.test("discretise: encode → decode → encode lands in the same cell (every density, bits 16 and 5)", () => {
  for (const bits of [16, 5]) {
    for (const name of DENSITY_NAMES) {
      const scheme = makeScheme(name, bits);
      const n = 3000;
      const pts = sampleDensity(name, n, new Rng(11));
      // add far-out points (clipped tail cells) and exact zeros
      pts[0] = 1e6;
      pts[1] = -1e6;
      pts[2] = 0;
      pts[3] = -0;
      const x = encode(pts, n, scheme);
      assert.equal(x.length, n * scheme.D);
      for (const e of x) assert.ok(e === 1 || e === -1);
      const c = decode(x, n, scheme);
      const x2 = encode(c, n, scheme);
      assertSameArray(x2, x, `${name} bits=${bits}`);
      // the decoded value is the centre of the cell interval that holds the original point
      for (let i = 0; i < 2 * n; i++) {
        const a = axisCell(pts[i], scheme);
        const [lo, hi] = axisCellInterval(a.sign, a.index, scheme);
        assert.ok(pts[i] >= lo && pts[i] <= hi, `${pts[i]} in [${lo}, ${hi}]`);
        if (a.index < scheme.maxIndex) {
          assert.ok(Math.abs(c[i] - (lo + hi) / 2) < 1e-9 * (1 + Math.abs(c[i])));
        }
      }
      // cell indices: row ↔ index ↔ axes agree
      for (let r = 0; r < 50; r++) {
        const idx = cellIndexOfRow(x, r, scheme.D);
        assert.equal(idx, cellIndexOfPoint(pts[2 * r], pts[2 * r + 1], scheme));
        assertSameArray(rowOfCellIndex(idx, scheme), x.slice(r * scheme.D, (r + 1) * scheme.D), `row ${r}`);
        const [ax, ay] = axesOfCellIndex(idx, scheme);
        assert.deepEqual(ax, axisCell(pts[2 * r], scheme));
        assert.deepEqual(ay, axisCell(pts[2 * r + 1], scheme));
        assert.equal(cellIndexOfAxes(ax.sign, ax.index, ay.sign, ay.index, scheme), idx);
      }
    }
  }
});

Deno.test("discretise: Gray code — cells i and i+1 of the same sign differ in exactly one bit", () => {
  for (const bits of [16, 5]) {
    const scheme = makeScheme("2spirals", bits);
    for (let i = 0; i < scheme.maxIndex; i++) {
      assert.equal(grayDecode(grayEncode(i)), i);
      const diff = grayEncode(i) ^ grayEncode(i + 1);
      assert.equal(diff & (diff - 1), 0, `one bit for i=${i}`);
      assert.notEqual(diff, 0);
    }
    // through the full encoder, for points in adjacent cells, both signs
    for (const i of [0, 1, 2, 7, 100, scheme.maxIndex - 1]) {
      if (i >= scheme.maxIndex) continue;
      for (const sgn of [1, -1]) {
        const v1 = (sgn * (i + 0.5)) / scheme.intScale;
        const v2 = (sgn * (i + 1.5)) / scheme.intScale;
        const a = pointBits(v1, 0.3, scheme);
        const b = pointBits(v2, 0.3, scheme);
        let d = 0;
        for (let k = 0; k < scheme.D; k++) d += a[k] !== b[k] ? 1 : 0;
        assert.equal(d, 1, `bits=${bits} i=${i} sign=${sgn}`);
      }
    }
    // axis ordinals are a monotone bijection onto 0 … 2^bits − 1
    for (let k = 0; k < 2 ** bits; k += bits === 16 ? 97 : 1) {
      const a = axisFromOrdinal(k, scheme);
      assert.equal(axisOrdinal(a.sign, a.index, scheme), k);
    }
  }
});

Deno.test("discretise: known encodings (8gaussians at 16 bits, clipping, 5 bits)", () => {
  const s16 = makeScheme("8gaussians", 16);
  assert.equal(s16.intScale, 5289.617763);
  assert.equal(s16.D, 32);
  // x = 1.0: i = floor(5289.617763) = 5289 = 0b001010010101001, Gray = 5289 ^ 2644 = 0b001111011111101
  // y = −0.5: i = floor(2644.8088815) = 2644, Gray = 2644 ^ 1322 = 0b000111101111110, sign bit 1
  assert.equal(grayEncode(5289), 0b001111011111101);
  assert.equal(bitStr(1.0, -0.5, s16), "0001111011111101" + "1000111101111110");
  // origin: all zero bits; −0 is not negative
  assert.equal(bitStr(0, -0, s16), "0".repeat(32));
  // a tiny negative value only sets the sign bit
  assert.equal(bitStr(-1e-9, 0, s16), "1" + "0".repeat(31));
  // clipping: i = 2^15 − 1 = 32767, Gray = 32767 ^ 16383 = 16384 = 0b100000000000000
  assert.equal(bitStr(1e6, -1e6, s16), "0100000000000000" + "1100000000000000");
  // decoding gives the cell centre with the sign
  const c = decode(bitStringToRow("0001111011111101" + "1000111101111110", 32), 1, s16);
  assert.equal(c[0], 5289.5 / 5289.617763);
  assert.equal(c[1], -2644.5 / 5289.617763);
  // 5 bits: int_scale scaled by 2^(5−16); x = 1.0 → i = floor(5289.617763/2048) = 2, Gray 3 = 0011
  const s5 = makeScheme("8gaussians", 5);
  assert.equal(s5.intScale, 5289.617763 / 2048);
  assert.equal(bitStr(1.0, -1.0, s5), "00011" + "10011");
  // the same plane region is covered at every bits: edge of the last cell = 2^15 / int_scale16
  for (const bits of [5, 16, 20]) {
    const s = makeScheme("2spirals", bits);
    assert.ok(Math.abs((s.maxIndex + 1) / s.intScale - 32768 / 5978.486250346338) < 1e-12);
  }
  assert.equal(makeScheme("2spirals").intScale, 5978.486250346338);
});

Deno.test("discretise: bad inputs throw", () => {
  const s = makeScheme("2spirals", 4);
  assert.throws(() => makeScheme("nope", 16), RangeError);
  assert.throws(() => makeScheme("2spirals", 1), RangeError);
  assert.throws(() => makeScheme("2spirals", 33), RangeError);
  assert.throws(() => makeScheme("2spirals", 4.5), RangeError);
  assert.throws(() => encode(Float64Array.of(NaN, 0), 1, s), RangeError);
  assert.throws(() => encode(Float64Array.of(Infinity, 0), 1, s), RangeError);
  assert.throws(() => decode(new Int8Array(8), 1, s), RangeError); // entries must be ±1
  assert.throws(() => bitStringToRow("0101", 8), RangeError);
  assert.throws(() => bitStringToRow("0101010x", 8), RangeError);
});

Deno.test("int_scale constants: the reference's for 2spirals/8gaussians, 2^15/(max|v|+2) of 5000 seed-0 samples for the rest", () => {
  for (const name of DENSITY_NAMES) {
    const derived = deriveIntScale16(sampleDensity(name, 5000, new Rng(0)));
    if (name === "2spirals" || name === "8gaussians") {
      // the reference's samples differ from ours; the implied max|v| must still be close to ours
      const implied = 32768 / INT_SCALE_16[name] - 2;
      const ours = 32768 / derived - 2;
      assert.ok(Math.abs(implied - ours) < 0.3, `${name}: ${implied} vs ${ours}`);
    } else {
      assert.equal(INT_SCALE_16[name], derived, name);
    }
  }
});

Deno.test("densities: 8gaussians mean ≈ 0, radius and component statistics match the mixture", () => {
  const n = 200_000;
  const p = sampleDensity("8gaussians", n, new Rng(5));
  const s = EIGHT_GAUSSIANS.std; // 0.5/1.414
  const R = 4 / 1.414;
  let mx = 0;
  let my = 0;
  let r2 = 0;
  let r2sq = 0;
  const counts = new Float64Array(8);
  let dev2 = 0;
  for (let i = 0; i < n; i++) {
    const x = p[2 * i];
    const y = p[2 * i + 1];
    mx += x;
    my += y;
    const q = x * x + y * y;
    r2 += q;
    r2sq += q * q;
    let best = 0;
    let bd = Infinity;
    for (let k = 0; k < 8; k++) {
      const [cx, cy] = EIGHT_GAUSSIANS.centres[k];
      const d = (x - cx) ** 2 + (y - cy) ** 2;
      if (d < bd) {
        bd = d;
        best = k;
      }
    }
    counts[best]++;
    dev2 += bd;
  }
  mx /= n;
  my /= n;
  // Var of a coordinate: centre part (R²/2) + s²
  const sdMean = Math.sqrt((R * R) / 2 + s * s) / Math.sqrt(n);
  assert.ok(Math.abs(mx) < 5 * sdMean && Math.abs(my) < 5 * sdMean, `mean ${mx}, ${my}`);
  // E r² = R² + 2 s²
  r2 /= n;
  const seR2 = Math.sqrt((r2sq / n - r2 * r2) / n);
  assert.ok(Math.abs(r2 - (R * R + 2 * s * s)) < 5 * seR2, `E r² ${r2} vs ${R * R + 2 * s * s}`);
  // components: each 1/8 (nearest-centre assignment; the overlap is negligible at 6σ separation)
  for (const c of counts) assert.ok(Math.abs(c / n - 1 / 8) < 5 * Math.sqrt((1 / 8) * (7 / 8) / n));
  // squared distance to the nearest centre: E = 2 s²
  assert.ok(Math.abs(dev2 / n - 2 * s * s) < 0.01 * 2 * s * s, `E d² ${dev2 / n}`);
});

Deno.test("densities: 2spirals range, arms and symmetry; seeds reproduce and differ", () => {
  const n = 100_000;
  const p = sampleDensity("2spirals", n, new Rng(9));
  let maxAbs = 0;
  let sx = 0;
  let sy = 0;
  for (let i = 0; i < n; i++) {
    maxAbs = Math.max(maxAbs, Math.abs(p[2 * i]), Math.abs(p[2 * i + 1]));
    sx += p[2 * i];
    sy += p[2 * i + 1];
    // arm points without noise lie within radius (3π + 0.5√2)/3 ≈ 3.377; noise std 0.1
    assert.ok(Math.hypot(p[2 * i], p[2 * i + 1]) < 3.377 + 0.8);
  }
  assert.ok(maxAbs > 3 && maxAbs < 4.2, `max|v| ${maxAbs}`);
  // the two arms are point reflections of each other: means cancel up to MC error
  assert.ok(Math.abs(sx / n) < 0.03 && Math.abs(sy / n) < 0.03);
  // rows alternate between arm and −arm
  const a = sampleDensity("2spirals", 2, new Rng(1));
  assert.equal(a.length, 4);
  for (const name of DENSITY_NAMES) {
    const u = sampleDensity(name, 500, new Rng(42));
    const v = sampleDensity(name, 500, new Rng(42));
    const w = sampleDensity(name, 500, new Rng(43));
    assertSameArray(u, v, `${name} reproduces`);
    let same = 0;
    for (let i = 0; i < u.length; i++) same += u[i] === w[i] ? 1 : 0;
    assert.ok(same < 10, `${name}: different seeds differ`);
    for (const t of u) assert.ok(Number.isFinite(t));
  }
  assert.throws(() => sampleDensity("nope", 3, new Rng(0)), RangeError);
});

Deno.test("densities: erf/erfc/normal interval mass against reference values", () => {
  // values from CPython math.erf / math.erfc
  const table: [number, number, number][] = [
    [0.1, 0.1124629160182849, 0.8875370839817152],
    [0.5, 0.5204998778130465, 0.4795001221869535],
    [1, 0.8427007929497149, 0.15729920705028513],
    [1.99, 0.995111413199617, 0.004888586800383003],
    [2.01, 0.9955248493552482, 0.004475150644751763],
    [3, 0.9999779095030014, 2.2090496998585438e-05],
    [5, 0.9999999999984626, 1.5374597944280351e-12],
    [10, 1, 2.088487583762545e-45],
    [20, 1, 5.3958656116079005e-176],
  ];
  for (const [x, e, ec] of table) {
    assert.ok(Math.abs(erf(x) - e) < 1e-15, `erf(${x})`);
    assert.ok(Math.abs(erf(-x) + e) < 1e-15, `erf(${-x})`);
    assert.ok(Math.abs(erfc(x) - ec) < 1e-13 * ec, `erfc(${x}) = ${erfc(x)}`);
    assert.ok(Math.abs(erfc(-x) - (2 - ec)) < 1e-15);
  }
  assert.equal(normalIntervalMass(-Infinity, Infinity), 1);
  assert.equal(normalIntervalMass(1, 1), 0);
  // deep tail keeps relative precision: P(5 < Z ≤ 6) = (erfc(5/√2) − erfc(6/√2))/2 = 2.8566e-7
  assert.ok(Math.abs(normalIntervalMass(5, 6) / 2.856649842341569e-7 - 1) < 1e-12);
  assert.equal(normalIntervalMass(5, 6), normalIntervalMass(-6, -5));
});

Deno.test("densities: continuous log-densities integrate to the sampled mass of a box", () => {
  for (const name of LOG_DENSITY_NAMES) {
    const lo = -1;
    const hi = 1.5;
    const m = 50;
    const h = (hi - lo) / m;
    let integral = 0;
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < m; j++) {
        integral += Math.exp(logDensity(name, lo + (i + 0.5) * h, lo + (j + 0.5) * h)) * h * h;
      }
    }
    const n = 200_000;
    const p = sampleDensity(name, n, new Rng(17));
    let k = 0;
    for (let i = 0; i < n; i++) {
      if (p[2 * i] >= lo && p[2 * i] < hi && p[2 * i + 1] >= lo && p[2 * i + 1] < hi) k++;
    }
    const frac = k / n;
    const se = Math.sqrt((frac * (1 - frac)) / n);
    // midpoint rule (h = 0.05) error allowance 1.5% relative + 5 MC standard errors
    assert.ok(
      Math.abs(integral - frac) < 5 * se + 0.015 * frac,
      `${name}: ∫ = ${integral}, MC = ${frac} ± ${se}`,
    );
  }
  assert.equal(logDensity("checkerboard", 0.5, 0.5), -Math.log(32));
  assert.equal(logDensity("checkerboard", 0.5, -0.5), -Infinity);
  assert.throws(() => logDensity("pinwheel", 0, 0), RangeError);
});

Deno.test("densities: log-densities agree with an independent scipy computation (quad / Bessel)", () => {
  // scipy.integrate.quad (epsrel 1e-12) over the curve parameter, box ⊗ Gaussian via norm.cdf; i0e for rings
  const ref: [string, number, number, number][] = [
    ["2spirals", 0.5, 0.5, -3.288828841493695],
    ["2spirals", -1.0, 2.0, -4.4485542052585565],
    ["2spirals", 2.9, 0.9, -2.620438137320954],
    ["2spirals", 0, 0, -3.6474513857762507],
    ["2spirals", 3.3, 0.3, -2.60073183991781],
    ["moons", 0, 0.5, -9.161037252559087],
    ["moons", 1, -0.3, -3.0148156009412825],
    ["moons", -0.5, 0.9, -6.010884385422245],
    ["swissroll", 0.5, -1, -1.7308815642319584],
    ["swissroll", -1.5, 1.5, -4.12381703460847],
    ["swissroll", 2, 0.5, -5.469093307498209],
    ["rings", 1.4, 0.5, -2.0320164588835374],
    ["circles", -1, 2.6, -3.4822655983780133],
  ];
  for (const [d, x, y, v] of ref) {
    const got = logDensity(d, x, y);
    assert.ok(Math.abs(got - v) < 1e-6, `${d}(${x}, ${y}) = ${got}, scipy ${v}`);
  }
});

Deno.test("density_target: 8gaussians at 4 bits/coord is exact, sums to 1 and matches a large MC histogram", () => {
  const scheme = makeScheme("8gaussians", 4);
  const p = eightGaussiansCellProbs(scheme);
  assert.equal(p.length, 256);
  let sum = 0;
  for (const v of p) sum += v;
  assert.ok(Math.abs(sum - 1) < 1e-12, `sum ${sum}`);
  // two cells against scipy.stats.norm (independent implementation)
  const s = scheme.intScale;
  assert.ok(Math.abs(p[cellIndexOfPoint(3.5 / s, -0.5 / s, scheme)] / 0.04250156633902127 - 1) < 1e-12);
  assert.ok(Math.abs(p[cellIndexOfPoint(100, 0.5 / s, scheme)] / 7.040706967439457e-15 - 1) < 1e-9);
  // MC: chi-square over cells with p ≥ 1e-6 and a per-cell bound
  const n = 2_000_000;
  const q = histogramCellProbs(scheme, n, new Rng(1));
  let chi2 = 0;
  let df = -1;
  for (let c = 0; c < p.length; c++) {
    assert.ok(Math.abs(q[c] - p[c]) <= 6 * Math.sqrt(p[c] / n) + 3 / n, `cell ${c}: ${q[c]} vs ${p[c]}`);
    if (p[c] >= 1e-6) {
      chi2 += (n * (q[c] - p[c]) ** 2) / p[c];
      df++;
    }
  }
  assert.ok(chi2 < df + 6 * Math.sqrt(2 * df), `chi2 ${chi2} df ${df}`);
  // and the table through cellTarget: normalised logs, exact method, floor keeps everything finite
  const t = cellTarget("8gaussians", 4);
  assert.equal(t.method, "exact");
  let lse = 0;
  for (const l of t.logProbs) {
    assert.ok(Number.isFinite(l));
    assert.ok(l >= Math.log(1e-12) - 1e-9);
    lse += Math.exp(l);
  }
  assert.ok(Math.abs(lse - 1) < 1e-12);
});

Deno.test("density_target: densityTask is a normalised BitTask whose data land on the table", () => {
  const task = densityTask("8gaussians", 3);
  assert.equal(task.D, 6);
  assert.equal(task.name, "8gaussians(bits=3)");
  assert.ok(Math.abs(task.exactLogZ!()) < 1e-12);
  const x = task.sampleData!(1000, new Rng(3));
  assert.equal(x.length, 6000);
  const lr = task.logReward(x, 1000);
  for (let r = 0; r < 1000; r++) {
    assert.equal(lr[r], task.target.logProbs[cellIndexOfRow(x, r, 6)]);
  }
  // all 2^D rows: Σ exp(logReward) = 1
  const all = new Int8Array(64 * 6);
  for (let c = 0; c < 64; c++) all.set(rowOfCellIndex(c, task.target.scheme), c * 6);
  let z = 0;
  for (const l of task.logReward(all, 64)) z += Math.exp(l);
  assert.ok(Math.abs(z - 1) < 1e-12);
  // a Monte Carlo target (2spirals): documented sample count and seed, normalised, finite with the floor
  const mc = densityTask("2spirals", 3, { mcSamples: 100_000, seed: 2 });
  assert.equal(mc.target.method, "monte-carlo");
  assert.equal(mc.target.mcSamples, 100_000);
  assert.ok(Math.abs(mc.exactLogZ!()) < 1e-12);
  for (const l of mc.target.logProbs) assert.ok(Number.isFinite(l));
  // same seed → same table; too many bits → error
  assertSameArray(
    cellTarget("2spirals", 3, { mcSamples: 50_000, seed: 4 }).probs,
    cellTarget("2spirals", 3, { mcSamples: 50_000, seed: 4 }).probs,
    "MC table reproduces",
  );
  assert.throws(() => cellTarget("8gaussians", 9), RangeError);
});

Deno.test("entropy: plug-in/Miller–Madow on known counts; cell-mass MC agrees with the exact table", () => {
  const e = plugInEntropy(Float64Array.of(7, 3, 3, 9));
  assert.equal(e.distinct, 3);
  const expected = -(0.25 * Math.log(0.25) * 2 + 0.5 * Math.log(0.5));
  assert.ok(Math.abs(e.plugin - expected) < 1e-15);
  assert.ok(Math.abs(e.millerMadow - (expected + 2 / 8)) < 1e-15);
  assert.equal(plugInEntropy(Float64Array.of(1, 1, 1)).plugin, 0);
  const scheme = makeScheme("8gaussians", 4);
  const H = entropyOfProbs(eightGaussiansCellProbs(scheme));
  const r = cellMassEntropy(scheme, 50_000, new Rng(8));
  assert.ok(Math.abs(r.H - H) < 5 * r.se, `cell-mass ${r.H} ± ${r.se} vs exact ${H}`);
  // at 16 bits the exact cell-mass estimate matches h(continuous) + 2 log(int_scale) = 19.97888 (numpy grid)
  const r16 = cellMassEntropy(makeScheme("8gaussians", 16), 50_000, new Rng(8));
  assert.ok(Math.abs(r16.H - 19.978882937576998) < 5 * r16.se, `${r16.H} ± ${r16.se}`);
});

Deno.test("heatmap: histogram counts, cell grid layout, SVG and PNG output", async () => {
  const pts = Float64Array.of(-0.9, -0.9, 0.1, 0.1, 0.1, 0.2, 5, 5);
  const g = histogram2d(pts, 4, 2, -1, 1);
  assert.deepEqual(Array.from(g.values), [1, 0, 0, 2]); // row 0 = low y; (5,5) dropped
  const scheme = makeScheme("8gaussians", 2);
  const probs = new Float64Array(16);
  const idx = cellIndexOfPoint(0.1, -0.1, scheme); // x ≥ 0 first cell, y < 0 first cell
  probs[idx] = 1;
  const cg = cellGrid(probs, scheme);
  assert.equal(cg.nx, 4);
  // x ordinal 2 (sign 0, i 0), y ordinal 1 (sign 1, i 0)
  assert.equal(cg.values[1 * 4 + 2], 1);
  const svg = await heatmapSvg(g, { title: "t<1>" });
  assert.ok(svg.startsWith("<svg") && svg.includes("t&lt;1&gt;") && svg.trimEnd().endsWith("</svg>"));
  const png = await svgToPng(svg);
  assert.deepEqual(Array.from(png.slice(0, 8)), [137, 80, 78, 71, 13, 10, 26, 10]);
});

async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const main = new URL("../main.ts", import.meta.url).pathname;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", main, "data", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("cli data: bad inputs exit 2 with one line on stderr; good input prints the encoding", async () => {
  const bad = [
    ["--task", "nope", "--sample", "3"],
    ["--sample", "3"],
    ["--task", "2spirals"],
    ["--task", "2spirals", "--encode", "1"],
    ["--task", "2spirals", "--encode", "1,abc"],
    ["--task", "2spirals", "--decode", "0101"],
    ["--task", "2spirals", "--decode", "2".repeat(32)],
    ["--task", "2spirals", "--sample", "-1"],
    ["--task", "2spirals", "--sample", "3", "--format", "xml"],
    ["--task", "2spirals", "--plot", "a.jpg"],
    ["--task", "2spirals", "--bits", "40", "--sample", "1"],
    ["--task", "2spirals", "--bogus"],
    ["--task", "2spirals", "--sample", "3", "--encode", "1,2"],
    ["--task", "2spirals", "--entropy", "--samples", "0"],
  ];
  for (const args of bad) {
    const r = await runCli(args);
    assert.equal(r.code, 2, `${args.join(" ")} → ${r.code}: ${r.stderr}`);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `${args.join(" ")}: ${r.stderr}`);
    assert.match(lines[0], /^error: /);
  }
  const ok = await runCli(["--task", "8gaussians", "--encode", "1.0,-0.5"]);
  assert.equal(ok.code, 0);
  assert.equal(ok.stdout.trim(), "00011110111111011000111101111110");
  const dec = await runCli(["--task", "8gaussians", "--decode", "00011110111111011000111101111110"]);
  assert.equal(dec.stdout.trim(), `${5289.5 / 5289.617763},${-2644.5 / 5289.617763}`);
  const smp = await runCli([
    "--task",
    "moons",
    "--sample",
    "3",
    "--bits",
    "4",
    "--format",
    "bits",
    "--seed",
    "5",
  ]);
  const lines = smp.stdout.trim().split("\n");
  assert.equal(lines.length, 3);
  const expect = encode(sampleDensity("moons", 3, new Rng(5)), 3, makeScheme("moons", 4));
  for (let r = 0; r < 3; r++) assert.equal(lines[r], rowToBitString(expect, r, 8));
});
