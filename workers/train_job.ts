/** Executes a `train` job: parse the config, pick the backend, run the trainer, stream evaluations. */
import type { Job } from "../core/sweep/job.ts";
import type { ExecuteContext, FinalMetrics } from "./context.ts";
import { parseTrainConfig } from "../core/train/config.ts";

export async function runTrainJob(job: Job, ctx: ExecuteContext): Promise<FinalMetrics> {
  const config = parseTrainConfig(job.config);
  const { selectGemm } = await import("../backends/select.ts");
  const { trainRun } = await import("../core/train/trainer.ts");
  const gemm = await selectGemm((ctx.backend ?? "auto") as Parameters<typeof selectGemm>[0]);
  // stage artifacts (energy checkpoints, workers/energy_io.ts) come from the worker's artifact store
  const { loadJobEnergy, storeJobEnergy } = await import("./energy_io.ts");
  const summary = await trainRun(config, {
    gemm,
    signal: ctx.signal,
    onEval: (r) => ctx.onProgress(r),
    energy: await loadJobEnergy(job, config, ctx.artifacts),
    onDone: storeJobEnergy(job, ctx.artifacts),
  });
  return summary;
}
