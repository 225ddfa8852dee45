/**
 * The Float64 array algebra (core/algebra.ts) the CPU engine's coefficient math runs on: exact element order and
 * broadcasting of length-1 values, reductions as core/math.ts computes them, the leave-one-out log-sum-exp
 * without cancellation where one weight dominates, and mismatched lengths refused.
 */
import assert from "node:assert/strict";
import { float64 as A } from "../core/algebra.ts";
import { logSumExp } from "../core/math.ts";

const v = Float64Array.of(0.1, -2, 3.5);

Deno.test("float64 algebra: elementwise operations with length-1 values broadcast on either side", () => {
  const c = A.scalar(0.7);
  assert.deepEqual(A.sub(c, v), Float64Array.from(v, (x) => 0.7 - x));
  assert.deepEqual(A.sub(v, c), Float64Array.from(v, (x) => x - 0.7));
  assert.deepEqual(A.add(v, v), Float64Array.from(v, (x) => x + x));
  assert.deepEqual(A.mul(v, c), Float64Array.from(v, (x) => x * 0.7));
  assert.deepEqual(A.scale(v, 3), Float64Array.from(v, (x) => 3 * x));
  assert.deepEqual(A.div(v, 3), Float64Array.from(v, (x) => x / 3));
  assert.deepEqual(A.maximum(v, A.scalar(0)), Float64Array.of(0.1, 0, 3.5));
  assert.deepEqual(A.exp(v), v.map(Math.exp));
  assert.deepEqual(A.log(A.exp(v)).length, 3);
  assert.deepEqual(A.fill(v, 2), Float64Array.of(2, 2, 2));
  assert.deepEqual(A.sub(c, c), Float64Array.of(0));
  assert.equal(A.count(v), 3);
  assert.throws(() => A.add(v, Float64Array.of(1, 2)), RangeError);
});

Deno.test("float64 algebra: reductions (left-to-right sum, max, log-sum-exp of core/math.ts)", () => {
  assert.deepEqual(A.sum(v), Float64Array.of(0 + 0.1 + -2 + 3.5));
  assert.deepEqual(A.max(v), Float64Array.of(3.5));
  assert.deepEqual(A.max(new Float64Array(0)), Float64Array.of(-Infinity));
  assert.deepEqual(A.logSumExp(v), Float64Array.of(logSumExp(v)));
});

Deno.test("float64 algebra: leave-one-out log-sum-exp sums the others directly (one weight e^{1000} dominates)", () => {
  const lw = Float64Array.of(1000, 1, 2, -3);
  const loo = A.looLogSumExp(lw);
  for (let s = 0; s < lw.length; s++) {
    const others = lw.filter((_, i) => i !== s);
    assert.equal(loo[s], logSumExp(others));
  }
  // without the dominant weight: log(e + e² + e⁻³), which log(Σ − w_s) would lose entirely
  assert.ok(Math.abs(loo[0] - Math.log(Math.E + Math.E ** 2 + Math.E ** -3)) < 1e-14);
});
