/**
 * Builds the task runtime a training config names (core/tasks/runtime.ts): the one place that maps a config's
 * `task` to an environment. New tasks register here and in TASKS of core/train/config.ts.
 */
import type { BitTask } from "../tasks/task.ts";
import { isingTask } from "../tasks/ising.ts";
import { hypergrid } from "../tasks/hypergrid.ts";
import {
  bitVectorRuntime,
  densityRuntime,
  hypergridRuntime,
  type RuntimeOptions,
  type TaskRuntime,
} from "../tasks/runtime.ts";
import { densityDefaults, type TrainConfig } from "./config.ts";

/** The task and what a run does around it (evaluation, energy training, NLL/MMD metrics). */
export function makeTaskRuntime(config: TrainConfig, opts: RuntimeOptions = {}): TaskRuntime {
  switch (config.task) {
    case "ising":
      return bitVectorRuntime(isingTask(config.L, config.beta), { exact: opts.exact });
    case "hypergrid":
      return hypergridRuntime(
        hypergrid({ d: config.grid_dim, H: config.grid_size, R0: config.r0, R1: config.r1, R2: config.r2 }),
      );
    default:
      return densityRuntime(
        { task: config.task, seed: config.seed, batch: config.batch, config: { ...config } },
        densityDefaults(config),
        opts,
      );
  }
}

/** The bit-vector task a config names (throws for environments that are not bit vectors). */
export function makeTask(config: TrainConfig, opts: RuntimeOptions = {}): BitTask {
  const { task } = makeTaskRuntime(config, opts);
  if (!task) throw new Error(`${config.task} is not a bit-vector task`);
  return task;
}
