/**
 * Deterministic synthetic job records shaped like the paper's two sweeps, for report tests and demos:
 * an Ising sweep (rows: control variate, columns: β, metric E[log w], with exact log Z) and a 2D-density sweep
 * (rows: objective × α, columns: task × energy, metric NLL). Pure.
 */
import type { JobRecord, ReportLayout } from "../core/sweep/job.ts";

/** Uniform in [0, 1) from a 32-bit state (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface SyntheticIsingOptions {
  cvs?: string[];
  betas?: number[];
  seeds?: number;
  steps?: number;
  evalEvery?: number;
  /** Job (cv, beta, seed) triples that fail. */
  fail?: [string, number, number][];
}

/** Ising sweep records: `e_logw` approaches `exact_log_z` over training, faster for some control variates. */
export function syntheticIsing(opts: SyntheticIsingOptions = {}): JobRecord[] {
  const cvs = opts.cvs ?? ["none", "learned", "loo-logz"];
  const betas = opts.betas ?? [-0.4, 0.2, 0.4];
  const seeds = opts.seeds ?? 3;
  const steps = opts.steps ?? 500;
  const every = opts.evalEvery ?? 100;
  const out: JobRecord[] = [];
  for (const [ci, cv] of cvs.entries()) {
    for (const beta of betas) {
      const exact = 9 * Math.log(2) + 18 * Math.log(Math.cosh(beta)) + 3 * Math.abs(beta);
      for (let seed = 0; seed < seeds; seed++) {
        const r = rng(1000 * ci + Math.round(beta * 100) * 17 + seed * 7919 + 1);
        const failed = (opts.fail ?? []).some(([c, b, s]) => c === cv && b === beta && s === seed);
        const rate = 0.004 + 0.002 * ci;
        const history: JobRecord["history"] = [];
        for (let step = 0; step <= steps; step += every) {
          const kl = 3 * Math.exp(-rate * step) + 0.05 + 0.05 * r();
          history.push({
            step,
            seconds: step * 0.01,
            e_logw: exact - kl,
            log_z_hat: exact - kl / 4,
            exact_log_z: exact,
            exact_kl: kl,
          });
        }
        const last = history[history.length - 1];
        const config = { task: "ising", L: 3, beta, objective: "akl", alpha: 0, cv, steps, seed };
        out.push({
          id: `ising-${cv}-${beta}-${seed}`,
          sweep: "synthetic-ising",
          stage: "main",
          kind: "train",
          config,
          status: failed ? "failed" : "done",
          attempts: failed ? 3 : 1,
          worker: "w1",
          ...(failed
            ? { error: "synthetic failure: loss became NaN", history: history.slice(0, 2) }
            : { final: { ...last, final: true, steps, backend: "cpu", ms_per_step: 5 + r() }, history }),
        });
      }
    }
  }
  return out;
}

/** 2D-density sweep records: NLL per (objective, α, task, energy, seed). */
export function syntheticDensities(seeds = 3): JobRecord[] {
  const out: JobRecord[] = [];
  let k = 0;
  for (const objective of ["atb", "akl"]) {
    for (const alpha of [0, 0.5, 1]) {
      for (const task of ["2spirals", "8gaussians"]) {
        for (const energy of ["learned", "fixed"]) {
          for (let seed = 0; seed < seeds; seed++) {
            const r = rng(++k * 31);
            const nll = 20 + (task === "2spirals" ? 0.14 : 0) +
              (objective === "atb" ? alpha * 0.3 : alpha * 0.03) +
              (energy === "fixed" ? 0.005 : 0) + 0.01 * r();
            out.push({
              id: `dens-${k}`,
              sweep: "synthetic-densities",
              stage: energy,
              kind: "train",
              config: { task, energy, objective, alpha, cv: "learned", seed },
              status: "done",
              attempts: 1,
              final: { nll, e_logw: -nll, final: true },
              history: [{ step: 0, seconds: 0, nll: nll + 2 }, { step: 100, seconds: 1, nll }],
            });
          }
        }
      }
    }
  }
  return out;
}

export const TABLE2_LAYOUT: ReportLayout = {
  rows: ["objective", "alpha"],
  columns: ["energy", "task"],
  metric: "nll",
  decimals: 3,
  title: "Table 2: NLL",
};

export const TABLE3_LAYOUT: ReportLayout = {
  rows: ["cv"],
  columns: ["beta"],
  metric: "e_logw",
  decimals: 2,
  title: "Table 3: E[log w]",
};
