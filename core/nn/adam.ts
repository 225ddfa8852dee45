/** Adam (Kingma & Ba) over a list of parameter arrays, updating them in place. */
import type { Vec } from "./gemm.ts";

export class Adam {
  private m: Float64Array[];
  private v: Float64Array[];
  private t = 0;
  constructor(
    private readonly params: Vec[],
    public lr: number,
    private readonly beta1 = 0.9,
    private readonly beta2 = 0.999,
    private readonly eps = 1e-8,
  ) {
    this.m = params.map((p) => new Float64Array(p.length));
    this.v = params.map((p) => new Float64Array(p.length));
  }

  /** One descent step along `grads` (same shapes as the params). */
  step(grads: ArrayLike<number>[]): void {
    this.t++;
    const c1 = 1 - this.beta1 ** this.t, c2 = 1 - this.beta2 ** this.t;
    const a = this.lr * Math.sqrt(c2) / c1;
    const epsHat = this.eps * Math.sqrt(c2);
    for (let k = 0; k < this.params.length; k++) {
      const p = this.params[k], g = grads[k], m = this.m[k], v = this.v[k];
      for (let i = 0; i < p.length; i++) {
        const gi = g[i];
        m[i] = this.beta1 * m[i] + (1 - this.beta1) * gi;
        v[i] = this.beta2 * v[i] + (1 - this.beta2) * gi * gi;
        p[i] -= a * m[i] / (Math.sqrt(v[i]) + epsHat);
      }
    }
  }
}

/**
 * One optimiser over a parameter tree (e.g. {policy, scalar, value, pb, energy}): each leaf is a list of
 * parameter arrays with its own learning rate and Adam state (optax's per-leaf transformation, docs/math.md
 * §"Training loop"). `step` updates the leaves it is given gradients for and leaves the others untouched.
 */
export class TreeAdam<K extends string> {
  private readonly leaves = new Map<K, Adam>();

  constructor(tree: Partial<Record<K, { params: Vec[]; lr: number }>>) {
    for (const [k, leaf] of Object.entries(tree) as [K, { params: Vec[]; lr: number } | undefined][]) {
      if (leaf) this.leaves.set(k, new Adam(leaf.params, leaf.lr));
    }
  }

  /** Whether the tree has this leaf. */
  has(k: K): boolean {
    return this.leaves.has(k);
  }

  /** One Adam step on each leaf given a gradient; a gradient for a leaf the tree lacks is an error. */
  step(grads: Partial<Record<K, ArrayLike<number>[] | undefined>>): void {
    for (const [k, g] of Object.entries(grads) as [K, ArrayLike<number>[] | undefined][]) {
      if (g === undefined) continue;
      const leaf = this.leaves.get(k);
      if (!leaf) throw new Error(`optimiser: no parameter leaf "${k}"`);
      leaf.step(g);
    }
  }
}
