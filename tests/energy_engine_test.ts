/** Engine pieces of the energy pipeline: generic MLP backward pass, trajectories from partial start states. */
import assert from "node:assert/strict";
import { jsGemm } from "../core/nn/gemm.ts";
import { initMlp, mlpForward, params, zerosLike } from "../core/nn/mlp.ts";
import { mlpBackward, mlpForwardCached } from "../core/nn/backprop.ts";
import { preparePolicy, randomOrders, runTrajectories } from "../core/gfn/trajectories.ts";
import { Rng } from "../core/rng.ts";

Deno.test("mlpBackward: gradient of Σ dOut ⊙ out matches central finite differences (float64, every activation)", () => {
  for (const act of ["elu", "swish", "tanh"] as const) {
    const net = initMlp([5, 7, 6, 3], act, "he-uniform", new Rng(3), Float64Array);
    for (const b of net.b) for (let i = 0; i < b.length; i++) b[i] = 0.2 * Math.cos(3 * i + 1);
    const n = 4;
    const rng = new Rng(11);
    const x = new Float64Array(n * 5).map(() => (rng.uniform() < 0.5 ? -1 : 1));
    const dOut = new Float64Array(n * 3).map(() => rng.normal());
    const loss = () => {
      const out = mlpForward(net, jsGemm, x, n);
      let s = 0;
      for (let i = 0; i < out.length; i++) s += dOut[i] * out[i];
      return s;
    };
    const cache = mlpForwardCached(net, jsGemm, x, n);
    assert.deepEqual(Array.from(cache.out), Array.from(mlpForward(net, jsGemm, x, n)));
    const grads = zerosLike(net);
    mlpBackward(net, jsGemm, cache, dOut, grads);
    const ps = params(net);
    let checked = 0;
    for (let p = 0; p < ps.length; p++) {
      for (let i = 0; i < ps[p].length; i += 3) {
        const keep = ps[p][i], h = 1e-6;
        ps[p][i] = keep + h;
        const up = loss();
        ps[p][i] = keep - h;
        const down = loss();
        ps[p][i] = keep;
        const fd = (up - down) / (2 * h);
        assert.ok(
          Math.abs(fd - grads[p][i]) < 1e-6 * (1 + Math.abs(fd)),
          `${act} param ${p}[${i}]: ${fd} vs ${grads[p][i]}`,
        );
        checked++;
      }
    }
    assert.ok(checked > 30);
  }
});

function policy64(D: number, seed: number) {
  const net = initMlp([D, 12, 10, 2 * D], "swish", "he-uniform", new Rng(seed), Float64Array);
  for (const b of net.b) for (let i = 0; i < b.length; i++) b[i] = 0.3 * Math.sin(7 * i + seed);
  return preparePolicy(net);
}

Deno.test("runTrajectories start: all-zero start states reproduce the ordinary run exactly", () => {
  const pol = policy64(6, 1);
  const B = 9;
  const a = runTrajectories(pol, jsGemm, B, new Rng(5), { cache: false });
  const b = runTrajectories(pol, jsGemm, B, new Rng(5), { cache: false, start: new Int8Array(B * 6) });
  assert.deepEqual(b.x, a.x);
  assert.deepEqual(b.logq, a.logq);
  assert.deepEqual(b.pos, a.pos);
});

Deno.test("runTrajectories start: teacher-forced completion from a partial state = suffix of the full trajectory", () => {
  const D = 7, B = 6, n0 = 3;
  const pol = policy64(D, 2);
  const rng = new Rng(8);
  const x = new Int8Array(B * D).map(() => (rng.uniform() < 0.5 ? -1 : 1));
  const order = randomOrders(B, D, rng);
  const full = runTrajectories(pol, jsGemm, B, rng, { cache: false, given: { x, order } });
  const start = new Int8Array(B * D);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < n0; t++) start[b * D + order[b * D + t]] = x[b * D + order[b * D + t]];
  }
  const part = runTrajectories(pol, jsGemm, B, rng, { cache: false, start, given: { x, order } });
  assert.equal(part.pos.length, (D - n0) * B);
  for (let b = 0; b < B; b++) {
    let suffix = 0;
    for (let t = n0; t < D; t++) suffix += full.logp[t * B + b];
    assert.ok(Math.abs(part.logq[b] - suffix) < 1e-12, `${part.logq[b]} vs ${suffix}`);
    for (let t = n0; t < D; t++) assert.equal(part.pos[(t - n0) * B + b], order[b * D + t]);
  }
  // sampled completion keeps the start's set entries and fills the rest
  const sampled = runTrajectories(pol, jsGemm, B, new Rng(1), { cache: false, start });
  for (let i = 0; i < B * D; i++) {
    if (start[i] !== 0) assert.equal(sampled.x[i], start[i]);
    else assert.ok(sampled.x[i] === 1 || sampled.x[i] === -1);
  }
  // rows with different depths, bad entries and cache are refused
  const uneven = start.slice();
  uneven[order[D * 0 + 5]] = 1;
  assert.throws(
    () => runTrajectories(pol, jsGemm, B, rng, { cache: false, start: uneven }),
    /same number of set entries/,
  );
  assert.throws(
    () => runTrajectories(pol, jsGemm, B, rng, { cache: true, start }),
    /cannot be combined with `cache`/,
  );
});
