/**
 * SVG → PNG with resvg (WebAssembly) and the DejaVu fonts shipped in an npm
 * package: text in frames and sheets is set with a real font, offline.
 * @module
 */
import { createRequire } from "node:module";
import { initWasm, Resvg } from "@resvg/resvg-wasm";
import { encodePng } from "./png.ts";

/** The font families an SVG given to {@linkcode rasterizeSvg} can use. */
export const FONT = { sans: "DejaVu Sans", mono: "DejaVu Sans Mono" } as const;

/** A rasterised picture: PNG bytes and its RGBA pixels. */
export interface Raster {
  png: Uint8Array;
  rgba: Uint8Array;
  width: number;
  height: number;
}

let ready: Promise<Uint8Array[]> | undefined;

/** Loads resvg's WebAssembly and the fonts once per process. */
function setup(): Promise<Uint8Array[]> {
  ready ??= (async () => {
    const require = createRequire(import.meta.url);
    const read = (p: string) => Deno.readFile(require.resolve(p));
    await initWasm(await read("@resvg/resvg-wasm/index_bg.wasm"));
    return await Promise.all([
      read("dejavu-fonts-ttf/ttf/DejaVuSans.ttf"),
      read("dejavu-fonts-ttf/ttf/DejaVuSans-Bold.ttf"),
      read("dejavu-fonts-ttf/ttf/DejaVuSansMono.ttf"),
    ]);
  })();
  return ready;
}

/**
 * Renders an SVG document to PNG at its own width and height (a grayscale
 * PNG when every pixel is gray and opaque: half the bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rasterizeSvg } from "./raster.ts";
 * const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20"><text y="15">a</text></svg>';
 * const r = await rasterizeSvg(svg);
 * assert(r.width === 40 && r.rgba.length === 40 * 20 * 4);
 * ```
 */
export async function rasterizeSvg(svg: string): Promise<Raster> {
  const fonts = await setup();
  const resvg = new Resvg(svg, {
    font: { fontBuffers: fonts, loadSystemFonts: false, defaultFontFamily: FONT.sans },
  });
  try {
    const img = resvg.render();
    try {
      const rgba = new Uint8Array(img.pixels);
      const gray = grayPixels(rgba);
      const png = gray ? encodePng(gray, img.width, img.height, 1) : img.asPng();
      return { png, rgba, width: img.width, height: img.height };
    } finally {
      img.free();
    }
  } finally {
    resvg.free();
  }
}

/** The pixels as gray floats when every one is opaque gray, else null. */
function grayPixels(rgba: Uint8Array): Float32Array | null {
  const out = new Float32Array(rgba.length / 4);
  for (let i = 0; i < out.length; i++) {
    const [r, g, b, a] = rgba.subarray(i * 4, i * 4 + 4);
    if (r !== g || g !== b || a !== 255) return null;
    out[i] = r / 255;
  }
  return out;
}
