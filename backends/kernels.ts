/**
 * The step kernels of core/nn/kernels.ts in WebAssembly SIMD: loads backends/kernels/kernels.wasm (built from
 * kernels.c by kernels/build.sh and committed, so no compiler is needed at run time) into one linear memory that
 * also holds the step arenas (core/nn/arena.ts). Buffers from an arena are already in that memory and are passed
 * by address: the kernels and OpenBLAS (backends/blas.ts, through FFI views) read and write the same bytes, with
 * no copies. An operand outside the memory (a parameter array, a float64 coefficient vector) is staged: copied
 * into scratch space of the memory (the active arena, or a staging region between steps) and back if written.
 * Float64 outputs (finite-difference tests) go to the TypeScript kernels.
 *
 * Memory layout: [0, 64 KiB) stack, then the kernels' static data up to __heap_base, then regions handed out to
 * the staging area and to arenas (first fit, growing the memory at the top). Growth detaches every view of the
 * memory, so it happens only between steps (the arena contract) or outside any step.
 */
import type { Vec } from "../core/nn/gemm.ts";
import { jsKernels, type Kernels } from "../core/nn/kernels.ts";
import { activeArena, alloc, Arena, type ArenaMemory } from "../core/nn/arena.ts";
import type { Activation } from "../core/nn/mlp.ts";

const PAGE = 65536;
/** Most bytes staged through the arena by one kernel call inside a step. */
const STAGE_IN_STEP_MAX = 1 << 20;
const ACT: Record<Activation, number> = { swish: 0, relu: 1, elu: 2, tanh: 3 };

interface Exports {
  bias_act(kind: number, z: number, bias: number, a: number, da: number, n: number, h: number): void;
  mul_inplace(x: number, y: number, n: number): void;
  colsum_add(a: number, rows: number, cols: number, out: number): void;
  mul_colsum_add(a: number, y: number, rows: number, cols: number, out: number): void;
  scale_rows(x: number, s: number, period: number, rows: number, h: number, out: number): void;
  add_signed_rows(z: number, W: number, pos: number, val: number, n: number, h: number): void;
  pair_logits(
    top: number,
    Wt: number,
    bout: number,
    pos: number,
    n: number,
    hk: number,
    lm: number,
    lp: number,
  ): void;
  pair_signal(c: number, pos: number, Wt: number, rows: number, hk: number, top: number): void;
  pair_signal_act(
    c: number,
    pos: number,
    Wt: number,
    dact: number,
    rows: number,
    hk: number,
    out: number,
    dbias: number,
  ): void;
  pair_grad(
    c: number,
    pos: number,
    top: number,
    rows: number,
    hk: number,
    D: number,
    acc: number,
    dW: number,
    dbout: number,
  ): void;
  row_group_sum(x: number, group: number, rows: number, h: number, out: number): void;
  state_grad(
    dz: number,
    pos: number,
    val: number,
    T: number,
    B: number,
    h: number,
    acc: number,
    dW: number,
  ): void;
  state_grad_step(
    dz: number,
    dact: number,
    pos: number,
    val: number,
    B: number,
    h: number,
    acc: number,
    dW: number,
    dbias: number,
  ): void;
  score_sums(h: number, n: number, lw: number, H2: number, W2: number, G1: number, G2: number): void;
  sum_squares(h: number, n: number): number;
  __heap_base: WebAssembly.Global;
}

/** An operand: the array, how many elements the kernel touches, and whether it is read, written or both. */
type Operand = [Vec | Int32Array | Int8Array | null, number, "in" | "out" | "inout"];

interface Region {
  offset: number;
  bytes: number;
}

/** The URL of the committed binary (read by `loadWasmKernels`; rebuilt by tests/kernels_test.ts). */
export const KERNELS_WASM_URL = new URL("./kernels/kernels.wasm", import.meta.url);

class WasmKernels implements Kernels {
  readonly name = "wasm-simd";
  readonly sparseOutput = true;
  private readonly x: Exports;
  private top: number;
  private free: Region[] = [];
  private stage: Region;

  constructor(private readonly mem: WebAssembly.Memory, instance: WebAssembly.Instance) {
    this.x = instance.exports as unknown as Exports;
    this.top = align(this.x.__heap_base.value as number, PAGE);
    this.stage = this.allocRegion(1 << 20);
  }

  /** A region of at least `bytes` (rounded to pages): first fit from freed regions, else at the top. */
  private allocRegion(bytes: number): Region {
    bytes = align(Math.max(bytes, PAGE), PAGE);
    const i = this.free.findIndex((r) => r.bytes >= bytes);
    if (i >= 0) return this.free.splice(i, 1)[0];
    const offset = this.top;
    const need = offset + bytes - this.mem.buffer.byteLength;
    if (need > 0) this.mem.grow(Math.ceil(need / PAGE)); // throws RangeError past the 4 GiB of wasm32
    this.top = offset + bytes;
    return { offset, bytes };
  }

  private freeRegion(r: Region): void {
    if (r.offset + r.bytes === this.top) this.top = r.offset;
    else this.free.push(r);
  }

  private grownRegion(r: Region, bytes: number): Region {
    this.freeRegion(r);
    return this.allocRegion(bytes);
  }

  createArena(): Arena {
    let region = this.allocRegion(PAGE);
    const memory: ArenaMemory & { owner: WasmKernels } = {
      owner: this,
      buffer: () => this.mem.buffer as ArrayBuffer,
      region: () => region,
      reserve: (bytes) => {
        if (bytes <= region.bytes) return;
        this.freeRegion(region);
        try {
          region = this.allocRegion(bytes);
        } catch (err) {
          // wasm32 memory is at most 4 GiB: a step that needs more keeps its region and serves the rest from the
          // JavaScript heap (those buffers run the TypeScript kernels); correct, only slower
          if (!(err instanceof RangeError)) throw err;
          region = this.allocRegion(region.bytes);
        }
      },
      release: () => this.freeRegion(region),
    };
    return new Arena(memory);
  }

  /**
   * Runs `fn` on the byte addresses of the operands (0 for null), staging those outside the memory. Returns false
   * (nothing done) when an operand cannot be handled: a written float64 array, or no staging room inside a step.
   */
  private call(ops: Operand[], fn: (...ptrs: number[]) => void): boolean {
    const buf = this.mem.buffer;
    let stageBytes = 0;
    for (const [v, n, mode] of ops) {
      if (!v || v.buffer === buf) continue;
      if (mode !== "in" && v instanceof Float64Array) return false;
      stageBytes += align(n * (v instanceof Int8Array ? 1 : 4), 16);
    }
    if (stageBytes === 0) {
      fn(...ops.map(([v]) => (v ? v.byteOffset : 0)));
      return true;
    }
    const arena = activeArena();
    let base: number, mark = -1;
    if (arena) {
      // inside a step only small operands (biases, coefficients) are staged; a large one outside the memory is an
      // arena overflow of a first step, cheaper to run in TypeScript than to copy (and to size the arena for)
      if ((arena.memory as { owner?: unknown }).owner !== this || stageBytes > STAGE_IN_STEP_MAX) {
        return false;
      }
      mark = arena.mark();
      const space = arena.take(Uint8Array, stageBytes, false);
      if (space.buffer !== this.mem.buffer) {
        arena.release(mark);
        return false;
      }
      base = space.byteOffset;
    } else {
      if (stageBytes > this.stage.bytes) {
        const old = this.stage;
        try {
          this.stage = this.grownRegion(old, stageBytes);
        } catch (err) {
          if (!(err instanceof RangeError)) throw err;
          this.stage = this.allocRegion(old.bytes); // past 4 GiB: this call runs in TypeScript
          return false;
        }
      }
      base = this.stage.offset;
    }
    const mem = this.mem.buffer;
    const staged: [Operand, ArrayBufferView & ArrayLike<number> & { set(a: ArrayLike<number>): void }][] = [];
    const ptrs: number[] = [];
    for (const op of ops) {
      const [v, n, mode] = op;
      if (!v) {
        ptrs.push(0);
        continue;
      }
      if (v.buffer === mem) {
        ptrs.push(v.byteOffset);
        continue;
      }
      const view = v instanceof Int32Array
        ? new Int32Array(mem, base, n)
        : v instanceof Int8Array
        ? new Int8Array(mem, base, n)
        : new Float32Array(mem, base, n);
      if (mode !== "out") view.set(v.length === n ? v : v.subarray(0, n));
      staged.push([op, view]);
      ptrs.push(base);
      base += align(n * view.BYTES_PER_ELEMENT, 16);
    }
    fn(...ptrs);
    for (const [[v, , mode], view] of staged) if (mode !== "in") (v as Vec).set(view as Float32Array);
    if (arena) arena.release(mark);
    return true;
  }

  biasAct(kind: Activation, z: Vec, bias: Vec | null, a: Vec, da: Vec | null, n: number, h: number): void {
    const len = n * h;
    if (
      len === 0 ||
      !this.call(
        [[z, len, "in"], [bias, h, "in"], [a, len, "out"], [da, len, "out"]],
        (pz, pb, pa, pd) => this.x.bias_act(ACT[kind], pz, pb, pa, pd, n, h),
      )
    ) jsKernels.biasAct(kind, z, bias, a, da, n, h);
  }

  mulInPlace(x: Vec, y: Vec, n: number): void {
    if (!this.call([[x, n, "inout"], [y, n, "in"]], (px, py) => this.x.mul_inplace(px, py, n))) {
      jsKernels.mulInPlace(x, y, n);
    }
  }

  colSumAdd(a: Vec, rows: number, cols: number, out: Vec): void {
    if (
      !this.call(
        [[a, rows * cols, "in"], [out, cols, "inout"]],
        (pa, po) => this.x.colsum_add(pa, rows, cols, po),
      )
    ) jsKernels.colSumAdd(a, rows, cols, out);
  }

  mulColSumAdd(a: Vec, y: Vec, rows: number, cols: number, out: Vec): void {
    if (
      !this.call(
        [[a, rows * cols, "inout"], [y, rows * cols, "in"], [out, cols, "inout"]],
        (pa, py, po) => this.x.mul_colsum_add(pa, py, rows, cols, po),
      )
    ) jsKernels.mulColSumAdd(a, y, rows, cols, out);
  }

  scaleRows(x: Vec, s: Vec, period: number, rows: number, h: number, out: Vec): void {
    if (
      !this.call(
        [[x, rows * h, "in"], [s, period, "in"], [out, rows * h, "out"]],
        (px, ps, po) => this.x.scale_rows(px, ps, period, rows, h, po),
      )
    ) jsKernels.scaleRows(x, s, period, rows, h, out);
  }

  addSignedRows(z: Vec, W: Vec, pos: Int32Array, val: Int8Array, n: number, h: number): void {
    if (
      !this.call(
        [[z, n * h, "inout"], [W, W.length, "in"], [pos, n, "in"], [val, n, "in"]],
        (pz, pw, pp, pv) => this.x.add_signed_rows(pz, pw, pp, pv, n, h),
      )
    ) jsKernels.addSignedRows(z, W, pos, val, n, h);
  }

  pairLogits(top: Vec, Wt: Vec, bout: Vec, pos: Int32Array, n: number, hk: number, lm: Vec, lp: Vec): void {
    if (
      !this.call(
        [[top, n * hk, "in"], [Wt, Wt.length, "in"], [bout, bout.length, "in"], [pos, n, "in"], [
          lm,
          n,
          "out",
        ], [
          lp,
          n,
          "out",
        ]],
        (pt, pw, pb, pp, pm, pl) => this.x.pair_logits(pt, pw, pb, pp, n, hk, pm, pl),
      )
    ) jsKernels.pairLogits(top, Wt, bout, pos, n, hk, lm, lp);
  }

  pairSignal(c: Vec, pos: Int32Array, Wt: Vec, rows: number, hk: number, top: Vec): void {
    if (
      !this.call(
        [[c, rows, "in"], [pos, rows, "in"], [Wt, Wt.length, "in"], [top, rows * hk, "out"]],
        (pc, pp, pw, pt) => this.x.pair_signal(pc, pp, pw, rows, hk, pt),
      )
    ) jsKernels.pairSignal(c, pos, Wt, rows, hk, top);
  }

  pairSignalAct(
    c: Vec,
    pos: Int32Array,
    Wt: Vec,
    dact: Vec,
    rows: number,
    hk: number,
    out: Vec,
    dbias: Vec,
  ): void {
    if (
      !this.call(
        [[c, rows, "in"], [pos, rows, "in"], [Wt, Wt.length, "in"], [dact, rows * hk, "in"], [
          out,
          rows * hk,
          "out",
        ], [dbias, hk, "inout"]],
        (pc, pp, pw, py, po, pb) => this.x.pair_signal_act(pc, pp, pw, py, rows, hk, po, pb),
      )
    ) jsKernels.pairSignalAct(c, pos, Wt, dact, rows, hk, out, dbias);
  }

  pairGrad(
    c: Vec,
    pos: Int32Array,
    top: Vec,
    rows: number,
    hk: number,
    D: number,
    dW: Vec,
    dbout: Vec,
  ): void {
    const acc = alloc(Float32Array, D * (hk + 1));
    if (
      !this.call(
        [[c, rows, "in"], [pos, rows, "in"], [top, rows * hk, "in"], [acc, acc.length, "inout"], [
          dW,
          dW.length,
          "inout",
        ], [dbout, dbout.length, "inout"]],
        (pc, pp, pt, pa, pw, pb) => this.x.pair_grad(pc, pp, pt, rows, hk, D, pa, pw, pb),
      )
    ) jsKernels.pairGrad(c, pos, top, rows, hk, D, dW, dbout);
  }

  rowGroupSum(x: Vec, group: Int32Array, rows: number, h: number, out: Vec): void {
    const n = out.length;
    if (
      !this.call(
        [[x, rows * h, "in"], [group, rows, "in"], [out, n, "inout"]],
        (px, pg, po) => this.x.row_group_sum(px, pg, rows, h, po),
      )
    ) jsKernels.rowGroupSum(x, group, rows, h, out);
  }

  stateGrad(dz: Vec, pos: Int32Array, val: Int8Array, T: number, B: number, h: number, dW: Vec): void {
    const rows = T * B, acc = alloc(Float32Array, B * h);
    if (
      !this.call(
        [[dz, rows * h, "in"], [pos, rows, "in"], [val, rows, "in"], [acc, B * h, "inout"], [
          dW,
          dW.length,
          "inout",
        ]],
        (pz, pp, pv, pa, pw) => this.x.state_grad(pz, pp, pv, T, B, h, pa, pw),
      )
    ) jsKernels.stateGrad(dz, pos, val, T, B, h, dW);
  }

  stateGradStep(
    dz: Vec | null,
    dact: Vec | null,
    pos: Int32Array,
    val: Int8Array,
    B: number,
    h: number,
    acc: Vec,
    dW: Vec,
    dbias: Vec,
  ): void {
    const n = dz ? B * h : 0;
    if (
      !this.call(
        [[dz, n, "in"], [dact, n, "in"], [pos, B, "in"], [val, B, "in"], [acc, acc.length, "inout"], [
          dW,
          dW.length,
          "inout",
        ], [dbias, h, "inout"]],
        (pz, py, pp, pv, pa, pw, pb) => this.x.state_grad_step(pz, py, pp, pv, B, h, pa, pw, pb),
      )
    ) jsKernels.stateGradStep(dz, dact, pos, val, B, h, acc, dW, dbias);
  }

  scoreSums(h: Vec, n: number, lw: number, H2: Vec, W2: Vec, G1: Vec | null, G2: Vec | null): void {
    if (
      !this.call(
        [[h, n, "in"], [H2, n, "inout"], [W2, n, "inout"], [G1, n, "inout"], [G2, n, "inout"]],
        (ph, p2, pw, p1, pg) => this.x.score_sums(ph, n, lw, p2, pw, p1, pg),
      )
    ) jsKernels.scoreSums(h, n, lw, H2, W2, G1, G2);
  }

  sumSquares(h: Vec, n: number): number {
    let out = NaN;
    if (!this.call([[h, n, "in"]], (ph) => (out = this.x.sum_squares(ph, n)))) {
      return jsKernels.sumSquares(h, n);
    }
    return out;
  }
}

function align(n: number, a: number): number {
  return Math.ceil(n / a) * a;
}

let cached: { kernels: Kernels | null; reason: string } | null = null;

/** The WebAssembly SIMD kernels, or null and a one-line reason (no read permission, no SIMD, ...). Cached. */
export function loadWasmKernels(): { kernels: Kernels | null; reason: string } {
  if (cached) return cached;
  try {
    const bytes = Deno.readFileSync(KERNELS_WASM_URL);
    const module = new WebAssembly.Module(bytes);
    const mem = new WebAssembly.Memory({ initial: 2 });
    const instance = new WebAssembly.Instance(module, { env: { memory: mem } });
    cached = { kernels: new WasmKernels(mem, instance), reason: "wasm simd128 kernels" };
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    cached = { kernels: null, reason: `wasm kernels: ${msg.split("\n")[0]}` };
  }
  return cached;
}
