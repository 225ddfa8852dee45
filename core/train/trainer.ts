/**
 * The training loop: one run of one config. Pure apart from the injected GEMM backend and callbacks; it yields to
 * the event loop between steps so callers can show progress and abort.
 */
import type { Gemm } from "../nn/gemm.ts";
import { Adam } from "../nn/adam.ts";
import { initMlp, params } from "../nn/mlp.ts";
import { preparePolicy } from "../gfn/trajectories.ts";
import { Rng } from "../rng.ts";
import { makeTaskRuntime } from "../tasks/registry.ts";
import type { TaskRuntime } from "../tasks/runtime.ts";
import type { EnergyCheckpoint } from "../energy/checkpoint.ts";
import type { Mlp } from "../nn/mlp.ts";
import type { Policy } from "../gfn/trajectories.ts";
import type { BitTask } from "../tasks/task.ts";
import { scheduledAlpha } from "../objectives/atb.ts";
import { exactForward, exactMetrics, type ExactTarget, exactTarget, MAX_EXACT_D } from "../eval/exact.ts";
import { logWeightSummary, sampleLogWeights } from "../eval/estimates.ts";
import type { EvalRecord, TrainConfig, TrainSummary } from "./config.ts";
import { estimateGradient } from "./step.ts";
import { hasScalarParam, runTrainingLoop } from "./loop.ts";
import { LEARNED_PB_OBJECTIVES } from "./learned_pb.ts";
import { zeroOutput } from "../gfn/backward.ts";
import { gradientVariance, trainHypergrid } from "./hypergrid.ts";
import { behaviourSpec } from "./config.ts";
import { stepBehaviour } from "../gfn/behaviour.ts";
import { ReplayBuffer } from "../gfn/replay.ts";
import type { BitReplay } from "../gfn/behaviour_bits.ts";
import { importanceEss } from "../objectives/offpolicy.ts";

export interface TrainOptions {
  gemm: Gemm;
  onEval?: (record: EvalRecord) => void | Promise<void>;
  /** Called after every step (for progress bars). */
  onStep?: (step: number) => void;
  signal?: AbortSignal;
  /** Compute exact metrics when D ≤ MAX_EXACT_D (default true). */
  exact?: boolean;
  /** Injected task (tests); by default built from the config. */
  task?: BitTask;
  /** Wall clock in ms (injected so core stays free of globals); defaults to performance.now. */
  now?: () => number;
  /** A loaded energy checkpoint (`energy: fixed` on the 2D-density tasks; core/energy/checkpoint.ts). */
  energy?: { checkpoint: EnergyCheckpoint; net: Mlp };
  /** Called once after the last step: the final policy, the task, and the energy checkpoint of a learned energy. */
  onDone?: (done: { policy: Policy; task: BitTask; energy?: EnergyCheckpoint }) => void | Promise<void>;
}

export { hasScalarParam } from "./loop.ts";

export async function trainRun(config: TrainConfig, opts: TrainOptions): Promise<TrainSummary> {
  if (config.task === "hypergrid" && !opts.task) {
    return trainHypergrid(config, opts);
  }
  const runtime: TaskRuntime = opts.task
    ? { task: opts.task }
    : makeTaskRuntime(config, { energy: opts.energy, gemm: opts.gemm, exact: opts.exact });
  const task = runtime.task;
  const D = task.D;
  const rng = new Rng(config.seed);
  const evalRng = new Rng(config.seed ^ 0x5eed5eed);
  const net = initMlp([D, ...config.hidden, 2 * D], config.activation, config.init, rng.fork());
  const adam = new Adam(params(net), config.lr);
  const scalar = new Float64Array(1); // log Z_ψ or c_ψ, initialised at 0
  const scalarAdam = new Adam([scalar], config.lr_logz);
  // pg: the value network V(s) over states, D → hidden → 1
  const value = config.objective === "pg"
    ? initMlp([D, ...config.hidden, 1], config.activation, config.init, rng.fork())
    : undefined;
  const valueAdam = value ? new Adam(params(value), config.lr_value) : undefined;
  // learned backward policy P_B(θ): D → hidden → D, output layer at 0 so it starts uniform
  if (config.backward_policy === "learned" && !LEARNED_PB_OBJECTIVES.includes(config.objective)) {
    throw new Error(`backward_policy learned needs objective ${LEARNED_PB_OBJECTIVES.join("|")}`);
  }
  const pbNet = config.backward_policy === "learned"
    ? zeroOutput(initMlp([D, ...config.hidden, D], config.activation, config.init, rng.fork()))
    : undefined;
  const pbAdam = pbNet ? new Adam(params(pbNet), config.lr) : undefined;
  const target: ExactTarget | null = opts.exact !== false && D <= MAX_EXACT_D ? exactTarget(task) : null;
  const exactLogZ = target?.logZ ?? safeExactLogZ(task);

  // behaviour policy of the forward batch (docs/offpolicy.md)
  const bspec = behaviourSpec(config);
  const offPolicy = bspec.kind !== "on-policy";
  const replay: BitReplay | undefined = bspec.kind === "replay"
    ? {
      buffer: new ReplayBuffer<Int8Array>(bspec.replaySize, bspec.replaySampling, D),
      ratio: bspec.replayRatio,
    }
    : undefined;
  let behaviour = stepBehaviour(bspec, 1, config.steps);
  let essSum = 0, essSteps = 0;
  const gradVarRng = new Rng(config.seed ^ 0x6a7d3a11);
  const objectiveSpec = (alpha: number) => ({
    objective: config.objective,
    alpha,
    cv: config.cv,
    companion: { divAlpha: config.div_alpha, value, pgLambda: config.pg_lambda },
    backwardPolicy: pbNet,
    behaviour: offPolicy ? behaviour : undefined,
    replay,
  });
  let alphaNow = scheduledAlpha(config.alpha, config.alpha_schedule, 0, config.steps);

  const summary = await runTrainingLoop(config, opts, {
    evaluate() {
      const pol = preparePolicy(net);
      const { logw, x: samples } = sampleLogWeights(pol, opts.gemm, task, config.eval_samples, evalRng);
      const record: Omit<EvalRecord, "step" | "seconds"> = logWeightSummary(logw);
      if (hasScalarParam(config)) record.log_z_param = scalar[0];
      // one DP over the 3^D states serves the exact metrics and the task's exact NLL
      const forward = target ? exactForward(pol, opts.gemm) : undefined;
      if (target) {
        // a learned energy moves the target: enumerate it again
        Object.assign(
          record,
          exactMetrics(pol, opts.gemm, runtime.dynamicTarget ? exactTarget(task) : target, forward),
        );
      } else if (exactLogZ !== undefined) record.exact_log_z = exactLogZ;
      if (runtime.evalMetrics) {
        Object.assign(record, runtime.evalMetrics(pol, opts.gemm, samples, config.eval_samples, forward?.qT));
      }
      if (offPolicy) {
        record.epsilon_now = behaviour.epsilon;
        if (essSteps > 0) record.is_ess_fraction = essSum / essSteps;
        essSum = essSteps = 0;
        if (replay) record.replay_buffer = replay.buffer.size;
      }
      const K = config.grad_var_batches ?? 0;
      if (K >= 2) {
        record.grad_var = gradientVariance(
          Array.from(
            { length: K },
            () =>
              estimateGradient(
                pol,
                opts.gemm,
                task,
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
      const alpha = scheduledAlpha(config.alpha, config.alpha_schedule, step - 1, config.steps);
      alphaNow = alpha;
      behaviour = stepBehaviour(bspec, step, config.steps);
      const pol = preparePolicy(net);
      const est = estimateGradient(pol, opts.gemm, task, config.batch, rng, objectiveSpec(alpha), scalar[0]);
      if (est.forward?.logRho) {
        essSum += importanceEss(est.forward.logRho) / est.forward.batch.B;
        essSteps++;
      }
      if (replay && est.forward) {
        replay.buffer.add(
          est.forward.batch.x,
          task.logReward(est.forward.batch.x, est.forward.batch.B),
          est.forward.batch.B,
        );
      }
      adam.step(est.grads);
      if (valueAdam && est.valueGrads) valueAdam.step(est.valueGrads);
      if (pbAdam && est.backwardGrads) pbAdam.step(est.backwardGrads);
      if (hasScalarParam(config)) scalarAdam.step([[est.dScalar]]);
      // energy update (learned energy), interleaved with the GFlowNet update
      runtime.afterStep?.(preparePolicy(net), opts.gemm, rng, step - 1, config.steps);
    },
  });
  await opts.onDone?.({ policy: preparePolicy(net), task, energy: runtime.energyCheckpoint?.(config.steps) });
  return summary;
}

function safeExactLogZ(task: BitTask): number | undefined {
  try {
    return task.exactLogZ?.();
  } catch {
    return undefined;
  }
}
