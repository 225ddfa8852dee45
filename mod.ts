/**
 * flowsweep public library surface: the pure engine (core/) — tasks, policy network, trajectories, objectives,
 * control variates, exact and Monte Carlo evaluation, the trainer — plus backend selection.
 */
export * from "./core/nn/gemm.ts";
export { Adam } from "./core/nn/adam.ts";
export { type Init, initMlp, type Mlp, mlpForward, numParams, params, zerosLike } from "./core/nn/mlp.ts";
export * from "./core/rng.ts";
export * from "./core/math.ts";
export * from "./core/tasks/task.ts";
export * from "./core/tasks/ising.ts";
export { makeTask } from "./core/tasks/registry.ts";
export * from "./core/gfn/trajectories.ts";
export * from "./core/objectives/atb.ts";
export * from "./core/objectives/akl.ts";
export * from "./core/baselines/cv.ts";
export { addRklGradient } from "./core/baselines/estimator.ts";
export * from "./core/eval/exact.ts";
export * from "./core/eval/estimates.ts";
export * from "./core/train/config.ts";
export * from "./core/train/step.ts";
export { hasScalarParam, type TrainOptions, trainRun } from "./core/train/trainer.ts";
export { availableBackends, selectGemm } from "./backends/select.ts";
