/**
 * Same seed → same figures: final metrics of short runs recorded on main before the registry / batch-contract /
 * one-trainer refactor (commit 07e2efb, jsGemm with the TypeScript kernels), compared at float tolerance. A change
 * to an objective, a control variate, the samplers or the training loop moves these by far more than 1e-6.
 */
import assert from "node:assert/strict";
import { jsGemm } from "../core/nn/gemm.ts";
import { parseTrainConfig } from "../core/train/config.ts";
import { trainRun } from "../core/train/trainer.ts";

const base = { steps: 12, batch: 16, hidden: [16, 16], eval_every: 6, eval_samples: 64, seed: 3, lr: 3e-3 };
const ising = { task: "ising", L: 3 };
const grid = { task: "hypergrid", grid_dim: 2, grid_size: 4 };
/** config → [e_logw, exact_kl, log_z_param] at the last step. */
const RECORDED: [Record<string, unknown>, number, number, number | undefined][] = [
  [
    { ...ising, objective: "atb", cv: "learned", alpha: 0 },
    5.388907288699046,
    2.575653118909318,
    1.178876065187369,
  ],
  [
    { ...ising, objective: "akl", cv: "opt-vector", alpha: 0 },
    5.6883908683924655,
    2.4115026945995375,
    undefined,
  ],
  [
    { ...ising, objective: "akl", cv: "opt-scalar-loo", alpha: 0 },
    5.781380933990132,
    2.3805104024653767,
    undefined,
  ],
  [
    { ...ising, objective: "akl", cv: "learned", alpha: 0.5 },
    5.6824422693948575,
    2.429655977808535,
    1.1875769436985615,
  ],
  [
    { ...ising, objective: "atb", cv: "loo-logw", alpha: 0.5, alpha_schedule: "anneal" },
    5.768631491106209,
    2.179051621897772,
    1.176586078144087,
  ],
  [{ ...ising, objective: "renyi", alpha: 0.3 }, 5.674966931230635, 2.226418765295442, undefined],
  [{ ...ising, objective: "tsallis", alpha: 0 }, 5.605991325494716, 2.4297935767279046, 1.1779034135765485],
  [{ ...ising, objective: "fkl-is", alpha: 0 }, 5.555932432528699, 2.474942506688598, undefined],
  [{ ...ising, objective: "pg", alpha: 0.3 }, 5.5637639228436075, 2.3387292031607494, 1.1827030911594534],
  [{ ...grid, objective: "akl", cv: "loo-logw" }, -1.5794640900582402, 2.195174285055968, undefined],
  [{ ...grid, objective: "pg", cv: "learned" }, -1.7826690500789624, 2.1813202725518295, -1.1216237854633568],
];

const close = (a: number, b: number) => Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));

Deno.test("same seed → same figures as before the refactor (bit vectors and hypergrid, 11 configs)", async () => {
  for (const [config, eLogw, kl, logZ] of RECORDED) {
    const s = await trainRun(parseTrainConfig({ ...base, ...config }), { gemm: jsGemm });
    const label = JSON.stringify(config);
    assert.ok(close(s.e_logw, eLogw), `${label}: e_logw ${s.e_logw} vs ${eLogw}`);
    assert.ok(close(s.exact_kl!, kl), `${label}: exact_kl ${s.exact_kl} vs ${kl}`);
    if (logZ === undefined) assert.equal(s.log_z_param, undefined, label);
    else assert.ok(close(s.log_z_param!, logZ), `${label}: log_z_param ${s.log_z_param} vs ${logZ}`);
  }
});
