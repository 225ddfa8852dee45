/**
 * SVG → PNG with `@resvg/resvg-wasm`, initialised once from the `.wasm` bytes in node_modules (no network).
 *
 * Text in the SVG is rendered with fonts loaded from the usual system locations (DejaVu / Liberation) when
 * they exist; without any font file text is simply not drawn (resvg-wasm has no built-in font).
 */
import { initWasm, Resvg } from "@resvg/resvg-wasm";

let ready: Promise<void> | null = null;
let fonts: Uint8Array[] = [];
/** Family of the first font found: resvg draws no text when the default family is not loaded. */
let family = "DejaVu Sans";

/** Candidate locations of the resvg wasm binary, relative to this file and to the working directory. */
function wasmCandidates(): (string | URL)[] {
  return [
    new URL("../node_modules/@resvg/resvg-wasm/index_bg.wasm", import.meta.url),
    new URL(
      "../node_modules/.deno/@resvg+resvg-wasm@2.6.2/node_modules/@resvg/resvg-wasm/index_bg.wasm",
      import.meta.url,
    ),
    "node_modules/@resvg/resvg-wasm/index_bg.wasm",
  ];
}

const FONT_FILES = [
  "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
  "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
  "/usr/share/fonts/TTF/DejaVuSans.ttf",
  "/usr/share/fonts/dejavu/DejaVuSans.ttf",
];

async function readFirst(paths: (string | URL)[]): Promise<Uint8Array | null> {
  for (const p of paths) {
    try {
      return await Deno.readFile(p);
    } catch {
      // try the next candidate
    }
  }
  return null;
}

/** Initialise resvg-wasm (idempotent). Throws if the wasm binary cannot be found. */
export function initPng(): Promise<void> {
  if (ready === null) {
    ready = (async () => {
      const bytes = await readFirst(wasmCandidates());
      if (bytes === null) {
        throw new Error(
          "cannot find @resvg/resvg-wasm/index_bg.wasm under node_modules (run `deno install`)",
        );
      }
      await initWasm(bytes);
      fonts = [];
      for (const f of FONT_FILES) {
        const b = await readFirst([f]);
        if (b === null) continue;
        if (fonts.length === 0) family = f.includes("Liberation") ? "Liberation Sans" : "DejaVu Sans";
        fonts.push(b);
      }
    })();
    // a failed init may be retried
    ready.catch(() => {
      ready = null;
    });
  }
  return ready;
}

export interface PngOptions {
  /** Output width in pixels (height keeps the aspect ratio). Default: the SVG's own size. */
  width?: number;
  /** Background colour (CSS). Default: white. */
  background?: string;
}

/** Render an SVG document to PNG bytes. */
export async function svgToPng(svg: string, opts: PngOptions = {}): Promise<Uint8Array> {
  await initPng();
  const r = new Resvg(svg, {
    fitTo: opts.width ? { mode: "width", value: opts.width } : { mode: "original" },
    background: opts.background ?? "white",
    font: { fontBuffers: fonts, defaultFontFamily: family, sansSerifFamily: family },
  });
  try {
    const img = r.render();
    const png = img.asPng();
    img.free();
    return png;
  } finally {
    r.free();
  }
}
