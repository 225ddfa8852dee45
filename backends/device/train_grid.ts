/**
 * Training a hypergrid run on the device engine (backends/device/discrete.ts over backends/device/hypergrid.ts):
 * the same initial policy as core/train/trainer.ts `trainRun` (same seed → same initMlp draws), per step B
 * forward trajectories sampled on the device and, for α > 0, B backward trajectories from x ~ π (inverse CDF of
 * the uploaded target) under the uniform P_B, also on the device; log w read back (B floats per batch), the
 * objective's coefficients from the registry, ∇_φ and Adam on the device; the scalar on the host. The modes
 * found by the forward batches are tracked on the device and read back per evaluation. As for Ising, the device
 * run's random stream is tfjs' seeded uniforms: it matches a CPU run in law, not draw for draw.
 */
import { Adam } from "../../core/nn/adam.ts";
import { initMlp } from "../../core/nn/mlp.ts";
import { Rng } from "../../core/rng.ts";
import { hypergrid } from "../../core/tasks/hypergrid.ts";
import { scheduledAlpha } from "../../core/objectives/atb.ts";
import { objectiveNamed, objectiveParams } from "../../core/objectives/registry.ts";
import { controlVariateNamed } from "../../core/baselines/registry.ts";
import type { ObjectiveParams } from "../../core/objectives/objective.ts";
import type { TrainConfig } from "../../core/train/config.ts";
import { type Tf, TransferCounter } from "./engine.ts";
import { DeviceDiscreteEngine } from "./discrete.ts";
import { hypergridDeviceEnv, hypergridModeTracker } from "./hypergrid.ts";
import type { DeviceRunConfig, DeviceRunResult, DeviceTrainOptions } from "./train.ts";

/** The config keys a device hypergrid run reads besides a device run's. */
export type DeviceGridConfig =
  & DeviceRunConfig
  & Pick<TrainConfig, "grid_dim" | "grid_size" | "r0" | "r1" | "r2">;

export async function deviceTrainGrid(
  tf: Tf,
  config: DeviceGridConfig,
  opts: DeviceTrainOptions = {},
): Promise<DeviceRunResult> {
  const env = hypergrid({
    d: config.grid_dim,
    H: config.grid_size,
    R0: config.r0,
    R1: config.r1,
    R2: config.r2,
  });
  const rng = new Rng(config.seed);
  const net = initMlp(
    [env.inputDim, ...config.hidden, env.nActions],
    config.activation,
    config.init,
    rng.fork(),
  );
  const counter = new TransferCounter();
  const denv = hypergridDeviceEnv(tf, env);
  const modes = hypergridModeTracker(tf, env);
  const eng = new DeviceDiscreteEngine({ tf, net, env: denv, lr: config.lr, counter });
  const objective = objectiveNamed(config.objective), cv = controlVariateNamed(config.cv);
  const params: ObjectiveParams = Object.fromEntries(
    objectiveParams().map((
      p,
    ) => [p.key, (config as Record<string, unknown>)[p.key] ?? p.schema.parse(undefined)]),
  ) as ObjectiveParams;
  const scalar = new Float64Array(1);
  const trainsScalar = objective.scalar?.trained(cv) ?? false;
  const scalarAdam = new Adam([scalar], config.lr_logz);
  const B = config.batch;
  let tailSum = 0, tailN = 0;
  const evalPoint = async (step: number) => {
    if (!opts.onEvalPoint) return;
    if (opts.observeModes) {
      const { n, states } = await modes.found();
      opts.observeModes(states, n);
    }
    await opts.onEvalPoint(step, await eng.toHost(), scalar[0]);
  };
  try {
    await evalPoint(0);
    for (let step = 1; step <= config.steps; step++) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? new DOMException("aborted", "AbortError");
      const t0 = performance.now();
      const alpha = scheduledAlpha(config.alpha, config.alpha_schedule, step - 1, config.steps);
      const forward = alpha < 1 ? eng.sample(B, rng.int(0x7fffffff)) : undefined;
      const backward = alpha > 0 ? eng.sampleBackward(B, rng.int(0x7fffffff)) : undefined;
      if (forward) modes.observe(forward.x);
      const r = await eng.gradient({ objective, cv, params, alpha, scalar: scalar[0], forward, backward });
      eng.apply(r.grads);
      if (trainsScalar) scalarAdam.step([[r.dScalar]]);
      if (r.logwForward && step > config.steps * 0.9) {
        for (const lw of r.logwForward) tailSum += lw;
        tailN += r.logwForward.length;
      }
      for (const t of [forward, backward]) if (t) (t.x.dispose(), t.actions.dispose());
      if (opts.stepMs) opts.stepMs.total += performance.now() - t0;
      opts.onStep?.(step);
      if (step === config.steps || (opts.evalEvery && step % opts.evalEvery === 0)) await evalPoint(step);
      if (step % 50 === 0) await new Promise((res) => setTimeout(res, 0));
    }
    return {
      net: await eng.toHost(),
      scalar: scalar[0],
      bytesRead: counter.read,
      bytesWritten: counter.written,
      meanLogwTail: tailN > 0 ? tailSum / tailN : NaN,
    };
  } finally {
    eng.dispose();
    modes.dispose();
    denv.dispose();
  }
}
