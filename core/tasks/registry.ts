/** Builds the task a training config names. New tasks register here (and in TASKS of core/train/config.ts). */
import type { TrainConfig } from "../train/config.ts";
import type { BitTask } from "./task.ts";
import { isingTask } from "./ising.ts";

export function makeTask(config: TrainConfig): BitTask {
  switch (config.task) {
    case "ising":
      return isingTask(config.L, config.beta);
  }
}
