/**
 * Training a run on the device engine (backends/device/engine.ts) with the task's device sampler
 * (backends/device/tasks.ts: Ising, the hypergrid): the same initial policy as core/train/trainer.ts `trainRun`
 * (same seed → same initMlp draws), per step B forward trajectories sampled on the device (and for α > 0, B
 * backward trajectories from data states x ~ π, also drawn on the device), the objective's
 * coefficients, ∇_φ and Adam on the device (`DeviceEngine.step`); the objective's scalar (log Z_ψ, c_ψ, log Ẑ)
 * is a device variable per seed. The device's random stream is its own (backends/device/rng.ts), so a device
 * run is a different random stream from a CPU run with the same seed: the two agree in law, not draw for draw
 * (tests/device_engine_test.ts compares them on a fixed batch and by exact KL).
 */
import { initMlp, type Mlp } from "../../core/nn/mlp.ts";
import { Rng } from "../../core/rng.ts";
import { scheduledAlpha } from "../../core/objectives/atb.ts";
import { objectiveNamed, objectiveParams } from "../../core/objectives/registry.ts";
import { controlVariateNamed } from "../../core/baselines/registry.ts";
import type { ObjectiveParams } from "../../core/objectives/objective.ts";
import {
  behaviourSpec,
  type EvalRecord,
  type TrainConfig,
  type TrainSummary,
} from "../../core/train/config.ts";
import type { Gemm } from "../../core/nn/gemm.ts";
import type { Batch } from "../../core/gfn/batch.ts";
import { makeTaskRuntime } from "../../core/train/tasks.ts";
import { EVAL_SALT } from "../../core/train/trainer.ts";
import { DeviceEngine, deviceSupports, type Tf, TransferCounter, variableOf } from "./engine.ts";
import { DEVICE_TASKS, deviceSamplerFor } from "./tasks.ts";
import { DeviceUniforms } from "./rng.ts";
import { DevicePg } from "./value.ts";

/** The config keys a device run reads (a TrainConfig satisfies it). */
export type DeviceRunConfig =
  & Pick<
    TrainConfig,
    | "seed"
    | "L"
    | "beta"
    | "hidden"
    | "activation"
    | "init"
    | "lr"
    | "lr_logz"
    | "objective"
    | "cv"
    | "alpha"
    | "alpha_schedule"
    | "batch"
    | "steps"
  >
  & { div_alpha?: number }
  & Partial<Pick<TrainConfig, "task" | "grid_dim" | "grid_size" | "r0" | "r1" | "r2">>;

export interface DeviceRunResult {
  /** The trained policy copied to the host. */
  net: Mlp;
  scalar: number;
  /** Bytes read back / uploaded over the whole run (setup, steps, evaluations, the final copy). */
  bytesRead: number;
  bytesWritten: number;
  /** Bytes read back / uploaded by the last training step alone (TransferCounter). */
  stepBytes: { read: number; written: number };
  /** Mean E_Q[log w] of the forward batches over the last 10% of steps (reduced on the device, read once). */
  meanLogwTail: number;
}

/** Why a config cannot run on the device engine, or null. */
export function deviceRunUnsupported(
  config: DeviceRunConfig & { task?: string; backward_policy?: string } & Parameters<typeof behaviourSpec>[0],
): string | null {
  if (config.task !== undefined && !DEVICE_TASKS.includes(config.task)) {
    return `task ${config.task}: the device engine runs ${DEVICE_TASKS.join(" and ")} only`;
  }
  if (config.backward_policy === "learned") return "a learned P_B is not on the device engine";
  if (behaviourSpec(config).kind !== "on-policy") return "behaviour policies are not on the device engine";
  return deviceSupports(objectiveNamed(config.objective), controlVariateNamed(config.cv));
}

export interface DeviceTrainOptions {
  onStep?: (step: number) => void;
  /**
   * Called at step 0, every `evalEvery` steps and after the last, with the policy copied to the host and, when
   * `evalSamples` is set, the sampled metrics reduced on the device.
   */
  onEvalPoint?: (step: number, net: Mlp, scalar: number, sampled?: SampledMetrics) => void | Promise<void>;
  evalEvery?: number;
  /**
   * M forward samples per seed at each evaluation point for E_Q[log w] and log Ẑ, drawn and reduced on the
   * device (DeviceEngine.evaluateSampled) from the evaluation's own stream (seed ^ EVAL_SALT, seeded once).
   */
  evalSamples?: number;
  signal?: AbortSignal;
  /** Sums the ms of the steps (sampling, gradient, update; not evaluation). */
  stepMs?: { total: number };
  /** Before each evaluation point: the terminal states (n × state size) of the modes found so far (hypergrid). */
  observeModes?: (states: Int32Array, n: number, k: number) => void;
}

/** The evaluation's sampled metrics of one seed. */
export interface SampledMetrics {
  e_logw: number;
  log_z_hat: number;
}

/**
 * K seeds trained in one device program (K = 1: a single run): per seed the initial policy of core/train/trainer.ts
 * `trainRun` with that seed (same initMlp draws), then that seed's own random stream (backends/device/rng.ts),
 * its own scalar and optimiser state; so each seed's result is that seed's separate run's (to float32 rounding
 * of the batched GEMMs).
 */
async function trainSeeds(
  tf: Tf,
  config: DeviceRunConfig,
  seeds: readonly number[],
  opts: DeviceTrainOptions & {
    onEvalPoints?: (step: number, eng: DeviceEngine, sampled?: SampledMetrics[]) => void | Promise<void>;
  } = {},
): Promise<{
  nets: Mlp[];
  scalars: number[];
  bytesRead: number;
  bytesWritten: number;
  stepBytes: { read: number; written: number };
  tail: number[];
}> {
  const why = deviceRunUnsupported(config);
  if (why) throw new Error(why);
  const K = seeds.length;
  const sampler = deviceSamplerFor(tf, config);
  const rngs = seeds.map((s) => new Rng(s));
  const nets = rngs.map((rng) =>
    initMlp(
      [sampler.inputDim, ...config.hidden, sampler.policyOutputs],
      config.activation,
      config.init,
      rng.fork(),
    )
  );
  const objective = objectiveNamed(config.objective), cv = controlVariateNamed(config.cv);
  const params: ObjectiveParams = Object.fromEntries(
    objectiveParams().map((
      p,
    ) => [p.key, (config as Record<string, unknown>)[p.key] ?? p.schema.parse(undefined)]),
  ) as ObjectiveParams;
  // the value network V(s) of pg, drawn after the policy from each seed's Rng (core/train/trainer.ts' order)
  const pg = objective.needsValue
    ? new DevicePg(
      tf,
      rngs.map((rng) =>
        initMlp([sampler.inputDim, ...config.hidden, 1], config.activation, config.init, rng.fork())
      ),
      params.lr_value,
      params.pg_lambda,
    )
    : undefined;
  const counter = new TransferCounter().attach(tf);
  const eng = new DeviceEngine({ tf, nets, sampler, lr: config.lr, lrScalar: config.lr_logz });
  // seeded once (one upload); B·inputDim lanes: one round per B × D uniforms for the bit vectors
  const random = new DeviceUniforms(tf, rngs, config.batch * sampler.inputDim);
  const evalRandom = opts.evalSamples
    ? new DeviceUniforms(tf, seeds.map((s) => new Rng(s ^ EVAL_SALT)), config.batch * sampler.inputDim)
    : undefined;
  const trainScalar = objective.scalar?.trained(cv) ?? false;
  const B = config.batch;
  const tailSum = variableOf(tf, tf.zeros([K]), false);
  let tailN = 0;
  let stepBytes = { read: 0, written: 0 };
  const evalPoint = async (step: number) => {
    if (!opts.onEvalPoints) return;
    if (opts.observeModes && sampler.modesFound) {
      for (let k = 0; k < K; k++) {
        const { n, states } = await sampler.modesFound(k);
        opts.observeModes(states, n, k);
      }
    }
    let sampled: SampledMetrics[] | undefined;
    if (evalRandom && opts.evalSamples) {
      const r = await eng.evaluateSampled(opts.evalSamples, evalRandom, config.batch);
      sampled = r.e_logw.map((e, k) => ({ e_logw: e, log_z_hat: r.log_z_hat[k] }));
    }
    await opts.onEvalPoints(step, eng, sampled);
  };
  try {
    await evalPoint(0);
    for (let step = 1; step <= config.steps; step++) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? new DOMException("aborted", "AbortError");
      const t0 = performance.now();
      const r0 = counter.read, w0 = counter.written;
      const alpha = scheduledAlpha(config.alpha, config.alpha_schedule, step - 1, config.steps);
      const g = await eng.step({
        objective,
        cv,
        params,
        alpha,
        B,
        rng: random,
        trainScalar,
        coefficients: pg?.coefficients,
      });
      pg?.update();
      if (g.logw.forward && step > config.steps * 0.9) {
        tf.tidy(() => tailSum.assign(tf.add(tailSum, tf.sum(g.logw.forward!, 1))));
        tailN += B;
      }
      g.dispose();
      stepBytes = { read: counter.read - r0, written: counter.written - w0 };
      if (opts.stepMs) opts.stepMs.total += performance.now() - t0;
      opts.onStep?.(step);
      if (step === config.steps || (opts.evalEvery && step % opts.evalEvery === 0)) await evalPoint(step);
      if (step % 50 === 0) await new Promise((res) => setTimeout(res, 0));
    }
    const out: Mlp[] = [];
    for (let k = 0; k < K; k++) out.push(await eng.toHost(k));
    const tail = Array.from((await tailSum.data()) as Float32Array).map((s) => tailN > 0 ? s / tailN : NaN);
    return {
      nets: out,
      scalars: await eng.scalars(),
      bytesRead: counter.read,
      bytesWritten: counter.written,
      stepBytes,
      tail,
    };
  } finally {
    counter.detach();
    random.dispose();
    evalRandom?.dispose();
    tailSum.dispose();
    pg?.dispose();
    eng.dispose();
    sampler.dispose();
  }
}

export async function deviceTrain(
  tf: Tf,
  config: DeviceRunConfig,
  opts: DeviceTrainOptions = {},
): Promise<DeviceRunResult> {
  const r = await trainSeeds(tf, config, [config.seed], {
    ...opts,
    onEvalPoints: opts.onEvalPoint
      ? async (step, eng, sampled) =>
        await opts.onEvalPoint!(step, await eng.toHost(0), (await eng.scalars())[0], sampled?.[0])
      : undefined,
  });
  return {
    net: r.nets[0],
    scalar: r.scalars[0],
    bytesRead: r.bytesRead,
    bytesWritten: r.bytesWritten,
    stepBytes: r.stepBytes,
    meanLogwTail: r.tail[0],
  };
}

/** What a whole device run reports to: the CPU evaluation's GEMM, and the run's callbacks. */
export interface DeviceRunOptions {
  /** The CPU GEMM of the evaluation. */
  gemm: Gemm;
  exact?: boolean;
  onStep?: (step: number) => void;
  signal?: AbortSignal;
}

/**
 * A whole run on the device engine with the CPU engine's evaluation records (core/tasks/runtime.ts evaluate on the
 * policy copied to the host at each evaluation — parameters cross per evaluation, not per step; the evaluation's
 * own stream is the CPU trainer's, seed ^ EVAL_SALT): what `train --backend webgpu|tensorflow-gpu|tfjs-cpu` runs.
 * The one-seed case of `deviceTrainSeedsRun`.
 */
export async function deviceTrainRun(
  tf: Tf,
  backendName: string,
  config: TrainConfig,
  opts: DeviceRunOptions & { onEval?: (r: EvalRecord) => void | Promise<void> },
): Promise<TrainSummary> {
  const { onEval, ...rest } = opts;
  const [summary] = await deviceTrainSeedsRun(tf, backendName, config, [config.seed], {
    ...rest,
    onEval: onEval && ((_k, r) => onEval(r)),
  });
  return summary;
}

/**
 * K seeds in one device program (the engine's leading dimension): per seed the same initial policy, random stream
 * and scalar optimiser as `deviceTrain` with that seed, so each seed's result is that separate run's (to float32
 * rounding of the batched GEMMs).
 */
export async function deviceTrainSeeds(
  tf: Tf,
  config: DeviceRunConfig,
  seeds: readonly number[],
  opts: DeviceSeedsOptions = {},
): Promise<{ nets: Mlp[]; scalars: number[]; bytesRead: number; bytesWritten: number }> {
  const { onEvalPoint, ...rest } = opts;
  const { nets, scalars, bytesRead, bytesWritten } = await trainSeeds(tf, config, seeds, {
    ...rest,
    onEvalPoints: onEvalPoint
      ? async (step, eng, sampled) =>
        await onEvalPoint(step, await allToHost(eng), await eng.scalars(), sampled)
      : undefined,
  });
  return { nets, scalars, bytesRead, bytesWritten };
}

/** Every seed's policy copied to the host, each parameter tensor read once (`toHost(k)` reads all K per call). */
async function allToHost(eng: DeviceEngine): Promise<Mlp[]> {
  const data: Float32Array[] = [];
  for (const v of eng.vars) data.push((await v.data()) as Float32Array);
  return Array.from({ length: eng.K }, (_, k) => {
    const W: Float32Array[] = [], b: Float32Array[] = [];
    data.forEach((d, i) => {
      const per = d.length / eng.K;
      (i % 2 === 0 ? W : b).push(Float32Array.from(d.subarray(k * per, (k + 1) * per)));
    });
    return { sizes: [...eng.sizes], activation: eng.activation, W, b };
  });
}

export interface DeviceSeedsOptions extends Omit<DeviceTrainOptions, "onEvalPoint"> {
  /**
   * Called at step 0, every `evalEvery` steps and after the last with every seed's policy copied to the host
   * (`nets[k]`, `scalars[k]`: seed k's), as `deviceTrain`'s `onEvalPoint` is for one seed.
   */
  onEvalPoint?: (
    step: number,
    nets: Mlp[],
    scalars: number[],
    sampled?: SampledMetrics[],
  ) => void | Promise<void>;
}

/**
 * `seed_batch`: the runs of `seeds` (config with each seed) trained in one device program (`deviceTrainSeeds`),
 * each with the evaluation records and summary its own `deviceTrainRun` would give (same evaluation stream
 * seed ^ EVAL_SALT per seed, same metrics); `onEval(k, record)` streams seed k's. Timing fields (`seconds`,
 * `ms_per_step`) are the batched program's.
 */
export async function deviceTrainSeedsRun(
  tf: Tf,
  backendName: string,
  config: TrainConfig,
  seeds: readonly number[],
  opts: DeviceRunOptions & { onEval?: (k: number, r: EvalRecord) => void | Promise<void> },
): Promise<TrainSummary[]> {
  const why = deviceRunUnsupported(config);
  if (why) throw new Error(`backend ${backendName}: ${why}`);
  const runtimes = seeds.map((seed) => makeTaskRuntime({ ...config, seed }, { exact: opts.exact }));
  const evalRngs = seeds.map((seed) => new Rng(seed ^ EVAL_SALT));
  const trainsScalar = objectiveNamed(config.objective).scalar?.trained(controlVariateNamed(config.cv)) ??
    false;
  const started = performance.now();
  const stepMs = { total: 0 };
  const last: EvalRecord[] = [];
  await deviceTrainSeeds(tf, config, seeds, {
    onStep: opts.onStep,
    signal: opts.signal,
    evalEvery: config.eval_every,
    stepMs,
    // the forward batches stay on the device: each seed's modes found cross per evaluation (runtime.observe reads x)
    observeModes: (x, n, k) => runtimes[k].observe?.({ B: n, x } as unknown as Batch),
    evalSamples: config.eval_samples,
    onEvalPoint: async (step, nets, scalars, sampled) => {
      for (let k = 0; k < seeds.length; k++) {
        // E_Q[log w] and log Ẑ were reduced on the device; the exact (enumeration) metrics on the host copy
        const metrics = runtimes[k].evaluate({
          net: nets[k],
          gemm: opts.gemm,
          rng: evalRngs[k],
          samples: 0, // sampled metrics: on the device
          exact: opts.exact !== false,
        });
        const r = {
          step,
          seconds: (performance.now() - started) / 1000,
          ...sampled?.[k],
          ...metrics,
        } as EvalRecord;
        if (trainsScalar) r.log_z_param = scalars[k];
        last[k] = r;
        await opts.onEval?.(k, r);
      }
    },
  });
  return last.map((r) => ({
    ...r,
    final: true,
    steps: config.steps,
    backend: backendName,
    ms_per_step: stepMs.total / config.steps,
  }));
}
