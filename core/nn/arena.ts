/**
 * One arena per model shape: the buffers of a training step are carved out of one memory region by a bump
 * pointer that goes back to the start at every step. A step of a given shape asks for the same sizes in the same
 * order every time, so after the first step (which sizes the region) nothing is allocated in the hot loop: no
 * fresh pages, no page faults, no garbage. The region is a plain ArrayBuffer (`jsArenaMemory`) or the wasm
 * kernels' linear memory (backends/kernels.ts), so that the wasm kernels and OpenBLAS work on the same bytes.
 *
 * Contract: a buffer from `alloc` inside `arena.run(fn)` is valid until `fn` returns; nothing may keep it past the
 * step. Outside `run`, `alloc` is `new C(n)`. A request that does not fit falls back to `new C(n)` (counted in
 * `overflowBytes`) and the region grows to the step's high-water mark when the step ends (between steps no
 * arena view is live, so a memory that detaches its buffer on growth is safe).
 */

/** Typed-array constructors the arena hands out. */
export type TypedCtor =
  | Float32ArrayConstructor
  | Float64ArrayConstructor
  | Int32ArrayConstructor
  | Int8ArrayConstructor
  | Uint8ArrayConstructor;

/** The memory an arena lives in: a region [offset, offset + bytes) of `buffer`. */
export interface ArenaMemory {
  /** The current backing buffer (a new object after growth). */
  buffer(): ArrayBuffer;
  /** Byte offset and size of this arena's region. */
  region(): { offset: number; bytes: number };
  /** Makes the region at least `bytes` long; may move it and replace `buffer()`. Called only between steps. */
  reserve(bytes: number): void;
  /** Returns the region (the arena is no longer used). */
  release?(): void;
}

/** A growable ArrayBuffer region (the portable arena memory of the pure-TypeScript path). */
export function jsArenaMemory(initialBytes = 0): ArenaMemory {
  let buf = new ArrayBuffer(initialBytes);
  return {
    buffer: () => buf,
    region: () => ({ offset: 0, bytes: buf.byteLength }),
    reserve(bytes) {
      if (bytes > buf.byteLength) buf = new ArrayBuffer(bytes);
    },
  };
}

const ALIGN = 16;

export class Arena {
  private top = 0;
  /** Bytes requested by the last (or current) step, including those that overflowed. */
  highWater = 0;
  /** Bytes served by `new` (outside the region) in the last (or current) step; 0 once warmed up. */
  overflowBytes = 0;
  /** Steps run. */
  steps = 0;

  constructor(readonly memory: ArenaMemory) {}

  /** Runs one step with this arena active; nested calls (this or another arena) just run `fn`. */
  run<T>(fn: () => T): T {
    if (active) return fn();
    active = this;
    this.top = 0;
    this.overflowBytes = 0;
    this.highWater = 0;
    try {
      return fn();
    } finally {
      active = null;
      this.steps++;
      // headroom (25% + 4 MiB): steps whose sizes vary (variable-length trajectories, small batches vary most)
      // stop overflowing after a few steps
      if (this.highWater > this.memory.region().bytes) {
        this.memory.reserve(Math.ceil(this.highWater * 1.25) + (1 << 22));
      }
    }
  }

  /** A zero-filled (or, with `zero` false, uninitialised) array of n elements from the region. */
  take<C extends TypedCtor>(C: C, n: number, zero = true): InstanceType<C> {
    const bytes = n * C.BYTES_PER_ELEMENT;
    const start = this.top;
    this.top = start + ((bytes + ALIGN - 1) & ~(ALIGN - 1));
    if (this.top > this.highWater) this.highWater = this.top;
    const { offset, bytes: cap } = this.memory.region();
    if (this.top > cap) {
      this.overflowBytes += bytes;
      return new C(n) as InstanceType<C>;
    }
    const v = new C(this.memory.buffer(), offset + start, n) as InstanceType<C>;
    if (zero) v.fill(0);
    return v;
  }

  /** Current bump position (for short-lived staging: `release(mark())` frees what was taken since). */
  mark(): number {
    return this.top;
  }

  release(mark: number): void {
    this.top = mark;
  }
}

// The arena of the training step in progress (set only inside `Arena.run`, restored after it): the one piece of
// module-level state of core/nn, explicit and documented — allocation inside a step reuses the step's memory.
let active: Arena | null = null;

/** The arena of the step in progress, if any. */
export function activeArena(): Arena | null {
  return active;
}

/** A zero-filled array: from the active arena inside a step, else `new C(n)`. */
export function alloc<C extends TypedCtor>(C: C, n: number): InstanceType<C> {
  return active ? active.take(C, n) : new C(n) as InstanceType<C>;
}

/** Like `alloc` but the contents are unspecified (the caller overwrites every element). */
export function allocRaw<C extends TypedCtor>(C: C, n: number): InstanceType<C> {
  return active ? active.take(C, n, false) : new C(n) as InstanceType<C>;
}

/**
 * Inside a step, a copy of `v` in the step arena (so kernels that read it many times find it in their memory,
 * e.g. a weight matrix read once per sampling step); outside a step, `v` itself.
 */
export function arenaCopy<T extends Float32Array | Float64Array>(v: T): T {
  if (!active) return v;
  const c = active.take(v.constructor as TypedCtor, v.length, false) as T;
  c.set(v);
  return c;
}
