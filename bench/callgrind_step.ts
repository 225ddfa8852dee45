/**
 * Instruction counts of the training step, independent of the machine's load: runs `steps` steps of one bench
 * case's step (paper MLP, B = 256, blas backend + wasm kernels, step arena) after two warm-up steps, and under
 * valgrind's callgrind zeroes the counters before the measured steps and dumps them after (callgrind_control),
 * so the dump holds the steps alone:
 *
 *   OPENBLAS_NUM_THREADS=1 valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file=cg.out \
 *     $DENO_BIN run -A bench/callgrind_step.ts [tb|akl] [D] [steps]
 *   callgrind_annotate cg.out | head        # "PROGRAM TOTALS" / steps = instructions per step
 *
 * DENO_BIN is deno's executable itself, not the npx wrapper (with npx:
 * ~/.npm/_npx/<hash>/node_modules/@deno/linux-x64-glibc/deno). Without callgrind it only runs the steps.
 * The task is a fixed random field over D bits (bench.ts's `fieldTask`); the seed is fixed, so two trees run the
 * same steps.
 */
import process from "node:process";
import { selectGemm } from "../backends/select.ts";
import { initMlp, params } from "../core/nn/mlp.ts";
import { Adam } from "../core/nn/adam.ts";
import { kernelsOf } from "../core/nn/kernels.ts";
import { preparePolicy } from "../core/gfn/trajectories.ts";
import { bitVectorSampler } from "../core/gfn/bitvector.ts";
import { estimateGradient, type ObjectiveSpec } from "../core/train/step.ts";
import { Rng } from "../core/rng.ts";

const [kind = "tb", dArg = "32", stepsArg = "2"] = Deno.args;
const D = Number(dArg), steps = Number(stepsArg);
if (!(kind === "tb" || kind === "akl") || !(D >= 1) || !(steps >= 1)) {
  console.error("usage: callgrind_step.ts [tb|akl] [D] [steps]");
  Deno.exit(2);
}
const spec: ObjectiveSpec = kind === "akl"
  ? { objective: "akl", alpha: 0, cv: "opt-vector" }
  : { objective: "atb", alpha: 0, cv: "learned" };
const fieldRng = new Rng(1);
const field = Float64Array.from({ length: D }, () => fieldRng.normal());
const sampler = bitVectorSampler({
  name: `field(D=${D})`,
  D,
  logReward(x, B) {
    const out = new Float64Array(B);
    for (let b = 0; b < B; b++) for (let d = 0; d < D; d++) out[b] += field[d] * x[b * D + d];
    return out;
  },
});
const gemm = await selectGemm("auto", { threads: 1 });
const rng = new Rng(0);
const net = initMlp([D, 256, 256, 256, 2 * D], "swish", "he-uniform", rng.fork());
const adam = new Adam(params(net), 1e-3);
const scalar = new Float64Array(1), scalarAdam = new Adam([scalar], 1e-1);
const arena = kernelsOf(gemm).createArena();
const step = () =>
  arena.run(() => {
    const est = estimateGradient(sampler, preparePolicy(net), gemm, 256, rng, spec, scalar[0]);
    adam.step(est.grads);
    scalarAdam.step([[est.dScalar]]);
  });
/** callgrind_control on this process (a no-op when not under valgrind: the command fails, nothing changes). */
const control = (flag: string) => {
  try {
    new Deno.Command("callgrind_control", { args: [flag, String(Deno.pid)], stdout: "null", stderr: "null" })
      .outputSync();
  } catch {
    // callgrind_control not installed: plain run
  }
};
step();
step();
control("-z");
const c0 = process.cpuUsage();
for (let i = 0; i < steps; i++) step();
const cpu = process.cpuUsage(c0);
control("-d");
let checksum = 0;
for (const w of net.W) for (let i = 0; i < w.length; i += 97) checksum += w[i];
console.log(
  `${kind} D=${D}: ${steps} step(s), ${((cpu.user + cpu.system) / 1000 / steps).toFixed(1)} CPU ms/step, ` +
    `backend ${gemm.name}, kernels ${kernelsOf(gemm).name}, weight checksum ${checksum}`,
);
