/**
 * Executes a `train` job: parse the config, pick the backend, run the trainer, stream evaluations. A device
 * backend (`webgpu`, `tensorflow-gpu`, `tfjs-cpu`) runs the device engine (backends/device/train.ts); a seed
 * group (spec `seed_batch`, core/sweep/seed_batch.ts) runs its seeds in one device program there, or one after
 * the other on a CPU backend, and reports each seed's records and outcome under that seed's job id.
 */
import type { Job, MetricRecord } from "../core/sweep/job.ts";
import { DivergedError, type ExecuteContext, type FinalMetrics, nonFinite } from "./context.ts";
import { parseTrainConfig, type TrainConfig } from "../core/train/config.ts";
import {
  groupMembers,
  isSeedGroup,
  type MemberOutcome,
  packGroupFinal,
  SEED_JOB_KEY,
} from "../core/sweep/seed_batch.ts";

/** The device engine's backends (backends/device/select.ts, without its `auto`). */
export const DEVICE_JOB_BACKENDS = ["webgpu", "tensorflow-gpu", "tfjs-cpu"] as const;

export function isDeviceBackend(name: string | undefined): boolean {
  return (DEVICE_JOB_BACKENDS as readonly string[]).includes(name ?? "");
}

async function deviceTf(backend: string) {
  const { selectDevice } = await import("../backends/device/select.ts");
  return (await selectDevice(backend as typeof DEVICE_JOB_BACKENDS[number])).tf;
}

async function cpuGemm(backend: string | undefined) {
  const { selectGemm } = await import("../backends/select.ts");
  // the device engine evaluates on the host with the CPU engine's fastest GEMM
  const name = isDeviceBackend(backend) ? "auto" : backend ?? "auto";
  return await selectGemm(name as Parameters<typeof selectGemm>[0]);
}

export async function runTrainJob(job: Job, ctx: ExecuteContext): Promise<FinalMetrics> {
  if (isSeedGroup(job)) return await runSeedGroup(job, ctx);
  const config = parseTrainConfig(job.config);
  const gemm = await cpuGemm(ctx.backend);
  if (isDeviceBackend(ctx.backend)) {
    const { deviceTrainRun } = await import("../backends/device/train.ts");
    return await deviceTrainRun(await deviceTf(ctx.backend!), ctx.backend!, config, {
      gemm,
      signal: ctx.signal,
      onEval: (r) => ctx.onProgress(r),
    });
  }
  const { trainRun } = await import("../core/train/trainer.ts");
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

/**
 * A seed group: each seed's records tagged with its job id (`seed_job`); a seed whose metrics stop being finite
 * fails alone (`diverged at step N`, as its own run would), the others carry on. Final: every seed's outcome.
 */
async function runSeedGroup(unit: Job, ctx: ExecuteContext): Promise<FinalMetrics> {
  const members = groupMembers(unit);
  const outcomes: Record<string, MemberOutcome> = {};
  const diverged = new Map<number, string>();
  const report = async (k: number, record: MetricRecord) => {
    if (diverged.has(k)) return;
    await ctx.onProgress({ ...record, [SEED_JOB_KEY]: members[k].id });
    const bad = nonFinite(record);
    if (bad !== null) diverged.set(k, `diverged at step ${record.step ?? "?"} (${bad} = ${record[bad]})`);
  };
  const config: TrainConfig = parseTrainConfig(members[0].config);
  if (isDeviceBackend(ctx.backend)) {
    const { deviceTrainSeedsRun } = await import("../backends/device/train.ts");
    const finals = await deviceTrainSeedsRun(
      await deviceTf(ctx.backend!),
      ctx.backend!,
      config,
      members.map((m) => m.seed),
      { gemm: await cpuGemm(ctx.backend), signal: ctx.signal, onEval: report },
    );
    members.forEach((m, k) => {
      const bad = diverged.get(k) ??
        (nonFinite(finals[k]) !== null
          ? `diverged at step ${finals[k].step} (${nonFinite(finals[k])} = ${
            finals[k][nonFinite(finals[k])!]
          })`
          : undefined);
      outcomes[m.id] = bad !== undefined ? { error: bad } : { final: finals[k] };
    });
    return packGroupFinal(outcomes);
  }
  // A CPU backend: the seeds one after the other, each exactly as its own job.
  for (let k = 0; k < members.length; k++) {
    const m = members[k];
    const memberJob: Job = { ...unit, id: m.id, config: m.config };
    delete memberJob.limits;
    try {
      const final = await runTrainJob(memberJob, {
        ...ctx,
        onProgress: async (r) => {
          await report(k, r);
          if (diverged.has(k)) throw new DivergedError(diverged.get(k)!);
        },
      });
      const bad = nonFinite(final);
      outcomes[m.id] = bad !== null
        ? { error: `diverged at step ${final.step ?? "?"} (${bad} = ${final[bad]})` }
        : { final };
    } catch (err) {
      if (!(err instanceof DivergedError)) throw err; // the group's failure: every seed's (retried as one)
      outcomes[m.id] = { error: err.message };
    }
  }
  return packGroupFinal(outcomes);
}
