/**
 * Headless Chromium for tests (Debian's /usr/bin/chromium, or $CHROMIUM): run it on a URL (--dump-dom,
 * --screenshot) and decode the PNG screenshots it writes.
 */
import assert from "node:assert/strict";
import { inflateSync } from "node:zlib";

export const CHROMIUM = Deno.env.get("CHROMIUM") ?? "/usr/bin/chromium";
export const WINDOW = { width: 1200, height: 2000 };
const TIMEOUT_MS = 45_000;

export function exists(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** Runs headless Chromium on a URL with the given extra flags; returns stdout (the DOM for --dump-dom). */
export async function chromium(url: string, extra: string[], userDataDir: string): Promise<string> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), TIMEOUT_MS);
  try {
    const out = await new Deno.Command(CHROMIUM, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        `--user-data-dir=${userDataDir}`,
        ...extra,
        url,
      ],
      stdout: "piped",
      stderr: "piped",
      signal: ac.signal,
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, `chromium ${extra.join(" ")} exited ${out.code}:\n${stderr.slice(-2000)}`);
    return new TextDecoder().decode(out.stdout);
  } finally {
    clearTimeout(timer);
  }
}

export interface Image {
  width: number;
  height: number;
  /** RGBA, 8 bits per channel. */
  pixels: Uint8Array;
}

/** Decodes an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes): IHDR, IDATs, zlib, unfiltering. */
export function decodePng(png: Uint8Array): Image {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  assert.deepEqual([...png.subarray(0, 8)], sig, "PNG signature");
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let pos = 8;
  let width = 0, height = 0, depth = 0, color = 0, interlace = 0;
  const idat: Uint8Array[] = [];
  while (pos < png.length) {
    const len = dv.getUint32(pos);
    const type = String.fromCharCode(...png.subarray(pos + 4, pos + 8));
    const data = png.subarray(pos + 8, pos + 8 + len);
    if (type === "IHDR") {
      width = dv.getUint32(pos + 8);
      height = dv.getUint32(pos + 12);
      depth = data[8];
      color = data[9];
      interlace = data[12];
    } else if (type === "IDAT") idat.push(data);
    else if (type === "IEND") break;
    pos += 12 + len;
  }
  assert.equal(depth, 8, "8-bit PNG");
  assert.ok(color === 2 || color === 6, `RGB(A) PNG, color type ${color}`);
  assert.equal(interlace, 0, "non-interlaced PNG");
  const bpp = color === 6 ? 4 : 3;
  const raw = new Uint8Array(inflateSync(concat(idat)));
  const stride = width * bpp;
  assert.equal(raw.length, height * (stride + 1), "decompressed size");
  const out = new Uint8Array(width * height * 4);
  const prev = new Uint8Array(stride);
  const cur = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    const line = raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1));
    for (let i = 0; i < stride; i++) {
      const a = i >= bpp ? cur[i - bpp] : 0;
      const b = prev[i];
      const c = i >= bpp ? prev[i - bpp] : 0;
      let v = line[i];
      if (filter === 1) v += a;
      else if (filter === 2) v += b;
      else if (filter === 3) v += (a + b) >> 1;
      else if (filter === 4) {
        const p = a + b - c;
        const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        v += pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      } else assert.equal(filter, 0, `PNG filter ${filter}`);
      cur[i] = v & 0xff;
    }
    for (let x = 0; x < width; x++) {
      out.set(
        [cur[x * bpp], cur[x * bpp + 1], cur[x * bpp + 2], bpp === 4 ? cur[x * bpp + 3] : 255],
        (y * width + x) * 4,
      );
    }
    prev.set(cur);
  }
  return { width, height, pixels: out };
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Fraction of pixels in rows [y0, y1) that are not near-white. */
