/**
 * A task together with what a training run does around it: its sampler (the batch contract of
 * core/gfn/batch.ts), its evaluation (E_Q[log w], log Ẑ, exact metrics by DP when enumerable, under the learned
 * backward policy when there is one — the uniform-P_B values stay as `*_uniform_pb` metrics), and for the 2D
 * densities the energy training (contrastive divergence, interleaved with the GFlowNet steps), the held-out NLL of
 * Eq. 7, the MMD and the saved energy. Ising needs only the bit-vector part; the hypergrid its own evaluation.
 *
 * 2D densities (`task` = a density name; options resolved by core/tasks/density_options.ts):
 * - energy `exact`: log R = the exact discretised log π (core/tasks/density_target.ts; bits ≤ 8).
 * - energy `fixed`: log R = log π̃_θ of a loaded energy checkpoint (core/energy/checkpoint.ts), never updated.
 * - energy `learned`: log R = the current energy ξ_θ (a fresh ELU MLP); after every GFlowNet update one energy
 *   update by contrastive divergence with negatives from one back-and-forth MH step (core/energy/mh.ts) of
 *   K = max(1, min(D, ⌊D·(step+1)/steps⌋)) deletions, started at the data batch.
 * Data: training data is online — fresh samples from the density's sampler every step, from the training
 * stream (the backward trajectories of α > 0 draw their batch inside the GFlowNet step, the CD update draws its
 * own). Test points (NLL and the data side of the MMD) are drawn once per run from Rng(test_seed), a seed
 * distinct from the training stream; the record carries test_seed.
 */
import { type Gemm, jsGemm, type Vec } from "../nn/gemm.ts";
import type { Mlp } from "../nn/mlp.ts";
import { params } from "../nn/mlp.ts";
import { type Policy, preparePolicy } from "../gfn/trajectories.ts";
import type { Batch, Sampler } from "../gfn/batch.ts";
import { bitVectorSampler } from "../gfn/bitvector.ts";
import { runDiscrete } from "../gfn/discrete.ts";
import { discreteContract, discreteSampler } from "../gfn/discrete_sampler.ts";
import { Rng } from "../rng.ts";
import type { BitTask } from "./task.ts";
import type { DensityOptions } from "./density_options.ts";
import { sampleDensity } from "./densities.ts";
import { encode, makeScheme } from "./discretise.ts";
import { densityTask } from "./density_target.ts";
import { type Hypergrid, hypergridExact } from "./hypergrid.ts";
import { cdGradient, energyExactNll, energyLogProb, initEnergy } from "../energy/model.ts";
import { backForthStep, scheduledK } from "../energy/mh.ts";
import { checkEnergyMatches, type EnergyCheckpoint, energyCheckpoint } from "../energy/checkpoint.ts";
import { exactForward, exactMetrics, type ExactTarget, exactTarget, MAX_EXACT_D } from "../eval/exact.ts";
import { exactLogLikelihoods, isLogLikelihoods, summariseNll } from "../eval/nll.ts";
import { mmdExpHamming } from "../eval/mmd.ts";
import { logWeightSummary, sampleLogWeights } from "../eval/estimates.ts";

export type Metrics = Record<string, number>;

/** What an evaluation sees: the current networks and the evaluation's own random stream. */
export interface EvalInput {
  net: Mlp;
  /** The learned backward policy, when the run has one. */
  pb?: Mlp;
  gemm: Gemm;
  rng: Rng;
  /**
   * Forward samples M for E_Q[log w] and log Ẑ; 0: no sampled metrics (the device engine reduces its own on the
   * device, backends/device/engine.ts evaluateSampled; Ising and the hypergrid).
   */
  samples: number;
  /** Exact metrics when the target is enumerable. */
  exact: boolean;
}

export interface TaskRuntime {
  sampler: Sampler;
  /** The bit-vector task (absent for other environments). */
  task?: BitTask;
  /** The metrics of one evaluation. */
  evaluate(input: EvalInput): Metrics;
  /** Sees every training forward batch (e.g. the hypergrid's modes found so far). */
  observe?(batch: Batch): void;
  /**
   * A learned energy (2D densities): its parameters and learning rate (a leaf of the run's optimiser tree) and
   * its contrastive-divergence gradient after each GFlowNet update (0-based step of `steps`, with the updated
   * policy and the training stream).
   */
  energy?: {
    params: Vec[];
    lr: number;
    gradient(net: Mlp, gemm: Gemm, rng: Rng, step: number, steps: number): Vec[];
  };
  /** The current energy as a checkpoint (learned energies). */
  energyCheckpoint?(steps: number): EnergyCheckpoint;
}

/** Extra metrics of a bit-vector task at an evaluation (2D densities: NLL, MMD, CD diagnostics). */
type ExtraMetrics = (
  pol: Policy,
  pb: Mlp | undefined,
  gemm: Gemm,
  samples: Int8Array,
  n: number,
  qT?: Float64Array,
) => Metrics;

/**
 * A bit-vector task's runtime: E_Q[log w] and log Ẑ from M forward samples, exact metrics by DP when D ≤
 * MAX_EXACT_D (re-enumerating a target that moves: `dynamicTarget`), plus the task's extra metrics.
 */
export function bitVectorRuntime(
  task: BitTask,
  opts: { exact?: boolean; dynamicTarget?: boolean; extra?: ExtraMetrics } = {},
): TaskRuntime {
  const target: ExactTarget | null = opts.exact !== false && task.D <= MAX_EXACT_D ? exactTarget(task) : null;
  const exactLogZ = target?.logZ ?? safeExactLogZ(task);
  return {
    sampler: bitVectorSampler(task),
    task,
    evaluate({ net, pb, gemm, rng, samples: M, exact }) {
      const pol = preparePolicy(net);
      const record: Metrics = {};
      let x: Int8Array = new Int8Array(0);
      if (M > 0) {
        const s = sampleLogWeights(pol, gemm, task, M, rng, pb);
        x = s.x;
        Object.assign(record, logWeightSummary(s.logw));
        if (pb) {
          const u = logWeightSummary(s.logwUniform);
          record.e_logw_uniform_pb = u.e_logw;
          record.log_z_hat_uniform_pb = u.log_z_hat;
        }
      }
      // one DP over the 3^D states serves the exact metrics and the task's exact NLL
      const forward = target && exact ? exactForward(pol, gemm, pb) : undefined;
      if (target && forward) {
        const t = opts.dynamicTarget ? exactTarget(task) : target;
        Object.assign(record, exactMetrics(pol, gemm, t, forward));
        if (pb) {
          const u = exactMetrics(pol, gemm, t, { ...forward, eLogPB: undefined });
          record.exact_e_logw_uniform_pb = u.exact_e_logw;
          record.exact_kl_uniform_pb = u.exact_kl;
        }
      } else if (exactLogZ !== undefined) record.exact_log_z = exactLogZ;
      if (opts.extra) Object.assign(record, opts.extra(pol, pb, gemm, x, M, forward?.qT));
      return record;
    },
  };
}

function safeExactLogZ(task: BitTask): number | undefined {
  try {
    return task.exactLogZ?.();
  } catch {
    return undefined;
  }
}

/**
 * The hypergrid's runtime: the generic masked-softmax sampler, E_Q[log w] and log Ẑ from M forward samples,
 * the exact Q_T, KL, TV and JSD by DP over the H^d states, and modes_found = distinct maximal-reward states among
 * all training forward samples so far.
 */
export function hypergridRuntime(env: Hypergrid): TaskRuntime {
  const modeSet = new Set(env.modes);
  const found = new Set<number>();
  const sampler = discreteSampler(env);
  return {
    sampler,
    evaluate({ net, pb, gemm, rng, samples: M, exact }) {
      const record: Metrics = {};
      if (M > 0) {
        const samples = runDiscrete(env, net, gemm, M, rng);
        Object.assign(record, logWeightSummary(discreteContract(env, net, gemm, samples, pb).logw));
        if (pb) {
          const u = logWeightSummary(discreteContract(env, net, gemm, samples).logw);
          record.e_logw_uniform_pb = u.e_logw;
          record.log_z_hat_uniform_pb = u.log_z_hat;
        }
      }
      if (exact) {
        const { qT: _q, ...ex } = hypergridExact(env, net, gemm, pb);
        Object.assign(record, ex);
        if (pb) {
          const u = hypergridExact(env, net, gemm);
          record.exact_e_logw_uniform_pb = u.exact_e_logw;
          record.exact_kl_uniform_pb = u.exact_kl;
        }
      }
      record.modes_found = found.size;
      record.modes_total = env.modes.length;
      return record;
    },
    observe(batch) {
      for (let b = 0; b < batch.B; b++) {
        const i = env.index(batch.x, b * env.stateSize);
        if (modeSet.has(i)) found.add(i);
      }
    },
  };
}

export interface RuntimeOptions {
  /** A loaded energy checkpoint for `energy: fixed` (validated against the config here). */
  energy?: { checkpoint: EnergyCheckpoint; net: Mlp };
  /** GEMM of the energy network's passes (the run's backend); default the portable jsGemm. */
  gemm?: Gemm;
  /** Exact metrics (exact_nll, energy_exact_nll) when D ≤ MAX_EXACT_D; default true. */
  exact?: boolean;
}

/** What a 2D-density run reads besides its density options. */
export interface DensityRun {
  task: string;
  seed: number;
  batch: number;
  /** The run's config, recorded in a saved energy checkpoint. */
  config: Record<string, unknown>;
}

/** Seed of the learned energy's initial weights: its own stream, so the GFlowNet's stream is untouched. */
const ENERGY_INIT_SALT = 0x3e4e7a11;

export function densityRuntime(
  config: DensityRun,
  o: DensityOptions,
  opts: RuntimeOptions = {},
): TaskRuntime {
  const scheme = makeScheme(config.task, o.bits);
  const D = scheme.D;
  const gemm = opts.gemm ?? jsGemm;
  const sampleData = (n: number, rng: Rng) => encode(sampleDensity(scheme.density, n, rng), n, scheme);

  let task: BitTask;
  let energy: Mlp | null = null;
  if (o.energy === "exact") {
    task = densityTask(config.task, o.bits);
  } else {
    if (o.energy === "fixed") {
      if (!opts.energy) {
        throw new Error(
          "energy fixed needs an energy checkpoint (energy_file, or the stage input `energy` in a sweep)",
        );
      }
      checkEnergyMatches(opts.energy.checkpoint, {
        task: config.task,
        bits: o.bits,
        intScale: scheme.intScale,
        hidden: o.energy_hidden,
      });
      energy = opts.energy.net;
    } else {
      energy = initEnergy(D, o.energy_hidden, new Rng((config.seed ^ ENERGY_INIT_SALT) >>> 0));
    }
    const net = energy;
    task = {
      name: `${scheme.density}(bits=${o.bits},energy=${o.energy})`,
      D,
      logReward: (x: Int8Array, B: number) => energyLogProb(net, gemm, x, B),
      sampleData,
    };
  }

  // held-out test points: NLL points first, then the MMD's data side
  const testRng = new Rng(o.test_seed);
  const test = o.nll_points > 0 ? sampleData(o.nll_points, testRng) : new Int8Array(0);
  const mmdData = o.mmd_samples > 0 ? sampleData(o.mmd_samples, testRng) : new Int8Array(0);
  const orderRng = testRng.fork();

  const learned = o.energy === "learned" ? energy : null;
  let acc = { steps: 0, accepted: 0, proposed: 0, gap: 0, k: 0 };

  const extra: ExtraMetrics = (pol, pb, gemm, samples, n, qT) => {
    const m: Metrics = { test_seed: o.test_seed };
    if (o.nll_points > 0) {
      const ll = isLogLikelihoods(pol, gemm, test, o.nll_points, o.nll_trajectories, orderRng, { pb });
      const s = summariseNll(ll, D);
      m.nll = s.nll;
      m.nll_se = s.se;
      m.nll_bits_per_dim = s.bitsPerDim;
      const exactOn = opts.exact !== false && D <= MAX_EXACT_D;
      if (exactOn) {
        const exact = summariseNll(
          exactLogLikelihoods(qT ?? exactForward(pol, gemm).qT, test, o.nll_points, D),
          D,
        );
        m.exact_nll = exact.nll;
      }
      if (energy && exactOn) {
        m.energy_exact_nll = energyExactNll(energy, gemm, test, o.nll_points).nll;
      }
    }
    if (o.mmd_samples > 0) {
      // model side: the evaluation's forward samples, min(eval_samples, mmd_samples) of them
      const km = Math.min(n, o.mmd_samples);
      const model = samples.subarray(0, km * D);
      if (km >= 2) {
        m.mmd = mmdExpHamming(model, km, mmdData, o.mmd_samples, D);
        m.mmd_unbiased = mmdExpHamming(model, km, mmdData, o.mmd_samples, D, { estimator: "unbiased" });
      }
    }
    if (acc.steps > 0) {
      m.mh_accept = acc.accepted / acc.proposed;
      m.mh_k = acc.k;
      m.cd_gap = acc.gap / acc.steps;
      acc = { steps: 0, accepted: 0, proposed: 0, gap: 0, k: acc.k };
    }
    return m;
  };
  const runtime = bitVectorRuntime(task, { exact: opts.exact, dynamicTarget: learned !== null, extra });
  if (learned) {
    const net = learned;
    runtime.energy = {
      params: params(net),
      lr: o.energy_lr,
      gradient(pol, gemm, rng, step, steps) {
        const B = config.batch;
        const data = sampleData(B, rng);
        const K = scheduledK(D, step, steps);
        const logProb = (x: Int8Array, n: number) => energyLogProb(net, gemm, x, n);
        const mh = backForthStep(preparePolicy(pol), gemm, logProb, data, B, K, rng, o.mh_rule);
        const cd = cdGradient(net, gemm, data, mh.x, B);
        acc.steps++;
        acc.accepted += mh.accepted;
        acc.proposed += B;
        acc.gap += cd.meanData - cd.meanNeg;
        acc.k = K;
        return cd.grads;
      },
    };
    runtime.energyCheckpoint = (steps: number) =>
      energyCheckpoint(net, {
        task: config.task,
        bits: o.bits,
        intScale: scheme.intScale,
        config: config.config,
        steps,
      });
  }
  return runtime;
}
