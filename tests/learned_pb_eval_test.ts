/**
 * Evaluation under a learned backward policy (docs/math.md §"Metrics"): the exact DP's E_Q[log w] uses P_B(θ)
 * and equals the sum over every enumerated trajectory of Q(τ)·log w(τ) (bit vectors, D = 4, and the 4×4
 * hypergrid); the uniform-P_B value is what the DP gives without it; the IS estimate of log Q_T(x) from
 * trajectories drawn by P_B(θ) matches the exact log Q_T(x).
 */
import assert from "node:assert/strict";
import { jsGemm } from "../core/nn/gemm.ts";
import { exactForward, exactMetrics, exactTarget } from "../core/eval/exact.ts";
import { isLogLikelihoods } from "../core/eval/nll.ts";
import { exactIndexOfRow } from "../core/eval/nll.ts";
import { isingTask } from "../core/tasks/ising.ts";
import { hypergrid, hypergridExact } from "../core/tasks/hypergrid.ts";
import type { Policy } from "../core/gfn/trajectories.ts";
import { Rng } from "../core/rng.ts";
import { bitVectorEnv, exactTrajectories, hypergridEnv } from "./helpers/registry.ts";

const expectation = (Q: Float64Array, v: Float64Array) => Q.reduce((s, q, n) => s + q * v[n], 0);

Deno.test("bit vectors: exact E_Q[log w] under a learned P_B = Σ_τ Q(τ) log w(τ) over all 384 trajectories", () => {
  const env = bitVectorEnv();
  const pol = env.pol as Policy;
  const target = exactTarget(isingTask(2, 0.4));
  const learned = exactMetrics(pol, jsGemm, target, exactForward(pol, jsGemm, env.pb));
  const uniform = exactMetrics(pol, jsGemm, target, exactForward(pol, jsGemm));
  const exL = exactTrajectories(env.enumerate(env.pb)), exU = exactTrajectories(env.enumerate());
  assert.ok(Math.abs(learned.exact_e_logw - expectation(exL.Q, exL.logw)) < 1e-9);
  assert.ok(Math.abs(uniform.exact_e_logw - expectation(exU.Q, exU.logw)) < 1e-9);
  assert.ok(
    Math.abs(learned.exact_e_logw - uniform.exact_e_logw) > 1e-3,
    "the learned P_B changes E_Q[log w]",
  );
  assert.ok(learned.exact_kl > 0 && Math.abs(learned.exact_kl_terminal - uniform.exact_kl_terminal) < 1e-12);
});

Deno.test("hypergrid 4×4: exact E_Q[log w] under a learned P_B = Σ_τ Q(τ) log w(τ) over all 69 trajectories", () => {
  const env = hypergridEnv();
  const grid = hypergrid({ d: 2, H: 4, R0: 0.1, R1: 0.5, R2: 2 });
  const learned = hypergridExact(grid, env.pol.net, jsGemm, env.pb);
  const uniform = hypergridExact(grid, env.pol.net, jsGemm);
  const exL = exactTrajectories(env.enumerate(env.pb)), exU = exactTrajectories(env.enumerate());
  assert.ok(Math.abs(learned.exact_e_logw - expectation(exL.Q, exL.logw)) < 1e-9);
  assert.ok(Math.abs(uniform.exact_e_logw - expectation(exU.Q, exU.logw)) < 1e-9);
  assert.ok(Math.abs(learned.exact_e_logw - uniform.exact_e_logw) > 1e-3);
  assert.ok(learned.exact_e_logw < learned.exact_log_z);
});

Deno.test("IS log Q̂_T(x) with trajectories from a learned P_B matches the exact log Q_T(x) (N = 4000)", () => {
  const env = bitVectorEnv();
  const pol = env.pol as Policy, D = 4;
  const qT = exactForward(pol, jsGemm).qT;
  const x = new Int8Array(16 * D);
  for (let i = 0; i < 16; i++) for (let d = 0; d < D; d++) x[i * D + d] = (i >> d) & 1 ? 1 : -1;
  const ll = isLogLikelihoods(pol, jsGemm, x, 16, 4000, new Rng(3), { pb: env.pb });
  let worst = 0, mean = 0;
  for (let i = 0; i < 16; i++) {
    const err = ll[i] - Math.log(qT[exactIndexOfRow(x, i, D)]);
    worst = Math.max(worst, Math.abs(err));
    mean += err / 16;
  }
  console.log(`  log Q̂_T − log Q_T over 16 points: mean ${mean.toFixed(4)}, max |·| ${worst.toFixed(4)}`);
  // measured: mean 0.0007, max 0.074 (uniform P_B: −0.002, 0.022; this learned P_B is a worse proposal);
  // weighting the learned-P_B trajectories as if they were uniform would be off by the gap between the two
  assert.ok(Math.abs(mean) < 0.02, `mean ${mean}`);
  assert.ok(worst < 0.15, `max ${worst}`);
});
