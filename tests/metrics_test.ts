/**
 * core/train/metrics.ts lists what train jobs emit: a short run of every task (and the objectives with their
 * own scalars) emits only listed metrics, so report layouts can be checked against the list.
 */
import assert from "node:assert/strict";
import { jsGemm } from "../core/nn/gemm.ts";
import { parseTrainConfig } from "../core/train/config.ts";
import { trainMetrics } from "../core/train/metrics.ts";
import { trainRun } from "../core/train/trainer.ts";

const BOOKKEEPING = new Set(["step", "seconds", "final", "steps", "backend", "test_seed"]);

const CASES: Record<string, unknown>[] = [
  { task: "ising", L: 2, objective: "atb" },
  { task: "ising", L: 2, objective: "pg" },
  { task: "ising", L: 2, objective: "renyi", behaviour: "replay", epsilon: 0.1, grad_var_batches: 2 },
  { task: "hypergrid", grid_dim: 2, grid_size: 3, objective: "atb" },
  { task: "hypergrid", grid_dim: 2, grid_size: 3, behaviour: "replay", epsilon: 0.1, grad_var_batches: 2 },
  { task: "8gaussians", bits: 3, energy: "learned", nll_points: 8, nll_trajectories: 2, mmd_samples: 8 },
  { task: "2spirals", bits: 3, energy: "exact", nll_points: 8, nll_trajectories: 2, mmd_samples: 8 },
];

for (const c of CASES) {
  Deno.test(`metrics: ${JSON.stringify(c)} emits only listed metrics`, async () => {
    const config = parseTrainConfig({
      ...c,
      steps: 2,
      batch: 4,
      hidden: [4],
      eval_every: 1,
      eval_samples: 8,
    });
    const seen = new Set<string>();
    const summary = await trainRun(config, {
      gemm: jsGemm,
      onEval: (r) => Object.keys(r).forEach((k) => seen.add(k)),
    });
    Object.keys(summary).forEach((k) => seen.add(k));
    const listed = trainMetrics(config.task);
    const unlisted = [...seen].filter((k) => !BOOKKEEPING.has(k) && !listed.includes(k));
    assert.deepEqual(unlisted, []);
    assert.ok(seen.has("e_logw"));
    if (config.task !== "ising" && config.task !== "hypergrid") assert.ok(seen.has("nll") && seen.has("mmd"));
    if (config.energy === "learned") assert.ok(seen.has("cd_gap"));
  });
}
