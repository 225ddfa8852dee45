/**
 * Timings of the exact Ising log Z (row transfer matrix) and of logReward.
 * Run: npx -y deno@2 run -A bench/ising_logz.ts [L ...]
 */
import { benchCommand, parseBench, positiveInt } from "./cli.ts";
import { isingLogZKaufman, isingLogZTransfer, isingTask } from "../core/tasks/ising.ts";

const sizes = parseBench<number[]>(
  benchCommand("ising_logz.ts", "timings of the exact Ising log Z (row transfer matrix) and of logReward")
    .argument("[L...]", "lattice sides (default 5 10 12 15)"),
  Deno.args,
  (cmd) => cmd.args.length ? cmd.args.map((a) => positiveInt(a)) : [5, 10, 12, 15],
);
for (const L of sizes) {
  for (const beta of [0.4, -0.4, 1.0]) {
    const t0 = performance.now();
    const lz = isingLogZTransfer(L, beta);
    const ms = performance.now() - t0;
    const kaufman = beta > 0 ? ` kaufman=${isingLogZKaufman(L, beta).toFixed(10)}` : "";
    console.log(`L=${L} beta=${beta} logZ=${lz.toFixed(10)}${kaufman} transfer ${ms.toFixed(0)} ms`);
  }
}

// logReward throughput on a D = 225 batch.
const task = isingTask(15, 0.4);
const B = 4000;
const x = new Int8Array(B * task.D);
for (let i = 0; i < x.length; i++) x[i] = Math.random() < 0.5 ? -1 : 1;
task.logReward(x, B);
const reps = 50;
const t0 = performance.now();
for (let r = 0; r < reps; r++) task.logReward(x, B);
console.log(`logReward L=15 B=${B}: ${((performance.now() - t0) / reps).toFixed(3)} ms per batch`);
