/**
 * Energy checkpoints of train jobs (2D-density tasks):
 * - `energy: fixed` loads the checkpoint from the job input `energy` (an artifact key `<job id>/energy` of an
 *   earlier stage, fetched from the worker's artifact store). A worker never reads a path named by a job
 *   (`energy_file` is for `flowsweep train` only): a queued job is an input like any other, and could name any
 *   file. Errors name the artifact key and the checkpoint's size, never its bytes;
 * - `energy: learned` stores the trained energy as artifact `<this job id>/energy` when the worker has a store.
 */
import type { Job } from "../core/sweep/job.ts";
import type { ArtifactStore } from "../transport/types.ts";
import { densityDefaults, type TrainConfig } from "../core/train/config.ts";
import type { TrainOptions } from "../core/train/trainer.ts";
import { parseEnergyCheckpoint, serializeEnergy } from "../core/energy/checkpoint.ts";
import { isDensityName } from "../core/tasks/densities.ts";

/** Artifact name of a trained energy (stage `artifacts: [energy]`). */
export const ENERGY_ARTIFACT = "energy";

export async function loadJobEnergy(
  job: Job,
  config: TrainConfig,
  artifacts: ArtifactStore | undefined,
): Promise<TrainOptions["energy"]> {
  if (!isDensityName(config.task) || densityDefaults(config).energy !== "fixed") return undefined;
  const key = job.inputs?.[ENERGY_ARTIFACT];
  if (key === undefined) {
    throw new Error(
      config.energy_file !== undefined
        ? "energy_file is a local path and workers read no paths from jobs: pass the energy as the stage input " +
          "`energy` (an artifact of an earlier stage), or train it alone with `flowsweep train --energy-file`"
        : "energy fixed needs the stage input `energy` (an artifact of an earlier stage)",
    );
  }
  if (!artifacts) throw new Error(`job input energy = ${key}, but this worker has no artifact store`);
  const bytes = await artifacts.get(key);
  if (bytes === null) throw new Error(`job input energy: artifact ${key} not found`);
  try {
    return parseEnergyCheckpoint(new TextDecoder().decode(bytes));
  } catch {
    // The parser's message may quote the bytes it choked on: keep them out of logs and the status bucket.
    throw new Error(`job input energy: artifact ${key} (${bytes.length} bytes) is not an energy checkpoint`);
  }
}

/** onDone hook storing a learned energy as `<job id>/energy`. */
export function storeJobEnergy(job: Job, artifacts: ArtifactStore | undefined): TrainOptions["onDone"] {
  return async (done) => {
    if (!done.energy || !artifacts) return;
    await artifacts.put(
      `${job.id}/${ENERGY_ARTIFACT}`,
      new TextEncoder().encode(serializeEnergy(done.energy)),
    );
  };
}
