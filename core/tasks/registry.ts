/** Builds the task a training config names. New tasks register here (and in TASKS of core/train/config.ts). */
import type { TrainConfig } from "../train/config.ts";
import type { BitTask } from "./task.ts";
import { isingTask } from "./ising.ts";
import { densityRuntime, type RuntimeOptions, type TaskRuntime } from "./runtime.ts";

export function makeTask(config: TrainConfig, opts: RuntimeOptions = {}): BitTask {
  return makeTaskRuntime(config, opts).task;
}

/** The task and what a run does around it (energy training, NLL/MMD metrics; core/tasks/runtime.ts). */
export function makeTaskRuntime(config: TrainConfig, opts: RuntimeOptions = {}): TaskRuntime {
  switch (config.task) {
    case "ising":
      return { task: isingTask(config.L, config.beta) };
    case "hypergrid":
      throw new Error("hypergrid is not a bit-vector task: it trains through core/train/hypergrid.ts");
    default:
      return densityRuntime(config, opts);
  }
}
