/**
 * Frames for a report's slider, inline: the PNGs as they are while they fit
 * the byte budget, else half-size thumbnails (the newest frame kept whole),
 * else every k-th thumbnail (always with the newest), so a long run's
 * report stays a few megabytes.
 * @module
 */
import { pngDataUri } from "../image/compose.ts";
import { decodePng, encodePng } from "../image/png.ts";

/** One frame ready to inline. */
export interface InlineFrame {
  epoch: number;
  /** A `data:` URI. */
  uri: string;
  /** Size to show it at (the full frame's). */
  width: number;
  height: number;
}

/** Inline bytes the slider of one run may use by default. */
export const FRAME_BUDGET = 3_000_000;

/** Thumbnails already made, by frame path (frames never change once written). */
export type ThumbnailCache = Map<string, Uint8Array>;

/**
 * Reads the frames and makes them fit `budget` bytes of base64 (see the
 * module doc); `cache` keeps thumbnails between rewrites of the same report.
 */
export async function inlineFrames(
  frames: { epoch: number; path: string }[],
  budget = FRAME_BUDGET,
  cache?: ThumbnailCache,
): Promise<InlineFrame[]> {
  const files = await Promise.all(
    frames.map(async (f) => ({ ...f, bytes: await Deno.readFile(f.path) as Uint8Array })),
  );
  const base64 = (n: number) => Math.ceil(n / 3) * 4;
  const total = (xs: { bytes: Uint8Array }[]) => xs.reduce((a, x) => a + base64(x.bytes.length), 0);
  let chosen = files.map((f) => ({ ...f, ...pngSize(f.bytes) }));
  if (total(chosen) > budget) {
    // The newest frame stays full size: it is the one a reader opens the page to see.
    const last = chosen.length - 1;
    chosen = chosen.map((f, i) => {
      if (i === last) return f;
      const thumb = cache?.get(f.path) ?? halfSize(f.bytes, f.path);
      cache?.set(f.path, thumb);
      return { ...f, bytes: thumb };
    });
    const k = Math.ceil(total(chosen) / budget);
    if (k > 1) chosen = chosen.filter((_, i) => i % k === 0 || i === chosen.length - 1);
  }
  return chosen.map((f) => ({
    epoch: f.epoch,
    uri: pngDataUri(f.bytes),
    width: f.width,
    height: f.height,
  }));
}

/** Width and height from a PNG's header. */
export function pngSize(png: Uint8Array): { width: number; height: number } {
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** The picture at half its size (2×2 box average), gray when it is gray. */
function halfSize(png: Uint8Array, name: string): Uint8Array {
  const img = decodePng(png, name);
  const w = Math.max(1, img.width >> 1), h = Math.max(1, img.height >> 1);
  const out = new Float32Array(w * h * 3);
  let gray = true;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let sum = 0;
        for (const [dy, dx] of [[0, 0], [0, 1], [1, 0], [1, 1]]) {
          const sy = Math.min(img.height - 1, 2 * y + dy), sx = Math.min(img.width - 1, 2 * x + dx);
          sum += img.pixels[(sy * img.width + sx) * 3 + c];
        }
        out[(y * w + x) * 3 + c] = sum / 4;
      }
      const i = (y * w + x) * 3;
      if (out[i] !== out[i + 1] || out[i] !== out[i + 2]) gray = false;
    }
  }
  if (!gray) return encodePng(out, w, h, 3);
  return encodePng(out.filter((_, i) => i % 3 === 0), w, h, 1);
}
