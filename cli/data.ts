/**
 * `flowsweep data`: the 2D toy densities and their discretisation (docs/math.md §"Tasks").
 *
 *   deno task data --task 2spirals --encode 1.0,-0.5        bit string (0/1, D chars)
 *   deno task data --task 2spirals --decode 0101…           the cell's centre "x,y"
 *   deno task data --task 8gaussians --sample 5 [--format points|bits] [--bits K] [--seed S]
 *   deno task data --task 2spirals --plot spirals.png       heat map of discretised samples (.png or .svg)
 *   deno task data --task 2spirals --entropy [--samples N] [--mass-samples M]
 */
import type { Command } from "commander";
import { Rng } from "../core/rng.ts";
import { DENSITY_NAMES, sampleDensity } from "../core/tasks/densities.ts";
import {
  bitStringToRow,
  cellIndexOfPoint,
  decode,
  type DiscretisationScheme,
  encode,
  makeScheme,
  MAX_BITS,
  MIN_BITS,
  rowToBitString,
} from "../core/tasks/discretise.ts";
import {
  cellMassEntropy,
  cellMassMethod,
  cellTarget,
  entropyOfProbs,
  MAX_TARGET_BITS,
  plugInEntropy,
  sampleCellIndices,
} from "../core/tasks/density_target.ts";
import { parseChoice, parseNumber, parsePositiveInt, UsageError } from "./usage.ts";

interface DataOptions {
  task?: string;
  bits: string;
  seed: string;
  encode?: string;
  decode?: string;
  sample?: string;
  format: string;
  plot?: string;
  entropy?: boolean;
  samples?: string;
  massSamples: string;
  bins?: string;
  exact?: boolean;
}

function schemeFrom(o: DataOptions): DiscretisationScheme {
  if (o.task === undefined) throw new UsageError(`--task is required (one of ${DENSITY_NAMES.join("|")})`);
  const task = parseChoice("--task", o.task, DENSITY_NAMES);
  const bits = parsePositiveInt("--bits", o.bits);
  if (bits < MIN_BITS || bits > MAX_BITS) {
    throw new UsageError(`--bits must be in [${MIN_BITS}, ${MAX_BITS}], got "${o.bits}"`);
  }
  return makeScheme(task, bits);
}

function parseSeed(raw: string): number {
  const s = parseNumber("--seed", raw);
  if (!Number.isInteger(s) || s < 0 || s > 0xffffffff) {
    throw new UsageError(`--seed must be an integer in [0, 2^32), got "${raw}"`);
  }
  return s;
}

/** Parse "x,y" into two finite numbers. */
export function parsePoint(raw: string): [number, number] {
  const parts = raw.split(",");
  if (parts.length !== 2) throw new UsageError(`--encode needs "x,y", got "${raw}"`);
  return [parseNumber("--encode x", parts[0]), parseNumber("--encode y", parts[1])];
}

function runEncode(scheme: DiscretisationScheme, raw: string): void {
  const [x, y] = parsePoint(raw);
  const row = encode(Float64Array.of(x, y), 1, scheme);
  console.log(rowToBitString(row, 0, scheme.D));
}

function runDecode(scheme: DiscretisationScheme, raw: string): void {
  let row: Int8Array;
  try {
    row = bitStringToRow(raw.trim(), scheme.D);
  } catch (e) {
    throw new UsageError(`--decode: ${(e as Error).message} (D = ${scheme.D} for --bits ${scheme.bits})`);
  }
  const p = decode(row, 1, scheme);
  console.log(`${p[0]},${p[1]}`);
}

function runSample(scheme: DiscretisationScheme, n: number, format: "points" | "bits", seed: number): void {
  const pts = sampleDensity(scheme.density, n, new Rng(seed));
  const lines: string[] = [];
  if (format === "points") {
    for (let i = 0; i < n; i++) lines.push(`${pts[2 * i]},${pts[2 * i + 1]}`);
  } else {
    const x = encode(pts, n, scheme);
    for (let i = 0; i < n; i++) lines.push(rowToBitString(x, i, scheme.D));
  }
  console.log(lines.join("\n"));
}

async function runPlot(
  scheme: DiscretisationScheme,
  file: string,
  n: number,
  seed: number,
  bins: number | undefined,
  exact: boolean,
): Promise<void> {
  const lower = file.toLowerCase();
  if (!lower.endsWith(".png") && !lower.endsWith(".svg")) {
    throw new UsageError(`--plot file must end in .png or .svg, got "${file}"`);
  }
  const { cellGrid, heatmapSvg, histogram2d } = await import("../report/heatmap.ts");
  let svg: string;
  if (exact) {
    if (scheme.bits > MAX_TARGET_BITS) {
      throw new UsageError(`--exact needs --bits ≤ ${MAX_TARGET_BITS}, got ${scheme.bits}`);
    }
    const t = cellTarget(scheme.density, scheme.bits);
    const how = t.method === "exact" ? "exact" : `MC estimate, ${t.mcSamples} samples, seed ${t.seed}`;
    svg = await heatmapSvg(cellGrid(t.probs, scheme), {
      title: `${scheme.density}, ${scheme.bits} bits/coord: target π over cells (${how})`,
    });
  } else {
    const pts = sampleDensity(scheme.density, n, new Rng(seed));
    if (scheme.bits <= MAX_TARGET_BITS && bins === undefined) {
      // one pixel per cell: the histogram of the discretised samples
      const counts = new Float64Array(2 ** scheme.D);
      for (let i = 0; i < n; i++) counts[cellIndexOfPoint(pts[2 * i], pts[2 * i + 1], scheme)] += 1;
      svg = await heatmapSvg(cellGrid(counts, scheme), {
        title: `${scheme.density}, ${scheme.bits} bits/coord: ${n} samples, one pixel per cell`,
      });
    } else {
      const cells = decode(encode(pts, n, scheme), n, scheme);
      let m = 0;
      for (const v of cells) m = Math.max(m, Math.abs(v));
      const lim = Math.ceil(m * 2) / 2;
      const b = bins ?? 256;
      svg = await heatmapSvg(histogram2d(cells, n, b, -lim, lim), {
        title: `${scheme.density}, ${scheme.bits} bits/coord: ${n} discretised samples, ${b}² bins`,
      });
    }
  }
  if (lower.endsWith(".svg")) {
    await Deno.writeTextFile(file, svg);
  } else {
    const { svgToPng } = await import("../report/png.ts");
    await Deno.writeFile(file, await svgToPng(svg));
  }
  console.log(`wrote ${file}`);
}

function f(v: number, d = 4): string {
  return v.toFixed(d);
}

function runEntropy(scheme: DiscretisationScheme, n: number, massN: number, seed: number): void {
  const root = new Rng(seed);
  const massRng = root.fork();
  const plugRng = root.fork();
  console.log(
    `${scheme.density}: bits=${scheme.bits}/coord D=${scheme.D} int_scale=${scheme.intScale} seed=${seed} ` +
      `(entropy of the discretised data distribution, nats; a lower bound on any model's expected test NLL)`,
  );
  if (scheme.bits <= MAX_TARGET_BITS) {
    const t = cellTarget(scheme.density, scheme.bits);
    const how = t.method === "exact" ? "exact cell masses" : `MC histogram of ${t.mcSamples} samples`;
    console.log(
      `table:     H = ${f(entropyOfProbs(t.probs))}  (−Σ π log π over all 2^${scheme.D} cells, ${how})`,
    );
  }
  const method = cellMassMethod(scheme.density);
  if (method !== null && (scheme.density === "8gaussians" || scheme.bits >= 10)) {
    const r = cellMassEntropy(scheme, massN, massRng);
    console.log(
      `cell-mass: H = ${f(r.H)} ± ${f(r.se)} (s.e.)  95% CI [${f(r.H - 1.96 * r.se)}, ${
        f(r.H + 1.96 * r.se)
      }]  ` +
        `n=${r.n}  (−mean log P(cell(x)), x ~ data; ${method})`,
    );
  } else if (method !== null) {
    console.log(`cell-mass: skipped (midpoint cell masses need --bits ≥ 10; use the table above)`);
  } else {
    console.log(`cell-mass: not available for ${scheme.density} (no continuous log-density)`);
  }
  const p = plugInEntropy(sampleCellIndices(scheme, n, plugRng));
  const ratio = p.distinct / p.n;
  console.log(
    `plug-in:   H = ${f(p.plugin)}  Miller–Madow H = ${f(p.millerMadow)} ± ${f(p.se)} (s.e.)  n=${p.n}  ` +
      `distinct cells K=${p.distinct} (K/n=${ratio.toFixed(3)})`,
  );
  if (ratio > 0.05) {
    console.log(
      `warning:   plug-in undersampled (K/n > 0.05): both plug-in figures are biased low` +
        (method !== null ? "; use the cell-mass figure" : "; increase --samples or use fewer --bits"),
    );
  }
}

export function register(program: Command): void {
  program
    .command("data")
    .description("2D toy densities: sample, encode/decode bit vectors, plot, entropy of the discretised data")
    .option("--task <name>", `density: ${DENSITY_NAMES.join("|")}`)
    .option("--bits <k>", "bits per coordinate (sign + Gray code)", "16")
    .option("--seed <s>", "random seed", "0")
    .option("--encode <x,y>", "print the bit string of a point")
    .option("--decode <bits>", "print the centre of the cell of a 0/1 string")
    .option("--sample <n>", "print n samples")
    .option("--format <f>", "sample output: points|bits", "points")
    .option("--plot <file>", "write a heat map (.png or .svg) of discretised samples")
    .option("--bins <b>", "plot: histogram bins per axis (default: one per cell for bits ≤ 8, else 256)")
    .option("--exact", "plot: draw the target table π (bits ≤ 8) instead of samples")
    .option("--entropy", "print the entropy (nats) of the discretised data distribution")
    .option("--samples <n>", "samples for --plot (default 10^6) and the plug-in entropy (default 10^6)")
    .option("--mass-samples <n>", "samples for the cell-mass entropy estimate", "100000")
    .action(async (o: DataOptions) => {
      const actions = [o.encode, o.decode, o.sample, o.plot, o.entropy].filter((a) => a !== undefined);
      if (actions.length !== 1) {
        throw new UsageError("give exactly one of --encode, --decode, --sample, --plot, --entropy");
      }
      const scheme = schemeFrom(o);
      const seed = parseSeed(o.seed);
      const format = parseChoice("--format", o.format, ["points", "bits"] as const);
      const samples = o.samples === undefined ? 1_000_000 : parsePositiveInt("--samples", o.samples);
      if (o.encode !== undefined) runEncode(scheme, o.encode);
      else if (o.decode !== undefined) runDecode(scheme, o.decode);
      else if (o.sample !== undefined) {
        runSample(scheme, parsePositiveInt("--sample", o.sample), format, seed);
      } else if (o.plot !== undefined) {
        const bins = o.bins === undefined ? undefined : parsePositiveInt("--bins", o.bins);
        await runPlot(scheme, o.plot, samples, seed, bins, o.exact === true);
      } else {
        const massN = parsePositiveInt("--mass-samples", o.massSamples);
        if (massN < 2) throw new UsageError(`--mass-samples must be ≥ 2, got "${o.massSamples}"`);
        runEntropy(scheme, samples, massN, seed);
      }
    });
}
