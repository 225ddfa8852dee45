/**
 * ms per training step of the device engine (backends/device/) next to the CPU engine's, in the same process, on
 * Ising L×L (D = L²) or the hypergrid (--task hypergrid --grid-dim d --grid-size H) with the same config: B trajectories, the paper's MLP shape by default, αTB with the learned
 * log Z_ψ (or --objective/--cv/--alpha). Also the bytes read back from / uploaded to the device by one training
 * step (the last; TransferCounter, counted inside tfjs).
 *
 *   npx -y deno@2 run -A bench/device_step.ts [--device auto|webgpu|tensorflow-gpu|tfjs-cpu] [--cpu-backend auto]
 *        [--L 15] [--batch 256] [--hidden 256,256,256] [--steps 10] [--objective atb] [--cv learned] [--alpha 0]
 *        [--seeds K] [--task ising|hypergrid] [--grid-dim 2] [--grid-size 8] [--json]
 *
 * With --seeds K > 1 it also times K seeds batched in one device program (backends/device/engine.ts): wall time of
 * the whole run / steps (first step included), next to K × the CPU engine's ms/step (K separate runs).
 *
 * Step time is the mean over steps 2..N (the first step compiles shaders / warms caches). The CPU engine's step is
 * timed between trainRun's per-step callbacks (evaluation only after the last step). Record the machine's load
 * (`uptime`) next to any figure: other processes share the CPU.
 */
import { parseTrainConfig } from "../core/train/config.ts";
import { trainRun } from "../core/train/trainer.ts";
import { BACKEND_NAMES, type BackendName, describeGemm, selectGemm } from "../backends/select.ts";
import { DEVICE_BACKEND_NAMES, type DeviceBackendName, selectDevice } from "../backends/device/select.ts";
import { deviceTrain, deviceTrainSeeds } from "../backends/device/train.ts";

const USAGE =
  "usage: bench/device_step.ts [--device NAME] [--cpu-backend NAME] [--L N] [--batch N] [--hidden a,b,c] [--steps N] [--objective NAME] [--cv NAME] [--alpha X] [--seeds K] [--task ising|hypergrid] [--grid-dim d] [--grid-size H] [--json]";

function fail(msg: string): never {
  console.error(`error: ${msg}`);
  Deno.exit(2);
}

const flags: Record<string, string> = {
  device: "auto",
  "cpu-backend": "auto",
  L: "15",
  batch: "256",
  hidden: "256,256,256",
  steps: "10",
  objective: "atb",
  cv: "learned",
  alpha: "0",
  seeds: "1",
  task: "ising",
  "grid-dim": "2",
  "grid-size": "8",
};
let json = false;
for (let i = 0; i < Deno.args.length; i++) {
  const a = Deno.args[i];
  if (a === "--help" || a === "-h") {
    console.log(USAGE);
    Deno.exit(0);
  }
  if (a === "--json") json = true;
  else if (a.startsWith("--") && a.slice(2) in flags && i + 1 < Deno.args.length) {
    flags[a.slice(2)] = Deno.args[++i];
  } else fail(`unknown or incomplete argument "${a}"\n${USAGE}`);
}
const posInt = (k: string) => {
  const v = Number(flags[k]);
  if (!Number.isInteger(v) || v <= 0) fail(`--${k} must be a positive integer, got "${flags[k]}"`);
  return v;
};
if (!(DEVICE_BACKEND_NAMES as readonly string[]).includes(flags.device)) {
  fail(`--device must be one of ${DEVICE_BACKEND_NAMES.join("|")}, got "${flags.device}"`);
}
if (!(BACKEND_NAMES as readonly string[]).includes(flags["cpu-backend"])) {
  fail(`--cpu-backend must be one of ${BACKEND_NAMES.join("|")}, got "${flags["cpu-backend"]}"`);
}
const steps = posInt("steps");
if (steps < 2) fail("--steps must be at least 2");
let config;
try {
  if (flags.task !== "ising" && flags.task !== "hypergrid") fail(`--task must be ising or hypergrid`);
  config = parseTrainConfig({
    task: flags.task,
    ...(flags.task === "ising"
      ? { L: posInt("L"), beta: 0.4 }
      : { grid_dim: posInt("grid-dim"), grid_size: posInt("grid-size") }),
    batch: posInt("batch"),
    hidden: flags.hidden.split(",").map(Number),
    steps,
    objective: flags.objective,
    cv: flags.cv,
    alpha: Number(flags.alpha),
    eval_every: steps,
    eval_samples: 2,
    seed: 1,
  });
} catch (err) {
  fail(`bad config: ${(err instanceof Error ? err.message : String(err)).split("\n")[0]}`);
}

let dev;
try {
  dev = await selectDevice(flags.device as DeviceBackendName);
} catch (err) {
  fail((err as Error).message);
}
const devTimes: number[] = [];
let last = performance.now();
const devRun = await deviceTrain(dev.tf, config, {
  onStep: () => {
    const now = performance.now();
    devTimes.push(now - last);
    last = now;
  },
});
const gemm = await selectGemm(flags["cpu-backend"] as BackendName);
const cpuTimes: number[] = [];
last = performance.now();
await trainRun(config, {
  gemm,
  exact: false,
  onStep: () => {
    const now = performance.now();
    cpuTimes.push(now - last);
    last = now;
  },
});
const K = posInt("seeds");
let seedsMs: number | null = null;
if (K > 1) {
  const t0 = performance.now();
  await deviceTrainSeeds(dev.tf, config, Array.from({ length: K }, (_, k) => config.seed + k));
  seedsMs = (performance.now() - t0) / steps;
}
const mean = (t: number[]) => t.slice(1).reduce((a, b) => a + b, 0) / (t.length - 1);
const out = {
  D: config.task === "ising" ? config.L * config.L : undefined,
  task: config.task === "ising"
    ? `Ising D=${config.L * config.L}`
    : `hypergrid d=${config.grid_dim} H=${config.grid_size}`,
  batch: config.batch,
  hidden: config.hidden,
  objective: config.objective,
  cv: config.cv,
  alpha: config.alpha,
  steps,
  device: { backend: dev.probe.name, detail: dev.probe.detail, ms_per_step: mean(devTimes) },
  device_bytes_read_per_step: devRun.stepBytes.read,
  device_bytes_written_per_step: devRun.stepBytes.written,
  cpu: { backend: describeGemm(gemm), ms_per_step: mean(cpuTimes) },
  seeds: K,
  device_seed_batch_ms_per_step: seedsMs,
  cpu_k_separate_ms_per_step: K * mean(cpuTimes),
  load: Deno.loadavg(),
};
if (json) console.log(JSON.stringify(out));
else {
  console.log(
    `${out.task} B=${out.batch} hidden=${
      out.hidden.join(",")
    } ${out.objective}/${out.cv} α=${out.alpha}, ${steps} steps (mean of steps 2..${steps})`,
  );
  console.log(
    `  device ${out.device.backend} (${out.device.detail}): ${out.device.ms_per_step.toFixed(1)} ms/step`,
  );
  console.log(
    `    bytes per step: read back ${out.device_bytes_read_per_step}, uploaded ${out.device_bytes_written_per_step}`,
  );
  console.log(`  cpu    ${out.cpu.backend}: ${out.cpu.ms_per_step.toFixed(1)} ms/step`);
  if (seedsMs !== null) {
    console.log(
      `  ${K} seeds: device batched ${
        seedsMs.toFixed(1)
      } ms/step (whole run / steps), cpu ${K} separate runs ${
        out.cpu_k_separate_ms_per_step.toFixed(1)
      } ms/step (K × one seed's)`,
    );
  }
  console.log(`  load average ${out.load.map((x) => x.toFixed(2)).join(" ")}`);
}
