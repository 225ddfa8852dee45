/** Monte Carlo metrics from forward samples (docs/math.md §"Metrics"; paper Eq. 9): E_Q[log w] and log Ẑ = logsumexp(log w) − log M. */
import type { Gemm } from "../nn/gemm.ts";
import type { Mlp } from "../nn/mlp.ts";
import { evaluateBackward, learnedLogWeights } from "../gfn/backward.ts";
import { logWeights, type Policy, runTrajectories } from "../gfn/trajectories.ts";
import type { Rng } from "../rng.ts";
import type { BitTask } from "../tasks/task.ts";
import { logSumExp } from "../math.ts";

/**
 * log w of M forward samples, drawn in chunks without keeping activations: under the learned backward policy
 * `pb` when given (log w = log R + log P_B(τ|x; θ) + log D! − log q_φ), and under the uniform P_B
 * (`logwUniform`, = `logw` without `pb`).
 */
export function sampleLogWeights(
  pol: Policy,
  gemm: Gemm,
  task: BitTask,
  M: number,
  rng: Rng,
  pb?: Mlp,
  chunk = 1024,
): { logw: Float64Array; logwUniform: Float64Array; x: Int8Array } {
  const logwUniform = new Float64Array(M);
  const logw = pb ? new Float64Array(M) : logwUniform;
  const x = new Int8Array(M * pol.D);
  for (let start = 0; start < M; start += chunk) {
    const n = Math.min(chunk, M - start);
    const batch = runTrajectories(pol, gemm, n, rng, { cache: false });
    const lw = logWeights(batch, task).logw;
    logwUniform.set(lw, start);
    if (pb) logw.set(learnedLogWeights(lw, evaluateBackward(pb, gemm, batch)), start);
    x.set(batch.x, start * pol.D);
  }
  return { logw, logwUniform, x };
}

export function logWeightSummary(logw: Float64Array): { e_logw: number; log_z_hat: number } {
  let m = 0;
  for (let i = 0; i < logw.length; i++) m += logw[i];
  return { e_logw: m / logw.length, log_z_hat: logSumExp(logw) - Math.log(logw.length) };
}
