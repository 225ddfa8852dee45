/**
 * The WebAssembly SIMD step kernels (backends/kernels.ts, backends/kernels/kernels.c) and the step arena
 * (core/nn/arena.ts): the committed binary matches its source, every kernel agrees with the TypeScript one, the
 * float32 score sums agree with float64 sums within their error bound, the arena stops allocating after the first
 * step, and the gradients of every objective × control variate equal the TypeScript path's on a fixed seed.
 */
import assert from "node:assert/strict";
import { type Gemm, jsGemm, type Vec } from "../core/nn/gemm.ts";
import { jsKernels, type Kernels, stateGradScratch } from "../core/nn/kernels.ts";
import { Arena, jsArenaMemory } from "../core/nn/arena.ts";
import { type Activation, initMlp, params } from "../core/nn/mlp.ts";
import { estimateGradient } from "../core/train/step.ts";
import { CONTROL_VARIATES } from "../core/train/config.ts";
import { bitVectorSampler } from "../core/gfn/bitvector.ts";
import { forEachSampleGrad, logWeights, preparePolicy, runTrajectories } from "../core/gfn/trajectories.ts";
import { isingTask } from "../core/tasks/ising.ts";
import { Rng } from "../core/rng.ts";
import { KERNELS_WASM_URL, loadWasmKernels } from "../backends/kernels.ts";
import { loadBlasGemm } from "../backends/blas.ts";
import { zeroOutput } from "../core/gfn/backward.ts";

const wasm = loadWasmKernels().kernels;
const base: Gemm = loadBlasGemm({ threads: 1 }) ?? jsGemm;
const tsPath: Gemm = { name: base.name, gemm: base.gemm, kernels: jsKernels };
const wasmPath: Gemm | null = wasm ? { name: base.name, gemm: base.gemm, kernels: wasm } : null;

function hasClang(): boolean {
  try {
    return new Deno.Command("clang", { args: ["--version"], stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

Deno.test({
  name: "kernels.wasm is the build of kernels.c (rebuilt with clang where it is installed)",
  ignore: !hasClang(),
  fn() {
    const out = Deno.makeTempFileSync({ suffix: ".wasm" });
    try {
      const script = new URL("../backends/kernels/build.sh", import.meta.url).pathname;
      const r = new Deno.Command("sh", {
        args: [script, out],
        env: { DENO: Deno.execPath() },
        stderr: "piped",
      })
        .outputSync();
      assert.ok(r.success, new TextDecoder().decode(r.stderr));
      const built = Deno.readFileSync(out), committed = Deno.readFileSync(KERNELS_WASM_URL);
      assert.deepEqual(
        built,
        committed,
        "kernels.wasm is stale: run backends/kernels/build.sh and commit it",
      );
    } finally {
      Deno.removeSync(out);
    }
  },
});

Deno.test("the wasm kernels load", () => {
  assert.ok(wasm, loadWasmKernels().reason);
});

function randVec(n: number, rng: Rng, scale = 3): Float32Array {
  return Float32Array.from({ length: n }, () => scale * rng.normal());
}

/** max |a − b| / max(1, max |b|). */
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, m = 1;
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) {
    d = Math.max(d, Math.abs(a[i] - b[i]));
    m = Math.max(m, Math.abs(b[i]));
  }
  return d / m;
}

/** Runs `fn` on wasm kernels both inside an arena (operands in the wasm memory) and outside (staged copies). */
function bothWays(k: Kernels, fn: (alloc: (v: Float32Array) => Float32Array) => void) {
  fn((v) => v.slice());
  const arena = k.createArena();
  for (let i = 0; i < 2; i++) {
    arena.run(() =>
      fn((v) => {
        const c = arena.take(Float32Array, v.length, false);
        c.set(v);
        return c;
      })
    );
  }
}

Deno.test("every wasm kernel agrees with the TypeScript kernel (in the arena and staged)", () => {
  if (!wasm) return;
  const rng = new Rng(7);
  // float32 SIMD exp / expm1 against float64 Math: ≤ a few ulp
  for (const kind of ["swish", "relu", "elu", "tanh"] as Activation[]) {
    for (const h of [13, 64]) {
      const n = 9, z = randVec(n * h, rng, 4), bias = randVec(h, rng, 1);
      z[0] = 0, z[1] = -100, z[2] = 100, z[3] = 1e-6, z[4] = -1e-6;
      const aT = new Float32Array(n * h), dT = new Float32Array(n * h);
      jsKernels.biasAct(kind, z, bias, aT, dT, n, h);
      bothWays(wasm, (c) => {
        const a = c(new Float32Array(n * h)), d = c(new Float32Array(n * h));
        wasm.biasAct(kind, c(z), c(bias), a, d, n, h);
        for (let i = 0; i < n * h; i++) {
          assert.ok(
            Math.abs(a[i] - aT[i]) <= 4e-7 * Math.max(1, Math.abs(aT[i])),
            `${kind} a[${i}] ${a[i]} ${aT[i]}`,
          );
          // act' = s(1 + v(1 − s)) carries the rounding of s times |v|
          const tol = 4e-7 * Math.max(1, Math.abs(dT[i])) * Math.max(1, Math.abs(z[i] + bias[i % h]));
          assert.ok(Math.abs(d[i] - dT[i]) <= tol, `${kind} da[${i}] ${d[i]} ${dT[i]}`);
        }
        // no bias, no derivative, in place
        const zz = c(z);
        wasm.biasAct(kind, zz, null, zz, null, n, h);
        const ref = new Float32Array(n * h);
        jsKernels.biasAct(kind, z, null, ref, null, n, h);
        assert.ok(relErr(zz, ref) < 4e-7, kind);
      });
    }
  }
  const rows = 300, cols = 37;
  const a = randVec(rows * cols, rng), y = randVec(rows * cols, rng), s = randVec(11, rng);
  bothWays(wasm, (c) => {
    const x = c(a), ref = a.slice();
    wasm.mulInPlace(x, c(y), rows * cols);
    jsKernels.mulInPlace(ref, y, rows * cols);
    assert.deepEqual(x, ref);
    const out = c(new Float32Array(cols).fill(1)), outRef = new Float64Array(cols).fill(1);
    wasm.colSumAdd(c(a), rows, cols, out);
    jsKernels.colSumAdd(a, rows, cols, outRef);
    assert.ok(relErr(out, outRef) < 1e-6, "colSumAdd");
    // the fused product + column sum: the product exactly as mulInPlace, the sums as colSumAdd
    const xm = c(a), dbm = c(new Float32Array(cols).fill(1)), dbRef = new Float64Array(cols).fill(1);
    wasm.mulColSumAdd(xm, c(y), rows, cols, dbm);
    jsKernels.colSumAdd(ref, rows, cols, dbRef);
    assert.deepEqual(xm, ref);
    assert.ok(relErr(dbm, dbRef) < 1e-6, "mulColSumAdd");
    const sc = c(new Float32Array(rows * cols)), scRef = new Float32Array(rows * cols);
    wasm.scaleRows(c(a), Float64Array.from(s), 11, rows, cols, sc);
    jsKernels.scaleRows(a, s, 11, rows, cols, scRef);
    assert.deepEqual(sc, scRef);
  });
  // wider than one 256-column chunk, more rows than one 64-row block: every column path of the sums
  {
    const r = 130, w = 301, a2 = randVec(r * w, rng), y2 = randVec(r * w, rng);
    bothWays(wasm, (c) => {
      const out = c(new Float32Array(w)), outRef = new Float64Array(w);
      wasm.colSumAdd(c(a2), r, w, out);
      jsKernels.colSumAdd(a2, r, w, outRef);
      assert.ok(relErr(out, outRef) < 1e-6, "colSumAdd wide");
      const x = c(a2), ref = a2.slice(), db = c(new Float32Array(w)), dbRef = new Float64Array(w);
      wasm.mulColSumAdd(x, c(y2), r, w, db);
      jsKernels.mulInPlace(ref, y2, r * w);
      jsKernels.colSumAdd(ref, r, w, dbRef);
      assert.deepEqual(x, ref);
      assert.ok(relErr(db, dbRef) < 1e-6, "mulColSumAdd wide");
    });
  }
  // the 2-logit kernels: D = 20 positions, hk = 19 (odd: SIMD tail)
  const D = 20, hk = 19, n = 50;
  const top = randVec(n * hk, rng), Wt = randVec(2 * D * hk, rng), bout = randVec(2 * D, rng);
  const pos = Int32Array.from({ length: n }, () => rng.int(D));
  const val = Int8Array.from({ length: n }, () => (rng.uniform() < 0.5 ? 1 : -1));
  const cr = randVec(n, rng);
  cr[3] = 0;
  const W0 = randVec(D * hk, rng), z0 = randVec(n * hk, rng);
  bothWays(wasm, (c) => {
    const lm = c(new Float32Array(n)), lp = c(new Float32Array(n));
    const lmR = new Float32Array(n), lpR = new Float32Array(n);
    wasm.pairLogits(c(top), c(Wt), bout, pos, n, hk, lm, lp);
    jsKernels.pairLogits(top, Wt, bout, pos, n, hk, lmR, lpR);
    assert.ok(relErr(lm, lmR) < 1e-6 && relErr(lp, lpR) < 1e-6, "pairLogits");
    const sig = c(new Float32Array(n * hk).fill(9)), sigR = new Float32Array(n * hk);
    wasm.pairSignal(c(cr), pos, c(Wt), n, hk, sig);
    jsKernels.pairSignal(cr, pos, Wt, n, hk, sigR);
    assert.ok(relErr(sig, sigR) < 1e-6, "pairSignal");
    // the fused top signal: exactly pairSignal then mulColSumAdd (same products, same sums)
    const dact = randVec(n * hk, rng);
    const fused = c(new Float32Array(n * hk).fill(9)), fusedDb = c(new Float32Array(hk).fill(1));
    const twoStep = c(new Float32Array(n * hk)), twoStepDb = c(new Float32Array(hk).fill(1));
    wasm.pairSignalAct(c(cr), pos, c(Wt), c(dact), n, hk, fused, fusedDb);
    wasm.pairSignal(c(cr), pos, c(Wt), n, hk, twoStep);
    wasm.mulColSumAdd(twoStep, c(dact), n, hk, twoStepDb);
    assert.deepEqual(fused, twoStep);
    assert.deepEqual(fusedDb, twoStepDb);
    const fusedR = new Float32Array(n * hk), fusedDbR = new Float32Array(hk).fill(1);
    jsKernels.pairSignalAct(cr, pos, Wt, dact, n, hk, fusedR, fusedDbR);
    assert.ok(relErr(fused, fusedR) < 1e-6 && relErr(fusedDb, fusedDbR) < 1e-6, "pairSignalAct");
    // the output layer's gradient (hk × 2D) against its definition: ±c_r·top_r at columns 2d+1 / 2d
    const dWo = c(new Float32Array(hk * 2 * D).fill(0.5)), db = c(new Float32Array(2 * D).fill(0.25));
    const dWR = new Float32Array(hk * 2 * D).fill(0.5), dbR = new Float32Array(2 * D).fill(0.25);
    const wantW = new Float64Array(hk * 2 * D).fill(0.5), wantB = new Float64Array(2 * D).fill(0.25);
    for (let r = 0; r < n; r++) {
      const d = pos[r];
      for (let j = 0; j < hk; j++) {
        wantW[j * 2 * D + 2 * d + 1] += cr[r] * top[r * hk + j];
        wantW[j * 2 * D + 2 * d] -= cr[r] * top[r * hk + j];
      }
      wantB[2 * d + 1] += cr[r];
      wantB[2 * d] -= cr[r];
    }
    wasm.pairGrad(c(cr), pos, c(top), n, hk, D, dWo, db);
    jsKernels.pairGrad(cr, pos, top, n, hk, D, dWR, dbR);
    assert.ok(relErr(dWo, wantW) < 1e-6 && relErr(db, wantB) < 1e-6, "pairGrad");
    assert.ok(relErr(dWR, wantW) < 1e-6 && relErr(dbR, wantB) < 1e-6, "pairGrad (TypeScript)");
    // from zero, column 2d is exactly the negation of column 2d+1 (one sum per position)
    const dW0 = c(new Float32Array(hk * 2 * D)), db0 = c(new Float32Array(2 * D));
    wasm.pairGrad(c(cr), pos, c(top), n, hk, D, dW0, db0);
    for (let i = 0; i < hk * D; i++) assert.ok(dW0[2 * i] === -dW0[2 * i + 1], `pairGrad ± columns ${i}`);
    // rows summed per group, in row order: bit-equal to the TypeScript loop's float32 sums
    const groups = Int32Array.from({ length: n }, () => rng.int(4));
    const gs = c(new Float32Array(4 * hk).fill(1)), gsR = new Float32Array(4 * hk).fill(1);
    wasm.rowGroupSum(c(top), groups, n, hk, gs);
    jsKernels.rowGroupSum(top, groups, n, hk, gsR);
    assert.deepEqual(gs, gsR);
    const z = c(z0), zR = z0.slice();
    wasm.addSignedRows(z, c(W0), pos, val, n, hk);
    jsKernels.addSignedRows(zR, W0, pos, val, n, hk);
    assert.deepEqual(z, zR);
    assert.ok(Math.abs(wasm.sumSquares(c(top), n * hk) - jsKernels.sumSquares(top, n * hk)) < 1e-5 * n * hk);
    // stateGrad = Xᵀ dz with X the states of T steps of B trajectories (built explicitly here)
    const T = 5, Bt = 10, Dt = 7, h = 9;
    const dz = randVec(T * Bt * h, rng), order = new Rng(5);
    const sp = new Int32Array(T * Bt), sv = new Int8Array(T * Bt), X = new Float64Array(T * Bt * Dt);
    for (let b = 0; b < Bt; b++) {
      const perm = order.permutation(new Int32Array(Dt));
      const st = new Float64Array(Dt);
      for (let t = 0; t < T; t++) {
        X.set(st, (t * Bt + b) * Dt);
        sp[t * Bt + b] = perm[t];
        sv[t * Bt + b] = order.uniform() < 0.5 ? 1 : -1;
        st[perm[t]] = sv[t * Bt + b];
      }
    }
    const want = new Float64Array(Dt * h);
    jsGemm.gemm(true, false, Dt, h, T * Bt, X, Float64Array.from(dz), want, 0);
    const dW = c(new Float32Array(Dt * h)), dWts = new Float64Array(Dt * h);
    wasm.stateGrad(c(dz), sp, sv, T, Bt, h, dW);
    jsKernels.stateGrad(Float64Array.from(dz), sp, sv, T, Bt, h, dWts);
    assert.ok(relErr(dW, want) < 1e-6 && relErr(dWts, want) < 1e-12, "stateGrad");
    // step by step (t = T−1 … 0) with δ = dz ⊙ dact on the rows t ≥ 2 and the bias sums: dW as mulInPlace then
    // stateGrad (the same sums, up to their order when a call falls back to TypeScript on the arena's sizing
    // pass), the bias sums as colSumAdd of δ
    const t0 = 2, live = (T - t0) * Bt * h, dact0 = randVec(live, rng);
    const delta = c(new Float32Array(T * Bt * h)), dz2 = c(dz.subarray(t0 * Bt * h));
    delta.set(dz2, t0 * Bt * h);
    wasm.mulInPlace(delta.subarray(t0 * Bt * h), c(dact0), live);
    const dWs = c(new Float32Array(Dt * h).fill(1)), dbs = new Float64Array(h).fill(1);
    wasm.stateGrad(delta, sp, sv, T, Bt, h, dWs);
    jsKernels.colSumAdd(delta, T * Bt, h, dbs);
    const sweep = (K: Kernels, dact: Vec, make: (n: number, fill: number) => Vec) => {
      const dW = make(Dt * h, 1), db = make(h, 1), acc = make(stateGradScratch(Bt, h), 0);
      for (let t = T - 1; t >= 0; t--) {
        const rows = (x: Vec) => x.subarray((t - t0) * Bt * h, (t - t0 + 1) * Bt * h);
        const p = sp.subarray(t * Bt, (t + 1) * Bt), v = sv.subarray(t * Bt, (t + 1) * Bt);
        K.stateGradStep(t >= t0 ? rows(dz2) : null, t >= t0 ? rows(dact) : null, p, v, Bt, h, acc, dW, db);
      }
      return { dW, db };
    };
    const stepped = sweep(wasm, c(dact0), (n, v) => c(new Float32Array(n).fill(v)));
    assert.ok(relErr(stepped.dW, dWs) < 1e-6, "stateGradStep");
    assert.ok(relErr(stepped.db, dbs) < 1e-6, "stateGradStep bias");
    const ts = sweep(jsKernels, dact0, (n, v) => new Float64Array(n).fill(v));
    assert.ok(relErr(ts.dW, dWs) < 1e-6 && relErr(ts.db, dbs) < 1e-6, "stateGradStep (TypeScript)");
  });
});

Deno.test("float64 operands fall back to the TypeScript kernels", () => {
  if (!wasm) return;
  const x = Float64Array.from([1, 2, 3]), y = Float64Array.from([4, 5, 6]);
  wasm.mulInPlace(x, y, 3);
  assert.deepEqual([...x], [4, 10, 18]);
  const out = new Float64Array(2);
  wasm.colSumAdd(Float64Array.from([1, 2, 3, 4]), 2, 2, out);
  assert.deepEqual([...out], [4, 6]);
});

Deno.test("float32 per-sample score sums agree with float64 sums within S·u·Σ|terms|", () => {
  if (!wasmPath || !wasm) return;
  const B = 64;
  const task = isingTask(3, 0.4);
  const net = initMlp([task.D, 32, 32, 2 * task.D], "swish", "he-uniform", new Rng(3));
  const pol = preparePolicy(net);
  const batch = runTrajectories(pol, wasmPath, B, new Rng(4), { cache: true });
  const { logw } = logWeights(batch, task);
  const sizes = params(net).map((a) => a.length);
  const mk = (F: Float32ArrayConstructor | Float64ArrayConstructor) => sizes.map((n) => new F(n));
  const f32 = [mk(Float32Array), mk(Float32Array), mk(Float32Array), mk(Float32Array)];
  const f64 = [mk(Float64Array), mk(Float64Array), mk(Float64Array), mk(Float64Array)];
  const abs = [mk(Float64Array), mk(Float64Array), mk(Float64Array), mk(Float64Array)];
  forEachSampleGrad(pol, wasmPath, batch, (s, h) => {
    for (let p = 0; p < h.length; p++) {
      const n = h[p].length;
      wasm.scoreSums(h[p], n, logw[s], f32[0][p], f32[1][p], f32[2][p], f32[3][p]);
      jsKernels.scoreSums(h[p], n, logw[s], f64[0][p], f64[1][p], f64[2][p], f64[3][p]);
      const hv = Float64Array.from(h[p], Math.abs);
      jsKernels.scoreSums(hv, n, Math.abs(logw[s]), abs[0][p], abs[1][p], abs[2][p], abs[3][p]);
    }
  });
  const u = 2 ** -24;
  let worst = 0;
  for (let q = 0; q < 4; q++) {
    for (let p = 0; p < sizes.length; p++) {
      for (let i = 0; i < sizes[p]; i++) {
        const err = Math.abs(f32[q][p][i] - f64[q][p][i]);
        const bound = (B + 1) * u * abs[q][p][i] + 1e-30;
        worst = Math.max(worst, err / bound);
        assert.ok(err <= bound, `sum ${q} param ${p}[${i}]: |${f32[q][p][i]} − ${f64[q][p][i]}| > ${bound}`);
      }
    }
  }
  console.log(`worst float32 error / bound = ${worst.toFixed(3)}`);
});

Deno.test("the arena stops allocating after the first step and reuses the same bytes", () => {
  const arena = new Arena(jsArenaMemory());
  const step = () => {
    const a = arena.take(Float32Array, 1000), b = arena.take(Float64Array, 10);
    a[0] = 1;
    b[0] = 2;
    return [a.byteOffset, b.byteOffset];
  };
  arena.run(step);
  assert.equal(arena.overflowBytes, 4000 + 80);
  const offsets = arena.run(step);
  assert.equal(arena.overflowBytes, 0);
  assert.deepEqual(arena.run(step), offsets);
  assert.equal(arena.overflowBytes, 0);
  // zero-filled again at every step
  arena.run(() => assert.equal(arena.take(Float32Array, 1000)[0], 0));
});

/** Objective × control variate cases; cv only matters for atb and akl (the companions ignore it). */
function cases(): {
  objective: string;
  cv: string;
  alpha: number;
  pb?: boolean;
}[] {
  const out: ReturnType<typeof cases> = [];
  for (const objective of ["atb", "akl"] as string[]) {
    for (const cv of CONTROL_VARIATES) out.push({ objective, cv, alpha: 0.5 });
  }
  for (const objective of ["renyi", "tsallis", "fkl-is", "pg"] as string[]) {
    out.push({ objective, cv: "learned", alpha: 0 });
  }
  out.push({ objective: "atb", cv: "learned", alpha: 0.5, pb: true });
  out.push({ objective: "akl", cv: "loo-logw", alpha: 0.5, pb: true });
  return out;
}

/**
 * Tolerance: max |Δgrad| ≤ 2e−4 · max |grad| per parameter array. Both paths compute in float32 with the same
 * GEMM; they differ by the SIMD exp (≤ 2 ulp), summation order (column sums, score sums) and the arena, so the
 * observed difference is ≤ 1.6e−6 relative (printed by the test); 2e−5 leaves a margin of 10×.
 */
const GRAD_TOL = 2e-5;

// one, two and three hidden layers: the backward's first-layer sweep, its top layer and the layers between
for (
  const [dense, hidden] of [[true, [24, 20]], [false, [24, 20]], [false, [24]], [false, [
    20,
    16,
    12,
  ]]] as const
) {
  Deno.test(`gradients: wasm kernels + arena = TypeScript path, every objective × cv (${dense ? "dense" : "sparse"} output, hidden ${hidden.join("×")})`, () => {
    if (!wasmPath || !wasm) return;
    const task = isingTask(3, 0.4);
    const D = task.D;
    const run = (gemm: Gemm, c: ReturnType<typeof cases>[number], arena: Arena | null) => {
      const rng = new Rng(11);
      const net = initMlp([D, ...hidden, 2 * D], "swish", "he-uniform", rng.fork());
      const value = initMlp([D, 16, 1], "swish", "he-uniform", rng.fork());
      const pbNet = c.pb ? zeroOutput(initMlp([D, 16, D], "swish", "he-uniform", rng.fork())) : undefined;
      if (pbNet) { for (const w of pbNet.W) for (let i = 0; i < w.length; i++) w[i] += 0.1 * Math.sin(i); }
      const pol = preparePolicy(net);
      pol.denseOutput = dense;
      const copy = (g: Vec[] | undefined) => g?.map((a) => Float64Array.from(a));
      const once = () => {
        const est = estimateGradient(bitVectorSampler(task), pol, gemm, 16, rng, {
          objective: c.objective,
          alpha: c.alpha,
          cv: c.cv,
          params: { div_alpha: 0.5, pg_lambda: 0.9 },
          value,
          backwardPolicy: pbNet,
        }, 0.3);
        return {
          grads: copy(est.grads)!,
          dScalar: est.dScalar,
          v: copy(est.valueGrads),
          pb: copy(est.backwardGrads),
        };
      };
      // two steps: the second runs on a warmed-up arena (reused, non-zero bytes from step one)
      const first = arena ? arena.run(once) : once();
      const second = arena ? arena.run(once) : once();
      return [first, second];
    };
    let worst = 0;
    for (const c of cases()) {
      const arena = wasm.createArena();
      const ref = run(tsPath, c, null), got = run(wasmPath, c, arena);
      for (let s = 0; s < 2; s++) {
        const label = `${c.objective}/${c.cv}/α=${c.alpha}${c.pb ? "/learned P_B" : ""} step ${s + 1}`;
        const groups: [string, Float64Array[] | undefined, Float64Array[] | undefined][] = [
          ["φ", ref[s].grads, got[s].grads],
          ["value", ref[s].v, got[s].v],
          ["P_B", ref[s].pb, got[s].pb],
        ];
        for (const [name, r, g] of groups) {
          assert.equal(!!r, !!g, `${label} ${name}`);
          if (!r || !g) continue;
          for (let p = 0; p < r.length; p++) {
            const e = relErr(g[p], r[p]) * Math.max(1, maxAbs(r[p])) / Math.max(1e-12, maxAbs(r[p]));
            assert.ok(e <= GRAD_TOL, `${label} ${name} param ${p}: relative difference ${e}`);
            worst = Math.max(worst, e);
          }
        }
        assert.ok(
          Math.abs(ref[s].dScalar - got[s].dScalar) <= 1e-4 * Math.max(1, Math.abs(ref[s].dScalar)),
          label,
        );
      }
      assert.equal(
        arena.overflowBytes,
        0,
        `${c.objective}/${c.cv}: the second step allocated outside the arena`,
      );
      arena.memory.release?.();
    }
    console.log(
      `worst relative gradient difference over ${cases().length} cases × 2 steps: ${worst.toExponential(2)}`,
    );
  });
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

Deno.test("backends carry the wasm kernels, cpu stays pure TypeScript, FLOWSWEEP_KERNELS=ts opts out", async () => {
  const { selectGemm, describeGemm } = await import("../backends/select.ts");
  assert.equal((await selectGemm("cpu")).kernels, undefined);
  assert.equal((await selectGemm("auto")).kernels?.name, wasm ? "wasm-simd" : undefined);
  if (wasm && loadBlasGemm()) assert.match(describeGemm(await selectGemm("blas")), /wasm-simd kernels/);
  const script = `import { selectGemm } from "${new URL("../backends/select.ts", import.meta.url)}";\n` +
    `console.log((await selectGemm("auto")).kernels?.name ?? "ts");`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    env: { FLOWSWEEP_KERNELS: "ts" },
    stdout: "piped",
  }).output();
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "ts");
});

Deno.test("an arena larger than wasm32's 4 GiB keeps working from the JavaScript heap", () => {
  if (!wasm) return;
  const arena = wasm.createArena();
  const before = arena.memory.region().bytes;
  arena.memory.reserve(5 * 2 ** 30);
  assert.equal(arena.memory.region().bytes, before);
  const x = arena.run(() => {
    const big = arena.take(Float32Array, 2 ** 20);
    big.fill(2);
    const y = arena.take(Float32Array, 2 ** 20);
    wasm.mulInPlace(y, big, 2 ** 20);
    return y[5];
  });
  assert.equal(x, 0);
  arena.memory.release?.();
});
