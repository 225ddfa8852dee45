/**
 * Samples of a trained 2D-density GFlowNet decoded to the plane, beside data samples: two vega-lite heat maps
 * (report/heatmap.ts) side by side in one SVG document (PNG via report/png.ts).
 */
import type { Gemm } from "../core/nn/gemm.ts";
import { type Policy, runTrajectories } from "../core/gfn/trajectories.ts";
import { Rng } from "../core/rng.ts";
import { densityDefaults, type TrainConfig } from "../core/train/config.ts";
import { decode, encode, makeScheme } from "../core/tasks/discretise.ts";
import { sampleDensity } from "../core/tasks/densities.ts";
import { heatmapSpec, histogram2d } from "./heatmap.ts";
import { specToSvg } from "./plots.ts";

/**
 * n forward samples of the policy and n data samples (seed test_seed + 1), both as decoded cell centres
 * (row-major n × 2). The data go through encode/decode too, so both sides show the same discretisation.
 */
export function modelAndDataSamples(pol: Policy, gemm: Gemm, config: TrainConfig, n: number, chunk = 2048) {
  const o = densityDefaults(config);
  const scheme = makeScheme(config.task, o.bits);
  const rng = new Rng((o.test_seed + 1) >>> 0);
  const x = new Int8Array(n * scheme.D);
  for (let s = 0; s < n; s += chunk) {
    const m = Math.min(chunk, n - s);
    x.set(runTrajectories(pol, gemm, m, rng, { cache: false }).x, s * scheme.D);
  }
  const data = encode(sampleDensity(scheme.density, n, rng), n, scheme);
  return { model: decode(x, n, scheme), data: decode(data, n, scheme), scheme };
}

export interface SamplesPlotOptions {
  title?: string;
  /** Bins per axis. Default min(100, the number of discretisation cells across the plot) with `intScale`. */
  bins?: number;
  /** Cells per unit length of the discretisation (scheme.intScale), to match bins to cells when coarse. */
  intScale?: number;
  /** Half-width of the plotted square; default: 1.05 × the largest |coordinate| of the data. */
  lim?: number;
  /** Side of each panel in px. Default 400. */
  size?: number;
}

/** Model samples (left) beside data samples (right), each a 2D histogram heat map, as one SVG (vega-lite). */
export async function samplesPlotSvg(
  model: Float64Array,
  data: Float64Array,
  n: number,
  opts: SamplesPlotOptions = {},
): Promise<string> {
  const size = opts.size ?? 400;
  let lim = opts.lim ?? 0;
  if (!(lim > 0)) {
    for (let i = 0; i < 2 * n; i++) lim = Math.max(lim, Math.abs(data[i]));
    lim = Math.ceil(lim * 1.05 * 10) / 10 || 1;
  }
  const cells = opts.intScale ? Math.max(4, Math.round(2 * lim * opts.intScale)) : Infinity;
  const bins = opts.bins ?? Math.min(100, cells);
  const panel = (pts: Float64Array, title: string) => {
    const { $schema: _s, background: _b, ...spec } = heatmapSpec(histogram2d(pts, n, bins, -lim, lim), {
      title,
      size,
      scale: "sqrt",
    });
    return spec;
  };
  return await specToSvg({
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    ...(opts.title ? { title: { text: opts.title, fontSize: 15 } } : {}),
    background: "white",
    hconcat: [panel(model, `GFlowNet samples (n=${n})`), panel(data, `data samples (n=${n})`)],
    resolve: { scale: { color: "independent" } },
    config: { axis: { grid: false } },
  });
}
