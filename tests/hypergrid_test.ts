/**
 * Hypergrid and the generic discrete-action runner: standard reward and modes, exact DP (Q_T, E_Q[log w]) against
 * Monte Carlo, the masked-softmax backward pass against finite differences, and training on d = 2, H = 8
 * (R0 = 0.01) to exact TV(Q_T, π) < 0.05 with TB, RKL, Rényi-0.5, Tsallis-0.5 and PG.
 */
import assert from "node:assert/strict";
import { jsGemm, type Vec } from "../core/nn/gemm.ts";
import { initMlp, mlpForward, params, zerosLike } from "../core/nn/mlp.ts";
import { accumulateDiscreteGrads, runDiscrete } from "../core/gfn/discrete.ts";
import { discreteContract } from "../core/gfn/discrete_sampler.ts";
import { hypergrid, hypergridExact } from "../core/tasks/hypergrid.ts";
import { Rng } from "../core/rng.ts";
import { logSumExp } from "../core/math.ts";
import { parseTrainConfig } from "../core/train/config.ts";
import { trainRun } from "../core/train/trainer.ts";
import { slowTest } from "./helpers/slow.ts";

const std = { d: 2, H: 8, R0: 1e-3, R1: 0.5, R2: 2 };

Deno.test("hypergrid reward: R0 + R1·[0.25 < u ≤ 0.5]^d + R2·[0.3 < u < 0.4]^d; 2^d modes; log Z", () => {
  const env = hypergrid(std);
  const R = (x: number[]) => Math.exp(env.logReward(Int32Array.from(x), 1)[0]);
  assert.ok(Math.abs(R([1, 1]) - 2.501) < 1e-12);
  assert.ok(Math.abs(R([6, 1]) - 2.501) < 1e-12);
  assert.ok(Math.abs(R([0, 7]) - 0.501) < 1e-12);
  assert.ok(Math.abs(R([0, 3]) - 0.001) < 1e-12);
  assert.ok(Math.abs(R([2, 2]) - 0.001) < 1e-12);
  assert.deepEqual([...env.modes].sort((a, b) => a - b), [9, 14, 49, 54]); // {1,6}² as x0 + 8·x1
  // 4 modes at 2.501, 12 more states of {0,1,6,7}² at 0.501, 48 at 0.001
  assert.ok(Math.abs(env.logZ - Math.log(4 * 2.501 + 12 * 0.501 + 48 * 0.001)) < 1e-12);
  assert.equal(hypergrid({ ...std, d: 3 }).modes.length, 8);
  assert.throws(() => hypergrid({ ...std, H: 1 }), RangeError);
});

Deno.test("hypergrid exact DP: Q_T sums to 1, matches Monte Carlo; E_Q[log w] matches and is ≤ log Z", () => {
  const env = hypergrid({ ...std, H: 5 });
  const net = initMlp([env.inputDim, 16, env.nActions], "tanh", "he-uniform", new Rng(4), Float64Array);
  const ex = hypergridExact(env, net, jsGemm);
  assert.ok(Math.abs(ex.qT.reduce((a, b) => a + b) - 1) < 1e-12);
  const M = 40000, batch = runDiscrete(env, net, jsGemm, M, new Rng(5));
  const counts = new Float64Array(env.nStates);
  for (let b = 0; b < M; b++) counts[env.index(batch.x, b * 2)]++;
  let maxZ = 0;
  for (let s = 0; s < env.nStates; s++) {
    const q = ex.qT[s], se = Math.sqrt(q * (1 - q) / M) + 1e-12;
    maxZ = Math.max(maxZ, Math.abs(counts[s] / M - q) / se);
  }
  const logw = discreteContract(env, net, jsGemm, batch).logw;
  const m = logw.reduce((a, b) => a + b) / M;
  const sd = Math.sqrt(logw.reduce((a, b) => a + (b - m) ** 2, 0) / (M - 1) / M);
  console.log(
    `  max|z| of Q_T over ${env.nStates} states ${maxZ.toFixed(2)}; E[log w] MC ${m.toFixed(4)} ± ${
      sd.toFixed(4)
    } vs exact ${ex.exact_e_logw.toFixed(4)} (log Z ${ex.exact_log_z.toFixed(4)}, log Ẑ ${
      (logSumExp(logw) - Math.log(M)).toFixed(4)
    })`,
  );
  assert.ok(maxZ < 5, `${maxZ}`);
  assert.ok(Math.abs(m - ex.exact_e_logw) < 5 * sd);
  assert.ok(ex.exact_e_logw < ex.exact_log_z);
  assert.ok(Math.abs(ex.exact_kl - (ex.exact_log_z - ex.exact_e_logw)) < 1e-12);
  assert.ok(ex.exact_tv > 0 && ex.exact_tv < 1 && ex.exact_jsd > 0 && ex.exact_jsd < Math.LN2);
  // trajectory lengths: Σ x_i increments + 1 stop
  for (let b = 0; b < 100; b++) assert.equal(batch.len[b], batch.x[2 * b] + batch.x[2 * b + 1] + 1);
});

Deno.test("discrete runner: ∇ Σ c log P_F (per trajectory and per row) matches finite differences", () => {
  const env = hypergrid({ ...std, H: 4 });
  const net = initMlp([env.inputDim, 5, 4, env.nActions], "swish", "he-uniform", new Rng(7), Float64Array);
  const batch = runDiscrete(env, net, jsGemm, 6, new Rng(8));
  const logpOf = () => {
    const logits = mlpForward(net, jsGemm, batch.cache.X, batch.rows), A = env.nActions;
    return Array.from({ length: batch.rows }, (_, r) => {
      const valid = [...Array(A).keys()].filter((a) => batch.mask[r * A + a]);
      return logits[r * A + batch.action[r]] - logSumExp(valid.map((a) => logits[r * A + a]));
    });
  };
  for (
    const coef of [
      Float64Array.from({ length: 6 }, (_, b) => b - 2.5),
      Float64Array.from({ length: batch.rows }, (_, r) => Math.sin(r)),
    ]
  ) {
    const perRow = coef.length === batch.rows;
    const g = zerosLike(net);
    accumulateDiscreteGrads(net, jsGemm, batch, coef, g);
    params(net).forEach((p: Vec, k) => {
      for (let i = 0; i < p.length; i++) {
        const v = p[i];
        const f = () => logpOf().reduce((s, l, r) => s + coef[perRow ? r : batch.traj[r]] * l, 0);
        p[i] = v + 1e-6;
        const up = f();
        p[i] = v - 1e-6;
        const down = f();
        p[i] = v;
        const fd = (up - down) / 2e-6;
        assert.ok(
          Math.abs(g[k][i] - fd) < 1e-7 + 1e-6 * Math.abs(fd),
          `param ${k}[${i}]: ${g[k][i]} vs ${fd}`,
        );
      }
    });
  }
});

for (
  const [objective, extra] of [
    ["atb", {}],
    ["akl", { cv: "loo-logw" }],
    ["renyi", { div_alpha: 0.5 }],
    ["tsallis", { div_alpha: 0.5 }],
    ["pg", {}],
  ] as const
) {
  slowTest(
    `hypergrid d=2 H=8 (R0 = 0.01): ${objective} reaches exact TV(Q_T, π) < 0.05 and finds all 4 modes`,
    async () => {
      const config = parseTrainConfig({
        task: "hypergrid",
        grid_dim: 2,
        grid_size: 8,
        r0: 0.01,
        objective,
        ...extra,
        steps: 500,
        batch: 64,
        hidden: [32, 32],
        lr: 0.004,
        lr_logz: 0.3,
        eval_every: 500,
        eval_samples: 64,
        seed: 2,
      });
      const first: number[] = [];
      const s = await trainRun(config, { gemm: jsGemm, onEval: (r) => void first.push(r.exact_tv!) });
      console.log(
        `  ${objective}: TV ${first[0].toFixed(3)} → ${s.exact_tv!.toFixed(4)}, JSD ${
          (s.exact_jsd as number).toFixed(5)
        }, ` +
          `KL(Q_T‖π) ${s.exact_kl_terminal!.toFixed(4)}, modes ${s.modes_found}/${s.modes_total}`,
      );
      assert.ok(s.exact_tv! < 0.05, `TV ${s.exact_tv}`);
      assert.equal(s.modes_found, 4);
    },
  );
}
