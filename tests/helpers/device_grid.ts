/**
 * Checks of the hypergrid on the device engine against the CPU engine, for any tfjs backend (the cpu one in
 * tests/device_grid_test.ts, WebGPU in tests/device_grid_webgpu_test.ts): batches drawn by the CPU sampler
 * (core/gfn/discrete.ts) teacher-forced on the device, and device-sampled trajectories checked on the CPU.
 */
import assert from "node:assert/strict";
import { jsGemm } from "../../core/nn/gemm.ts";
import { initMlp, type Mlp, zerosLike } from "../../core/nn/mlp.ts";
import { Rng } from "../../core/rng.ts";
import { hypergrid } from "../../core/tasks/hypergrid.ts";
import { type DiscreteBatch, runDiscrete, sampleDiscreteBackward } from "../../core/gfn/discrete.ts";
import { discreteContract } from "../../core/gfn/discrete_sampler.ts";
import { OBJECTIVE_REGISTRY } from "../../core/objectives/registry.ts";
import { CONTROL_VARIATE_REGISTRY } from "../../core/baselines/registry.ts";
import type { ObjectiveParams } from "../../core/objectives/objective.ts";
import { DEVICE_OBJECTIVES, DeviceEngine, type Tf } from "../../backends/device/engine.ts";
import { hypergridDeviceSampler } from "../../backends/device/hypergrid.ts";
import { DeviceUniforms } from "../../backends/device/rng.ts";
import { DevicePg } from "../../backends/device/value.ts";

export const PARAMS: ObjectiveParams = { div_alpha: 0.5, pg_lambda: 1 };
/** Float32 tolerance: |g_dev − g_cpu| ≤ REL·max|g_cpu| + ABS per parameter element. */
export const REL = 2e-4, ABS = 1e-6;
/** log P_F rows and log w: |Δ| ≤ 1e-4 (float32 logits and log-softmax against float64). */
export const LOG_TOL = 1e-4;

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
export function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

export const env = hypergrid({ d: 2, H: 4, R0: 1e-3, R1: 0.5, R2: 2 });
const T = env.maxSteps, B = 16;

export function freshNet(seed: number, e = env, hidden = [16, 16]): Mlp {
  return initMlp([e.inputDim, ...hidden, e.nActions], "swish", "he-uniform", new Rng(seed));
}

/** The forward actions of a CPU batch, actions[b·T + t], −1 after stop. */
export function hostActions(batch: DiscreteBatch): Int32Array {
  const out = new Int32Array(batch.B * batch.maxSteps).fill(-1);
  for (let b = 0; b < batch.B; b++) {
    for (let t = 0; t < batch.len[b]; t++) {
      out[b * batch.maxSteps + t] = batch.action[batch.rowOf[b * batch.maxSteps + t]];
    }
  }
  return out;
}

/** B backward trajectories from x ~ π under the uniform P_B, teacher-forced on the CPU. */
function cpuBackward(net: Mlp, rng: Rng): DiscreteBatch {
  const x = env.sampleData!(B, rng);
  const given = sampleDiscreteBackward(env, undefined, jsGemm, x, B, rng);
  return runDiscrete(env, net, jsGemm, B, rng, { given });
}

export interface GridCase {
  objective: string;
  cv: string;
  alpha: number;
}

/**
 * Every objective × control variate the device engine supports (all of the registries': the optimal baselines'
 * per-sample scores on padded trajectory-major rows, pg with its value network), at α = 0 and α = 0.5.
 */
export const GRID_CASES: GridCase[] = [];
for (const o of OBJECTIVE_REGISTRY) {
  if (!DEVICE_OBJECTIVES.includes(o.name)) continue;
  const cvs = o.usesCv ? CONTROL_VARIATE_REGISTRY : [CONTROL_VARIATE_REGISTRY[0]];
  for (const cv of cvs) {
    for (const alpha of [0, 0.5]) GRID_CASES.push({ objective: o.name, cv: cv.name, alpha });
  }
}

/**
 * On batches drawn by the CPU sampler (d = 2, H = 4, B = 16), teacher-forced on the device engine of `tf`'s
 * backend: log P_F per row and log w within LOG_TOL of the CPU engine's, the gradient within REL·max|g| + ABS per
 * element, the scalar's gradient and the loss, for each case.
 */
export async function checkGridFixedBatches(tf: Tf, cases: readonly GridCase[]): Promise<void> {
  const net = freshNet(7);
  const ds = hypergridDeviceSampler(tf, env);
  const eng = new DeviceEngine({ tf, nets: [net], sampler: ds, lr: 1e-3 });
  const byName = new Map(OBJECTIVE_REGISTRY.map((o) => [o.name, o]));
  const cvNamed = new Map(CONTROL_VARIATE_REGISTRY.map((c) => [c.name, c]));
  try {
    for (const [i, c] of cases.entries()) {
      const rng = new Rng(11 + i);
      const objective = byName.get(c.objective)!, cv = cvNamed.get(c.cv)!;
      const fb = runDiscrete(env, net, jsGemm, B, rng);
      const bb = c.alpha > 0 ? cpuBackward(net, rng) : undefined;
      const fwd = discreteContract(env, net, jsGemm, fb);
      const bwd = bb ? discreteContract(env, net, jsGemm, bb) : undefined;
      const scalar = 0.3;
      const grads = zerosLike(net);
      // pg: a value network V(s), the same on both engines (the device's in DevicePg, not updated here)
      const value = objective.needsValue
        ? initMlp([env.inputDim, 16, 16, 1], "swish", "he-uniform", new Rng(8))
        : undefined;
      const pg = value ? new DevicePg(tf, [value], 1e-3, PARAMS.pg_lambda) : undefined;
      const cpu = objective.gradient({
        alpha: c.alpha,
        cv,
        scalar,
        params: PARAMS,
        gemm: jsGemm,
        forward: fwd,
        backward: bwd,
        value,
        grads,
      });
      const f = ds.upload([fb.x], [hostActions(fb)], B);
      const bw = bb ? ds.upload([bb.x], [hostActions(bb)], B) : undefined;
      const label = `${c.objective}/${c.cv}/α=${c.alpha}`;
      // log P_F per row (trajectory-major on the device, appended per step on the CPU)
      const lpf = tf.tidy(() => f.rowLogPF(eng.logits(f.inputs)));
      const lpfDev = (await lpf.data()) as Float32Array;
      lpf.dispose();
      for (let b = 0; b < B; b++) {
        for (let t = 0; t < T; t++) {
          const want = t < fb.len[b] ? fb.logp[fb.rowOf[b * T + t]] : 0;
          assert.ok(Math.abs(lpfDev[b * T + t] - want) <= LOG_TOL, `${label}: log P_F row (${b}, ${t})`);
        }
      }
      eng.setScalar([scalar]);
      const dev = await eng.gradient({
        objective,
        cv,
        params: PARAMS,
        alpha: c.alpha,
        forward: f,
        backward: bw,
        coefficients: pg?.coefficients,
      });
      assert.ok(maxAbsDiff(await dev.logw.forward!.data(), fwd.logw) <= LOG_TOL, `${label}: log w`);
      if (bwd) {
        assert.ok(maxAbsDiff(await dev.logw.backward!.data(), bwd.logw) <= LOG_TOL, `${label}: log w (bw)`);
      }
      const dScalar = (await dev.dScalar.data())[0], loss = (await dev.loss.data())[0];
      const tol = REL * Math.max(...grads.map(maxAbs)) + ABS;
      for (let k = 0; k < grads.length; k++) {
        const d = maxAbsDiff(await dev.grads[k].data(), grads[k]);
        assert.ok(d <= tol, `${label}: param ${k} differs by ${d} > ${tol}`);
      }
      assert.ok(
        Math.abs(dScalar - cpu.dScalar) <= 1e-5 * (1 + Math.abs(cpu.dScalar)),
        `${label}: dScalar ${dScalar} vs ${cpu.dScalar}`,
      );
      if (!Number.isNaN(cpu.loss)) assert.ok(Math.abs(loss - cpu.loss) <= 1e-4 * (1 + Math.abs(cpu.loss)));
      if (pg) {
        const vl = (await pg.valueLoss!.data())[0];
        assert.ok(Math.abs(vl - cpu.valueLoss!) <= 1e-4 * (1 + cpu.valueLoss!), `${label}: value loss`);
        const vtol = REL * Math.max(...cpu.valueGrads!.map(maxAbs)) + ABS;
        for (let k = 0; k < cpu.valueGrads!.length; k++) {
          const d = maxAbsDiff(await pg.valueGrads![k].data(), cpu.valueGrads![k]);
          assert.ok(d <= vtol, `${label}: value param ${k} differs by ${d} > ${vtol}`);
        }
        pg.dispose();
      }
      dev.dispose(), f.dispose(), bw?.dispose();
    }
  } finally {
    eng.dispose();
    ds.dispose();
  }
}

/** Checks one trajectory's actions from s₀ against x; returns its length (stop included). */
function checkTrajectory(e: typeof env, x: ArrayLike<number>, a: ArrayLike<number>, label: string): number {
  const { d, H } = e.params;
  const s = new Int32Array(d);
  let t = 0;
  for (; t < e.maxSteps; t++) {
    const act = a[t];
    assert.ok(act >= 0 && act <= d, `${label}: action ${act} at step ${t}`);
    if (act === d) break;
    assert.ok(s[act] < H - 1, `${label}: increment of coordinate ${act} at ${s[act]} leaves the grid`);
    s[act]++;
  }
  assert.ok(t < e.maxSteps, `${label}: no stop`);
  for (let u = t + 1; u < e.maxSteps; u++) assert.equal(a[u], -1, `${label}: padding after stop`);
  assert.deepEqual([...s], Array.from(x, Number), `${label}: terminal state`);
  return t + 1;
}

/**
 * Device-sampled forward and backward trajectories (d = 2, H = 4; d = 3, H = 3; d = 1, H = 2; B = 64) on `tf`'s
 * backend are valid (in the grid, one stop at the end, −1 after it, x = the state reached, lengths vary), their
 * log w is the CPU engine's on them, and the modes the sampler marks are the batch's.
 */
export async function checkGridSampled(tf: Tf): Promise<void> {
  // d = 1, H = 2: the shortest trajectories (T = 2: one backward move at most)
  const grids = [
    env,
    hypergrid({ d: 3, H: 3, R0: 1e-2, R1: 0.5, R2: 2 }),
    hypergrid({ d: 1, H: 2, R0: 1e-2, R1: 0.5, R2: 2 }),
  ];
  for (const e of grids) {
    const { d } = e.params;
    const Te = e.maxSteps, Bs = 64;
    const net = freshNet(9, e);
    const ds = hypergridDeviceSampler(tf, e);
    const eng = new DeviceEngine({ tf, nets: [net], sampler: ds, lr: 1e-3 });
    const objective = OBJECTIVE_REGISTRY.find((o) => o.name === "akl")!;
    try {
      for (const kind of ["forward", "backward"] as const) {
        const rng = new DeviceUniforms(tf, [new Rng(kind === "forward" ? 123 : 321)], Bs * Te);
        const traj = kind === "forward" ? ds.forward(eng, Bs, rng) : ds.backward(eng, Bs, rng);
        const x = Int32Array.from((await traj.x.data()) as Float32Array);
        const actions = Int32Array.from((await traj.actions.data()) as Int32Array);
        const lens = new Set<number>();
        for (let b = 0; b < Bs; b++) {
          lens.add(
            checkTrajectory(
              e,
              x.subarray(b * d, (b + 1) * d),
              actions.subarray(b * Te, (b + 1) * Te),
              `${e.name} ${kind} ${b}`,
            ),
          );
        }
        // variable lengths, not one
        assert.ok(lens.size >= Math.min(3, Te), `${kind}: lengths ${[...lens]}`);
        if (kind === "forward") {
          // the modes the sampler marked on the device = the modes among the batch's terminal states
          const modes = new Set(e.modes);
          const want = new Set<number>();
          for (let b = 0; b < Bs; b++) {
            const i = e.index(x, b * d);
            if (modes.has(i)) want.add(i);
          }
          assert.ok(want.size > 0, `${e.name}: no mode in the batch`);
          // sampling alone marks nothing (evaluation samples are not training batches); observing marks the batch's
          assert.equal((await ds.modesFound(0)).n, 0);
          ds.observe!(traj);
          const found = await ds.modesFound(0);
          const got = Array.from({ length: found.n }, (_, j) => e.index(found.states, j * d));
          assert.deepEqual(
            got.sort((p, q) => p - q),
            [...want].sort((p, q) => p - q),
            `${e.name}: modes found`,
          );
        }
        const r = await eng.gradient({
          objective,
          cv: CONTROL_VARIATE_REGISTRY[0],
          params: PARAMS,
          alpha: 0,
          forward: traj,
        });
        const devLogw = await r.logw.forward!.data();
        const batch = runDiscrete(e, net, jsGemm, Bs, new Rng(1), { given: actions });
        assert.deepEqual([...batch.x], [...x]);
        const { logw } = discreteContract(e, net, jsGemm, batch);
        assert.ok(maxAbsDiff(devLogw, logw) <= LOG_TOL, `${e.name} ${kind}: ${maxAbsDiff(devLogw, logw)}`);
        r.dispose(), traj.dispose(), rng.dispose();
      }
    } finally {
      eng.dispose();
      ds.dispose();
    }
  }
}
