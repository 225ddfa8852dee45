/** Monte Carlo metrics from forward samples (DESIGN §5): E_Q[log w] and log Ẑ = logsumexp(log w) − log M. */
import type { Gemm } from "../nn/gemm.ts";
import { logWeights, type Policy, runTrajectories } from "../gfn/trajectories.ts";
import type { Rng } from "../rng.ts";
import type { BitTask } from "../tasks/task.ts";
import { logSumExp } from "../math.ts";

/** log w of M forward samples, drawn in chunks without keeping activations. */
export function sampleLogWeights(pol: Policy, gemm: Gemm, task: BitTask, M: number, rng: Rng, chunk = 1024) {
  const logw = new Float64Array(M);
  const x = new Int8Array(M * pol.D);
  for (let start = 0; start < M; start += chunk) {
    const n = Math.min(chunk, M - start);
    const batch = runTrajectories(pol, gemm, n, rng, { cache: false });
    logw.set(logWeights(batch, task).logw, start);
    x.set(batch.x, start * pol.D);
  }
  return { logw, x };
}

export function logWeightSummary(logw: Float64Array): { e_logw: number; log_z_hat: number } {
  let m = 0;
  for (let i = 0; i < logw.length; i++) m += logw[i];
  return { e_logw: m / logw.length, log_z_hat: logSumExp(logw) - Math.log(logw.length) };
}
