/**
 * `deno task bench`: the cost of one training step (sampling + update) per case, on the backend in use.
 *   npx -y deno@2 task bench [--backend auto|blas|wasm|cpu|tensorflow] [--threads N] [--rounds N] [--steps N]
 *                            [--warmup N] [--case NAME]... [--compare-torch] [--no-arena] [--json]
 *                            (--help lists the cases)
 * Rounds: each round runs `--steps` steps of every case (and, with --compare-torch, the same case in PyTorch right
 * after it), so slow drifts of a shared machine's load hit both sides alike; a case's figure is the median over
 * rounds of the round's mean per step. Figures: wall ms and CPU ms (process user + system) per step; bytes served
 * outside the step arena per step (0 once warmed up: every buffer of the step reused) and minor page faults per
 * step (fresh memory touched); GFLOP/s of the GEMM work over the step's wall time and the share of time in GEMMs.
 * --threads sets OpenBLAS's thread count (default 1; PyTorch runs with 1 thread too). --compare-torch runs
 * bench/torch_step.py under Debian's python3-torch (/usr/bin/python3) for the paper-MLP cases and prints the
 * ratio flowsweep / PyTorch (wall and CPU; `ratio_wall`, `ratio_cpu` in --json), and the spread of the per-round
 * wall ratios (first–third quartile; `ratio_wall_iqr`, `ratio_wall_rounds`). --no-arena runs the steps
 * without the arena (every buffer allocated afresh), for comparison. FLOWSWEEP_KERNELS=ts keeps the TypeScript
 * kernels (backends/select.ts).
 * Cases: the paper MLP (3×256, Swish, B = 256) for TB + learned log Z and αKL + optimal vector at D = 32 / 225;
 * the learned-energy density step (2spirals, 16 bits, TB α = 0.5, plus the CD update of the energy); and the
 * scenarios of torchgfn's cross-library benchmark (TB, 2 hidden layers of 256; hypergrid 2-D H = 8, Ising 6×6 and
 * 10×10; batch 32 / 256 / 2048). torchgfn's hypergrid scenario uses a learned P_B; flowsweep's hypergrid trains
 * with the uniform P_B only, so that case runs with the uniform one.
 */
import { Option } from "commander";
import process from "node:process";
import { benchCommand, benchUsageError, nonNegativeInt, parseBench, positiveInt } from "./cli.ts";
import { suggest } from "../core/sweep/spec.ts";
import { parseTrainConfig } from "../core/train/config.ts";
import { BACKEND_NAMES as BACKENDS } from "../backends/select.ts";
import type { Gemm } from "../core/nn/gemm.ts";
import { selectGemm } from "../backends/select.ts";
import { initMlp, type Mlp, params } from "../core/nn/mlp.ts";
import { Adam } from "../core/nn/adam.ts";
import { preparePolicy } from "../core/gfn/trajectories.ts";
import { estimateGradient, type ObjectiveSpec } from "../core/train/step.ts";
import { bitVectorSampler } from "../core/gfn/bitvector.ts";
import { Rng } from "../core/rng.ts";
import type { BitTask } from "../core/tasks/task.ts";
import { isingTask } from "../core/tasks/ising.ts";
import { makeTaskRuntime } from "../core/train/tasks.ts";
import { hypergrid } from "../core/tasks/hypergrid.ts";
import { discreteSampler } from "../core/gfn/discrete_sampler.ts";

/** A D-bit task with a fixed random field, for D without an Ising lattice (reward cost is negligible). */
function fieldTask(D: number): BitTask {
  const rng = new Rng(1);
  const h = Float64Array.from({ length: D }, () => rng.normal());
  return {
    name: `field(D=${D})`,
    D,
    logReward(x, B) {
      const out = new Float64Array(B);
      for (let b = 0; b < B; b++) for (let d = 0; d < D; d++) out[b] += h[d] * x[b * D + d];
      return out;
    },
  };
}

/** A case: how to build its state once, then one training step. */
interface BenchCase {
  name: string;
  describe: string;
  /** Has a PyTorch twin in bench/torch_step.py. */
  torch?: boolean;
  setup(gemm: Gemm): { D: number; B: number; step(): void };
}

const TB: ObjectiveSpec = { objective: "atb", alpha: 0, cv: "learned" };
const AKL_OPTVECTOR: ObjectiveSpec = { objective: "akl", alpha: 0, cv: "opt-vector" };

/** A bit-vector case: policy [D, ...hidden, 2D], Adam on φ and the scalar. */
function bitCase(
  name: string,
  describe: string,
  task: () => BitTask,
  hidden: number[],
  B: number,
  spec: ObjectiveSpec,
  torch = false,
): BenchCase {
  return {
    name,
    describe,
    torch,
    setup(gemm) {
      const t = task(), D = t.D;
      const sampler = bitVectorSampler(t);
      const rng = new Rng(0);
      const net = initMlp([D, ...hidden, 2 * D], "swish", "he-uniform", rng.fork());
      const adam = new Adam(params(net), 1e-3);
      const scalar = new Float64Array(1), scalarAdam = new Adam([scalar], 1e-1);
      return {
        D,
        B,
        step() {
          const est = estimateGradient(sampler, preparePolicy(net), gemm, B, rng, spec, scalar[0]);
          adam.step(est.grads);
          scalarAdam.step([[est.dScalar]]);
        },
      };
    },
  };
}

/** The learned-energy density step: the GFlowNet update and the energy's CD update (core/tasks/runtime.ts). */
function energyCase(): BenchCase {
  return {
    name: "energy-2spirals-16bit",
    describe: "learned-energy density step: TB α = 0.5 + CD update of the ELU energy (D = 32, B = 256)",
    setup(gemm) {
      const config = parseTrainConfig({
        task: "2spirals",
        bits: 16,
        energy: "learned",
        objective: "atb",
        alpha: 0.5,
        batch: 256,
        steps: 1000,
        nll_points: 0,
        mmd_samples: 0,
      });
      const runtime = makeTaskRuntime(config, { gemm, exact: false });
      const task = runtime.task!, D = task.D;
      const sampler = runtime.sampler, energy = runtime.energy!;
      const energyAdam = new Adam(energy.params, energy.lr);
      const rng = new Rng(0);
      const net = initMlp([D, ...config.hidden, 2 * D], config.activation, config.init, rng.fork());
      const adam = new Adam(params(net), config.lr);
      const scalar = new Float64Array(1), scalarAdam = new Adam([scalar], config.lr_logz);
      let i = 0;
      return {
        D,
        B: config.batch,
        step() {
          const est = estimateGradient(sampler, preparePolicy(net), gemm, config.batch, rng, {
            objective: "atb",
            alpha: 0.5,
            cv: "learned",
          }, scalar[0]);
          adam.step(est.grads);
          scalarAdam.step([[est.dScalar]]);
          energyAdam.step(energy.gradient(net, gemm, rng, i++ % config.steps, config.steps));
        },
      };
    },
  };
}

/** torchgfn's hypergrid scenario: 2-D, H = 8, TB, 2 hidden layers of 256 (uniform P_B here). */
function hypergridCase(B: number): BenchCase {
  return {
    name: `hypergrid-2d-H8-B${B}`,
    describe: `torchgfn scenario: hypergrid 2-D H = 8, TB, 2×256 (uniform P_B), batch ${B}`,
    setup(gemm) {
      const env = hypergrid({ d: 2, H: 8, R0: 0.1, R1: 0.5, R2: 2 });
      const rng = new Rng(0);
      const net: Mlp = initMlp([env.inputDim, 256, 256, env.nActions], "swish", "he-uniform", rng.fork());
      const adam = new Adam(params(net), 1e-3);
      const scalar = new Float64Array(1), scalarAdam = new Adam([scalar], 1e-1);
      const sampler = discreteSampler(env);
      return {
        D: env.inputDim,
        B,
        step() {
          const est = estimateGradient(sampler, { net }, gemm, B, rng, TB, scalar[0]);
          adam.step(est.grads);
          scalarAdam.step([[est.dScalar]]);
        },
      };
    },
  };
}

const PAPER = [256, 256, 256];
const CASES: BenchCase[] = [
  bitCase(
    "tb-learned-D32",
    "paper MLP, TB + learned log Z, D = 32, B = 256",
    () => fieldTask(32),
    PAPER,
    256,
    TB,
    true,
  ),
  bitCase(
    "akl-optvector-D32",
    "paper MLP, αKL + optimal vector, D = 32, B = 256",
    () => fieldTask(32),
    PAPER,
    256,
    AKL_OPTVECTOR,
    true,
  ),
  bitCase(
    "tb-learned-D225",
    "paper MLP, TB + learned log Z, Ising 15×15, B = 256",
    () => isingTask(15, 0.4),
    PAPER,
    256,
    TB,
    true,
  ),
  bitCase(
    "akl-optvector-D225",
    "paper MLP, αKL + optimal vector, Ising 15×15, B = 256",
    () => isingTask(15, 0.4),
    PAPER,
    256,
    AKL_OPTVECTOR,
    true,
  ),
  energyCase(),
  ...[32, 256, 2048].map(hypergridCase),
  ...[6, 10].flatMap((L) =>
    [32, 256, 2048].map((B) =>
      bitCase(
        `ising${L}x${L}-B${B}`,
        `torchgfn scenario: Ising ${L}×${L}, TB, 2×256, batch ${B}`,
        () => isingTask(L, 0.4),
        [256, 256],
        B,
        TB,
      )
    )
  ),
];

const cmd = benchCommand(
  "bench",
  "cost of one training step per case (wall, CPU, allocation), optionally vs PyTorch",
)
  .addOption(new Option("--backend <name>", "compute backend").choices(BACKENDS).default("auto"))
  .option("--threads <n>", "OpenBLAS threads (blas backend)", positiveInt, 1)
  .option("--rounds <n>", "interleaved rounds; figures are medians over rounds", positiveInt, 5)
  .option("--steps <n>", "measured steps per case and round", positiveInt, 1)
  .option("--warmup <n>", "steps per case before the first round", nonNegativeInt, 2)
  .option(
    "--case <name>",
    "run only this case (repeatable; default: all)",
    (v: string, p: string[] = []) => [...p, v],
  )
  .option(
    "--compare-torch",
    "run the PyTorch twin of each paper-MLP case (Debian python3-torch) and print ratios",
  )
  .option("--no-arena", "allocate every buffer afresh (no step arena), for comparison")
  .option("--json", "one JSON object per case")
  .addHelpText(
    "after",
    `\nCases:\n${
      CASES.map((c) => `  ${c.name.padEnd(24)} ${c.describe}${c.torch ? " [torch]" : ""}`).join("\n")
    }`,
  );
const values = parseBench<{
  backend: string;
  threads: number;
  rounds: number;
  steps: number;
  warmup: number;
  case?: string[];
  compareTorch?: boolean;
  arena: boolean;
  json?: boolean;
}>(cmd);
for (const name of values.case ?? []) {
  if (!CASES.some((c) => c.name === name)) {
    benchUsageError(
      `unknown --case "${name}"${suggest(name, CASES.map((c) => c.name))}; cases: ${
        CASES.map((c) => c.name).join(", ")
      }`,
    );
  }
}

/** Wraps a GEMM (keeping its kernels) to count FLOPs and time spent inside it. */
function counting(g: Gemm) {
  const stats = { flops: 0, ms: 0 };
  const gemm: Gemm = {
    name: g.name,
    kernels: g.kernels,
    gemm(ta, tb, m, n, k, a, b, c, beta) {
      const t = performance.now();
      g.gemm(ta, tb, m, n, k, a, b, c, beta);
      stats.ms += performance.now() - t;
      stats.flops += 2 * m * n * k;
    },
  };
  return { gemm, stats };
}

/** The step arena of the kernels in use (absent in trees without core/nn/kernels.ts: before/after runs). */
async function arenaFactory(
  g: Gemm,
): Promise<(() => { run<T>(f: () => T): T; overflowBytes: number }) | null> {
  try {
    const mod = await import("../core/nn/kernels.ts");
    return () => mod.kernelsOf(g).createArena();
  } catch {
    return null;
  }
}

const loadavg = () => {
  try {
    return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).map(Number);
  } catch {
    return [];
  }
};

/** The PyTorch twin: one persistent python3 process, one JSON request and answer per line. */
class Torch {
  private proc: Deno.ChildProcess;
  private lines: AsyncIterator<string>;
  info: { torch?: string } = {};
  private constructor() {
    this.proc = new Deno.Command("/usr/bin/python3", {
      args: [new URL("./torch_step.py", import.meta.url).pathname],
      env: { OPENBLAS_NUM_THREADS: "1", OMP_NUM_THREADS: "1", MKL_NUM_THREADS: "1" },
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.lines = this.proc.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(lineSplitter())[
      Symbol.asyncIterator
    ]();
  }
  static async start(): Promise<Torch> {
    const t = new Torch();
    t.info = JSON.parse(await t.next());
    return t;
  }
  private async next(): Promise<string> {
    const r = await this.lines.next();
    if (r.done) throw new Error("bench/torch_step.py ended early (is python3-torch installed?)");
    return r.value;
  }
  async run(
    c: string,
    steps: number,
    warmup: number,
  ): Promise<Record<string, { wall_ms: number[]; cpu_ms: number[] }>> {
    const w = this.proc.stdin.getWriter();
    await w.write(new TextEncoder().encode(JSON.stringify({ case: c, steps, warmup }) + "\n"));
    w.releaseLock();
    return JSON.parse(await this.next()).modes;
  }
  async close() {
    await this.proc.stdin.close();
    await this.proc.status;
  }
}

function lineSplitter(): TransformStream<string, string> {
  let buf = "";
  return new TransformStream({
    transform(chunk, ctl) {
      buf += chunk;
      let i;
      while ((i = buf.indexOf("\n")) >= 0) {
        ctl.enqueue(buf.slice(0, i));
        buf = buf.slice(i + 1);
      }
    },
    flush(ctl) {
      if (buf) ctl.enqueue(buf);
    },
  });
}

const base = await selectGemm(values.backend as Parameters<typeof selectGemm>[0], {
  threads: values.threads,
});
const selected = values.case?.length ? CASES.filter((c) => values.case!.includes(c.name)) : CASES;
let torch: Torch | null = null;
if (values.compareTorch) {
  try {
    torch = await Torch.start();
  } catch (err) {
    benchUsageError(
      `--compare-torch: cannot start /usr/bin/python3 bench/torch_step.py (${(err as Error).message})`,
    );
  }
}
const makeArena = values.arena ? await arenaFactory(base) : null;
const kernelsName = base.kernels?.name ?? "ts";
const loadBefore = loadavg();
if (!values.json) {
  console.log(
    `backend ${base.name} (${kernelsName} kernels${
      makeArena ? ", step arena" : ", no arena"
    }), ${values.threads} BLAS ` +
      `thread(s); median over ${values.rounds} interleaved rounds of ${values.steps} step(s) after ${values.warmup} ` +
      `warm-up; load average ${loadBefore.join(" ")}`,
  );
}

interface Round {
  wall: number;
  cpu: number;
  bytes: number;
  faults: number;
  flops: number;
  gemmMs: number;
}
const state = selected.map((c) => {
  const { gemm, stats } = counting(base);
  const s = c.setup(gemm);
  const arena = makeArena ? makeArena() : null;
  const step = () => (arena ? arena.run(s.step) : s.step());
  return {
    c,
    s,
    stats,
    arena,
    step,
    rounds: [] as Round[],
    torch: {} as Record<string, { wall: number[]; cpu: number[] }>,
  };
});

for (const st of state) for (let i = 0; i < values.warmup; i++) st.step();
for (let r = 0; r < values.rounds; r++) {
  for (const st of state) {
    st.stats.flops = 0;
    st.stats.ms = 0;
    let bytes = 0;
    const f0 = process.resourceUsage().minorPageFault, c0 = process.cpuUsage(), t0 = performance.now();
    for (let i = 0; i < values.steps; i++) {
      st.step();
      bytes += st.arena?.overflowBytes ?? NaN;
    }
    const wall = performance.now() - t0,
      cpu = process.cpuUsage(c0),
      faults = process.resourceUsage().minorPageFault - f0;
    const n = values.steps;
    st.rounds.push({
      wall: wall / n,
      cpu: (cpu.user + cpu.system) / 1000 / n,
      bytes: bytes / n,
      faults: faults / n,
      flops: st.stats.flops / n,
      gemmMs: st.stats.ms / n,
    });
    if (torch && st.c.torch) {
      const modes = await torch.run(st.c.name, values.steps, r === 0 ? values.warmup : 0);
      for (const [mode, m] of Object.entries(modes)) {
        st.torch[mode] ??= { wall: [], cpu: [] };
        st.torch[mode].wall.push(mean(m.wall_ms));
        st.torch[mode].cpu.push(mean(m.cpu_ms));
      }
    }
  }
}
await torch?.close();
const loadAfter = loadavg();

if (!values.json) {
  console.log(
    "case                       D     B   wall ms    CPU ms  bytes/step  faults/step  GFLOP/s  gemm" +
      (torch ? "   torch wall  torch CPU  ratio wall  ratio CPU  round ratios" : ""),
  );
}
for (const st of state) {
  const med = (f: (r: Round) => number) => median(st.rounds.map(f));
  const wall = med((r) => r.wall), cpu = med((r) => r.cpu);
  const out: Record<string, unknown> = {
    case: st.c.name,
    D: st.s.D,
    B: st.s.B,
    backend: base.name,
    kernels: kernelsName,
    arena: !!st.arena,
    blas_threads: values.threads,
    rounds: values.rounds,
    steps_per_round: values.steps,
    ms_per_step: wall,
    cpu_ms_per_step: cpu,
    wall_ms_rounds: st.rounds.map((r) => round1(r.wall)),
    bytes_outside_arena_per_step: st.arena ? med((r) => r.bytes) : null,
    minor_page_faults_per_step: med((r) => r.faults),
    gflops: med((r) => r.flops) / (wall / 1000) / 1e9,
    gemm_share: med((r) => r.gemmMs / r.wall),
    loadavg_before: loadBefore,
    loadavg_after: loadAfter,
  };
  let torchLine = "";
  if (torch && st.c.torch) {
    // PyTorch's figure: its faster way of writing the step (median wall over rounds)
    const modes = Object.entries(st.torch).map(([mode, m]) => ({
      mode,
      wall: median(m.wall),
      cpu: median(m.cpu),
    }));
    const best = modes.reduce((a, b) => (b.wall < a.wall ? b : a));
    out.torch = {
      version: torch.info.torch,
      mode: best.mode,
      ms_per_step: best.wall,
      cpu_ms_per_step: best.cpu,
      modes,
    };
    out.ratio_wall = wall / best.wall;
    out.ratio_cpu = cpu / best.cpu;
    // the spread of the ratio: round r's flowsweep figure over PyTorch's in the same round (the two ran back to
    // back, so a drift of the machine's speed moves both), first and third quartile over the rounds
    const perRound = st.rounds.map((r, i) => r.wall / st.torch[best.mode].wall[i]);
    const iqr = [quantile(perRound, 0.25), quantile(perRound, 0.75)];
    out.ratio_wall_rounds = perRound.map((x) => Math.round(x * 1000) / 1000);
    out.ratio_wall_iqr = iqr;
    torchLine = `${best.wall.toFixed(1).padStart(13)}${best.cpu.toFixed(1).padStart(11)}${
      (wall / best.wall).toFixed(2).padStart(12)
    }${(cpu / best.cpu).toFixed(2).padStart(11)}${`${iqr[0].toFixed(2)}–${iqr[1].toFixed(2)}`.padStart(14)}`;
  }
  if (values.json) console.log(JSON.stringify(out));
  else {
    const bytes = out.bytes_outside_arena_per_step as number | null;
    console.log(
      `${st.c.name.padEnd(24)} ${String(st.s.D).padStart(4)} ${String(st.s.B).padStart(5)} ${
        wall.toFixed(1).padStart(9)
      } ${cpu.toFixed(1).padStart(9)} ${(bytes === null ? "—" : String(Math.round(bytes))).padStart(11)} ${
        Math.round(out.minor_page_faults_per_step as number).toString().padStart(12)
      } ${(out.gflops as number).toFixed(1).padStart(8)} ${
        (100 * (out.gemm_share as number)).toFixed(0).padStart(4)
      }%` +
        torchLine,
    );
  }
}
if (!values.json) console.log(`load average after: ${loadAfter.join(" ")}`);

function mean(v: number[]): number {
  return v.reduce((a, b) => a + b, 0) / v.length;
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

/** The q-quantile of v (linear interpolation between order statistics). */
function quantile(v: number[], q: number): number {
  const s = [...v].sort((a, b) => a - b), x = q * (s.length - 1), i = Math.floor(x);
  return i + 1 < s.length ? s[i] + (x - i) * (s[i + 1] - s[i]) : s[i];
}

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}
