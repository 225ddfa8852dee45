import assert from "node:assert/strict";
import { type Gemm, jsGemm } from "../core/nn/gemm.ts";
import { Rng } from "../core/rng.ts";
import { loadBlasGemm, probeBlas } from "../backends/blas.ts";
import { loadWasmGemm, probeWasm, transposeInto } from "../backends/wasm.ts";
import { loadTensorflowGemm, makeTfjsGemm, probeTensorflow, type TfjsApi } from "../backends/tensorflow.ts";
import { availableBackends, type BackendName, describeGemm, selectGemm } from "../backends/select.ts";

const SHAPES: [number, number, number][] = [[1, 1, 1], [7, 5, 3], [33, 17, 65], [4, 1, 9], [1, 6, 2]];
const SENTINEL = -12345.5;

/** float64 reference: C ← op(A)·op(B) + beta·C, with A/B/C read from plain arrays. */
function reference(
  tA: boolean,
  tB: boolean,
  m: number,
  n: number,
  k: number,
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  c0: ArrayLike<number>,
  beta: 0 | 1,
): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = beta ? c0[i * n + j] : 0;
      for (let p = 0; p < k; p++) {
        s += (tA ? a[p * m + i] : a[i * k + p]) * (tB ? b[j * k + p] : b[p * n + j]);
      }
      out[i * n + j] = s;
    }
  }
  return out;
}

type Ctor = Float32ArrayConstructor | Float64ArrayConstructor;

/**
 * Runs one GEMM on subarray views with nonzero byteOffsets (padding filled with sentinels) and checks the result
 * against the float64 reference, that A and B are unchanged and that nothing outside C's view was written.
 * `extra` makes the A and B views longer than needed (the backend must use only their first elements).
 */
function checkCase(
  g: Gemm,
  T: Ctor,
  tA: boolean,
  tB: boolean,
  m: number,
  n: number,
  k: number,
  beta: 0 | 1,
  rng: Rng,
  extra = 0,
  sparseA = false,
): void {
  const pad = 5;
  const mk = (len: number, off: number, sparse = false) => {
    const buf = new T(off + len + extra + pad).fill(SENTINEL);
    const view = buf.subarray(off, off + len + extra);
    for (let i = 0; i < len; i++) {
      view[i] = sparse ? (rng.uniform() < 0.8 ? 0 : 1) : Math.fround(rng.uniform() * 2 - 1);
    }
    return { buf, view };
  };
  const A = mk(m * k, 3, sparseA);
  const B = mk(k * n, 1);
  const C = mk(m * n, 7);
  const a0 = Array.from(A.buf), b0 = Array.from(B.buf), c0 = Array.from(C.view);
  const want = reference(tA, tB, m, n, k, A.view, B.view, c0, beta);
  g.gemm(tA, tB, m, n, k, A.view, B.view, C.view.subarray(0, m * n), beta);
  const tol = T === Float64Array ? 1e-12 * (k + 1) : 2e-6 * (k + 1);
  const what = `${g.name} ${T.name} tA=${tA} tB=${tB} ${m}x${n}x${k} beta=${beta}`;
  for (let i = 0; i < m * n; i++) {
    const d = Math.abs(C.view[i] - want[i]);
    if (!(d <= tol)) assert.fail(`${what}: C[${i}] = ${C.view[i]}, want ${want[i]} (|diff| ${d} > ${tol})`);
  }
  // Nothing outside C's m*n range written (front padding, the `extra` tail, back padding).
  for (let i = 0; i < 7; i++) assert.equal(C.buf[i], SENTINEL, `${what}: wrote before C`);
  for (let i = 7 + m * n; i < C.buf.length; i++) {
    assert.equal(C.buf[i], i < 7 + m * n + extra ? c0[i - 7] : SENTINEL, `${what}: wrote after C`);
  }
  assert.deepEqual(Array.from(A.buf), a0, `${what}: A modified`);
  assert.deepEqual(Array.from(B.buf), b0, `${what}: B modified`);
}

function runAllCases(g: Gemm, T: Ctor): number {
  const rng = new Rng(2024);
  let count = 0;
  for (const [m, n, k] of SHAPES) {
    for (const tA of [false, true]) {
      for (const tB of [false, true]) {
        for (const beta of [0, 1] as const) {
          checkCase(g, T, tA, tB, m, n, k, beta, rng, count % 3 === 0 ? 2 : 0);
          // 0/1 entries, mostly zero (bit-vector inputs; exercises zero-skipping in the cpu kernel)
          checkCase(g, T, tA, tB, m, n, k, beta, rng, 0, true);
          count++;
        }
      }
    }
  }
  return count;
}

function checkEdgeSizes(g: Gemm): void {
  // k = 0: op(A)·op(B) is the zero matrix, so beta=0 zeroes C and beta=1 leaves it.
  const c = new Float32Array([1, 2, 3, 4, 5, 6]);
  g.gemm(false, false, 2, 3, 0, new Float32Array(0), new Float32Array(0), c, 1);
  assert.deepEqual(Array.from(c), [1, 2, 3, 4, 5, 6]);
  g.gemm(true, true, 2, 3, 0, new Float32Array(0), new Float32Array(0), c, 0);
  assert.deepEqual(Array.from(c), [0, 0, 0, 0, 0, 0]);
  // m = 0 or n = 0: nothing to write.
  const d = new Float32Array([9, 9]);
  g.gemm(false, false, 0, 2, 3, new Float32Array(0), new Float32Array(6), d, 0);
  g.gemm(false, false, 2, 0, 3, new Float32Array(6), new Float32Array(0), d, 0);
  assert.deepEqual(Array.from(d), [9, 9]);
}

/** A known product, exactly representable: [[1,2],[3,4]]·[[5,6],[7,8]] = [[19,22],[43,50]]. */
function checkKnownProduct(g: Gemm): void {
  const c = new Float32Array(4);
  g.gemm(false, false, 2, 2, 2, new Float32Array([1, 2, 3, 4]), new Float32Array([5, 6, 7, 8]), c, 0);
  assert.deepEqual(Array.from(c), [19, 22, 43, 50]);
  // transposed storage of the same operands gives the same product
  g.gemm(true, true, 2, 2, 2, new Float32Array([1, 3, 2, 4]), new Float32Array([5, 7, 6, 8]), c, 1);
  assert.deepEqual(Array.from(c), [38, 44, 86, 100]);
}

const blas = loadBlasGemm();
const wasm = await loadWasmGemm();
const tensorflow = await loadTensorflowGemm();
const tfReason = (await probeTensorflow()).reason;

const backends: { name: string; g: Gemm | null; why: string }[] = [
  { name: "cpu", g: jsGemm, why: "" },
  { name: "blas", g: blas, why: probeBlas().reason },
  { name: "wasm", g: wasm, why: (await probeWasm()).reason },
  { name: "tensorflow", g: tensorflow, why: tfReason },
];

for (const { name, g, why } of backends) {
  const skip = g === null ? ` (SKIPPED: ${why})` : "";
  Deno.test({
    name:
      `${name}: float32 vs float64 reference, 4 transpose combos × beta 0/1 × odd sizes, offset views${skip}`,
    ignore: g === null,
    fn() {
      assert.equal(g!.name, name);
      assert.equal(runAllCases(g!, Float32Array), SHAPES.length * 8);
    },
  });
  Deno.test({
    name: `${name}: float64 operands (exact path), same cases${skip}`,
    ignore: g === null,
    fn() {
      runAllCases(g!, Float64Array);
    },
  });
  Deno.test({
    name: `${name}: known 2x2 product and k=0 / m=0 / n=0 edge sizes${skip}`,
    ignore: g === null,
    fn() {
      checkKnownProduct(g!);
      checkEdgeSizes(g!);
    },
  });
  if (name !== "cpu") {
    Deno.test({
      name: `${name}: too-small buffers and mixed float types throw before touching memory${skip}`,
      ignore: g === null,
      fn() {
        const c = new Float32Array(4).fill(7);
        assert.throws(
          () => g!.gemm(false, false, 2, 2, 2, new Float32Array(3), new Float32Array(4), c, 0),
          RangeError,
        );
        assert.throws(
          () => g!.gemm(false, false, 2, 2, 2, new Float32Array(4), new Float32Array(4), c.subarray(1), 0),
          RangeError,
        );
        assert.throws(
          () => g!.gemm(false, false, 2, 2, 2.5, new Float32Array(9), new Float32Array(9), c, 0),
          RangeError,
        );
        assert.throws(
          () => g!.gemm(false, false, 2, 2, 2, new Float64Array(4), new Float32Array(4), c, 0),
          TypeError,
        );
        assert.deepEqual(Array.from(c), [7, 7, 7, 7]);
      },
    });
  }
}

Deno.test("wasm transposeInto: blocked transpose equals the definition (sizes straddling the 32 tile)", () => {
  for (const [r, c] of [[1, 1], [3, 70], [65, 33], [32, 32]]) {
    const src = Float32Array.from({ length: r * c }, (_, i) => i);
    const dst = new Float32Array(r * c + 4).fill(-1);
    transposeInto(src, r, c, dst, 2);
    for (let i = 0; i < r; i++) for (let j = 0; j < c; j++) assert.equal(dst[2 + j * r + i], i * c + j);
    assert.deepEqual([dst[0], dst[1], dst[r * c + 2], dst[r * c + 3]], [-1, -1, -1, -1]);
  }
});

Deno.test("blas: the same Gemm results with 1 and 2 OpenBLAS threads on a large product", {
  ignore: blas === null,
}, () => {
  const rng = new Rng(5);
  const [m, n, k] = [300, 200, 150];
  const a = Float32Array.from({ length: m * k }, () => rng.uniform() - 0.5);
  const b = Float32Array.from({ length: k * n }, () => rng.uniform() - 0.5);
  const c1 = new Float32Array(m * n), c2 = new Float32Array(m * n), c3 = new Float32Array(m * n);
  loadBlasGemm({ threads: 1 })!.gemm(true, false, m, n, k, transposed(a, m, k), b, c1, 0);
  loadBlasGemm({ threads: 2 })!.gemm(true, false, m, n, k, transposed(a, m, k), b, c2, 0);
  jsGemm.gemm(false, false, m, n, k, a, b, c3, 0);
  for (let i = 0; i < m * n; i++) {
    assert.ok(Math.abs(c1[i] - c3[i]) < 1e-4 && Math.abs(c2[i] - c3[i]) < 1e-4, `entry ${i}`);
  }
});

Deno.test("blas: a training run's numbers do not depend on the OpenBLAS thread count a process set before", {
  ignore: blas === null,
}, async () => {
  // Embedded sweeps and NATS workers used different thread counts, and OpenBLAS's threaded sgemm rounds
  // differently (a clean rerun of the same job gave other numbers). Every selected blas Gemm runs on
  // DEFAULT_BLAS_THREADS, so the run is the same bit for bit.
  const { trainRun } = await import("../core/train/trainer.ts");
  const { parseTrainConfig } = await import("../core/train/config.ts");
  const cfg = parseTrainConfig({
    task: "ising",
    L: 3,
    beta: 0.4,
    objective: "akl",
    cv: "loo-logz",
    steps: 30,
    batch: 128,
    hidden: [64, 64],
    eval_every: 30,
    eval_samples: 256,
    seed: 3,
  });
  const finals = [];
  for (const before of [4, 1, 2]) {
    probeBlas({ threads: before });
    const s = await trainRun(cfg, { gemm: await selectGemm("blas") });
    finals.push([s.e_logw, s.exact_kl, s.log_z_hat]);
  }
  assert.deepEqual(finals[1], finals[0]);
  assert.deepEqual(finals[2], finals[0]);
});

function transposed(x: Float32Array, rows: number, cols: number): Float32Array {
  const t = new Float32Array(rows * cols);
  transposeInto(x, rows, cols, t, 0);
  return t;
}

Deno.test("blas: returns null (does not throw) without --allow-ffi", {
  ignore: blas === null,
}, async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/probe.ts`;
    const url = new URL("../backends/blas.ts", import.meta.url).href;
    await Deno.writeTextFile(
      script,
      `import { loadBlasGemm, probeBlas } from "${url}";\n` +
        `console.log(JSON.stringify({ g: loadBlasGemm(), reason: probeBlas().reason }));\n`,
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "--no-lock",
        "--no-config",
        `--allow-read=${dir},${new URL("..", import.meta.url).pathname}`,
        script,
      ],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout).trim();
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    const parsed = JSON.parse(text);
    assert.equal(parsed.g, null);
    assert.match(parsed.reason, /FFI permission missing/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("select: unknown name rejects with a one-line message", async () => {
  await assert.rejects(() => selectGemm("nope" as BackendName), (err: Error) => {
    assert.match(
      err.message,
      /^unknown backend "nope" \(expected one of auto, tensorflow, blas, wasm, cpu\)$/,
    );
    return true;
  });
});

Deno.test("select: explicit backends resolve to their own name or reject with a one-line reason", async () => {
  for (const name of ["cpu", "blas", "wasm", "tensorflow"] as const) {
    const loaded = backends.find((b) => b.name === name)!.g;
    if (loaded) {
      const g = await selectGemm(name);
      assert.equal(g.name, name);
      assert.ok(describeGemm(g).startsWith(`${name} (`), describeGemm(g));
    } else {
      await assert.rejects(() => selectGemm(name), (err: Error) => {
        assert.ok(err.message.startsWith(`backend "${name}" unavailable: `), err.message);
        assert.ok(!err.message.includes("\n"), "one line");
        return true;
      });
    }
  }
});

Deno.test("select: auto picks the first loadable of tensorflow > blas > wasm > cpu, and it computes", async () => {
  const avail = await availableBackends();
  const expected = backends.filter((b) => b.g).map((b) => b.name);
  const order = ["tensorflow", "blas", "wasm", "cpu"];
  assert.deepEqual(avail, order.filter((n) => expected.includes(n)));
  const g = await selectGemm("auto");
  assert.equal(g.name, avail[0]);
  checkKnownProduct(g);
});

// The tensorflow wrapper cannot run against tfjs-node here; run the same wrapper on tfjs-core's "cpu" backend,
// which has the same matMul(transposeA, transposeB) API, to check shapes, transposes, beta and views.
const tfc = await import("@tensorflow/tfjs-core");
await import("@tensorflow/tfjs-backend-cpu");

Deno.test("tensorflow wrapper (run on tfjs cpu backend): all cases vs float64 reference", async () => {
  assert.ok(await tfc.setBackend("cpu"));
  (tfc.findBackend("cpu") as unknown as { firstUse: boolean }).firstUse = false; // no "install tfjs-node" banner
  const g = makeTfjsGemm(tfc as unknown as TfjsApi, "cpu");
  assert.equal(g.name, "tensorflow");
  assert.equal(runAllCases(g, Float32Array), SHAPES.length * 8);
  runAllCases(g, Float64Array);
  checkKnownProduct(g);
  checkEdgeSizes(g);
  assert.equal(tfc.memory().numTensors, 0, "no tensors leaked");
});

Deno.test("tensorflow wrapper: switches tfjs's global backend back synchronously if someone changed it", async () => {
  const g = makeTfjsGemm(tfc as unknown as TfjsApi, "cpu");
  assert.ok(await tfc.setBackend("wasm"));
  assert.equal(tfc.getBackend(), "wasm");
  checkKnownProduct(g);
  assert.equal(tfc.getBackend(), "cpu");
});

Deno.test("wasm: repeated calls leak neither tfjs data ids nor wasm heap", { ignore: wasm === null }, () => {
  const be = tfc.findBackend("wasm") as unknown as { numDataIds(): number; wasm: { HEAPU8: Uint8Array } };
  const rng = new Rng(9);
  const [m, n, k] = [64, 48, 80];
  const a = Float32Array.from({ length: m * k }, () => rng.uniform());
  const b = Float32Array.from({ length: k * n }, () => rng.uniform());
  const c = new Float32Array(m * n);
  wasm!.gemm(true, true, m, n, k, a, b, c, 0);
  const ids = be.numDataIds(), heap = be.wasm.HEAPU8.length;
  for (let i = 0; i < 300; i++) wasm!.gemm(i % 2 === 0, i % 3 === 0, m, n, k, a, b, c, (i % 2) as 0 | 1);
  assert.equal(be.numDataIds(), ids);
  assert.equal(be.wasm.HEAPU8.length, heap);
});
