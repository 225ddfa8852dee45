/**
 * Heat maps of a 2D point set or of a distribution over discretised cells, drawn with vega-lite like the other
 * plots (a standalone SVG document; turn it into PNG with `svgToPng` from report/png.ts).
 */
import { axesOfCellIndex, axisOrdinal, type DiscretisationScheme } from "../core/tasks/discretise.ts";

/** A rectangular grid of non-negative values; row 0 is the lowest y, column 0 the lowest x. */
export interface HeatGrid {
  nx: number;
  ny: number;
  values: Float64Array;
  /** Extent of the grid in data coordinates. */
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/** 2D histogram of n points (row-major n×2) over the square [lo, hi]² with `bins`² bins; outside points drop. */
export function histogram2d(points: Float64Array, n: number, bins: number, lo: number, hi: number): HeatGrid {
  if (!(hi > lo)) throw new RangeError(`empty range [${lo}, ${hi}]`);
  const values = new Float64Array(bins * bins);
  const w = (hi - lo) / bins;
  for (let i = 0; i < n; i++) {
    const bx = Math.floor((points[2 * i] - lo) / w);
    const by = Math.floor((points[2 * i + 1] - lo) / w);
    if (bx < 0 || by < 0 || bx >= bins || by >= bins) continue;
    values[by * bins + bx] += 1;
  }
  return { nx: bins, ny: bins, values, x0: lo, x1: hi, y0: lo, y1: hi };
}

/**
 * Lay a distribution over all 2^D cells (table index order, see core/tasks/discretise.ts) out on the
 * 2^bits × 2^bits grid of axis ordinals. Every cell is drawn with width 1/intScale (the clipped tail cells too).
 */
export function cellGrid(probs: Float64Array, scheme: DiscretisationScheme): HeatGrid {
  if (probs.length !== 2 ** scheme.D) {
    throw new RangeError(`need ${2 ** scheme.D} cell values, got ${probs.length}`);
  }
  const side = 2 ** scheme.bits;
  const values = new Float64Array(side * side);
  for (let c = 0; c < probs.length; c++) {
    const [ax, ay] = axesOfCellIndex(c, scheme);
    values[axisOrdinal(ay.sign, ay.index, scheme) * side + axisOrdinal(ax.sign, ax.index, scheme)] = probs[c];
  }
  const e = (scheme.maxIndex + 1) / scheme.intScale;
  return { nx: side, ny: side, values, x0: -e, x1: e, y0: -e, y1: e };
}

export interface HeatmapOptions {
  title?: string;
  /** Side of the plot area in px. Default 512. */
  size?: number;
  /** Colour scale of the values. Default "sqrt". */
  scale?: "linear" | "sqrt" | "log";
}

/**
 * The grid as rectangles for vega-lite: zero cells dropped (the plot's background is the scale's zero colour),
 * equal neighbours in a row merged into one rectangle (histograms have long runs of equal counts).
 */
export function heatmapRects(grid: HeatGrid): { x: number; x2: number; y: number; y2: number; v: number }[] {
  const cw = (grid.x1 - grid.x0) / grid.nx, ch = (grid.y1 - grid.y0) / grid.ny;
  const out: { x: number; x2: number; y: number; y2: number; v: number }[] = [];
  for (let r = 0; r < grid.ny; r++) {
    let c = 0;
    while (c < grid.nx) {
      const v = grid.values[r * grid.nx + c];
      let e = c + 1;
      while (e < grid.nx && grid.values[r * grid.nx + e] === v) e++;
      if (v > 0) {
        out.push({
          x: grid.x0 + c * cw,
          x2: grid.x0 + e * cw,
          y: grid.y0 + r * ch,
          y2: grid.y0 + (r + 1) * ch,
          v,
        });
      }
      c = e;
    }
  }
  return out;
}

/** A vega-lite heat map of the grid (rect marks, viridis colour scale, square plot area). */
export function heatmapSpec(grid: HeatGrid, opts: HeatmapOptions = {}): Record<string, unknown> {
  const size = opts.size ?? 512;
  const scale = opts.scale ?? "sqrt";
  const values = heatmapRects(grid);
  const vmin = values.reduce((m, r) => Math.min(m, r.v), Infinity);
  const color = {
    field: "v",
    type: "quantitative",
    title: "value",
    scale: scale === "log"
      ? { type: "log", scheme: "viridis", domainMin: Number.isFinite(vmin) ? vmin : 1 }
      : { type: scale, scheme: "viridis", zero: true },
    legend: { gradientLength: Math.min(size, 240) },
  };
  const x = {
    field: "x",
    type: "quantitative",
    title: "x",
    scale: { domain: [grid.x0, grid.x1], nice: false },
  };
  const y = {
    field: "y",
    type: "quantitative",
    title: "y",
    scale: { domain: [grid.y0, grid.y1], nice: false },
  };
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    ...(opts.title ? { title: opts.title } : {}),
    width: size,
    height: size,
    background: "white",
    // the zero colour of viridis under every cell that has no mass
    view: { fill: "#440154", stroke: "#333" },
    data: { values },
    mark: { type: "rect", strokeWidth: 0 },
    encoding: { x, x2: { field: "x2" }, y, y2: { field: "y2" }, color },
    config: { axis: { grid: false } },
  };
}

/** Render a grid as an SVG heat map (vega-lite, report/plots.ts). */
export async function heatmapSvg(grid: HeatGrid, opts: HeatmapOptions = {}): Promise<string> {
  const { specToSvg } = await import("./plots.ts");
  return await specToSvg(heatmapSpec(grid, opts));
}
