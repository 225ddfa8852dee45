/** flowsweep public library surface. */
export * from "./core/nn/gemm.ts";
export * from "./core/rng.ts";
export * from "./core/math.ts";
export * from "./core/tasks/task.ts";
export * from "./core/train/config.ts";
