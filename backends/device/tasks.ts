/**
 * The device samplers by task (backends/device/sampler.ts contract): the one place that maps a config's `task` to
 * its device sampler, like core/train/tasks.ts for the CPU engine. Ising: the bit-vector sampler
 * (backends/device/bitvector.ts); the hypergrid: the masked-softmax sampler (backends/device/discrete.ts over
 * backends/device/hypergrid.ts), which also tracks the modes found.
 */
import { hypergrid } from "../../core/tasks/hypergrid.ts";
import type { TrainConfig } from "../../core/train/config.ts";
import { isingDeviceSampler } from "./bitvector.ts";
import { hypergridDeviceSampler } from "./hypergrid.ts";
import type { DeviceSampler, Tf } from "./sampler.ts";

/** The tasks with a device sampler. */
export const DEVICE_TASKS: readonly string[] = ["ising", "hypergrid"];

/** A task's device sampler; `modesFound` when the task counts modes (the record's modes_found). */
export type TaskDeviceSampler = DeviceSampler & {
  modesFound?(k?: number): Promise<{ n: number; states: Int32Array }>;
};

export function deviceSamplerFor(
  tf: Tf,
  config:
    & Pick<TrainConfig, "L" | "beta">
    & Partial<Pick<TrainConfig, "task" | "grid_dim" | "grid_size" | "r0" | "r1" | "r2">>,
): TaskDeviceSampler {
  switch (config.task ?? "ising") {
    case "ising":
      return isingDeviceSampler(tf, config.L, config.beta);
    case "hypergrid":
      return hypergridDeviceSampler(
        tf,
        hypergrid({
          d: config.grid_dim!,
          H: config.grid_size!,
          R0: config.r0!,
          R1: config.r1!,
          R2: config.r2!,
        }),
      );
    default:
      throw new Error(`task ${config.task}: no device sampler (${DEVICE_TASKS.join(", ")})`);
  }
}
