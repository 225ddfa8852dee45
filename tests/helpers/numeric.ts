/** Numeric checks shared by the engine tests. */
import assert from "node:assert/strict";
import type { Vec } from "../../core/nn/gemm.ts";

/** Central finite differences of f over every element of every parameter array (restored afterwards). */
export function finiteDifference(ps: Vec[], f: () => number, eps = 1e-6): Float64Array[] {
  return ps.map((p) => {
    const g = new Float64Array(p.length);
    for (let i = 0; i < p.length; i++) {
      const v = p[i];
      p[i] = v + eps;
      const up = f();
      p[i] = v - eps;
      const down = f();
      p[i] = v;
      g[i] = (up - down) / (2 * eps);
    }
    return g;
  });
}

/** |actual − expected| ≤ atol + rtol·|expected| elementwise, naming the first failing index. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  rtol: number,
  atol: number,
  what: string,
): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    const tol = atol + rtol * Math.abs(expected[i]);
    assert.ok(Math.abs(actual[i] - expected[i]) <= tol, `${what}[${i}]: ${actual[i]} vs ${expected[i]}`);
  }
}
