/**
 * The 2D-density part of `flowsweep train`: flags (--bits, --energy, --energy-file, …), loading a fixed energy,
 * and what happens after training (--save-energy, --plot-samples). Kept beside cli/train.ts.
 */
import type { Command } from "commander";
import type { TrainConfig } from "../core/train/config.ts";
import { ENERGIES } from "../core/tasks/density_options.ts";
import { MH_RULES } from "../core/energy/mh.ts";
import { isDensityName } from "../core/tasks/densities.ts";
import type { TrainOptions } from "../core/train/trainer.ts";
import type { Gemm } from "../core/nn/gemm.ts";
import { parseChoice, parseNumber, parsePositiveInt, UsageError } from "./usage.ts";

export interface DensityFlags {
  bits?: string;
  energy?: string;
  energyFile?: string;
  energyHidden?: string;
  energyLr?: string;
  mhRule?: string;
  nllPoints?: string;
  nllTrajectories?: string;
  mmdSamples?: string;
  testSeed?: string;
  saveEnergy?: string;
  plotSamples?: string;
}

/** Adds the density flags to the train command (no commander defaults: absent flags stay absent). */
export function addDensityOptions(cmd: Command): Command {
  return cmd
    .option("--bits <n>", "2D densities: bits per coordinate, D = 2·bits (default 16)")
    .option(
      "--energy <kind>",
      `2D densities: energy ${ENERGIES.join("|")} (default learned; exact needs bits ≤ 8)`,
    )
    .option(
      "--energy-file <file>",
      "2D densities: energy checkpoint for --energy fixed (docs/energy-checkpoint.md)",
    )
    .option("--energy-hidden <sizes>", "2D densities: energy MLP hidden sizes (default 256,256,256)")
    .option("--energy-lr <x>", "2D densities: Adam learning rate of the energy (default 0.001)")
    .option("--mh-rule <rule>", `2D densities: CD chain acceptance ${MH_RULES.join("|")} (default barker)`)
    .option("--nll-points <n>", "2D densities: test points of the IS NLL, Eq. 7 (default 10000; 0 = off)")
    .option("--nll-trajectories <n>", "2D densities: backward trajectories per test point (default 20)")
    .option("--mmd-samples <n>", "2D densities: model/data samples of the MMD (default 4000; 0 = off)")
    .option("--test-seed <n>", "2D densities: seed of the test points (default derived from --seed)")
    .option(
      "--save-energy <file>",
      "2D densities, --energy learned: write the trained energy checkpoint (JSON)",
    )
    .option("--plot-samples <file>", "2D densities: model samples beside data samples, .png or .svg");
}

function nonNegativeInt(flag: string, raw: string): number {
  const v = parseNumber(flag, raw);
  if (!Number.isInteger(v) || v < 0) {
    throw new UsageError(`${flag} must be a non-negative integer, got "${raw}"`);
  }
  return v;
}

/** The density keys of the raw config (only those given). */
export function densityRawFromFlags(f: DensityFlags): Record<string, unknown> {
  const raw: Record<string, unknown> = {};
  if (f.bits !== undefined) raw.bits = parsePositiveInt("--bits", f.bits);
  if (f.energy !== undefined) raw.energy = parseChoice("--energy", f.energy, ENERGIES);
  if (f.energyFile !== undefined) raw.energy_file = f.energyFile;
  if (f.energyHidden !== undefined) {
    raw.energy_hidden = f.energyHidden.split(",").map((h) => parsePositiveInt("--energy-hidden", h.trim()));
  }
  if (f.energyLr !== undefined) {
    const v = parseNumber("--energy-lr", f.energyLr);
    if (v <= 0) throw new UsageError(`--energy-lr must be positive, got ${f.energyLr}`);
    raw.energy_lr = v;
  }
  if (f.mhRule !== undefined) raw.mh_rule = parseChoice("--mh-rule", f.mhRule, MH_RULES);
  if (f.nllPoints !== undefined) raw.nll_points = nonNegativeInt("--nll-points", f.nllPoints);
  if (f.nllTrajectories !== undefined) {
    raw.nll_trajectories = parsePositiveInt("--nll-trajectories", f.nllTrajectories);
  }
  if (f.mmdSamples !== undefined) raw.mmd_samples = nonNegativeInt("--mmd-samples", f.mmdSamples);
  if (f.testSeed !== undefined) raw.test_seed = nonNegativeInt("--test-seed", f.testSeed);
  return raw;
}

/** Reads and validates an energy checkpoint file for a config; every problem is a one-line UsageError. */
export async function loadEnergyFile(path: string, config: TrainConfig): Promise<TrainOptions["energy"]> {
  const { parseEnergyCheckpoint, checkEnergyMatches } = await import("../core/energy/checkpoint.ts");
  const { densityDefaults } = await import("../core/train/config.ts");
  const { makeScheme } = await import("../core/tasks/discretise.ts");
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (err) {
    throw new UsageError(`cannot read energy file ${path}: ${err instanceof Error ? err.message : err}`);
  }
  try {
    const loaded = parseEnergyCheckpoint(text);
    const o = densityDefaults(config);
    checkEnergyMatches(loaded.checkpoint, {
      task: config.task,
      bits: o.bits,
      intScale: makeScheme(config.task, o.bits).intScale,
      hidden: o.energy_hidden,
    });
    return loaded;
  } catch (err) {
    throw new UsageError(`bad energy file ${path}: ${err instanceof Error ? err.message : err}`);
  }
}

/**
 * Checks the density flags against the config and returns what trainRun needs: the loaded energy and an
 * onDone hook writing --save-energy / --plot-samples.
 */
export async function prepareDensityRun(
  config: TrainConfig,
  f: DensityFlags,
  gemm: Gemm,
): Promise<Pick<TrainOptions, "energy" | "onDone">> {
  const density = isDensityName(config.task);
  if (!density) {
    for (const [flag, v] of [["--save-energy", f.saveEnergy], ["--plot-samples", f.plotSamples]]) {
      if (v !== undefined) throw new UsageError(`${flag} applies to the 2D density tasks only`);
    }
    return {};
  }
  const { densityDefaults } = await import("../core/train/config.ts");
  const o = densityDefaults(config);
  if (f.saveEnergy !== undefined && o.energy !== "learned") {
    throw new UsageError(`--save-energy needs --energy learned (this run's energy is ${o.energy})`);
  }
  if (f.plotSamples !== undefined && !/\.(png|svg)$/i.test(f.plotSamples)) {
    throw new UsageError(`--plot-samples file must end in .png or .svg, got "${f.plotSamples}"`);
  }
  let energy: TrainOptions["energy"];
  if (o.energy === "fixed") {
    if (!o.energy_file) {
      throw new UsageError("--energy fixed needs --energy-file FILE (a saved energy checkpoint)");
    }
    energy = await loadEnergyFile(o.energy_file, config);
  }
  const onDone: TrainOptions["onDone"] = async (done) => {
    if (f.saveEnergy !== undefined && done.energy) {
      const { serializeEnergy } = await import("../core/energy/checkpoint.ts");
      await Deno.writeTextFile(f.saveEnergy, serializeEnergy(done.energy));
    }
    if (f.plotSamples !== undefined) {
      const { samplesPlotSvg, modelAndDataSamples } = await import("../report/samples_plot.ts");
      const n = 10000;
      const pts = modelAndDataSamples(done.policy, gemm, config, n);
      const svg = await samplesPlotSvg(pts.model, pts.data, n, {
        intScale: pts.scheme.intScale,
        title: `${config.task} (${o.bits} bits, energy ${o.energy}), ${config.objective} α=${config.alpha}`,
      });
      if (/\.svg$/i.test(f.plotSamples)) await Deno.writeTextFile(f.plotSamples, svg);
      else {
        const { svgToPng } = await import("../report/png.ts");
        await Deno.writeFile(f.plotSamples, await svgToPng(svg));
      }
    }
  };
  return { energy, onDone };
}

/** One line for a config validation error (zod issues as `path: message; …`). */
export function configErrorLine(err: unknown): string {
  const issues = (err as { issues?: { path: PropertyKey[]; message: string }[] })?.issues;
  if (Array.isArray(issues) && issues.length) {
    return issues.map((i) => (i.path.length ? `${i.path.map(String).join(".")}: ${i.message}` : i.message))
      .join("; ");
  }
  return err instanceof Error ? err.message.split("\n")[0] : String(err);
}
