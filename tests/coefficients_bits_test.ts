/**
 * The CPU engine's coefficient numbers are bit-for-bit those of the per-objective loops they had before the
 * coefficient math was written once over the array algebra (core/algebra.ts; the loops below are the code of
 * core/objectives and core/baselines at commit 9d63b60, kept here as the reference). For every objective with a
 * `trajectoryGradient` × control variate without per-sample scores × α ∈ {0, 0.5, 1}, on-policy and from a
 * behaviour (log ρ), on log w of magnitude 1, 30 and 3000 and B ∈ {2, 5, 64}: the per-trajectory coefficients
 * each batch receives, ∂/∂scalar and the loss are identical (Object.is per element). A reordered operation in
 * the Float64 algebra or in an objective's generic code changes the last bits and fails here.
 */
import assert from "node:assert/strict";
import { Rng } from "../core/rng.ts";
import { logSumExp } from "../core/math.ts";
import type { Batch } from "../core/gfn/batch.ts";
import { OBJECTIVE_REGISTRY } from "../core/objectives/registry.ts";
import { CONTROL_VARIATE_REGISTRY, type ControlVariate } from "../core/baselines/registry.ts";
import type { ObjectiveParams } from "../core/objectives/objective.ts";
import { jsGemm } from "../core/nn/gemm.ts";

/** A batch that records every coefficient vector it is asked to accumulate. */
class RecordingBatch {
  readonly calls: Float64Array[] = [];
  constructor(readonly logw: Float64Array, readonly logRho?: Float64Array) {}
  get B() {
    return this.logw.length;
  }
  accumulate(coef: ArrayLike<number>): void {
    this.calls.push(Float64Array.from(coef));
  }
}

// ---- the reference: the loops of commit 9d63b60 --------------------------------------------------------------

type Rec = RecordingBatch;
function scalarBaseline(cv: string, logw: Float64Array, c: number): Float64Array {
  const S = logw.length, b = new Float64Array(S);
  if (cv === "learned") b.fill(c);
  if (cv === "loo-logw") {
    let sum = 0;
    for (let i = 0; i < S; i++) sum += logw[i];
    for (let s = 0; s < S; s++) b[s] = (sum - logw[s]) / (S - 1);
  }
  if (cv === "loo-logz") {
    for (let s = 0; s < S; s++) {
      const others = new Float64Array(S - 1);
      for (let i = 0, j = 0; i < S; i++) if (i !== s) others[j++] = logw[i];
      b[s] = logSumExp(others) - Math.log(S - 1);
    }
  }
  return b;
}
function cvGradient(cv: string, batch: Rec, scalar: number, weight: number): void {
  if (weight === 0) return;
  const { logw } = batch, S = logw.length, b = scalarBaseline(cv, logw, scalar), coef = new Float64Array(S);
  for (let s = 0; s < S; s++) coef[s] = weight * (b[s] - logw[s]) / S;
  batch.accumulate(coef);
}
function tbTerm(logZ: number, logw: Float64Array, weight: number) {
  const S = logw.length, coef = new Float64Array(S);
  let loss = 0, dLogZ = 0;
  for (let s = 0; s < S; s++) {
    const r = logZ - logw[s];
    loss += weight * r * r / S;
    dLogZ += 2 * weight * r / S;
    coef[s] = 2 * weight * r / S;
  }
  return { loss, dLogZ, coef };
}
const fkl = (S: number, weight: number) => new Float64Array(S).fill(-weight / S);
function learnedGrad(c: number, logw: Float64Array): number {
  let g = 0;
  for (let s = 0; s < logw.length; s++) g += (c - logw[s]) / logw.length;
  return g;
}
function rklOff(logw: Float64Array, logRho: Float64Array, b: Float64Array, weight: number): Float64Array {
  const N = logw.length;
  return Float64Array.from(logw, (lw, i) => weight * Math.exp(logRho[i]) * (b[i] - lw) / N);
}
function normalised(logRho: Float64Array): Float64Array {
  const lse = logSumExp(logRho);
  return Float64Array.from(logRho, (l) => Math.exp(l - lse));
}
function weightedMeanGrad(c: number, logw: Float64Array, logRho: Float64Array): number {
  const w = normalised(logRho);
  let g = 0;
  for (let i = 0; i < w.length; i++) g += w[i] * (c - logw[i]);
  return g;
}
function snDifference(v: Float64Array, logRho: Float64Array, t: number, scale: number): Float64Array {
  const u = Float64Array.from(v, (x, i) => logRho[i] + t * x);
  const lu = logSumExp(u), lr = logSumExp(logRho);
  return Float64Array.from(u, (x, i) => scale * (Math.exp(x - lu) - Math.exp(logRho[i] - lr)));
}
function centredSoftmax(v: Float64Array, temperature: number, scale: number): Float64Array {
  const N = v.length, u = new Float64Array(N);
  for (let i = 0; i < N; i++) u[i] = temperature * v[i];
  const lse = logSumExp(u);
  for (let i = 0; i < N; i++) u[i] = scale * (Math.exp(u[i] - lse) - 1 / N);
  return u;
}
function tsallisCoef(logw: Float64Array, alpha: number, logZhat: number, weight: number): Float64Array {
  const N = logw.length, e = new Float64Array(N);
  let max = -Infinity;
  for (let i = 0; i < N; i++) {
    e[i] = (1 - alpha) * (logw[i] - logZhat);
    if (e[i] > max) max = e[i];
  }
  const shift = max > 60 ? max - 60 : 0;
  for (let i = 0; i < N; i++) e[i] = Math.exp(e[i] - shift);
  let sum = 0;
  for (let i = 0; i < N; i++) sum += e[i];
  const scale = weight * alpha / (alpha - 1) / N, c = new Float64Array(N);
  for (let i = 0; i < N; i++) c[i] = scale * (N * e[i] - sum) / (N - 1);
  return c;
}

/** The reference gradient of each objective (on the recording batches): [dScalar, loss]. */
function reference(
  name: string,
  cv: ControlVariate,
  alpha: number,
  scalar: number,
  a: number,
  fw?: Rec,
  bw?: Rec,
): [number, number] {
  const rho = fw?.logRho;
  if (name === "atb") {
    let loss = 0, dS = 0;
    if (fw) {
      const tb = tbTerm(scalar, fw.logw, 1 - alpha);
      loss += tb.loss, dS += tb.dLogZ;
      if (cv.learnsScalar) fw.accumulate(tb.coef);
      else if (rho) {
        fw.accumulate(rklOff(fw.logw, rho, scalarBaseline(cv.name, fw.logw, scalar), 2 * (1 - alpha)));
      } else cvGradient(cv.name, fw, scalar, 2 * (1 - alpha));
    }
    if (bw) {
      const tb = tbTerm(scalar, bw.logw, alpha);
      loss += tb.loss, dS += tb.dLogZ;
      bw.accumulate(tb.coef);
    }
    return [dS, loss];
  }
  let dS = 0;
  if (fw && name === "akl") {
    if (rho) {
      fw.accumulate(rklOff(fw.logw, rho, scalarBaseline(cv.name, fw.logw, scalar), 1 - alpha));
      if (cv.learnsScalar) dS = weightedMeanGrad(scalar, fw.logw, rho);
    } else {
      cvGradient(cv.name, fw, scalar, 1 - alpha);
      if (cv.learnsScalar) dS = learnedGrad(scalar, fw.logw);
    }
  }
  if (fw && name === "renyi") {
    fw.accumulate(
      rho
        ? snDifference(fw.logw, rho, 1 - a, (1 - alpha) * a / (a - 1))
        : centredSoftmax(fw.logw, 1 - a, (1 - alpha) * a / (a - 1)),
    );
  }
  if (fw && name === "fkl-is") {
    fw.accumulate(
      rho ? snDifference(fw.logw, rho, 1, -(1 - alpha)) : centredSoftmax(fw.logw, 1, -(1 - alpha)),
    );
  }
  if (fw && name === "tsallis") {
    const c = tsallisCoef(fw.logw, a, scalar, 1 - alpha);
    if (rho) {
      for (let i = 0; i < c.length; i++) c[i] *= Math.exp(rho[i]);
      const lz = logSumExp(Float64Array.from(fw.logw, (lw, i) => lw + rho[i])) - Math.log(fw.logw.length);
      dS = scalar - lz;
    } else dS = scalar - (logSumExp(fw.logw) - Math.log(fw.logw.length));
    fw.accumulate(c);
  }
  if (bw) bw.accumulate(fkl(bw.B, alpha));
  return [dS, NaN];
}

// ---- the comparison --------------------------------------------------------------------------------------------

const PARAMS: ObjectiveParams = { div_alpha: 0.5, pg_lambda: 1 };

function same(a: ArrayLike<number>, b: ArrayLike<number>, label: string): void {
  assert.equal(a.length, b.length, `${label}: length`);
  for (let i = 0; i < a.length; i++) {
    assert.ok(Object.is(a[i], b[i]), `${label}[${i}]: ${a[i]} vs ${b[i]}`);
  }
}

Deno.test("CPU coefficients bit-for-bit the pre-algebra loops: every objective × scalar cv × α × on/off-policy", () => {
  const rng = new Rng(9);
  let cases = 0;
  for (const objective of OBJECTIVE_REGISTRY.filter((o) => o.trajectoryGradient)) {
    const cvs = objective.usesCv
      ? CONTROL_VARIATE_REGISTRY.filter((c) => !c.needsScores)
      : [CONTROL_VARIATE_REGISTRY[0]];
    for (const cv of cvs) {
      for (const alpha of [0, 0.5, 1]) {
        for (const offPolicy of [false, true]) {
          for (const mag of [1, 30, 3000]) {
            for (const B of [2, 5, 64]) {
              for (const a of objective.params.length ? [0.5, -1.5, 3] : [0.5]) {
                const lw = () => Float64Array.from({ length: B }, () => mag * rng.normal());
                const lwF = lw(),
                  lwB = lw(),
                  rho = offPolicy ? Float64Array.from(lwF, () => rng.normal()) : undefined;
                const scalar = mag * rng.normal();
                const make = () => ({
                  fw: alpha < 1 ? new RecordingBatch(lwF, rho) : undefined,
                  bw: alpha > 0 ? new RecordingBatch(lwB) : undefined,
                });
                const ref = make(), got = make();
                const [dS, loss] = reference(objective.name, cv, alpha, scalar, a, ref.fw, ref.bw);
                const r = objective.gradient({
                  alpha,
                  cv,
                  scalar,
                  params: { ...PARAMS, div_alpha: a },
                  gemm: jsGemm,
                  forward: got.fw as unknown as Batch,
                  backward: got.bw as unknown as Batch,
                  grads: [],
                });
                const label = `${objective.name}/${cv.name}/α=${alpha}/${
                  offPolicy ? "ρ" : "on"
                }/|lw|~${mag}/B=${B}/a=${a}`;
                for (const part of ["fw", "bw"] as const) {
                  const x = ref[part]?.calls ?? [], y = got[part]?.calls ?? [];
                  assert.equal(y.length, x.length, `${label}: ${part} calls`);
                  x.forEach((c, i) => same(y[i], c, `${label} ${part} call ${i}`));
                }
                assert.ok(Object.is(r.dScalar, dS), `${label}: dScalar ${r.dScalar} vs ${dS}`);
                assert.ok(Object.is(r.loss, loss), `${label}: loss ${r.loss} vs ${loss}`);
                cases++;
              }
            }
          }
        }
      }
    }
  }
  assert.ok(cases > 700, `${cases} cases`);
});
