/**
 * Training on the hypergrid (core/tasks/hypergrid.ts) through the generic discrete-action runner. Forward sampling
 * only (α = 0; there are no backward trajectories here). log w = log R(x) + log P_B(τ|x) − log P_F(τ) with the
 * uniform-over-parents P_B. Per-trajectory coefficients on log P_F, as on bit vectors:
 *   atb      2·(log Z_ψ − log w_s)/S  (cv ≠ learned: 2·(b_s − log w_s)/S with that scalar control variate)
 *   akl      (b_s − log w_s)/S,  b from cv (none, learned, loo-logw, loo-logz)
 *   renyi / tsallis / fkl-is   core/objectives/{renyi,tsallis,fkl_is}.ts
 *   pg       per-row GAE coefficients, costs c_t = log P_F − log P_B, last step + log Z_ψ − log R(x)
 * Metrics: E_Q[log w], log Ẑ from eval samples; exact Q_T, KL, TV, JSD by DP; modes_found = distinct
 * maximal-reward states among all training samples so far.
 * Off-policy (config `behaviour`, docs/offpolicy.md): the batch comes from a behaviour β (ε-uniform, tempered,
 * replay); TB (cv learned) is unchanged, the other coefficients carry importance weights ρ = P_F/β
 * (core/objectives/offpolicy.ts). With `grad_var_batches` = K, each evaluation also reports grad_var, the
 * sample variance Σ_params of K independent gradient estimates at the current parameters.
 */
import type { Gemm, Vec } from "../nn/gemm.ts";
import { Adam } from "../nn/adam.ts";
import { initMlp, params, zerosLike } from "../nn/mlp.ts";
import { mlpBackward, mlpForwardCached } from "../nn/backprop.ts";
import { accumulateDiscreteGrads, type DiscreteBatch, discreteLayout, runDiscrete } from "../gfn/discrete.ts";
import { type Hypergrid, hypergrid, hypergridExact } from "../tasks/hypergrid.ts";
import { Rng } from "../rng.ts";
import { tbTerm } from "../objectives/atb.ts";
import { learnedBaselineGrad } from "../objectives/akl.ts";
import { renyiCoefficients } from "../objectives/renyi.ts";
import { tsallisCoefficients, tsallisLogZGrad } from "../objectives/tsallis.ts";
import { fklIsCoefficients } from "../objectives/fkl_is.ts";
import { pgCoefficients } from "../objectives/pg.ts";
import { scalarBaseline } from "../baselines/cv.ts";
import { logWeightSummary } from "../eval/estimates.ts";
import type { EvalRecord, TrainConfig, TrainSummary } from "./config.ts";
import type { TrainOptions } from "./trainer.ts";
import { hasScalarParam, runTrainingLoop } from "./loop.ts";
import { behaviourSpec } from "./config.ts";
import { type StepBehaviour, stepBehaviour } from "../gfn/behaviour.ts";
import { type DiscreteReplay, sampleDiscreteBehaviour } from "../gfn/behaviour_discrete.ts";
import { ReplayBuffer } from "../gfn/replay.ts";
import {
  fklOffPolicyCoefficients,
  importanceEss,
  importanceLogZ,
  logImportance,
  renyiOffPolicyCoefficients,
  rklOffPolicyCoefficients,
  tsallisOffPolicyCoefficients,
  weightedMeanGrad,
} from "../objectives/offpolicy.ts";

export function hypergridFromConfig(config: TrainConfig): Hypergrid {
  return hypergrid({ d: config.grid_dim, H: config.grid_size, R0: config.r0, R1: config.r1, R2: config.r2 });
}

/** log w per trajectory of a discrete batch. */
export function discreteLogWeights(env: Hypergrid, batch: DiscreteBatch): Float64Array {
  const logR = env.logReward(batch.x, batch.B);
  return logR.map((r, b) => r + batch.logPBTraj[b] - batch.logq[b]);
}

export interface HypergridStep {
  grads: Vec[];
  dScalar: number;
  valueGrads?: Vec[];
  batch: DiscreteBatch;
  logw: Float64Array;
  /** log ρ = log P_F − log β per trajectory, for a behaviour batch. */
  logRho?: Float64Array;
}

/** One gradient estimate on the hypergrid. */
export function hypergridGradient(
  env: Hypergrid,
  net: ReturnType<typeof initMlp>,
  gemm: Gemm,
  B: number,
  rng: Rng,
  config: Pick<TrainConfig, "objective" | "cv" | "div_alpha" | "pg_lambda">,
  scalar: number,
  value?: ReturnType<typeof initMlp>,
  behaviour?: StepBehaviour,
  replay?: DiscreteReplay,
): HypergridStep {
  const sampled = sampleDiscreteBehaviour(env, net, gemm, B, rng, behaviour, replay);
  const batch = sampled.batch;
  const logw = discreteLogWeights(env, batch);
  if (sampled.logBeta) {
    return offPolicyGradient(
      env,
      net,
      gemm,
      batch,
      logw,
      logImportance(batch.logq, sampled.logBeta),
      config,
      scalar,
      value,
    );
  }
  const grads = zerosLike(net);
  let dScalar = 0, coef: Float64Array;
  let valueGrads: Vec[] | undefined;
  const { cv } = config;
  const scalarCv = () => {
    if (cv.startsWith("opt-")) throw new Error(`cv ${cv} is not available on the hypergrid`);
    return scalarBaseline(cv as "none" | "learned" | "loo-logw" | "loo-logz", logw, scalar);
  };
  switch (config.objective) {
    case "atb": {
      const tb = tbTerm(scalar, logw, 1);
      dScalar = tb.dLogZ;
      if (cv === "learned") coef = tb.coef;
      else {
        const b = scalarCv();
        coef = logw.map((lw, s) => 2 * (b[s] - lw) / B);
      }
      break;
    }
    case "akl": {
      const b = scalarCv();
      coef = logw.map((lw, s) => (b[s] - lw) / B);
      if (cv === "learned") dScalar = learnedBaselineGrad(scalar, logw);
      break;
    }
    case "renyi":
      coef = renyiCoefficients(logw, config.div_alpha);
      break;
    case "tsallis":
      coef = tsallisCoefficients(logw, config.div_alpha, scalar);
      dScalar = tsallisLogZGrad(scalar, logw);
      break;
    case "fkl-is":
      coef = fklIsCoefficients(logw);
      break;
    case "pg": {
      const pg = pgTerms(env, gemm, batch, config.pg_lambda, scalar, value);
      coef = pg.coef;
      valueGrads = pg.valueGrads;
      dScalar = learnedBaselineGrad(scalar, logw);
      break;
    }
  }
  accumulateDiscreteGrads(net, gemm, batch, coef, grads);
  return { grads, dScalar, valueGrads, batch, logw };
}

/** Policy-gradient per-row coefficients and the value network's regression gradient on a discrete batch. */
function pgTerms(
  env: Hypergrid,
  gemm: Gemm,
  batch: DiscreteBatch,
  lambda: number,
  scalar: number,
  value: ReturnType<typeof initMlp> | undefined,
): { coef: Float64Array; valueGrads: Vec[] } {
  if (!value) throw new Error("pg needs a value network");
  const B = batch.B;
  const logR = env.logReward(batch.x, B);
  const cost = new Float64Array(batch.rows);
  for (let r = 0; r < batch.rows; r++) cost[r] = batch.logp[r] - batch.logPB[r];
  for (let b = 0; b < B; b++) {
    cost[batch.rowOf[b * batch.maxSteps + batch.len[b] - 1]] += scalar - logR[b];
  }
  const vc = mlpForwardCached(value, gemm, batch.cache.X, batch.rows);
  const terms = pgCoefficients(discreteLayout(batch), cost, vc.out, lambda);
  const dOut = new (vc.out.constructor as Float64ArrayConstructor)(batch.rows);
  for (let r = 0; r < batch.rows; r++) dOut[r] = (vc.out[r] - terms.valueTarget[r]) / batch.rows;
  const valueGrads = zerosLike(value);
  mlpBackward(value, gemm, vc, dOut, valueGrads);
  return { coef: terms.coef, valueGrads };
}

/**
 * The gradient from a behaviour batch (log ρ = log P_F − log β per trajectory; core/objectives/offpolicy.ts):
 * TB with the learned log Z_ψ as is; the score-function estimators with importance weights; the fitted scalars
 * (c_ψ, log Ẑ, pg's log Z_ψ) from the weighted batch.
 */
function offPolicyGradient(
  env: Hypergrid,
  net: ReturnType<typeof initMlp>,
  gemm: Gemm,
  batch: DiscreteBatch,
  logw: Float64Array,
  logRho: Float64Array,
  config: Pick<TrainConfig, "objective" | "cv" | "div_alpha" | "pg_lambda">,
  scalar: number,
  value?: ReturnType<typeof initMlp>,
): HypergridStep {
  const grads = zerosLike(net);
  const { cv } = config;
  let dScalar = 0, coef: Float64Array;
  let valueGrads: Vec[] | undefined;
  const baseline = () => {
    if (cv.startsWith("opt-")) throw new Error(`cv ${cv} is not available on the hypergrid`);
    return scalarBaseline(cv as "none" | "learned" | "loo-logw" | "loo-logz", logw, scalar);
  };
  switch (config.objective) {
    case "atb": {
      const tb = tbTerm(scalar, logw, 1);
      dScalar = tb.dLogZ;
      coef = cv === "learned" ? tb.coef : rklOffPolicyCoefficients(logw, logRho, baseline(), 2);
      break;
    }
    case "akl":
      coef = rklOffPolicyCoefficients(logw, logRho, baseline(), 1);
      if (cv === "learned") dScalar = weightedMeanGrad(scalar, logw, logRho);
      break;
    case "renyi":
      coef = renyiOffPolicyCoefficients(logw, logRho, config.div_alpha);
      break;
    case "tsallis":
      coef = tsallisOffPolicyCoefficients(logw, logRho, config.div_alpha, scalar);
      dScalar = scalar - importanceLogZ(logw, logRho);
      break;
    case "fkl-is":
      coef = fklOffPolicyCoefficients(logw, logRho);
      break;
    case "pg": {
      const pg = pgTerms(env, gemm, batch, config.pg_lambda, scalar, value);
      coef = pg.coef;
      for (let r = 0; r < batch.rows; r++) coef[r] *= Math.exp(logRho[batch.traj[r]]);
      valueGrads = pg.valueGrads;
      dScalar = weightedMeanGrad(scalar, logw, logRho);
      break;
    }
  }
  accumulateDiscreteGrads(net, gemm, batch, coef, grads);
  return { grads, dScalar, valueGrads, batch, logw, logRho };
}

/** A full training run on the hypergrid (called by trainRun for task = hypergrid). */
export function trainHypergrid(config: TrainConfig, opts: TrainOptions): Promise<TrainSummary> {
  if (config.alpha !== 0) throw new Error("hypergrid trains from forward samples only: alpha must be 0");
  if (config.backward_policy !== "uniform") throw new Error("hypergrid uses the uniform backward policy");
  const env = hypergridFromConfig(config);
  const rng = new Rng(config.seed);
  const evalRng = new Rng(config.seed ^ 0x5eed5eed);
  const net = initMlp(
    [env.inputDim, ...config.hidden, env.nActions],
    config.activation,
    config.init,
    rng.fork(),
  );
  const adam = new Adam(params(net), config.lr);
  const scalar = new Float64Array(1);
  const scalarAdam = new Adam([scalar], config.lr_logz);
  const value = config.objective === "pg"
    ? initMlp([env.inputDim, ...config.hidden, 1], config.activation, config.init, rng.fork())
    : undefined;
  const valueAdam = value ? new Adam(params(value), config.lr_value) : undefined;
  const trainsScalar = hasScalarParam(config);
  const modeSet = new Set(env.modes);
  const found = new Set<number>();
  const spec = behaviourSpec(config);
  const replay: DiscreteReplay | undefined = spec.kind === "replay"
    ? {
      buffer: new ReplayBuffer(spec.replaySize, spec.replaySampling, env.stateSize),
      ratio: spec.replayRatio,
    }
    : undefined;
  let behaviour = stepBehaviour(spec, 1, config.steps);
  let essSum = 0, essSteps = 0;
  const gradVarRng = new Rng(config.seed ^ 0x6a7d3a11);
  return runTrainingLoop(config, opts, {
    evaluate() {
      const samples = runDiscrete(env, net, opts.gemm, config.eval_samples, evalRng);
      const record: Omit<EvalRecord, "step" | "seconds"> = logWeightSummary(discreteLogWeights(env, samples));
      if (trainsScalar) record.log_z_param = scalar[0];
      if (opts.exact !== false) {
        const { qT: _q, ...exact } = hypergridExact(env, net, opts.gemm);
        Object.assign(record, exact);
      }
      record.modes_found = found.size;
      record.modes_total = env.modes.length;
      if (spec.kind !== "on-policy") {
        record.epsilon_now = behaviour.epsilon;
        if (essSteps > 0) record.is_ess_fraction = essSum / essSteps;
        essSum = essSteps = 0;
        if (replay) record.replay_buffer = replay.buffer.size;
      }
      const K = config.grad_var_batches ?? 0;
      if (K >= 2) {
        const draws = Array.from(
          { length: K },
          () =>
            hypergridGradient(
              env,
              net,
              opts.gemm,
              config.batch,
              gradVarRng,
              config,
              scalar[0],
              value,
              behaviour,
              replay,
            )
              .grads,
        );
        record.grad_var = gradientVariance(draws);
      }
      return record;
    },
    step(step) {
      behaviour = stepBehaviour(spec, step, config.steps);
      const est = hypergridGradient(
        env,
        net,
        opts.gemm,
        config.batch,
        rng,
        config,
        scalar[0],
        value,
        behaviour,
        replay,
      );
      adam.step(est.grads);
      if (trainsScalar) scalarAdam.step([[est.dScalar]]);
      if (valueAdam && est.valueGrads) valueAdam.step(est.valueGrads);
      for (let b = 0; b < est.batch.B; b++) {
        const i = env.index(est.batch.x, b * env.stateSize);
        if (modeSet.has(i)) found.add(i);
      }
      if (est.logRho) {
        essSum += importanceEss(est.logRho) / est.batch.B;
        essSteps++;
      }
      replay?.buffer.add(est.batch.x, env.logReward(est.batch.x, est.batch.B), est.batch.B);
    },
  });
}

/** Sample variance Σ_params of K gradient estimates: (1/(K−1)) Σ_k ‖g_k − ḡ‖². */
export function gradientVariance(draws: Vec[][]): number {
  const K = draws.length;
  let total = 0;
  for (let l = 0; l < draws[0].length; l++) {
    const n = draws[0][l].length;
    for (let j = 0; j < n; j++) {
      let m = 0;
      for (let k = 0; k < K; k++) m += draws[k][l][j];
      m /= K;
      for (let k = 0; k < K; k++) total += (draws[k][l][j] - m) ** 2;
    }
  }
  return total / (K - 1);
}
