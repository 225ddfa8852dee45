/**
 * The device coefficients (backends/device/coefficients.ts: the registry's `trajectoryGradient` over the tensor
 * algebra of backends/device/algebra.ts) against the same registry code on the Float64 algebra (the CPU engine's
 * numbers), for every objective with device coefficients × control variate without per-sample scores × α ∈ {0,
 * 0.5, 1}, K = 3 seeds at once, on random log w of moderate magnitude, with a large offset (~3000: e^{log w}
 * overflows without the maximum subtracted) and with a wide spread where one weight dominates each seed (the
 * log-sum-exp and the leave-one-out log-sum-exp must stay finite and exact to float32).
 *
 * The reference runs on the float32-rounded inputs, so the only differences are float32 rounding inside the
 * device math. Tolerance per part: max|c_dev − c_cpu| ≤ ε·(1 + M)·max|c_cpu| + 1e-30 with ε = 1e-6 and M the
 * largest |log w| or |log w − scalar| of the case (an exponent of magnitude M carries an absolute float32 error ~6e-8·M, a
 * relative error of the weight it exponentiates); the same for ∂/∂scalar and the loss. A wrong sign, factor or
 * missing term, or an overflow, is far outside this. Also: nothing is read back and only a few scalar constants
 * are uploaded (the same count for B = 8 and B = 256), and the tensors made along the way are freed.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import { Rng } from "../core/rng.ts";
import { float64 } from "../core/algebra.ts";
import type { TrajectoryBatch } from "../core/gfn/batch.ts";
import { OBJECTIVE_REGISTRY } from "../core/objectives/registry.ts";
import { CONTROL_VARIATE_REGISTRY, controlVariateNamed } from "../core/baselines/registry.ts";
import type { Objective, ObjectiveParams } from "../core/objectives/objective.ts";
import { deviceCoefficients, deviceCoefficientSupport } from "../backends/device/coefficients.ts";
import { TransferCounter } from "../backends/device/engine.ts";

await tf.setBackend("cpu");
(tf.findBackend("cpu") as unknown as { firstUse: boolean }).firstUse = false;

const PARAMS: ObjectiveParams = { div_alpha: 0.5, pg_lambda: 1 };
const K = 3;

/** A host batch that sums the coefficients asked for (the CPU engine's `accumulate`, without the backward pass). */
class HostBatch implements TrajectoryBatch<Float64Array, null> {
  readonly coef: Float64Array;
  constructor(readonly logw: Float64Array) {
    this.coef = new Float64Array(logw.length);
  }
  get B() {
    return this.logw.length;
  }
  accumulate(c: Float64Array): void {
    for (let i = 0; i < c.length; i++) this.coef[i] += c[i];
  }
}

const f32 = (v: ArrayLike<number>) => Float64Array.from(Float32Array.from(v));

/** How the random log w of a case are drawn. */
const MODES = {
  moderate: { logw: (r: Rng) => 5 + 3 * r.normal(), scalar: 4, dominant: false },
  /** a large offset: values ~3000, differences of a few units (w = e^3000 overflows without the max shift) */
  offset: { logw: (r: Rng) => 3000 + 3 * r.normal(), scalar: 2999, dominant: false },
  /** a wide spread around −2000 with one weight e^1500 dominating each seed */
  dominant: { logw: (r: Rng) => -2000 + 800 * r.normal(), scalar: -1000, dominant: true },
} as const;
type Mode = keyof typeof MODES;

/** log w [K, B] of a mode, rounded to float32. */
function randomLogw(rng: Rng, B: number, mode: Mode): Float64Array {
  const v = new Float64Array(K * B);
  for (let i = 0; i < v.length; i++) v[i] = MODES[mode].logw(rng);
  if (MODES[mode].dominant) { for (let k = 0; k < K; k++) v[k * B + (k % B)] = 1500 + k; }
  return f32(v);
}

interface Case {
  objective: Objective;
  cvName: string;
  alpha: number;
}
const cases: Case[] = [];
for (const objective of OBJECTIVE_REGISTRY) {
  const cvs = objective.usesCv
    ? CONTROL_VARIATE_REGISTRY.filter((c) => !c.needsScores)
    : [CONTROL_VARIATE_REGISTRY[0]];
  for (const cv of cvs) {
    if (deviceCoefficientSupport(objective, cv) !== null) continue;
    for (const alpha of [0, 0.5, 1]) cases.push({ objective, cvName: cv.name, alpha });
  }
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}
function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

Deno.test("device coefficients: the supported set is every objective with a trajectoryGradient × every control variate", () => {
  const names = new Set(cases.map((c) => c.objective.name));
  assert.deepEqual([...names].sort(), ["akl", "atb", "fkl-is", "renyi", "tsallis"]);
  assert.equal(cases.length, 3 * (4 + 4 + 1 + 1 + 1));
  const pg = OBJECTIVE_REGISTRY.find((o) => o.name === "pg")!;
  assert.match(
    deviceCoefficientSupport(pg, controlVariateNamed("none"))!,
    /objective pg is not on the device/,
  );
  // the optimal baselines: the device batch records (baseline, weight) for the engine, which adds their gradient
  // from the per-sample scores (tests/device_engine_test.ts, tests/device_scores_test.ts)
  const akl = OBJECTIVE_REGISTRY.find((o) => o.name === "akl")!, cv = controlVariateNamed("opt-vector-loo");
  assert.equal(deviceCoefficientSupport(akl, cv), null);
  const logw = tf.tensor2d(Float32Array.from({ length: K * 4 }, (_, i) => Math.sin(i)), [K, 4]);
  const scalar = tf.zeros([K]);
  const out = deviceCoefficients({
    tf,
    objective: akl,
    cv,
    params: PARAMS,
    alpha: 0.25,
    scalar,
    forward: { logw },
  });
  assert.deepEqual(out.forward?.optimal, [{ baseline: { kind: "vector", leaveOneOut: true }, weight: 0.75 }]);
  tf.dispose([logw, scalar, out.forward!.traj, out.dScalar, out.loss]);
});

for (const mode of Object.keys(MODES) as Mode[]) {
  Deno.test(
    `device coefficients = Float64 registry code, ${cases.length} cases × K = ${K} seeds (${mode})`,
    async () => {
      const rng = new Rng(mode.length);
      let worst = 0, worstLabel = "";
      for (const { objective, cvName, alpha } of cases) {
        const cv = controlVariateNamed(cvName);
        const B = 16;
        const lwF = randomLogw(rng, B, mode), lwB = randomLogw(rng, B, mode);
        const scalars = f32(Array.from({ length: K }, () => MODES[mode].scalar + rng.normal()));
        const label = `${objective.name}/${cvName}/α=${alpha}`;
        const hasF = alpha < 1, hasB = alpha > 0;
        // the CPU engine's numbers: the registry's trajectoryGradient on the Float64 algebra, per seed
        const cpu = Array.from({ length: K }, (_, k) => {
          const f = hasF ? new HostBatch(lwF.slice(k * B, (k + 1) * B)) : undefined;
          const b = hasB ? new HostBatch(lwB.slice(k * B, (k + 1) * B)) : undefined;
          const r = objective.trajectoryGradient!<Float64Array, null>({
            alg: float64,
            alpha,
            cv,
            scalar: float64.scalar(scalars[k]),
            params: PARAMS,
            forward: f,
            backward: b,
            grads: null,
          });
          return { f: f?.coef, b: b?.coef, dScalar: r.dScalar[0], loss: r.loss[0] };
        });
        const before = tf.memory().numTensors;
        const inputs = {
          scalar: tf.tensor1d(Float32Array.from(scalars)),
          f: tf.tensor2d(Float32Array.from(lwF), [K, B]),
          b: tf.tensor2d(Float32Array.from(lwB), [K, B]),
        };
        const out = deviceCoefficients({
          tf,
          objective,
          cv,
          params: PARAMS,
          alpha,
          scalar: inputs.scalar,
          forward: hasF ? { logw: inputs.f } : undefined,
          backward: hasB ? { logw: inputs.b } : undefined,
        });
        let M = 0;
        for (let i = 0; i < K * B; i++) {
          const k = Math.floor(i / B);
          M = Math.max(M, Math.abs(lwF[i] - scalars[k]), Math.abs(lwB[i] - scalars[k]), Math.abs(lwF[i]));
        }
        const eps = 1e-6 * (1 + M);
        for (const [part, dev] of [["forward", out.forward], ["backward", out.backward]] as const) {
          const ref = cpu.map((c) => part === "forward" ? c.f : c.b);
          if (!ref[0]) {
            assert.equal(dev, undefined, `${label}: no ${part} part`);
            continue;
          }
          assert.ok(dev, `${label}: ${part} coefficients`);
          assert.deepEqual(dev.traj.shape, [K, B]);
          const d = (await dev.traj.data()) as Float32Array;
          for (let k = 0; k < K; k++) {
            const r = ref[k]!, got = d.subarray(k * B, (k + 1) * B);
            assert.ok(got.every(Number.isFinite), `${label}: ${part} seed ${k} not finite`);
            const diff = maxDiff(got, r), tol = eps * maxAbs(r) + 1e-30;
            if (diff / tol > worst) [worst, worstLabel] = [diff / tol, `${label} ${part}`];
            assert.ok(
              diff <= tol,
              `${label}: ${part} seed ${k}: |Δ| ${diff} > ${tol} (max |c| ${maxAbs(r)})`,
            );
          }
        }
        const dS = (await out.dScalar.data()) as Float32Array, loss = (await out.loss.data()) as Float32Array;
        assert.deepEqual(out.dScalar.shape, [K]);
        for (let k = 0; k < K; k++) {
          const c = cpu[k];
          assert.ok(
            Math.abs(dS[k] - c.dScalar) <= eps * (1 + Math.abs(c.dScalar)),
            `${label}: dScalar seed ${k}: ${dS[k]} vs ${c.dScalar}`,
          );
          if (Number.isNaN(c.loss)) assert.ok(Number.isNaN(loss[k]), `${label}: loss NaN`);
          else {
            assert.ok(
              Math.abs(loss[k] - c.loss) <= eps * (1 + Math.abs(c.loss)),
              `${label}: loss seed ${k}: ${loss[k]} vs ${c.loss}`,
            );
          }
        }
        tf.dispose(
          [out.dScalar, out.loss, out.forward?.traj, out.backward?.traj].filter((t) => t !== undefined),
        );
        tf.dispose(Object.values(inputs));
        assert.equal(tf.memory().numTensors, before, `${label}: tensors left allocated`);
      }
      console.log(`  worst coefficient |Δ| / tolerance: ${worst.toFixed(3)} (${worstLabel})`);
    },
  );
}

Deno.test("device coefficients: nothing read back; the uploads are a few scalar constants, the same for B = 8 and 256", () => {
  const counter = new TransferCounter();
  const written: number[] = [];
  for (const [o, c] of [["atb", "loo-logz"], ["tsallis", "none"], ["akl", "learned"]] as const) {
    const objective = OBJECTIVE_REGISTRY.find((e) => e.name === o)!, cv = controlVariateNamed(c);
    for (const B of [8, 256]) {
      const logw = tf.randomNormal([K, B], 0, 5, "float32", 3);
      const scalar = tf.zeros([K]);
      counter.attach(tf);
      const out = deviceCoefficients({
        tf,
        objective,
        cv,
        params: PARAMS,
        alpha: 0.5,
        scalar,
        forward: { logw },
        backward: { logw },
      });
      counter.detach();
      assert.equal(counter.read, 0, `${o}/${c} B = ${B}: read ${counter.read}`);
      written.push(counter.written);
      counter.reset();
      tf.dispose([logw, scalar, out.dScalar, out.loss, out.forward!.traj, out.backward!.traj]);
    }
    const [w8, w256] = written.splice(0);
    assert.equal(w8, w256, `${o}/${c}: uploads ${w8} (B = 8) vs ${w256} (B = 256)`);
    assert.ok(w8 <= 4 * 16, `${o}/${c}: ${w8} bytes uploaded`);
  }
});
