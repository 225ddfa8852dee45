/**
 * Off-policy training by exact enumeration of every trajectory of the 4×4 hypergrid (d = 2, H = 4: 69
 * trajectories), for a fixed random policy P_F and a fixed exploratory behaviour β (tempered T = 1.5, then
 * ε-uniform ε = 0.3; docs/offpolicy.md):
 *   - the behaviour's log-density is exact (sums to 1, matches the sampler's frequencies), also with replay;
 *   - the importance-weighted estimators (RKL with each scalar control variate, 2·RKL inside αTB, Tsallis-0.5,
 *     policy gradient with λ = 1), run through the trainer's gradient function on β-samples, have mean equal to
 *     the exact on-policy gradient within Monte Carlo tolerance (every component within 5.5 standard errors,
 *     mean squared z below 1.6), while the same estimators without weights are far off;
 *   - the self-normalised ones (Rényi-0.5, forward KL) are biased: the bias is measured at N = 4, 16, 64, 256
 *     and shrinks with N;
 *   - TB's expected off-policy gradient is exactly zero at the exact solution for every behaviour, and not zero
 *     (and behaviour-dependent) away from it.
 */
import assert from "node:assert/strict";
import { jsGemm } from "../core/nn/gemm.ts";
import { initMlp, mlpForward, zerosLike } from "../core/nn/mlp.ts";
import {
  accumulateDiscreteGrads,
  type DiscreteBatch,
  type DiscreteEnv,
  runDiscrete,
} from "../core/gfn/discrete.ts";
import { hypergrid } from "../core/tasks/hypergrid.ts";
import { discreteContract, discreteSampler } from "../core/gfn/discrete_sampler.ts";
import { estimateGradient } from "../core/train/step.ts";
import { Rng } from "../core/rng.ts";
import { logSumExp } from "../core/math.ts";
import type { StepBehaviour } from "../core/gfn/behaviour.ts";
import { ReplayBuffer } from "../core/gfn/replay.ts";
import { replayLogBeta, sampleDiscreteBehaviour } from "../core/gfn/behaviour_discrete.ts";
import {
  fklOffPolicyCoefficients,
  logImportance,
  renyiOffPolicyCoefficients,
} from "../core/objectives/offpolicy.ts";
import { parseTrainConfig } from "../core/train/config.ts";
import { flatten, gradientMoments } from "./helpers/engine.ts";

const env = hypergrid({ d: 2, H: 4, R0: 0.1, R1: 0.5, R2: 2 });
const net = initMlp([env.inputDim, 16, env.nActions], "tanh", "he-uniform", new Rng(11), Float64Array);
const behaviour: StepBehaviour = { epsilon: 0.3, temperature: 1.5 };
const sampler = discreteSampler(env);

/** Every trajectory of a discrete env as a given-actions array (−1 padded), by depth-first search. */
function allTrajectories(e: DiscreteEnv): { given: Int32Array; N: number } {
  const paths: number[][] = [];
  const mask = new Uint8Array(e.nActions);
  const rec = (state: Int32Array, prefix: number[]) => {
    e.validActions(state, mask);
    const valid = [...mask.keys()].filter((a) => mask[a]);
    for (const a of valid) {
      const next = state.slice();
      if (e.apply(next, a)) paths.push([...prefix, a]);
      else rec(next, [...prefix, a]);
    }
  };
  const s0 = new Int32Array(e.stateSize);
  e.initialState(s0);
  rec(s0, []);
  const given = new Int32Array(paths.length * e.maxSteps).fill(-1);
  paths.forEach((p, i) => given.set(p, i * e.maxSteps));
  return { given, N: paths.length };
}

const { given, N } = allTrajectories(env);
const all = runDiscrete(env, net, jsGemm, N, new Rng(0), { given, behaviour });
const logw = discreteContract(env, net, jsGemm, all).logw;
const Q = all.logq.map(Math.exp), beta = all.logb!.map(Math.exp);
const keyOf = (batch: DiscreteBatch, b: number) => {
  const acts: number[] = [];
  for (let t = 0; t < batch.len[b]; t++) acts.push(batch.action[batch.rowOf[b * batch.maxSteps + t]]);
  return acts.join(",");
};
const index = new Map<string, number>();
for (let n = 0; n < N; n++) index.set(keyOf(all, n), n);

/** Per-trajectory score vectors h_n = ∇_φ log P_F(τ_n) (rows of H). */
const H: Float64Array[] = [];
for (let n = 0; n < N; n++) {
  const coef = new Float64Array(N);
  coef[n] = 1;
  const g = zerosLike(net);
  accumulateDiscreteGrads(net, jsGemm, all, coef, g);
  H.push(flatten(g));
}
const P = H[0].length;
/** Σ_n weight[n]·h_n. */
const combine = (weight: ArrayLike<number>) => {
  const out = new Float64Array(P);
  for (let n = 0; n < N; n++) {
    if (weight[n] !== 0) {
      for (let j = 0; j < P; j++) out[j] += weight[n] * H[n][j];
    }
  }
  return out;
};
const norm = (v: Float64Array) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
const sub = (a: Float64Array, b: Float64Array) => a.map((v, i) => v - b[i]);

// exact on-policy gradients
const logZ = env.logZ;
const exactRkl = combine(Q.map((q, n) => q * (logZ - logw[n]))); // ∇KL(Q‖P) = E_Q[(log Z − log w) h]
const pTraj = logw.map((lw, n) => Math.exp(lw - logZ) * Q[n]); // P(τ) = R(x)P_B(τ|x)/Z = w·Q/Z
const exactFkl = combine(pTraj.map((p) => -p)); // ∇KL(P‖Q) = −E_P[h]
const renyiExact = (a: number) => {
  // α/(α−1)·E_Q[w^{1−α} h]/E_Q[w^{1−α}]
  const u = logw.map((lw) => Math.exp((1 - a) * (lw - logZ)));
  let den = 0;
  for (let n = 0; n < N; n++) den += Q[n] * u[n];
  return combine(Q.map((q, n) => a / (a - 1) * q * u[n] / den));
};

function zStats(r: { mean: Float64Array; se: Float64Array }, exact: Float64Array) {
  let maxZ = 0, meanZ2 = 0;
  for (let d = 0; d < P; d++) {
    const z = r.se[d] > 0
      ? (r.mean[d] - exact[d]) / r.se[d]
      : Math.abs(r.mean[d] - exact[d]) < 1e-12
      ? 0
      : Infinity;
    maxZ = Math.max(maxZ, Math.abs(z));
    meanZ2 += z * z / P;
  }
  return { maxZ, meanZ2 };
}

/** Draws n trajectory indices from the exact probabilities p. */
function drawIndices(p: Float64Array, n: number, rng: Rng, out: Int32Array) {
  for (let i = 0; i < n; i++) {
    let u = rng.uniform(), k = 0;
    while (k < p.length - 1 && (u -= p[k]) >= 0) k++;
    out[i] = k;
  }
}

Deno.test("enumeration: P_F and the behaviour each sum to 1 over the 69 trajectories; the sampler draws from β", () => {
  assert.equal(N, 69);
  assert.ok(Math.abs(Q.reduce((a, b) => a + b) - 1) < 1e-12);
  assert.ok(Math.abs(beta.reduce((a, b) => a + b) - 1) < 1e-12);
  assert.ok(Math.abs(logSumExp(logw.map((lw, n) => lw + all.logq[n])) - logZ) < 1e-12, "E_Q[w] = Z");
  const M = 30000, counts = new Float64Array(N);
  const batch = runDiscrete(env, net, jsGemm, M, new Rng(3), { behaviour });
  for (let b = 0; b < M; b++) {
    const n = index.get(keyOf(batch, b))!;
    counts[n]++;
    assert.ok(Math.abs(batch.logb![b] - all.logb![n]) < 1e-9, "the sampler's log β is the exact one");
  }
  let chi2 = 0;
  for (let n = 0; n < N; n++) chi2 += (counts[n] - M * beta[n]) ** 2 / (M * beta[n]);
  // 68 degrees of freedom: mean 68, sd 11.7; P(χ² > 125) < 1e-4
  assert.ok(chi2 < 125, `χ² = ${chi2.toFixed(1)} over 68 dof`);
  // the behaviour really explores: it differs from P_F
  const tv = 0.5 * Q.reduce((s, q, n) => s + Math.abs(q - beta[n]), 0);
  assert.ok(tv > 0.1, `TV(P_F, β) = ${tv}`);
});

Deno.test("replay mixture: log β = log[(1−r)β_fwd + r·B(x)P_B(τ|x)] sums to 1, and the sampler follows it", () => {
  for (const sampling of ["uniform", "reward"] as const) {
    const buffer = new ReplayBuffer<Int32Array>(5, sampling, env.stateSize);
    // 7 distinct states (the first two are evicted), one repeated
    const states = Int32Array.from([0, 0, 3, 0, 1, 1, 3, 3, 2, 3, 3, 3, 0, 2, 1, 2]);
    buffer.add(states, env.logReward(states, 8), 8);
    assert.equal(buffer.size, 5);
    const replay = { buffer, ratio: 0.4 };
    const logBeta = replayLogBeta(all, replay);
    assert.ok(Math.abs(logSumExp(logBeta) - 0) < 1e-12, `${sampling}: Σ β = ${Math.exp(logSumExp(logBeta))}`);
    const M = 20000, counts = new Float64Array(N), rng = new Rng(9);
    let replayed = 0;
    for (let i = 0; i < M / 500; i++) {
      const s = sampleDiscreteBehaviour(env, net, jsGemm, 500, rng, behaviour, replay);
      replayed += s.replayed;
      for (let b = 0; b < 500; b++) {
        const n = index.get(keyOf(s.batch, b))!;
        counts[n]++;
        assert.ok(Math.abs(s.logBeta![b] - logBeta[n]) < 1e-9);
      }
    }
    assert.ok(Math.abs(replayed / M - 0.4) < 0.02, `replayed share ${replayed / M}`);
    let chi2 = 0;
    for (let n = 0; n < N; n++) {
      chi2 += (counts[n] - M * Math.exp(logBeta[n])) ** 2 / (M * Math.exp(logBeta[n]));
    }
    assert.ok(chi2 < 125, `${sampling}: χ² = ${chi2.toFixed(1)} over 68 dof`);
  }
});

// The importance-weighted estimators through the trainer's own gradient function, β-samples of B = 8.
const cases = [
  { name: "RKL (akl), cv none", objective: "akl", cv: "none", exact: exactRkl },
  { name: "RKL (akl), cv learned (c = 1.7)", objective: "akl", cv: "learned", exact: exactRkl },
  { name: "RKL (akl), cv loo-logw", objective: "akl", cv: "loo-logw", exact: exactRkl },
  { name: "RKL (akl), cv loo-logz", objective: "akl", cv: "loo-logz", exact: exactRkl },
  {
    name: "αTB (α = 0) with cv loo-logw = 2·RKL",
    objective: "atb",
    cv: "loo-logw",
    exact: exactRkl.map((v) => 2 * v),
  },
  {
    name: "Tsallis-0.5 (log Ẑ = 1.7)",
    objective: "tsallis",
    cv: "learned",
    exact: combine(Q.map((q, n) => 0.5 / (0.5 - 1) * q * Math.exp(0.5 * (logw[n] - 1.7)))),
  },
  { name: "policy gradient (λ = 1, value net)", objective: "pg", cv: "learned", exact: exactRkl },
] as const;

for (const c of cases) {
  Deno.test(`off-policy ${c.name}: mean over β-batches = exact on-policy gradient (MC tolerance)`, () => {
    const value = c.objective === "pg"
      ? initMlp([env.inputDim, 8, 1], "tanh", "he-uniform", new Rng(5), Float64Array)
      : undefined;
    const rng = new Rng(21);
    const r = gradientMoments(
      3000,
      () =>
        flatten(
          estimateGradient(sampler, { net }, jsGemm, 8, rng, {
            objective: c.objective,
            alpha: 0,
            cv: c.cv,
            params: { div_alpha: 0.5, pg_lambda: 1 },
            value,
            behaviour,
          }, 1.7).grads,
        ),
    );
    const z = zStats(r, c.exact);
    const rel = norm(sub(r.mean, c.exact)) / norm(c.exact);
    console.log(
      `  ${c.name}: max |z| ${z.maxZ.toFixed(2)}, mean z² ${z.meanZ2.toFixed(2)}, rel. err ${rel.toFixed(3)}`,
    );
    assert.ok(z.maxZ < 5.5, `max |z| = ${z.maxZ}`);
    assert.ok(z.meanZ2 < 1.6, `mean z² = ${z.meanZ2}`);
  });
}

Deno.test("without importance weights the same estimator is biased: E_β[(log Z − log w) h] ≠ ∇KL(Q‖P)", () => {
  const naive = combine(beta.map((b, n) => b * (logZ - logw[n])));
  const rel = norm(sub(naive, exactRkl)) / norm(exactRkl);
  console.log(`  unweighted RKL under β: relative error ${rel.toFixed(3)}`);
  assert.ok(rel > 0.2, `relative error ${rel}`);
});

/** Mean and per-component standard error of a self-normalised estimator at batch size n (exact β-sampling). */
function snMoments(
  coefs: (lw: Float64Array, lr: Float64Array) => Float64Array,
  n: number,
  reps: number,
  seed: number,
) {
  const rng = new Rng(seed), idx = new Int32Array(n), lw = new Float64Array(n), lr = new Float64Array(n);
  const mass = new Float64Array(N), sumOuter = new Float64Array(N * N), m = new Float64Array(N);
  for (let r = 0; r < reps; r++) {
    drawIndices(beta, n, rng, idx);
    for (let i = 0; i < n; i++) {
      lw[i] = logw[idx[i]];
      lr[i] = all.logq[idx[i]] - all.logb![idx[i]];
    }
    const c = coefs(lw, lr);
    m.fill(0);
    for (let i = 0; i < n; i++) m[idx[i]] += c[i];
    for (let a = 0; a < N; a++) {
      if (m[a] === 0) continue;
      mass[a] += m[a];
      for (let b = 0; b < N; b++) if (m[b] !== 0) sumOuter[a * N + b] += m[a] * m[b];
    }
  }
  const meanMass = mass.map((v) => v / reps);
  const mean = combine(meanMass);
  // Var(ĝ_j) = Σ_ab H_aj H_bj Cov(m_a, m_b)
  const se = new Float64Array(P);
  for (let j = 0; j < P; j++) {
    let v = 0;
    for (let a = 0; a < N; a++) {
      for (let b = 0; b < N; b++) {
        v += H[a][j] * H[b][j] * (sumOuter[a * N + b] / reps - meanMass[a] * meanMass[b]);
      }
    }
    se[j] = Math.sqrt(Math.max(v, 0) * reps / (reps - 1) / reps);
  }
  return { mean, se };
}

for (
  const sn of [
    {
      name: "Rényi-0.5",
      coefs: (lw: Float64Array, lr: Float64Array) => renyiOffPolicyCoefficients(lw, lr, 0.5),
      exact: renyiExact(0.5),
    },
    {
      name: "forward KL",
      coefs: (lw: Float64Array, lr: Float64Array) => fklOffPolicyCoefficients(lw, lr),
      exact: exactFkl,
    },
  ]
) {
  Deno.test(`self-normalised ${sn.name} off-policy: bias measured at N = 4 … 256 and shrinking with N`, () => {
    const bias: number[] = [], noise: number[] = [];
    const sizes = [[4, 40000], [16, 20000], [64, 10000], [256, 4000]];
    for (const [n, reps] of sizes) {
      const r = snMoments(sn.coefs, n, reps, 100 + n);
      bias.push(norm(sub(r.mean, sn.exact)) / norm(sn.exact));
      noise.push(norm(r.se) / norm(sn.exact));
    }
    console.log(
      `  ${sn.name}: relative bias ‖E ĝ − ∇‖/‖∇‖ at N = ${sizes.map(([n]) => n).join(", ")}: ` +
        `${bias.map((b) => b.toFixed(4)).join(", ")} (MC noise ${noise.map((b) => b.toFixed(4)).join(", ")})`,
    );
    assert.ok(bias[0] > 4 * noise[0], "the bias at N = 4 is well above the Monte Carlo noise");
    for (let k = 1; k < sizes.length; k++) {
      assert.ok(
        bias[k] < 0.75 * bias[k - 1] + 2 * noise[k],
        `the bias shrinks from N = ${sizes[k - 1][0]} to ${sizes[k][0]}`,
      );
    }
    assert.ok(bias[3] < bias[0] / 4, "N = 256 has under a quarter of the bias at N = 4");
  });
}

Deno.test("TB off-policy: expected gradient is exactly 0 at the exact solution for every behaviour, not elsewhere", () => {
  // An environment where this P_F is the exact solution: P_B(s|s') = F(s)P_F(s'|s)/F(s') from P_F's own state
  // flows F, and R(x) = Z·Q_T(x) with Z = e^1.3. Then log w(τ) = log Z for every τ.
  const { d, H: side } = env.params;
  const n = env.nStates, A = env.nActions;
  const X = new Float64Array(n * env.inputDim), states = new Int32Array(n * d), mask = new Uint8Array(A);
  for (let s = 0; s < n; s++) {
    for (let i = 0, r = s; i < d; i++, r = Math.floor(r / side)) states[s * d + i] = r % side;
    env.encode(states.subarray(s * d, (s + 1) * d), X, s * env.inputDim);
  }
  const logits = mlpForward(net, jsGemm, X, n);
  const logPF = new Float64Array(n * A), flow = new Float64Array(n), qT = new Float64Array(n);
  const order = [...Array(n).keys()].sort((a, b) => {
    const sa = states[a * d] + states[a * d + 1], sb = states[b * d] + states[b * d + 1];
    return sa - sb;
  });
  flow[0] = 1;
  for (const s of order) {
    env.validActions(states.subarray(s * d, (s + 1) * d), mask);
    const valid = [...mask.keys()].filter((a) => mask[a]);
    const lse = logSumExp(valid.map((a) => logits[s * A + a]));
    for (const a of valid) {
      logPF[s * A + a] = logits[s * A + a] - lse;
      const p = flow[s] * Math.exp(logPF[s * A + a]);
      if (a === d) qT[s] += p;
      else flow[s + side ** a] += p;
    }
  }
  const solvedZ = 1.3;
  const solved: DiscreteEnv = {
    ...env,
    logBackward(after, a) {
      if (a === d) return 0;
      const child = env.index(after), parent = child - side ** a;
      return Math.log(flow[parent]) + logPF[parent * A + a] - Math.log(flow[child]);
    },
    logReward(xs, m) {
      return Float64Array.from({ length: m }, (_, b) => solvedZ + Math.log(qT[env.index(xs, b * d)]));
    },
  };
  const ev = runDiscrete(solved, net, jsGemm, N, new Rng(0), { given, behaviour });
  const logwSolved = solved.logReward(ev.x, N).map((r, b) => r + ev.logPBTraj[b] - ev.logq[b]);
  for (const lw of logwSolved) assert.ok(Math.abs(lw - solvedZ) < 1e-9, `log w = ${lw}`);

  const buffer = new ReplayBuffer<Int32Array>(4, "uniform", d);
  const some = Int32Array.from([1, 2, 3, 3, 0, 1, 2, 0]);
  buffer.add(some, env.logReward(some, 4), 4);
  const behaviours: Record<string, Float64Array> = {
    "on-policy": Q,
    "ε-uniform 0.3 + tempered 1.5": beta,
    "ε-uniform 0.5": runDiscrete(env, net, jsGemm, N, new Rng(0), {
      given,
      behaviour: { epsilon: 0.5, temperature: 1 },
    })
      .logb!.map(Math.exp),
    "replay (r = 0.5) + ε 0.3": replayLogBeta(all, { buffer, ratio: 0.5 }).map(Math.exp),
  };
  // E_β[∇_φ (log Z_ψ − log w)²] = Σ_τ β(τ)·2(log Z_ψ − log w(τ))·h(τ), and ∂/∂log Z_ψ = Σ_τ β(τ)·2(log Z_ψ − log w)
  const tbGrad = (b: Float64Array, lw: Float64Array, lz: number) => ({
    phi: combine(b.map((p, k) => 2 * p * (lz - lw[k]))),
    logZ: b.reduce((s, p, k) => s + 2 * p * (lz - lw[k]), 0),
  });
  const away: Float64Array[] = [];
  for (const [name, b] of Object.entries(behaviours)) {
    assert.ok(Math.abs(b.reduce((s, p) => s + p, 0) - 1) < 1e-12, name);
    const at = tbGrad(b, logwSolved, solvedZ);
    assert.ok(norm(at.phi) < 1e-12 && Math.abs(at.logZ) < 1e-12, `${name}: ‖E ∇‖ = ${norm(at.phi)}`);
    const off = tbGrad(b, logwSolved, solvedZ + 0.2); // wrong log Z_ψ: the scalar moves, φ's gradient is 0.4·E_β[h]
    assert.ok(Math.abs(off.logZ - 0.4) < 1e-12);
    const real = tbGrad(b, logw, logZ); // the actual hypergrid reward: not a solution
    assert.ok(norm(real.phi) > 1e-2, `${name}: away from the solution ‖E ∇‖ = ${norm(real.phi)}`);
    away.push(real.phi);
  }
  // off the solution the expected TB gradient depends on the behaviour (it is not ∇ of one divergence)
  assert.ok(norm(sub(away[0], away[1])) > 0.05 * norm(away[0]));
});

Deno.test("on-policy limit: with log ρ ≡ 0 the off-policy coefficients are the on-policy ones", async () => {
  const { renyiCoefficients } = await import("../core/objectives/renyi.ts");
  const { fklIsCoefficients } = await import("../core/objectives/fkl_is.ts");
  const { tsallisCoefficients } = await import("../core/objectives/tsallis.ts");
  const { rklOffPolicyCoefficients, importanceEss } = await import("../core/objectives/offpolicy.ts");
  const { tsallisOffPolicyCoefficients } = await import("../core/objectives/tsallis.ts");
  const lw = Float64Array.from([0.3, -1.2, 2.5, 0.9, -0.4]), zero = logImportance(lw, undefined);
  const close = (a: Float64Array, b: Float64Array) =>
    a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) < 1e-14));
  close(renyiOffPolicyCoefficients(lw, zero, 0.5), renyiCoefficients(lw, 0.5));
  close(renyiOffPolicyCoefficients(lw, zero, 2, 0.3), renyiCoefficients(lw, 2, 0.3));
  close(fklOffPolicyCoefficients(lw, zero), fklIsCoefficients(lw));
  close(tsallisOffPolicyCoefficients(lw, zero, 0.5, 0.7), tsallisCoefficients(lw, 0.5, 0.7));
  close(rklOffPolicyCoefficients(lw, zero, new Float64Array(5).fill(1)), lw.map((v) => (1 - v) / 5));
  assert.ok(Math.abs(importanceEss(zero) - 5) < 1e-12);
  assert.ok(importanceEss(Float64Array.from([0, 0, 0, 0, 5])) < 1.1);
});

Deno.test("behaviour config: defaults per kind, on-policy job ids unchanged, bad values rejected", async () => {
  const { behaviourSpec, jobConfig } = await import("../core/train/config.ts");
  const { epsilonAt } = await import("../core/gfn/behaviour.ts");
  const base = { task: "hypergrid" as const };
  assert.deepEqual(
    Object.keys(jobConfig(parseTrainConfig(base))).filter((k) => /behav|epsilon|replay|temper/.test(k)),
    [],
  );
  const eps = jobConfig(parseTrainConfig({ ...base, behaviour: "epsilon", temperature: 3, replay_size: 9 }));
  assert.equal(eps.behaviour, "epsilon");
  assert.equal(eps.epsilon, 0.1);
  assert.equal(eps.epsilon_schedule, "constant");
  assert.equal(eps.temperature, undefined, "ε-uniform does not read the temperature");
  assert.equal(eps.replay_size, undefined);
  const tempered = jobConfig(parseTrainConfig({ ...base, behaviour: "tempered", epsilon: 0.3 }));
  assert.deepEqual([tempered.temperature, tempered.epsilon], [2, undefined]);
  const replay = jobConfig(parseTrainConfig({ ...base, behaviour: "replay" }));
  assert.deepEqual(
    [replay.replay_size, replay.replay_ratio, replay.replay_sampling, replay.epsilon, replay.temperature],
    [1000, 0.5, "uniform", 0, 1],
  );
  assert.equal(jobConfig(parseTrainConfig({ ...base, behaviour: "on-policy" })).behaviour, "on-policy");
  const lin = behaviourSpec({
    behaviour: "epsilon",
    epsilon: 0.5,
    epsilon_end: 0,
    epsilon_schedule: "linear",
  });
  assert.deepEqual([epsilonAt(lin, 1, 11), epsilonAt(lin, 6, 11), epsilonAt(lin, 11, 11)], [0.5, 0.25, 0]);
  assert.throws(() => parseTrainConfig({ ...base, behaviour: "replay", replay_ratio: 1 }));
  assert.throws(() => parseTrainConfig({ ...base, behaviour: "greedy" }));
  assert.throws(() => parseTrainConfig({ ...base, behaviour: "tempered", temperature: 0 }));
});
