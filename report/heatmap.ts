/**
 * Heat maps of a 2D point set or of a distribution over discretised cells, as a standalone SVG document
 * (turn it into PNG with `svgToPng` from report/png.ts). Pure string building.
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

// viridis, 9 anchors
const VIRIDIS: readonly [number, number, number][] = [
  [68, 1, 84],
  [71, 44, 122],
  [59, 81, 139],
  [44, 113, 142],
  [33, 144, 141],
  [39, 173, 129],
  [92, 200, 99],
  [170, 220, 50],
  [253, 231, 37],
];

/** Viridis colour of t ∈ [0, 1] as #rrggbb. */
export function viridis(t: number): string {
  const u = Math.min(1, Math.max(0, Number.isFinite(t) ? t : 0)) * (VIRIDIS.length - 1);
  const k = Math.min(VIRIDIS.length - 2, Math.floor(u));
  const f = u - k;
  const hex = (j: number) => {
    const v = Math.round(VIRIDIS[k][j] * (1 - f) + VIRIDIS[k + 1][j] * f);
    return v.toString(16).padStart(2, "0");
  };
  return `#${hex(0)}${hex(1)}${hex(2)}`;
}

export interface HeatmapOptions {
  title?: string;
  /** Side of the plot area in px. Default 512. */
  size?: number;
  /** Colour scale of the values. Default "sqrt". */
  scale?: "linear" | "sqrt" | "log";
}

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function fmt(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toFixed(2);
}

/** Render a grid as an SVG heat map (rows merged into runs of equal colour). */
export function heatmapSvg(grid: HeatGrid, opts: HeatmapOptions = {}): string {
  const size = opts.size ?? 512;
  const scale = opts.scale ?? "sqrt";
  const margin = { left: 48, right: 16, top: opts.title ? 34 : 12, bottom: 34 };
  const W = margin.left + size + margin.right;
  const H = margin.top + size + margin.bottom;
  let vmax = 0;
  let vminPos = Infinity;
  for (const v of grid.values) {
    if (v > vmax) vmax = v;
    if (v > 0 && v < vminPos) vminPos = v;
  }
  const norm = (v: number): number => {
    if (!(v > 0) || vmax === 0) return 0;
    if (scale === "linear") return v / vmax;
    if (scale === "sqrt") return Math.sqrt(v / vmax);
    const lo = Math.log(vminPos);
    const hi = Math.log(vmax);
    return hi > lo ? 0.05 + 0.95 * (Math.log(v) - lo) / (hi - lo) : 1;
  };
  const cw = size / grid.nx;
  const ch = size / grid.ny;
  const parts: string[] = [];
  parts.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" ` +
      `font-family="DejaVu Sans, sans-serif" font-size="12">`,
  );
  parts.push(`<rect x="0" y="0" width="${W}" height="${H}" fill="white"/>`);
  parts.push(`<g shape-rendering="crispEdges">`);
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${size}" height="${size}" fill="${viridis(0)}"/>`,
  );
  const zero = viridis(0);
  for (let r = 0; r < grid.ny; r++) {
    const y = margin.top + (grid.ny - 1 - r) * ch; // row 0 = lowest y at the bottom
    let c = 0;
    while (c < grid.nx) {
      const col = viridis(norm(grid.values[r * grid.nx + c]));
      let e = c + 1;
      while (e < grid.nx && viridis(norm(grid.values[r * grid.nx + e])) === col) e++;
      if (col !== zero) {
        parts.push(
          `<rect x="${(margin.left + c * cw).toFixed(3)}" y="${y.toFixed(3)}" width="${
            ((e - c) * cw).toFixed(3)
          }" ` +
            `height="${ch.toFixed(3)}" fill="${col}"/>`,
        );
      }
      c = e;
    }
  }
  parts.push(`</g>`);
  parts.push(
    `<rect x="${margin.left}" y="${margin.top}" width="${size}" height="${size}" fill="none" stroke="#333"/>`,
  );
  const bx = margin.top + size;
  parts.push(`<text x="${margin.left}" y="${bx + 16}" text-anchor="start">${fmt(grid.x0)}</text>`);
  parts.push(`<text x="${margin.left + size}" y="${bx + 16}" text-anchor="end">${fmt(grid.x1)}</text>`);
  parts.push(`<text x="${margin.left + size / 2}" y="${bx + 28}" text-anchor="middle">x</text>`);
  parts.push(`<text x="${margin.left - 6}" y="${bx}" text-anchor="end">${fmt(grid.y0)}</text>`);
  parts.push(`<text x="${margin.left - 6}" y="${margin.top + 10}" text-anchor="end">${fmt(grid.y1)}</text>`);
  parts.push(`<text x="${margin.left - 20}" y="${margin.top + size / 2}" text-anchor="middle">y</text>`);
  if (opts.title) {
    parts.push(`<text x="${margin.left}" y="${margin.top - 12}" font-size="14">${esc(opts.title)}</text>`);
  }
  parts.push(`</svg>`);
  return parts.join("\n");
}
