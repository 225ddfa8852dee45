/**
 * Metrics of the 2D-density tasks: the importance-sampled NLL of paper Eq. 7 against the exact marginal, the
 * exp-Hamming MMD, and training on the exact discretised target (D = 10).
 */
import assert from "node:assert/strict";
import { jsGemm } from "../core/nn/gemm.ts";
import { initMlp } from "../core/nn/mlp.ts";
import { preparePolicy, runTrajectories } from "../core/gfn/trajectories.ts";
import { Rng } from "../core/rng.ts";
import { mean, std } from "../core/math.ts";
import { exactForward } from "../core/eval/exact.ts";
import { exactIndexOfRow, exactLogLikelihoods, isLogLikelihoods, summariseNll } from "../core/eval/nll.ts";
import { expHammingKernel, hammingDistance, mmdExpHamming } from "../core/eval/mmd.ts";
import { densityTask } from "../core/tasks/density_target.ts";
import { densityDefaults, parseTrainConfig } from "../core/train/config.ts";
import { trainRun } from "../core/train/trainer.ts";

function meanSe(v: ArrayLike<number>): [number, number] {
  return [mean(v), std(v) / Math.sqrt(v.length)];
}

Deno.test("Eq. 7 IS NLL agrees with the exact marginal NLL (D = 10, 8gaussians at 5 bits, a non-uniform policy)", () => {
  const D = 10;
  const net = initMlp([D, 32, 32, 2 * D], "swish", "he-uniform", new Rng(12));
  for (const b of net.b) for (let i = 0; i < b.length; i++) b[i] = 0.5 * Math.sin(3 * i);
  const pol = preparePolicy(net);
  const task = densityTask("8gaussians", 5);
  const n = 1500;
  const x = task.sampleData!(n, new Rng(99));
  const exact = exactLogLikelihoods(exactForward(pol, jsGemm).qT, x, n, D);
  const rng = new Rng(5);
  // Q̂_T(x) is unbiased for Q_T(x): mean of the ratio is 1 within Monte Carlo error
  const is20 = isLogLikelihoods(pol, jsGemm, x, n, 20, rng);
  const ratio = is20.map((v, i) => Math.exp(v - exact[i]));
  const [mr, ser] = meanSe(ratio);
  assert.ok(Math.abs(mr - 1) < 4 * ser, `E[Q̂/Q] = ${mr} ± ${ser}`);
  assert.ok(ser < 0.05, `${ser}`);
  // the NLL: −mean log Q̂ ≥ −mean log Q up to MC error (Jensen), and within MC error of it
  const d20 = is20.map((v, i) => exact[i] - v);
  const [md, sed] = meanSe(d20);
  assert.ok(md > -4 * sed, `Jensen: NLL_IS − NLL_exact = ${md} ± ${sed}`);
  assert.ok(md < 0.1, `N = 20 bias ${md}`);
  // more trajectories, smaller Jensen bias: N = 200 on the first 300 points
  const is200 = isLogLikelihoods(pol, jsGemm, x.subarray(0, 300 * D), 300, 200, rng);
  const [m200, se200] = meanSe(is200.map((v, i) => exact[i] - v));
  assert.ok(Math.abs(m200) < 4 * se200 + 0.01, `N = 200: ${m200} ± ${se200}`);
  // and the summary figures
  const s = summariseNll(is20, D), e = summariseNll(exact, D);
  assert.ok(Math.abs(s.nll - e.nll) < 0.1);
  assert.equal(s.bitsPerDim, s.nll / (D * Math.LN2));
  assert.equal(exactIndexOfRow(Int8Array.from([1, -1, 1]), 0, 3), 5);
});

Deno.test("Eq. 7 identity: averaging q(τ) over all D! orders of a point gives Q_T(x) exactly (D = 4)", () => {
  const D = 4;
  const net = initMlp([D, 16, 2 * D], "tanh", "he-uniform", new Rng(8), Float64Array);
  for (const b of net.b) for (let i = 0; i < b.length; i++) b[i] = Math.cos(2 * i);
  const pol = preparePolicy(net);
  const qT = exactForward(pol, jsGemm).qT;
  const perms: number[][] = [];
  const rec = (p: number[], rest: number[]) => {
    if (!rest.length) return void perms.push(p);
    rest.forEach((d, i) => rec([...p, d], [...rest.slice(0, i), ...rest.slice(i + 1)]));
  };
  rec([], [0, 1, 2, 3]);
  for (let idx = 0; idx < 16; idx++) {
    const row = Int8Array.from({ length: D }, (_, d) => ((idx >> d) & 1 ? 1 : -1));
    const xs = new Int8Array(24 * D), order = new Int32Array(24 * D);
    perms.forEach((p, i) => {
      xs.set(row, i * D);
      order.set(p, i * D);
    });
    const batch = runTrajectories(pol, jsGemm, 24, new Rng(0), { cache: false, given: { x: xs, order } });
    let s = 0;
    for (let i = 0; i < 24; i++) s += Math.exp(batch.logq[i]);
    assert.ok(Math.abs(Math.log(s / 24) - Math.log(qT[idx])) < 1e-12, `x index ${idx}`);
  }
});

Deno.test("exp-Hamming kernel: exact values on hand-made vectors", () => {
  const a = Int8Array.from([1, 1, -1, -1, 1]), b = Int8Array.from([1, -1, -1, 1, -1]);
  assert.equal(hammingDistance(a, 0, b, 0, 5), 3);
  assert.equal(expHammingKernel(3), Math.exp(-0.3));
  assert.equal(expHammingKernel(0), 1);
  // one point each: MMD² = k(a,a) + k(b,b) − 2k(a,b) = 2 − 2e^{−0.3}
  assert.ok(Math.abs(mmdExpHamming(a, 1, b, 1, 5) - (2 - 2 * Math.exp(-0.3))) < 1e-15);
  // two points each, by hand: X = {a, b}, Y = {a, c}, H(a,b)=3, H(a,c)=1, H(b,c)=2
  const c = Int8Array.from([1, 1, -1, -1, -1]);
  const X = Int8Array.from([...a, ...b]), Y = Int8Array.from([...a, ...c]);
  const k = (h: number) => Math.exp(-0.1 * h);
  const biased = (2 + 2 * k(3)) / 4 + (2 + 2 * k(1)) / 4 - 2 * (k(0) + k(1) + k(3) + k(2)) / 4;
  const unbiased = (2 * k(3)) / 2 + (2 * k(1)) / 2 - 2 * (k(0) + k(1) + k(3) + k(2)) / 4;
  assert.ok(Math.abs(mmdExpHamming(X, 2, Y, 2, 5) - biased) < 1e-15);
  assert.ok(Math.abs(mmdExpHamming(X, 2, Y, 2, 5, { estimator: "unbiased" }) - unbiased) < 1e-15);
  assert.ok(
    Math.abs(
      mmdExpHamming(X, 2, Y, 2, 5, { bandwidth: 1 }) - (
        (2 + 2 * Math.exp(-3)) / 4 + (2 + 2 * Math.exp(-1)) / 4 -
        2 * (1 + Math.exp(-1) + Math.exp(-3) + Math.exp(-2)) / 4
      ),
    ) < 1e-15,
  );
});

Deno.test("MMD: zero for identical sets, positive and growing with the difference (D = 40, multi-word packing)", () => {
  const D = 40, n = 300;
  const rng = new Rng(3);
  const base = new Int8Array(n * D).map(() => (rng.uniform() < 0.3 ? 1 : -1));
  assert.equal(mmdExpHamming(base, n, base, n, D), 0);
  const flip = (p: number) => base.map((v) => (rng.uniform() < p ? -v : v));
  const near = flip(0.05), far = flip(0.3);
  const mNear = mmdExpHamming(base, n, near, n, D), mFar = mmdExpHamming(base, n, far, n, D);
  assert.ok(mNear > 0 && mFar > 2 * mNear, `${mNear} ${mFar}`);
  const uNear = mmdExpHamming(base, n, near, n, D, { estimator: "unbiased" });
  const uFar = mmdExpHamming(base, n, far, n, D, { estimator: "unbiased" });
  assert.ok(uFar > 2 * uNear && uFar > 0, `${uNear} ${uFar}`);
  // naive double loop agrees with the packed popcount version
  let kxy = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) kxy += Math.exp(-0.1 * hammingDistance(base, i, far, j, D));
  }
  let kxx = 0, kyy = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      kxx += Math.exp(-0.1 * hammingDistance(base, i, base, j, D));
      kyy += Math.exp(-0.1 * hammingDistance(far, i, far, j, D));
    }
  }
  assert.ok(Math.abs(mFar - (kxx + kyy - 2 * kxy) / (n * n)) < 1e-12);
});

Deno.test("training on the exact discretised target (energy exact, D = 10) drives the exact KL and NLL down; IS NLL tracks exact NLL", async () => {
  const config = parseTrainConfig({
    task: "8gaussians",
    bits: 5,
    energy: "exact",
    objective: "atb",
    alpha: 0.5,
    steps: 150,
    batch: 64,
    lr: 3e-3,
    hidden: [32, 32],
    eval_every: 75,
    eval_samples: 500,
    nll_points: 1000,
    nll_trajectories: 20,
    mmd_samples: 500,
    seed: 1,
  });
  const records: Record<string, number>[] = [];
  const summary = await trainRun(config, {
    gemm: jsGemm,
    onEval: (r) => void records.push(r as Record<string, number>),
  });
  const first = records[0], last = records[records.length - 1];
  assert.ok(
    last.exact_kl_terminal < 0.5 * first.exact_kl_terminal,
    `${first.exact_kl_terminal} → ${last.exact_kl_terminal}`,
  );
  assert.ok(last.exact_nll < first.exact_nll - 1, `${first.exact_nll} → ${last.exact_nll}`);
  assert.ok(last.mmd < first.mmd, `${first.mmd} → ${last.mmd}`);
  for (const r of records) {
    assert.ok(r.nll > r.exact_nll - 4 * r.nll_se && r.nll - r.exact_nll < 0.1, `${r.nll} vs ${r.exact_nll}`);
    assert.ok(Math.abs(r.exact_log_z) < 1e-9, "the exact target is normalised");
  }
  assert.equal(first.test_seed, densityDefaults(config).test_seed);
  assert.equal(summary.nll, last.nll);
});
