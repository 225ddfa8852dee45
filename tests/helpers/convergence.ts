/**
 * Training-convergence check shared by the two convergence test files (split so `deno test --parallel` runs them
 * on both cores): Ising L = 3, β = 0.4 (D = 9, exact mode), a small MLP, 800 steps of B = 128 (the same
 * assertions held at 1000 steps; at 600 the learned control variate's KL(Q_T‖π) was 0.0097, too close).
 * Must reach exact KL(Q_T‖π) < 0.01 nats; the trajectory-level KL(Q‖P) = log Z − E_Q[log w] is reported and
 * must be below 0.05 nats.
 */
import assert from "node:assert/strict";
import { jsGemm } from "../../core/nn/gemm.ts";
import { trainRun } from "../../core/train/trainer.ts";
import { parseTrainConfig } from "../../core/train/config.ts";
import { slowTest } from "./slow.ts";

/** The shared budget: Ising 3×3, β = 0.4, α = 0, MLP 64×64, 800 steps of B = 128 at lr 5e-3, seed 1. */
function convergenceConfig(objective: string, cv: string) {
  return parseTrainConfig({
    task: "ising",
    L: 3,
    beta: 0.4,
    objective,
    cv,
    alpha: 0,
    steps: 800,
    batch: 128,
    hidden: [64, 64],
    lr: 5e-3,
    eval_every: 1000,
    eval_samples: 256,
    seed: 1,
  });
}

export function convergenceTest(objective: string, cv: string): void {
  slowTest(`training converges: Ising L=3 β=0.4, ${objective} with cv=${cv} → KL(Q_T‖π) < 0.01`, async () => {
    const config = convergenceConfig(objective, cv);
    const records: number[] = [];
    const s = await trainRun(config, {
      gemm: jsGemm,
      onEval: (r) => void records.push(r.exact_kl_terminal!),
    });
    console.log(
      `  ${objective}/${cv}: KL(Q_T‖π) ${records[0].toFixed(3)} → ${s.exact_kl_terminal!.toFixed(4)}, ` +
        `KL(Q‖P) ${s.exact_kl!.toFixed(4)}, E[log w] ${s.exact_e_logw!.toFixed(3)} (log Z ${
          s.exact_log_z!.toFixed(3)
        })`,
    );
    assert.ok(s.exact_kl_terminal! < 0.01, `KL(Q_T‖π) = ${s.exact_kl_terminal}`);
    assert.ok(s.exact_kl! < 0.05, `KL(Q‖P) = ${s.exact_kl}`);
    assert.ok(s.exact_e_logw! <= s.exact_log_z!);
  });
}

/**
 * The contrast: with no control variate (b = 0, so each score is weighted by −log w ≈ −8.4 here) the same
 * budget leaves the model far from the target — the control variates are what make the 0.01 reachable.
 */
export function noBaselineContrastTest(): void {
  slowTest("without a control variate the same budget stalls: KL(Q_T‖π) stays above 0.03", async () => {
    const config = convergenceConfig("akl", "none");
    const s = await trainRun(config, { gemm: jsGemm });
    console.log(
      `  akl/none: KL(Q_T‖π) ${s.exact_kl_terminal!.toFixed(4)}, KL(Q‖P) ${s.exact_kl!.toFixed(4)}`,
    );
    assert.ok(s.exact_kl_terminal! > 0.03, `KL(Q_T‖π) = ${s.exact_kl_terminal}`);
  });
}
