/**
 * Holm's step-down adjustment of p-values (Holm 1979): controls the family-wise error rate at α for any
 * dependence between the tests. With p₍₁₎ ≤ … ≤ p₍ₘ₎ the adjusted values are
 *   p̃₍ᵢ₎ = max_{j ≤ i} min(1, (m − j + 1) p₍ⱼ₎),
 * and test i is rejected at level α when p̃ᵢ ≤ α. NaN p-values count as 1. Pure.
 */
export function holmAdjust(p: readonly number[]): number[] {
  const m = p.length;
  const order = p.map((v, i) => [Number.isNaN(v) ? 1 : v, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<number>(m);
  let running = 0;
  order.forEach(([v, i], j) => {
    running = Math.max(running, Math.min(1, (m - j) * v));
    out[i] = running;
  });
  return out;
}
