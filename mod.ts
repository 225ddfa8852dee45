/**
 * flowsweep public library surface: the pure engine (core/) — tasks, policy network, trajectories, objectives,
 * control variates, exact and Monte Carlo evaluation, the trainer — plus backend selection.
 */
export * from "./core/nn/gemm.ts";
export { Adam, TreeAdam } from "./core/nn/adam.ts";
export { type Init, initMlp, type Mlp, mlpForward, numParams, params, zerosLike } from "./core/nn/mlp.ts";
export * from "./core/rng.ts";
export * from "./core/math.ts";
export * from "./core/tasks/task.ts";
export * from "./core/tasks/ising.ts";
export { makeTask, makeTaskRuntime } from "./core/train/tasks.ts";
export * from "./core/gfn/trajectories.ts";
export * from "./core/gfn/batch.ts";
export { bitVectorSampler } from "./core/gfn/bitvector.ts";
export { discreteSampler } from "./core/gfn/discrete_sampler.ts";
export * from "./core/objectives/objective.ts";
export { OBJECTIVE_REGISTRY, objectiveNamed } from "./core/objectives/registry.ts";
export {
  CONTROL_VARIATE_REGISTRY,
  type ControlVariate,
  controlVariateNamed,
} from "./core/baselines/registry.ts";
export * from "./core/baselines/cv.ts";
export * from "./core/eval/exact.ts";
export * from "./core/eval/estimates.ts";
export * from "./core/train/config.ts";
export * from "./core/train/step.ts";
export { hasScalarParam, type TrainOptions, trainRun } from "./core/train/trainer.ts";
export { availableBackends, selectGemm } from "./backends/select.ts";
