/**
 * Energy checkpoints of train jobs (2D-density tasks):
 * - `energy: fixed` loads the checkpoint from the job input `energy` (an artifact key `<job id>/energy` of an
 *   earlier stage, fetched from the worker's artifact store) or, without that input, from the local path
 *   `energy_file` in the config;
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
  let text: string;
  let source: string;
  if (key !== undefined) {
    if (!artifacts) throw new Error(`job input energy = ${key}, but this worker has no artifact store`);
    const bytes = await artifacts.get(key);
    if (bytes === null) throw new Error(`job input energy: artifact ${key} not found`);
    text = new TextDecoder().decode(bytes);
    source = `artifact ${key}`;
  } else if (config.energy_file !== undefined) {
    source = config.energy_file;
    text = await Deno.readTextFile(config.energy_file);
  } else {
    throw new Error("energy fixed needs a job input `energy` or energy_file in the config");
  }
  try {
    return parseEnergyCheckpoint(text);
  } catch (err) {
    throw new Error(`bad energy checkpoint (${source}): ${err instanceof Error ? err.message : err}`);
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
