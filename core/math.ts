/** Small numeric helpers shared by the engine (pure). */

/** log Σ exp(v_i) over v[from..to), stable. Returns -Infinity for an empty or all -Infinity range. */
export function logSumExp(v: ArrayLike<number>, from = 0, to = v.length): number {
  let m = -Infinity;
  for (let i = from; i < to; i++) if (v[i] > m) m = v[i];
  if (m === -Infinity) return -Infinity;
  if (m === Infinity) return Infinity;
  let s = 0;
  for (let i = from; i < to; i++) s += Math.exp(v[i] - m);
  return m + Math.log(s);
}

export function mean(v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i];
  return s / v.length;
}

/** Sample standard deviation (n − 1 denominator); 0 for fewer than two values. */
export function std(v: ArrayLike<number>): number {
  if (v.length < 2) return 0;
  const m = mean(v);
  let s = 0;
  for (let i = 0; i < v.length; i++) s += (v[i] - m) ** 2;
  return Math.sqrt(s / (v.length - 1));
}

/** log(n!) */
export function logFactorial(n: number): number {
  let s = 0;
  for (let i = 2; i <= n; i++) s += Math.log(i);
  return s;
}
