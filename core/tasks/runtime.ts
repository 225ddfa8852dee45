/**
 * A task together with what a training run does around it beyond the GFlowNet update: the 2D-density tasks
 * train an energy (contrastive divergence, interleaved with the GFlowNet steps), evaluate the held-out NLL of
 * Eq. 7 and the MMD, and save the energy. Ising needs none of it (`{ task }`).
 *
 * 2D densities (`task` = a density name; options in `densityDefaults`):
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
import { type Gemm, jsGemm } from "../nn/gemm.ts";
import type { Mlp } from "../nn/mlp.ts";
import { params } from "../nn/mlp.ts";
import { Adam } from "../nn/adam.ts";
import type { Policy } from "../gfn/trajectories.ts";
import { Rng } from "../rng.ts";
import type { BitTask } from "./task.ts";
import { densityDefaults, type TrainConfig } from "../train/config.ts";
import { sampleDensity } from "./densities.ts";
import { encode, makeScheme } from "./discretise.ts";
import { densityTask } from "./density_target.ts";
import { cdGradient, energyExactNll, energyLogProb, initEnergy } from "../energy/model.ts";
import { backForthStep, scheduledK } from "../energy/mh.ts";
import { checkEnergyMatches, type EnergyCheckpoint, energyCheckpoint } from "../energy/checkpoint.ts";
import { exactForward, MAX_EXACT_D } from "../eval/exact.ts";
import { exactLogLikelihoods, isLogLikelihoods, summariseNll } from "../eval/nll.ts";
import { mmdExpHamming } from "../eval/mmd.ts";

export type Metrics = Record<string, number>;

export interface TaskRuntime {
  task: BitTask;
  /** The target changes during training (learned energy): exact metrics must re-enumerate it. */
  dynamicTarget?: boolean;
  /** After each GFlowNet update (0-based step of `steps`), with the updated policy and the training stream. */
  afterStep?(pol: Policy, gemm: Gemm, rng: Rng, step: number, steps: number): void;
  /**
   * Extra metrics at an evaluation; `samples` are the evaluation's n forward samples (n × D); `qT` the exact
   * terminal marginal when the caller already computed it (exact mode).
   */
  evalMetrics?(pol: Policy, gemm: Gemm, samples: Int8Array, n: number, qT?: Float64Array): Metrics;
  /** The current energy as a checkpoint (learned energies). */
  energyCheckpoint?(steps: number): EnergyCheckpoint;
}

export interface RuntimeOptions {
  /** A loaded energy checkpoint for `energy: fixed` (validated against the config here). */
  energy?: { checkpoint: EnergyCheckpoint; net: Mlp };
  /** GEMM of the energy network's passes (the run's backend); default the portable jsGemm. */
  gemm?: Gemm;
  /** Exact metrics (exact_nll, energy_exact_nll) when D ≤ MAX_EXACT_D; default true. */
  exact?: boolean;
}

/** Seed of the learned energy's initial weights: its own stream, so the GFlowNet's stream is untouched. */
const ENERGY_INIT_SALT = 0x3e4e7a11;

export function densityRuntime(config: TrainConfig, opts: RuntimeOptions = {}): TaskRuntime {
  const o = densityDefaults(config);
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

  const energyAdam = o.energy === "learned" && energy ? new Adam(params(energy), o.energy_lr) : null;
  let acc = { steps: 0, accepted: 0, proposed: 0, gap: 0, k: 0 };

  const runtime: TaskRuntime = {
    task,
    dynamicTarget: o.energy === "learned",
    evalMetrics(pol, gemm, samples, n, qT) {
      const m: Metrics = { test_seed: o.test_seed };
      if (o.nll_points > 0) {
        const ll = isLogLikelihoods(pol, gemm, test, o.nll_points, o.nll_trajectories, orderRng);
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
    },
  };
  if (energyAdam && energy) {
    const net = energy;
    runtime.afterStep = (pol, gemm, rng, step, steps) => {
      const B = config.batch;
      const data = sampleData(B, rng);
      const K = scheduledK(D, step, steps);
      const logProb = (x: Int8Array, n: number) => energyLogProb(net, gemm, x, n);
      const mh = backForthStep(pol, gemm, logProb, data, B, K, rng, o.mh_rule);
      const cd = cdGradient(net, gemm, data, mh.x, B);
      energyAdam.step(cd.grads);
      acc.steps++;
      acc.accepted += mh.accepted;
      acc.proposed += B;
      acc.gap += cd.meanData - cd.meanNeg;
      acc.k = K;
    };
    runtime.energyCheckpoint = (steps: number) =>
      energyCheckpoint(net, {
        task: config.task,
        bits: o.bits,
        intScale: scheme.intScale,
        config: config as unknown as Record<string, unknown>,
        steps,
      });
  }
  return runtime;
}
