/**
 * The training run: one config, any environment (core/gfn/batch.ts), any registered objective, control variate
 * and backward policy. Pure apart from the injected GEMM backend and callbacks; it yields to the event loop
 * between steps so callers can show progress and abort (core/train/loop.ts).
 */
import type { Gemm } from "../nn/gemm.ts";
import { TreeAdam } from "../nn/adam.ts";
import { initMlp, type Mlp, params } from "../nn/mlp.ts";
import { preparePolicy } from "../gfn/trajectories.ts";
import type { Policy } from "../gfn/trajectories.ts";
import { zeroOutput } from "../gfn/backward.ts";
import { Rng } from "../rng.ts";
import type { TaskRuntime } from "../tasks/runtime.ts";
import { bitVectorRuntime } from "../tasks/runtime.ts";
import type { EnergyCheckpoint } from "../energy/checkpoint.ts";
import type { BitTask } from "../tasks/task.ts";
import { scheduledAlpha } from "../objectives/atb.ts";
import { objectiveNamed } from "../objectives/registry.ts";
import { controlVariateNamed } from "../baselines/registry.ts";
import { behaviourSpec, type EvalRecord, type TrainConfig, type TrainSummary } from "./config.ts";
import { estimateGradient, gradientVariance, type ObjectiveSpec } from "./step.ts";
import { stepBehaviour } from "../gfn/behaviour.ts";
import { ReplayBuffer } from "../gfn/replay.ts";
import { importanceEss } from "../objectives/offpolicy.ts";
import { runTrainingLoop } from "./loop.ts";
import { makeTaskRuntime } from "./tasks.ts";

export interface TrainOptions {
  gemm: Gemm;
  onEval?: (record: EvalRecord) => void | Promise<void>;
  /** Called after every step (for progress bars). */
  onStep?: (step: number) => void;
  signal?: AbortSignal;
  /** Compute exact metrics when the target is enumerable (default true). */
  exact?: boolean;
  /** Injected bit-vector task (tests); by default built from the config. */
  task?: BitTask;
  /** Wall clock in ms (injected so core stays free of globals); defaults to performance.now. */
  now?: () => number;
  /** A loaded energy checkpoint (`energy: fixed` on the 2D-density tasks; core/energy/checkpoint.ts). */
  energy?: { checkpoint: EnergyCheckpoint; net: Mlp };
  /**
   * Called once after the last step: the final policy, the bit-vector task, and the energy checkpoint of a learned
   * energy (bit-vector tasks only).
   */
  onDone?: (done: { policy: Policy; task: BitTask; energy?: EnergyCheckpoint }) => void | Promise<void>;
}

/** Whether the run trains (and so reports) the objective's scalar: log Z_ψ, c_ψ or Tsallis' log Ẑ. */
export function hasScalarParam(config: TrainConfig): boolean {
  return objectiveNamed(config.objective).scalar?.trained(controlVariateNamed(config.cv)) ?? false;
}

/** The values of the objectives' parameters in a config (div_alpha, pg_lambda, …). */
function objectiveParamValues(config: TrainConfig): Record<string, number> {
  const out: Record<string, number> = {};
  for (const p of objectiveNamed(config.objective).params) {
    out[p.key] = (config as unknown as Record<string, number>)[p.key];
  }
  return out;
}

/** The evaluation's own random stream is seeded with the run's seed ^ EVAL_SALT (CPU and device engines alike). */
export const EVAL_SALT = 0x5eed5eed;

export async function trainRun(config: TrainConfig, opts: TrainOptions): Promise<TrainSummary> {
  const runtime: TaskRuntime = opts.task
    ? bitVectorRuntime(opts.task, { exact: opts.exact })
    : makeTaskRuntime(config, { energy: opts.energy, gemm: opts.gemm, exact: opts.exact });
  const { sampler } = runtime;
  const objective = objectiveNamed(config.objective);
  if (config.alpha > 0 && !sampler.hasData) {
    throw new Error(`task ${sampler.name} has no data sampler: backward trajectories (α > 0) need one`);
  }
  const rng = new Rng(config.seed);
  const evalRng = new Rng(config.seed ^ EVAL_SALT);
  const mlp = (out: number) =>
    initMlp([sampler.inputDim, ...config.hidden, out], config.activation, config.init, rng.fork());
  const net = mlp(sampler.policyOutputs);
  // the value network V(s) (objectives that need one) and the learned backward policy P_B(θ), whose output
  // layer starts at 0 so P_B starts uniform
  const value = objective.needsValue ? mlp(1) : undefined;
  const pbNet = config.backward_policy === "learned" ? zeroOutput(mlp(sampler.backwardOutputs)) : undefined;
  const scalar = new Float64Array(1); // log Z_ψ, c_ψ or log Ẑ, initialised at 0
  const trainsScalar = hasScalarParam(config);
  const optimiser = new TreeAdam({
    policy: { params: params(net), lr: config.lr },
    scalar: trainsScalar ? { params: [scalar], lr: config.lr_logz } : undefined,
    value: value ? { params: params(value), lr: config.lr_value } : undefined,
    pb: pbNet ? { params: params(pbNet), lr: config.lr } : undefined,
    energy: runtime.energy ? { params: runtime.energy.params, lr: runtime.energy.lr } : undefined,
  });
  const objectiveParams = objectiveParamValues(config);
  const exact = opts.exact !== false;

  // behaviour policy of the forward batch (docs/offpolicy.md)
  const bspec = behaviourSpec(config);
  const offPolicy = bspec.kind !== "on-policy";
  const replay = bspec.kind === "replay"
    ? {
      buffer: new ReplayBuffer<Int8Array | Int32Array>(
        bspec.replaySize,
        bspec.replaySampling,
        sampler.stateSize,
      ),
      ratio: bspec.replayRatio,
    }
    : undefined;
  let behaviour = stepBehaviour(bspec, 1, config.steps);
  let essSum = 0, essSteps = 0;
  const gradVarRng = new Rng(config.seed ^ 0x6a7d3a11);
  let alphaNow = scheduledAlpha(config.alpha, config.alpha_schedule, 0, config.steps);
  const objectiveSpec = (alpha: number): ObjectiveSpec => ({
    objective: config.objective,
    alpha,
    cv: config.cv,
    params: objectiveParams,
    value,
    backwardPolicy: pbNet,
    behaviour: offPolicy ? behaviour : undefined,
    replay,
  });

  const summary = await runTrainingLoop(config, opts, {
    evaluate() {
      const record: Omit<EvalRecord, "step" | "seconds"> = runtime.evaluate({
        net,
        pb: pbNet,
        gemm: opts.gemm,
        rng: evalRng,
        samples: config.eval_samples,
        exact,
      });
      if (trainsScalar) record.log_z_param = scalar[0];
      if (offPolicy) {
        record.epsilon_now = behaviour.epsilon;
        if (essSteps > 0) record.is_ess_fraction = essSum / essSteps;
        essSum = essSteps = 0;
        if (replay) record.replay_buffer = replay.buffer.size;
      }
      const K = config.grad_var_batches ?? 0;
      if (K >= 2) {
        const pol = sampler.prepare(net);
        record.grad_var = gradientVariance(
          Array.from(
            { length: K },
            () =>
              estimateGradient(
                sampler,
                pol,
                opts.gemm,
                config.batch,
                gradVarRng,
                objectiveSpec(alphaNow),
                scalar[0],
              )
                .grads,
          ),
        );
      }
      return record;
    },
    step(step) {
      const alpha = alphaNow = scheduledAlpha(config.alpha, config.alpha_schedule, step - 1, config.steps);
      behaviour = stepBehaviour(bspec, step, config.steps);
      const est = estimateGradient(
        sampler,
        sampler.prepare(net),
        opts.gemm,
        config.batch,
        rng,
        objectiveSpec(alpha),
        scalar[0],
      );
      optimiser.step({
        policy: est.grads,
        value: est.valueGrads,
        pb: est.backwardGrads,
        scalar: trainsScalar ? [[est.dScalar]] : undefined,
      });
      if (est.forward) {
        runtime.observe?.(est.forward);
        if (est.forward.logRho) {
          essSum += importanceEss(est.forward.logRho) / est.forward.B;
          essSteps++;
        }
        replay?.buffer.add(est.forward.x, est.forward.logR, est.forward.B);
      }
      // energy update (learned energy), interleaved with the GFlowNet update
      if (runtime.energy) {
        optimiser.step({ energy: runtime.energy.gradient(net, opts.gemm, rng, step - 1, config.steps) });
      }
    },
  });
  if (runtime.task) {
    await opts.onDone?.({
      policy: preparePolicy(net),
      task: runtime.task,
      energy: runtime.energyCheckpoint?.(config.steps),
    });
  }
  return summary;
}
