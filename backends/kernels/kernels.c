/*
 * flowsweep's elementwise kernels in WebAssembly SIMD (f32x4). The contract is core/nn/kernels.ts; the loader
 * and the TypeScript side are backends/kernels.ts. Build: backends/kernels/build.sh (Debian clang + lld):
 *   clang --target=wasm32 -O3 -msimd128 -mbulk-memory -nostdlib -Wl,--no-entry -Wl,--import-memory ...
 * Every pointer is a byte offset into the imported memory; sizes are element counts. No allocation, no libc.
 *
 * exp: after Cephes expf (range reduction x = n·ln2 + r, |r| ≤ ln2/2, a polynomial of degree 6, one less than
 * Cephes' and refitted (see expm1_reduced), 2^n by exponent bits), relative error ≈ 1 ulp of float32 over the
 * clamped range [−87, 88]. expm1 reuses it as
 * 2^n·(e^r − 1) + (2^n − 1) so it stays relatively accurate near 0 (ELU's derivative and tanh need that).
 */
#include <wasm_simd128.h>

typedef v128_t f4;

/*
 * a·b + c in one rounding where the machine has FMA (relaxed SIMD's f32x4.relaxed_madd: fused or not, the engine's
 * choice; V8 fuses on x86-64 with FMA3 and on arm64). Debian's clang 14 knows it by a draft's name and opcode
 * (__builtin_wasm_fma_f32x4, f32x4.fma = 0xfd 0xaf 0x01); build.sh rewrites that opcode to the standard one
 * (0xfd 0x85 0x02, same operands) with relaxed.ts. A newer clang emits the standard instruction itself.
 */
#if __has_builtin(__builtin_wasm_relaxed_madd_f32x4)
#define FMA(a, b, c) __builtin_wasm_relaxed_madd_f32x4(a, b, c)
#else
#define FMA(a, b, c) __builtin_wasm_fma_f32x4(a, b, c)
#endif

#define EXPORT(name) __attribute__((export_name(#name)))

static inline f4 splat(float x) { return wasm_f32x4_splat(x); }

/*
 * The constants of the activation kernels live in memory (mutable, so the compiler keeps them there) and are
 * loaded into locals once per call: V8 rebuilds every v128.const that sits in a loop from immediates (about 3
 * instructions each), which was a third of the swish loop.
 */
float act_consts[] = {
    -87.0f, 88.0f, 1.44269504088896341f, 12582912.0f /* 1.5·2^23 */, 0.693359375f, -2.12194440e-4f,
    1.3814511476e-3f, 8.3686755970e-3f, 4.1668385267e-2f, 1.6666521132e-1f, 4.9999994040e-1f,
    1.0f, 0.0f, 2.0f, 40.0f, -88.0f, 87.0f, -1.44269504088896341f, 0.693147180559945309f,
    -8.3686755970e-3f, -1.6666521132e-1f, /* −p2, −p4 (vexp_neg's polynomial in −q) */
};
int act_iconsts[] = {0x4B400000 - 127, (int)0x80000000};

typedef struct {
  f4 lo, hi, log2e, magic, c1, c2, p1, p2, p3, p4, p5, one, zero, two, forty, vlo, vhi, nlog2e, ln2, np2, np4, pow2bias,
      sign;
} Consts;

static inline Consts load_consts(void) {
  Consts k;
  k.lo = wasm_v128_load32_splat(&act_consts[0]);
  k.hi = wasm_v128_load32_splat(&act_consts[1]);
  k.log2e = wasm_v128_load32_splat(&act_consts[2]);
  k.magic = wasm_v128_load32_splat(&act_consts[3]);
  k.c1 = wasm_v128_load32_splat(&act_consts[4]);
  k.c2 = wasm_v128_load32_splat(&act_consts[5]);
  k.p1 = wasm_v128_load32_splat(&act_consts[6]);
  k.p2 = wasm_v128_load32_splat(&act_consts[7]);
  k.p3 = wasm_v128_load32_splat(&act_consts[8]);
  k.p4 = wasm_v128_load32_splat(&act_consts[9]);
  k.p5 = wasm_v128_load32_splat(&act_consts[10]);
  k.one = wasm_v128_load32_splat(&act_consts[11]);
  k.zero = wasm_v128_load32_splat(&act_consts[12]);
  k.two = wasm_v128_load32_splat(&act_consts[13]);
  k.forty = wasm_v128_load32_splat(&act_consts[14]);
  k.vlo = wasm_v128_load32_splat(&act_consts[15]);
  k.vhi = wasm_v128_load32_splat(&act_consts[16]);
  k.nlog2e = wasm_v128_load32_splat(&act_consts[17]);
  k.ln2 = wasm_v128_load32_splat(&act_consts[18]);
  k.np2 = wasm_v128_load32_splat(&act_consts[19]);
  k.np4 = wasm_v128_load32_splat(&act_consts[20]);
  k.pow2bias = wasm_v128_load32_splat(&act_iconsts[0]);
  k.sign = wasm_v128_load32_splat(&act_iconsts[1]);
  return k;
}

/*
 * e^r − 1 for |r| ≤ ln2/2: r + r²·P(r), P of degree 4 fitted (iteratively reweighted least squares towards
 * minimax of the relative error of e^r) in place of Cephes' degree 5. Evaluated in float32 as here, over 2·10^5
 * points of the range: max relative error 3.13e−8 for e^r (Cephes' degree 5: 3.09e−8) and 8.3e−8 for e^r − 1
 * (Cephes: 8.3e−8), both at the level of float32 rounding; one multiply-add fewer per exp.
 */
static inline f4 expm1_reduced(const Consts *k, f4 r) {
  f4 p = k->p1;
  p = FMA(p, r, k->p2);
  p = FMA(p, r, k->p3);
  p = FMA(p, r, k->p4);
  p = FMA(p, r, k->p5);
  return FMA(wasm_f32x4_mul(p, r), r, r);
}

/*
 * Splits clamped x into n (integral) and r = x − n·ln2 (two-constant Cody–Waite). n is rounded to nearest by the
 * 1.5·2^23 trick, so kk's low mantissa bits hold n as an integer (used by pow2) and no float→int conversion with
 * saturation fix-ups is needed. pmin/pmax map to single SSE instructions (the clamp needs no NaN semantics).
 */
static inline f4 reduce(const Consts *k, f4 x, f4 *kk) {
  x = wasm_f32x4_pmin(wasm_f32x4_pmax(x, k->lo), k->hi);
  f4 m = FMA(x, k->log2e, k->magic);
  f4 n = wasm_f32x4_sub(m, k->magic);
  *kk = m;
  f4 r = wasm_f32x4_sub(x, wasm_f32x4_mul(n, k->c1));
  return wasm_f32x4_sub(r, wasm_f32x4_mul(n, k->c2));
}

/* 2^n from kk = n + 1.5·2^23 (n in [−126, 127]): the integer n sits in kk's low mantissa bits. */
static inline f4 pow2(const Consts *k, f4 kk) { return wasm_i32x4_shl(wasm_i32x4_sub(kk, k->pow2bias), 23); }

static inline f4 vexpm1(const Consts *k, f4 x) {
  f4 n;
  f4 r = reduce(k, x, &n);
  f4 s = pow2(k, n);
  return FMA(s, expm1_reduced(k, r), wasm_f32x4_sub(s, k->one));
}

/*
 * e^{−v} for swish's σ(v) = 1/(1 + e^{−v}), four operations shorter than the general exp of −v: no negation
 * (the reduction works with q = −r = v + n·ln2 and the polynomial's odd terms change sign), one reduction
 * constant instead of two, and 2^n applied by an integer add to the exponent (the same result as the multiply).
 * q = v + n·ln2 is one fused multiply-add (FMA), so the one constant loses nothing to the rounding of n·ln2 where
 * the machine fuses. Measured over v ∈ [−100, 100] (2^20 points, against float64 Math.exp; scratch measurement):
 * |error of v·σ| ≤ 1.4e−7·max(1, |v·σ|) and |error of the derivative| ≤ 9.8e−7·max(1, |a'|); the relative error of
 * the tiny v·σ at v ≪ 0 is ≤ 3.4e−7 with FMA, 4.2e−6 without (unfused engines), negligible in absolute terms.
 */
static inline f4 vexp_neg(const Consts *k, f4 v) {
  v = wasm_f32x4_pmin(wasm_f32x4_pmax(v, k->vlo), k->vhi);
  f4 m = FMA(v, k->nlog2e, k->magic);
  f4 n = wasm_f32x4_sub(m, k->magic);
  f4 q = FMA(n, k->ln2, v);
  /* the polynomial in −q: P(−q) with alternating signs, written with the negated odd coefficients */
  f4 p = k->p1;
  p = FMA(p, q, k->np2);
  p = FMA(p, q, k->p3);
  p = FMA(p, q, k->np4);
  p = FMA(p, q, k->p5);
  f4 em1 = wasm_f32x4_sub(wasm_f32x4_mul(wasm_f32x4_mul(p, q), q), q); /* e^{−q} − 1 */
  /* ·2^n by adding n to the exponent field: m's bits are those of 1.5·2^23 + n, so m << 23 = n << 23 (mod 2^32).
     Exact, like the multiply: over the clamped range e^{−q}·2^n is a normal float (≥ e^{−87} > 2^{−126}) */
  return wasm_i32x4_add(wasm_f32x4_add(em1, k->one), wasm_i32x4_shl(m, 23));
}

enum { SWISH = 0, RELU = 1, ELU = 2, TANH = 3 };

/* a = act(v), *d = act'(v). */
static inline f4 act4(const Consts *k, int kind, f4 v, f4 *d) {
  const f4 one = k->one, zero = k->zero;
  switch (kind) {
    case SWISH: {
      /* s = σ(v), a = v·s, a' = s·(1 + v·(1 − s)) = s + a·(1 − s) (one multiply fewer) */
      f4 s = wasm_f32x4_div(one, wasm_f32x4_add(one, vexp_neg(k, v)));
      f4 a = wasm_f32x4_mul(v, s);
      *d = FMA(a, wasm_f32x4_sub(one, s), s);
      return a;
    }
    case RELU: {
      f4 pos = wasm_f32x4_gt(v, zero);
      *d = wasm_v128_and(pos, one);
      return wasm_v128_and(pos, v);
    }
    case ELU: {
      f4 pos = wasm_f32x4_gt(v, zero);
      f4 e = vexpm1(k, wasm_f32x4_pmin(v, zero));
      *d = wasm_v128_bitselect(one, wasm_f32x4_add(e, one), pos);
      return wasm_v128_bitselect(v, e, pos);
    }
    default: { /* TANH = expm1(2v) / (expm1(2v) + 2), odd: computed on |v| */
      f4 av = wasm_f32x4_abs(v);
      f4 e = vexpm1(k, wasm_f32x4_pmin(wasm_f32x4_add(av, av), k->forty));
      f4 t = wasm_f32x4_div(e, wasm_f32x4_add(e, k->two));
      t = wasm_v128_or(t, wasm_v128_and(v, k->sign));
      *d = wasm_f32x4_sub(one, wasm_f32x4_mul(t, t));
      return t;
    }
  }
}

/*
 * Fused bias + activation + derivative over n rows of h: v = z + bias (bias may be 0 = none),
 * a = act(v), da = act'(v) (da may be 0). a may alias z. One pass over z.
 */
EXPORT(bias_act)
void bias_act(int kind, const float *z, const float *bias, float *a, float *da, int n, int h) {
  const Consts k = load_consts();
  const int h4 = h & ~3;
  for (int r = 0; r < n; r++) {
    const float *zr = z + (long)r * h;
    float *ar = a + (long)r * h;
    float *dr = da ? da + (long)r * h : 0;
    int j = 0;
    if (kind == SWISH) {
      /* swish: four independent vectors per iteration (the exp polynomial is a long dependency chain) */
      for (; j + 16 <= h4; j += 16) {
        f4 v0 = wasm_v128_load(zr + j), v1 = wasm_v128_load(zr + j + 4);
        f4 v2 = wasm_v128_load(zr + j + 8), v3 = wasm_v128_load(zr + j + 12);
        if (bias) {
          v0 = wasm_f32x4_add(v0, wasm_v128_load(bias + j));
          v1 = wasm_f32x4_add(v1, wasm_v128_load(bias + j + 4));
          v2 = wasm_f32x4_add(v2, wasm_v128_load(bias + j + 8));
          v3 = wasm_f32x4_add(v3, wasm_v128_load(bias + j + 12));
        }
        f4 d0, d1, d2, d3;
        f4 y0 = act4(&k, SWISH, v0, &d0), y1 = act4(&k, SWISH, v1, &d1);
        f4 y2 = act4(&k, SWISH, v2, &d2), y3 = act4(&k, SWISH, v3, &d3);
        wasm_v128_store(ar + j, y0);
        wasm_v128_store(ar + j + 4, y1);
        wasm_v128_store(ar + j + 8, y2);
        wasm_v128_store(ar + j + 12, y3);
        if (dr) {
          wasm_v128_store(dr + j, d0);
          wasm_v128_store(dr + j + 4, d1);
          wasm_v128_store(dr + j + 8, d2);
          wasm_v128_store(dr + j + 12, d3);
        }
      }
    }
    /* two independent vectors per iteration: the exp polynomial is a long dependency chain */
    for (; j + 8 <= h4; j += 8) {
      f4 v0 = wasm_v128_load(zr + j), v1 = wasm_v128_load(zr + j + 4);
      if (bias) {
        v0 = wasm_f32x4_add(v0, wasm_v128_load(bias + j));
        v1 = wasm_f32x4_add(v1, wasm_v128_load(bias + j + 4));
      }
      f4 d0, d1;
      f4 y0 = act4(&k, kind, v0, &d0), y1 = act4(&k, kind, v1, &d1);
      wasm_v128_store(ar + j, y0);
      wasm_v128_store(ar + j + 4, y1);
      if (dr) {
        wasm_v128_store(dr + j, d0);
        wasm_v128_store(dr + j + 4, d1);
      }
    }
    for (; j < h4; j += 4) {
      f4 v = wasm_v128_load(zr + j);
      if (bias) v = wasm_f32x4_add(v, wasm_v128_load(bias + j));
      f4 d;
      f4 y = act4(&k, kind, v, &d);
      wasm_v128_store(ar + j, y);
      if (dr) wasm_v128_store(dr + j, d);
    }
    if (h4 < h) {
      float tv[4] = {0, 0, 0, 0}, ty[4], td[4];
      for (int j = h4; j < h; j++) tv[j - h4] = zr[j] + (bias ? bias[j] : 0.0f);
      f4 d;
      wasm_v128_store(ty, act4(&k, kind, wasm_v128_load(tv), &d));
      wasm_v128_store(td, d);
      for (int j = h4; j < h; j++) {
        ar[j] = ty[j - h4];
        if (dr) dr[j] = td[j - h4];
      }
    }
  }
}

/* x[i] *= y[i] for i < n. */
EXPORT(mul_inplace)
void mul_inplace(float *x, const float *y, int n) {
  int i = 0;
  for (; i + 4 <= n; i += 4) wasm_v128_store(x + i, wasm_f32x4_mul(wasm_v128_load(x + i), wasm_v128_load(y + i)));
  for (; i < n; i++) x[i] *= y[i];
}

/*
 * out[j] += Σ_r a[r·cols + j] (bias gradients as column sums, not ones-vector GEMMs).
 * Error analysis: float32 partial sums over blocks of at most 64 rows (error ≤ 63·u·Σ|a|, u = 2^−24), added into
 * float64 totals across blocks (error ≤ rows/64 · 2^−53 · Σ|a|, negligible); the float64 total is added to
 * out once. So |error| ≤ 64·u·Σ_r |a_rj| ≈ 3.8e−6 · Σ|a| for any number of rows (the TypeScript path's sequential
 * float32 sum has rows·u). Columns are processed in chunks of 256; a block's partial sums stay in registers.
 */
#define CS_CHUNK 256
#define CS_BLOCK 64
static float cs_acc32[CS_CHUNK];
static double cs_acc64[CS_CHUNK];

EXPORT(colsum_add)
void colsum_add(const float *a, int rows, int cols, float *out) {
  for (int j0 = 0; j0 < cols; j0 += CS_CHUNK) {
    const int w = cols - j0 < CS_CHUNK ? cols - j0 : CS_CHUNK;
    const int w4 = w & ~3;
    for (int j = 0; j < w; j++) cs_acc64[j] = 0;
    for (int r0 = 0; r0 < rows; r0 += CS_BLOCK) {
      const int r1 = rows - r0 < CS_BLOCK ? rows : r0 + CS_BLOCK;
      /* the block's partial sums of 32 (then 4) columns at a time stay in registers over its rows; each column
         is still summed row by row from 0, so the result is the same as one accumulator row in memory */
      const float *ab = a + (long)r0 * cols + j0;
      int j = 0;
      for (; j + 32 <= w4; j += 32) {
        f4 s0 = wasm_f32x4_splat(0), s1 = s0, s2 = s0, s3 = s0, s4 = s0, s5 = s0, s6 = s0, s7 = s0;
        const float *ar = ab + j;
        for (int r = r0; r < r1; r++, ar += cols) {
          s0 = wasm_f32x4_add(s0, wasm_v128_load(ar));
          s1 = wasm_f32x4_add(s1, wasm_v128_load(ar + 4));
          s2 = wasm_f32x4_add(s2, wasm_v128_load(ar + 8));
          s3 = wasm_f32x4_add(s3, wasm_v128_load(ar + 12));
          s4 = wasm_f32x4_add(s4, wasm_v128_load(ar + 16));
          s5 = wasm_f32x4_add(s5, wasm_v128_load(ar + 20));
          s6 = wasm_f32x4_add(s6, wasm_v128_load(ar + 24));
          s7 = wasm_f32x4_add(s7, wasm_v128_load(ar + 28));
        }
        wasm_v128_store(cs_acc32 + j, s0);
        wasm_v128_store(cs_acc32 + j + 4, s1);
        wasm_v128_store(cs_acc32 + j + 8, s2);
        wasm_v128_store(cs_acc32 + j + 12, s3);
        wasm_v128_store(cs_acc32 + j + 16, s4);
        wasm_v128_store(cs_acc32 + j + 20, s5);
        wasm_v128_store(cs_acc32 + j + 24, s6);
        wasm_v128_store(cs_acc32 + j + 28, s7);
      }
      for (; j < w4; j += 4) {
        f4 s0 = wasm_f32x4_splat(0);
        const float *ar = ab + j;
        for (int r = r0; r < r1; r++, ar += cols) s0 = wasm_f32x4_add(s0, wasm_v128_load(ar));
        wasm_v128_store(cs_acc32 + j, s0);
      }
      for (; j < w; j++) {
        float s0 = 0;
        const float *ar = ab + j;
        for (int r = r0; r < r1; r++, ar += cols) s0 += *ar;
        cs_acc32[j] = s0;
      }
      for (int j = 0; j < w; j++) cs_acc64[j] += cs_acc32[j];
    }
    for (int j = 0; j < w; j++) out[j0 + j] = (float)((double)out[j0 + j] + cs_acc64[j]);
  }
}

/*
 * a *= y (elementwise), then out[j] += Σ_r a[r·cols + j]: mul_inplace and colsum_add in one pass over rows, with
 * colsum_add's blocks (float32 sums over 64 rows, float64 across blocks), so the same results and error bound.
 */
EXPORT(mul_colsum_add)
void mul_colsum_add(float *a, const float *y, int rows, int cols, float *out) {
  for (int j0 = 0; j0 < cols; j0 += CS_CHUNK) {
    const int w = cols - j0 < CS_CHUNK ? cols - j0 : CS_CHUNK;
    const int w4 = w & ~3;
    for (int j = 0; j < w; j++) cs_acc64[j] = 0;
    for (int r0 = 0; r0 < rows; r0 += CS_BLOCK) {
      const int r1 = rows - r0 < CS_BLOCK ? rows : r0 + CS_BLOCK;
      for (int j = 0; j < w; j++) cs_acc32[j] = 0;
      for (int r = r0; r < r1; r++) {
        float *ar = a + (long)r * cols + j0;
        const float *yr = y + (long)r * cols + j0;
        int j = 0;
        for (; j < w4; j += 4) {
          const f4 v = wasm_f32x4_mul(wasm_v128_load(ar + j), wasm_v128_load(yr + j));
          wasm_v128_store(ar + j, v);
          wasm_v128_store(cs_acc32 + j, wasm_f32x4_add(wasm_v128_load(cs_acc32 + j), v));
        }
        for (; j < w; j++) cs_acc32[j] += (ar[j] *= yr[j]);
      }
      for (int j = 0; j < w; j++) cs_acc64[j] += cs_acc32[j];
    }
    for (int j = 0; j < w; j++) out[j0 + j] = (float)((double)out[j0 + j] + cs_acc64[j]);
  }
}

/* out[r·h + j] = s[r mod period] · x[r·h + j] (per-trajectory or per-row coefficients times unit signals). */
EXPORT(scale_rows)
void scale_rows(const float *x, const float *s, int period, int rows, int h, float *out) {
  const int h4 = h & ~3;
  for (int r = 0, p = 0; r < rows; r++, p = p + 1 == period ? 0 : p + 1) {
    const f4 c = splat(s[p]);
    const float *xr = x + (long)r * h;
    float *orow = out + (long)r * h;
    int j = 0;
    for (; j < h4; j += 4) wasm_v128_store(orow + j, wasm_f32x4_mul(c, wasm_v128_load(xr + j)));
    for (; j < h; j++) orow[j] = s[p] * xr[j];
  }
}

/* The first layer's incremental update Z₀(s_{t+1}) = Z₀(s_t) + v·W₀[d,:]: z[b] += val[b]·W[pos[b]] for b < n. */
EXPORT(add_signed_rows)
void add_signed_rows(float *z, const float *W, const int *pos, const signed char *val, int n, int h) {
  const int h4 = h & ~3;
  for (int b = 0; b < n; b++) {
    float *zb = z + (long)b * h;
    const float *w = W + (long)pos[b] * h;
    int j = 0;
    if (val[b] > 0) {
      for (; j < h4; j += 4) wasm_v128_store(zb + j, wasm_f32x4_add(wasm_v128_load(zb + j), wasm_v128_load(w + j)));
      for (; j < h; j++) zb[j] += w[j];
    } else {
      for (; j < h4; j += 4) wasm_v128_store(zb + j, wasm_f32x4_sub(wasm_v128_load(zb + j), wasm_v128_load(w + j)));
      for (; j < h; j++) zb[j] -= w[j];
    }
  }
}

static inline float hsum(f4 v) {
  return (wasm_f32x4_extract_lane(v, 0) + wasm_f32x4_extract_lane(v, 1)) +
         (wasm_f32x4_extract_lane(v, 2) + wasm_f32x4_extract_lane(v, 3));
}

/*
 * The 2-logit gather: for row b with chosen position d = pos[b], lm[b] = bout[2d] + top_b·Wt[2d],
 * lp[b] = bout[2d+1] + top_b·Wt[2d+1] (Wt = output weights transposed, 2D × hk).
 */
EXPORT(pair_logits)
void pair_logits(const float *top, const float *Wt, const float *bout, const int *pos, int n, int hk, float *lm,
                 float *lp) {
  const int h4 = hk & ~3;
  for (int b = 0; b < n; b++) {
    const int d = pos[b];
    const float *t = top + (long)b * hk, *wm = Wt + (long)(2 * d) * hk, *wp = wm + hk;
    f4 am = splat(0), ap = splat(0);
    int j = 0;
    for (; j < h4; j += 4) {
      f4 x = wasm_v128_load(t + j);
      am = wasm_f32x4_add(am, wasm_f32x4_mul(x, wasm_v128_load(wm + j)));
      ap = wasm_f32x4_add(ap, wasm_f32x4_mul(x, wasm_v128_load(wp + j)));
    }
    float sm = hsum(am), sp = hsum(ap);
    for (; j < hk; j++) {
      sm += t[j] * wm[j];
      sp += t[j] * wp[j];
    }
    lm[b] = bout[2 * d] + sm;
    lp[b] = bout[2 * d + 1] + sp;
  }
}

/* Unit signal at the last hidden layer (sparse output): top[r] = c[r]·(Wt[2d+1] − Wt[2d]), d = pos[r]. */
EXPORT(pair_signal)
void pair_signal(const float *c, const int *pos, const float *Wt, int rows, int hk, float *top) {
  const int h4 = hk & ~3;
  for (int r = 0; r < rows; r++) {
    float *o = top + (long)r * hk;
    const float cr = c[r];
    const float *wm = Wt + (long)(2 * pos[r]) * hk, *wp = wm + hk;
    const f4 cv = splat(cr);
    int j = 0;
    if (cr == 0) {
      for (; j < h4; j += 4) wasm_v128_store(o + j, splat(0));
      for (; j < hk; j++) o[j] = 0;
      continue;
    }
    for (; j < h4; j += 4) {
      wasm_v128_store(o + j, wasm_f32x4_mul(cv, wasm_f32x4_sub(wasm_v128_load(wp + j), wasm_v128_load(wm + j))));
    }
    for (; j < hk; j++) o[j] = cr * (wp[j] - wm[j]);
  }
}

/*
 * The top hidden layer's signal of the sparse output fused with its activation derivative and bias gradient:
 * out[r] = (c[r]·(Wt[2d+1] − Wt[2d])) ⊙ dact[r], d = pos[r], then dbias[j] += Σ_r out[r·hk + j]: pair_signal and
 * mul_colsum_add in one pass (the unit signal is never written), with mul_colsum_add's blocks, so the same
 * products, the same sums and the same error bound.
 */
EXPORT(pair_signal_act)
void pair_signal_act(const float *c, const int *pos, const float *Wt, const float *dact, int rows, int hk,
                     float *out, float *dbias) {
  for (int j0 = 0; j0 < hk; j0 += CS_CHUNK) {
    const int w = hk - j0 < CS_CHUNK ? hk - j0 : CS_CHUNK;
    const int w4 = w & ~3;
    for (int j = 0; j < w; j++) cs_acc64[j] = 0;
    for (int r0 = 0; r0 < rows; r0 += CS_BLOCK) {
      const int r1 = rows - r0 < CS_BLOCK ? rows : r0 + CS_BLOCK;
      for (int j = 0; j < w; j++) cs_acc32[j] = 0;
      for (int r = r0; r < r1; r++) {
        const float cr = c[r];
        const float *wm = Wt + (long)(2 * pos[r]) * hk + j0, *wp = wm + hk;
        const float *yr = dact + (long)r * hk + j0;
        float *o = out + (long)r * hk + j0;
        const f4 cv = splat(cr);
        /* a row with c = 0 has the unit signal +0 (as pair_signal writes it), whatever the sign of Wt's difference */
        const f4 keep = wasm_i32x4_splat(cr == 0 ? 0 : -1);
        int j = 0;
        for (; j < w4; j += 4) {
          const f4 t = wasm_v128_and(
              wasm_f32x4_mul(cv, wasm_f32x4_sub(wasm_v128_load(wp + j), wasm_v128_load(wm + j))), keep);
          const f4 v = wasm_f32x4_mul(t, wasm_v128_load(yr + j));
          wasm_v128_store(o + j, v);
          wasm_v128_store(cs_acc32 + j, wasm_f32x4_add(wasm_v128_load(cs_acc32 + j), v));
        }
        for (; j < w; j++) cs_acc32[j] += (o[j] = (cr == 0 ? 0.0f : cr * (wp[j] - wm[j])) * yr[j]);
      }
      for (int j = 0; j < w; j++) cs_acc64[j] += cs_acc32[j];
    }
    for (int j = 0; j < w; j++) dbias[j0 + j] = (float)((double)dbias[j0 + j] + cs_acc64[j]);
  }
}

/* out[group[r]·h + j] += x[r·h + j] for r < rows (rows of shared states summed per state, in row order). */
EXPORT(row_group_sum)
void row_group_sum(const float *x, const int *group, int rows, int h, float *out) {
  const int h4 = h & ~3;
  for (int r = 0; r < rows; r++) {
    const float *xr = x + (long)r * h;
    float *o = out + (long)group[r] * h;
    int j = 0;
    for (; j < h4; j += 4) wasm_v128_store(o + j, wasm_f32x4_add(wasm_v128_load(o + j), wasm_v128_load(xr + j)));
    for (; j < h; j++) o[j] += xr[j];
  }
}

/*
 * Sparse output-layer gradient, in the output weights' own layout (hk × 2D, row j holds the 2D outputs of unit j):
 * per position d, S_d = Σ_{r: pos[r] = d} c_r·top_r and s_d = Σ_{r: pos[r] = d} c_r (summed in row order from 0
 * into acc: D·hk + D floats of scratch, zero on entry), then dW[j·2D + 2d+1] += S_d[j], dW[j·2D + 2d] −= S_d[j],
 * dbout[2d+1] += s_d, dbout[2d] −= s_d. Column 2d's sum is −S_d exactly (IEEE negation commutes with rounding),
 * so one accumulator per position serves both columns: half the read-modify-writes of updating both per row,
 * and no transpose after.
 */
EXPORT(pair_grad)
void pair_grad(const float *c, const int *pos, const float *top, int rows, int hk, int D, float *acc, float *dW,
               float *dbout) {
  const int h4 = hk & ~3;
  float *cs = acc + (long)D * hk;
  for (int r = 0; r < rows; r++) {
    const float cr = c[r];
    if (cr == 0) continue;
    const float *t = top + (long)r * hk;
    float *a = acc + (long)pos[r] * hk;
    const f4 cv = splat(cr);
    int j = 0;
    for (; j < h4; j += 4) {
      wasm_v128_store(a + j, wasm_f32x4_add(wasm_v128_load(a + j), wasm_f32x4_mul(cv, wasm_v128_load(t + j))));
    }
    for (; j < hk; j++) a[j] += cr * t[j];
    cs[pos[r]] += cr;
  }
  for (int d = 0; d < D; d++) {
    const float *a = acc + (long)d * hk;
    float *w = dW + 2 * d;
    for (int j = 0; j < hk; j++, w += 2 * D) {
      w[1] += a[j];
      w[0] -= a[j];
    }
    dbout[2 * d + 1] += cs[d];
    dbout[2 * d] -= cs[d];
  }
}

/*
 * Per-sample score sums of the optimal vector baseline: H2 += h², W2 += lw·h², and when G1 ≠ 0: G1 += h,
 * G2 += lw·h, over n elements, float32 accumulators (error analysis in core/nn/kernels.ts).
 */
EXPORT(score_sums)
void score_sums(const float *h, int n, float lw, float *H2, float *W2, float *G1, float *G2) {
  const f4 l = splat(lw);
  int i = 0;
  if (G1) {
    for (; i + 4 <= n; i += 4) {
      f4 v = wasm_v128_load(h + i), sq = wasm_f32x4_mul(v, v);
      wasm_v128_store(H2 + i, wasm_f32x4_add(wasm_v128_load(H2 + i), sq));
      wasm_v128_store(W2 + i, wasm_f32x4_add(wasm_v128_load(W2 + i), wasm_f32x4_mul(l, sq)));
      wasm_v128_store(G1 + i, wasm_f32x4_add(wasm_v128_load(G1 + i), v));
      wasm_v128_store(G2 + i, wasm_f32x4_add(wasm_v128_load(G2 + i), wasm_f32x4_mul(l, v)));
    }
    for (; i < n; i++) {
      const float v = h[i], sq = v * v;
      H2[i] += sq;
      W2[i] += lw * sq;
      G1[i] += v;
      G2[i] += lw * v;
    }
    return;
  }
  for (; i + 4 <= n; i += 4) {
    f4 v = wasm_v128_load(h + i), sq = wasm_f32x4_mul(v, v);
    wasm_v128_store(H2 + i, wasm_f32x4_add(wasm_v128_load(H2 + i), sq));
    wasm_v128_store(W2 + i, wasm_f32x4_add(wasm_v128_load(W2 + i), wasm_f32x4_mul(l, sq)));
  }
  for (; i < n; i++) {
    const float v = h[i], sq = v * v;
    H2[i] += sq;
    W2[i] += lw * sq;
  }
}

/* Σ_i h_i² over n elements (float32 lanes, float64 total per call): the optimal scalar baseline's ‖h_s‖². */
EXPORT(sum_squares)
double sum_squares(const float *h, int n) {
  f4 acc = splat(0);
  double total = 0;
  int i = 0;
  while (i + 4 <= n) {
    const int end = n - i > 256 ? i + 256 : (n & ~3);
    for (; i < end; i += 4) {
      f4 v = wasm_v128_load(h + i);
      acc = wasm_f32x4_add(acc, wasm_f32x4_mul(v, v));
    }
    total += hsum(acc);
    acc = splat(0);
  }
  for (; i < n; i++) total += (double)h[i] * h[i];
  return total;
}

/*
 * First-layer weight gradient of the bit-vector policy without its input matrix: the input of row t·B + b is the
 * state s_t = Σ_{t'<t} v_{t'} e_{d_{t'}}, so Σ_t s_tᵀ δ_t = Σ_{t'} v_{t'} e_{d_{t'}} (Σ_{t>t'} δ_t): one backward
 * sweep over t per trajectory with a running suffix sum (rows·h work instead of the GEMM's rows·D·h).
 * The sweep runs over t (descending) with all B trajectories' suffix sums side by side, so dz is read in its
 * row order (not one row per B·h stride) and the B running sums (B·h floats) stay in cache.
 * dz: rows × h (rows = T·B, row t·B + b), pos/val: per row; acc: B·h floats of scratch, zero on entry;
 * dW += the result (D × h).
 */
EXPORT(state_grad)
void state_grad(const float *dz, const int *pos, const signed char *val, int T, int B, int h, float *acc, float *dW) {
  const int h4 = h & ~3;
  for (int t = T - 1; t >= 0; t--) {
    for (int b = 0; b < B; b++) {
      const long r = (long)t * B + b;
      float *w = dW + (long)pos[r] * h;
      float *ab = acc + (long)b * h;
      const float *d = dz + r * h;
      int j = 0;
      if (val[r] > 0) {
        for (; j < h4; j += 4) {
          const f4 av = wasm_v128_load(ab + j);
          wasm_v128_store(w + j, wasm_f32x4_add(wasm_v128_load(w + j), av));
          wasm_v128_store(ab + j, wasm_f32x4_add(av, wasm_v128_load(d + j)));
        }
        for (; j < h; j++) {
          w[j] += ab[j];
          ab[j] += d[j];
        }
      } else {
        for (; j < h4; j += 4) {
          const f4 av = wasm_v128_load(ab + j);
          wasm_v128_store(w + j, wasm_f32x4_sub(wasm_v128_load(w + j), av));
          wasm_v128_store(ab + j, wasm_f32x4_add(av, wasm_v128_load(d + j)));
        }
        for (; j < h; j++) {
          w[j] -= ab[j];
          ab[j] += d[j];
        }
      }
    }
  }
}

/*
 * One time step of the first layer's backward sweep (state_grad's, run one step at a time so that the rest of the
 * backward can work on one step's rows while they are in cache; core/gfn/trajectories.ts sharedBackward). Called
 * for t = T−1 down to 0, each once, with the same acc (the B running sums, zero before the first call). For each
 * row b of step t: dW[pos_b] += val_b·acc_b (the signal of the later steps reaching the entry set at step t), then
 * δ_b = dz_b ⊙ dact_b is added to acc_b and to dbias; δ is never written. dz = dact = 0: a step without signal
 * (only the dW update). acc: B·h + 3·h floats; the last 3·h are this call's scratch for the bias sums (float32 over
 * blocks of at most 64 rows, float64 across blocks, as colsum_add: error ≤ 64·u·Σ|δ| per column), added to dbias
 * at the end of the call.
 */
EXPORT(state_grad_step)
void state_grad_step(const float *dz, const float *dact, const int *pos, const signed char *val, int B, int h,
                     float *acc, float *dW, float *dbias) {
  const int h4 = h & ~3;
  float *blk = acc + (long)B * h;
  double *tot = (double *)(blk + h);
  for (int j = 0; j < h; j++) {
    blk[j] = 0;
    tot[j] = 0;
  }
  for (int b0 = 0; b0 < B; b0 += CS_BLOCK) {
    const int b1 = B - b0 < CS_BLOCK ? B : b0 + CS_BLOCK;
    for (int b = b0; b < b1; b++) {
      float *w = dW + (long)pos[b] * h;
      float *ab = acc + (long)b * h;
      const f4 sign = wasm_i32x4_splat(val[b] > 0 ? 0 : (int)0x80000000);
      int j = 0;
      if (!dz) {
        for (; j < h4; j += 4) {
          wasm_v128_store(w + j, wasm_f32x4_add(wasm_v128_load(w + j), wasm_v128_xor(wasm_v128_load(ab + j), sign)));
        }
        for (; j < h; j++) w[j] += val[b] > 0 ? ab[j] : -ab[j];
        continue;
      }
      const float *d = dz + (long)b * h, *y = dact + (long)b * h;
      for (; j < h4; j += 4) {
        const f4 av = wasm_v128_load(ab + j);
        const f4 v = wasm_f32x4_mul(wasm_v128_load(d + j), wasm_v128_load(y + j));
        wasm_v128_store(w + j, wasm_f32x4_add(wasm_v128_load(w + j), wasm_v128_xor(av, sign)));
        wasm_v128_store(ab + j, wasm_f32x4_add(av, v));
        wasm_v128_store(blk + j, wasm_f32x4_add(wasm_v128_load(blk + j), v));
      }
      for (; j < h; j++) {
        const float v = d[j] * y[j];
        w[j] += val[b] > 0 ? ab[j] : -ab[j];
        ab[j] += v;
        blk[j] += v;
      }
    }
    if (dz) {
      for (int j = 0; j < h; j++) {
        tot[j] += blk[j];
        blk[j] = 0;
      }
    }
  }
  if (dz) {
    for (int j = 0; j < h; j++) dbias[j] = (float)((double)dbias[j] + tot[j]);
  }
}
