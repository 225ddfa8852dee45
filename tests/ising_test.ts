import assert from "node:assert/strict";
import { Rng } from "../core/rng.ts";
import {
  isingBonds,
  isingExactLogZ,
  isingLogZBruteForce,
  isingLogZKaufman,
  isingLogZTransfer,
  isingTask,
} from "../core/tasks/ising.ts";

function assertRel(actual: number, expected: number, tol: number, msg = ""): void {
  const rel = Math.abs(actual - expected) / Math.max(Math.abs(expected), 1e-300);
  assert.ok(rel <= tol, `${msg} actual ${actual} expected ${expected} rel ${rel} > ${tol}`);
}

const betas = [0.4, -0.4, 1.0, -1.0, 0.2];

Deno.test("ising logReward: all +1 gives 2L²β, checkerboard on even L gives −2L²β", () => {
  for (const L of [2, 3, 4, 5, 6]) {
    for (const beta of [0.4, -0.7]) {
      const t = isingTask(L, beta);
      const D = L * L;
      assert.equal(t.D, D);
      assert.equal(t.logReward(new Int8Array(D).fill(1), 1)[0], beta * 2 * D);
      assert.equal(t.logReward(new Int8Array(D).fill(-1), 1)[0], beta * 2 * D);
      if (L % 2 === 0) {
        const x = new Int8Array(D);
        for (let i = 0; i < L; i++) for (let j = 0; j < L; j++) x[i * L + j] = (i + j) % 2 === 0 ? 1 : -1;
        assert.equal(t.logReward(x, 1)[0], -beta * 2 * D);
      }
    }
  }
});

Deno.test("ising logReward: single flipped spin on L=3 breaks exactly 4 bonds at every site", () => {
  const beta = 0.4;
  const t = isingTask(3, beta);
  const B = 9;
  const x = new Int8Array(B * 9).fill(1);
  for (let b = 0; b < B; b++) x[b * 9 + b] = -1; // row b flips site b
  const lr = t.logReward(x, B);
  for (let b = 0; b < B; b++) assert.equal(lr[b], beta * (18 - 8), `site ${b}`);
});

Deno.test("ising logReward: L=2 torus has doubled bonds; mixed batch matches hand values", () => {
  // Bonds of L=2: each of the 4 neighbour pairs {0,1},{2,3},{0,2},{1,3} twice.
  const bonds = isingBonds(2);
  const pairs = new Map<string, number>();
  for (let k = 0; k < bonds.length; k += 2) {
    const key = [bonds[k], bonds[k + 1]].sort().join("-");
    pairs.set(key, (pairs.get(key) ?? 0) + 1);
  }
  assert.deepEqual([...pairs.entries()].sort(), [["0-1", 2], ["0-2", 2], ["1-3", 2], ["2-3", 2]]);
  const beta = 0.5;
  const t = isingTask(2, beta);
  // log R = 2β (s0s1 + s2s3 + s0s2 + s1s3)
  const x = Int8Array.from([
    ...[1, 1, 1, 1], // 8β
    ...[1, -1, -1, 1], // checkerboard: −8β
    ...[-1, 1, 1, 1], // one flip: 0
    ...[1, 1, -1, -1], // stripes: 0
  ]);
  assert.deepEqual([...t.logReward(x, 4)], [8 * beta, -8 * beta, 0, 0]);
  // Only the first B rows are read; a short buffer is an error.
  assert.deepEqual([...t.logReward(x, 2)], [8 * beta, -8 * beta]);
  assert.throws(() => t.logReward(x, 5), RangeError);
});

Deno.test("ising logReward agrees with the explicit bond list on random L=5 configurations", () => {
  const L = 5, D = 25, B = 50, beta = -0.3;
  const rng = new Rng(7);
  const x = new Int8Array(B * D);
  for (let i = 0; i < x.length; i++) x[i] = rng.uniform() < 0.5 ? -1 : 1;
  const bonds = isingBonds(L);
  assert.equal(bonds.length, 2 * 2 * D);
  const lr = isingTask(L, beta).logReward(x, B);
  for (let b = 0; b < B; b++) {
    let e = 0;
    for (let k = 0; k < bonds.length; k += 2) e += x[b * D + bonds[k]] * x[b * D + bonds[k + 1]];
    assert.equal(lr[b], beta * e);
  }
});

Deno.test("ising transfer-matrix log Z equals brute force for L = 2, 3, 4 (and 5 at ±0.3)", () => {
  for (const L of [2, 3, 4]) {
    for (const beta of betas) {
      assertRel(isingLogZTransfer(L, beta), isingLogZBruteForce(L, beta), 1e-9, `L=${L} beta=${beta}`);
    }
  }
  for (const beta of [0.3, -0.3]) {
    assertRel(isingLogZTransfer(5, beta), isingLogZBruteForce(5, beta), 1e-9, `L=5 beta=${beta}`);
  }
  // Hand value for L=2: Z = Σ exp(2β(s0s1+s2s3+s0s2+s1s3)) = 2e^{8β} + 2e^{−8β} + 12.
  const beta = 0.4;
  assertRel(
    isingLogZBruteForce(2, beta),
    Math.log(2 * Math.exp(8 * beta) + 2 * Math.exp(-8 * beta) + 12),
    1e-14,
  );
});

Deno.test("ising log Z at β = 0 is D log 2", () => {
  for (const L of [2, 3, 4, 7, 10]) {
    assertRel(isingLogZTransfer(L, 0), L * L * Math.LN2, 1e-13, `L=${L}`);
    if (L <= 4) assertRel(isingLogZBruteForce(L, 0), L * L * Math.LN2, 1e-13, `brute L=${L}`);
  }
});

Deno.test("ising log Z(β) = log Z(−β) for even L, strictly smaller for β < 0 on odd L", () => {
  for (const L of [2, 4, 6, 8]) {
    for (const beta of [0.2, 0.4, 1.0]) {
      assertRel(isingLogZTransfer(L, -beta), isingLogZTransfer(L, beta), 1e-12, `even L=${L} beta=${beta}`);
    }
  }
  for (const L of [3, 5, 7, 9]) {
    for (const beta of [0.4, 1.0]) {
      const ferro = isingLogZTransfer(L, beta), anti = isingLogZTransfer(L, -beta);
      // Frustration: the antiferromagnetic ground state must break at least one bond per odd cycle.
      assert.ok(ferro - anti > 0.1, `odd L=${L} beta=${beta}: ${ferro} vs ${anti}`);
    }
  }
  // L=3 brute force confirms the gap is real, not a transfer-matrix artefact.
  assert.ok(isingLogZBruteForce(3, 0.4) - isingLogZBruteForce(3, -0.4) > 1);
});

Deno.test("ising transfer matrix agrees with Kaufman's closed form for L = 6..8, β > 0", () => {
  for (const L of [6, 7, 8]) {
    for (const beta of [0.1, 0.3, 0.4406868, 0.6, 1.0]) {
      assertRel(isingLogZTransfer(L, beta), isingLogZKaufman(L, beta), 1e-9, `L=${L} beta=${beta}`);
    }
  }
  // Kaufman itself against brute force on L=4.
  assertRel(isingLogZKaufman(4, 0.4), isingLogZBruteForce(4, 0.4), 1e-12);
  assert.throws(() => isingLogZKaufman(4, -0.4), RangeError);
});

Deno.test("ising task: name, cached exact log Z, argument checks", () => {
  const t = isingTask(3, 0.4);
  assert.equal(t.name, "ising(L=3,beta=0.4)");
  assert.equal(t.exactLogZ!(), isingLogZTransfer(3, 0.4));
  assert.equal(t.exactLogZ!(), isingExactLogZ(3, 0.4));
  assertRel(t.exactLogZ!(), isingLogZBruteForce(3, 0.4), 1e-12);
  assert.equal(isingTask(5, 0.4).sampleData, undefined); // D = 25 > 20
  assert.equal(typeof isingTask(4, 0.4).sampleData, "function");
  assert.throws(() => isingLogZBruteForce(6, 0.4), RangeError);
  assert.throws(() => isingLogZTransfer(1, 0.4), RangeError);
  assert.throws(() => isingTask(2.5, 0.4), RangeError);
  assert.throws(() => isingTask(3, NaN), RangeError);
});

Deno.test("ising sampleData on L=2: 20000 samples match exact probabilities within 5 standard errors", () => {
  const L = 2, D = 4, beta = 0.3, n = 20000;
  const t = isingTask(L, beta);
  const xs = t.sampleData!(n, new Rng(123));
  assert.equal(xs.length, n * D);
  const counts = new Float64Array(16);
  for (let i = 0; i < n; i++) {
    let k = 0;
    for (let d = 0; d < D; d++) {
      const v = xs[i * D + d];
      assert.ok(v === 1 || v === -1);
      if (v === 1) k |= 1 << d;
    }
    counts[k]++;
  }
  const all = new Int8Array(16 * D);
  for (let k = 0; k < 16; k++) for (let d = 0; d < D; d++) all[k * D + d] = (k >> d) & 1 ? 1 : -1;
  const lr = t.logReward(all, 16);
  const logZ = isingLogZBruteForce(L, beta);
  let total = 0;
  for (let k = 0; k < 16; k++) {
    const p = Math.exp(lr[k] - logZ);
    total += p;
    const se = Math.sqrt(p * (1 - p) / n);
    assert.ok(Math.abs(counts[k] / n - p) <= 5 * se, `state ${k}: freq ${counts[k] / n} p ${p} se ${se}`);
  }
  assertRel(total, 1, 1e-12);
  // Same seed, same samples.
  assert.deepEqual(t.sampleData!(100, new Rng(5)), t.sampleData!(100, new Rng(5)));
});
