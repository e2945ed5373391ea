/**
 * Reading glyph images back: a decoded picture of any size (lib/image/png.ts)
 * to the model's [S, S, C] floats in [0, 1], and nearest-neighbour upscaling
 * for writing glyphs large enough to look at.
 * @module
 */
import type { FloatImage } from "../image/png.ts";

/**
 * Weights of a separable resampling from `n` to `m` samples: when
 * shrinking, each output averages the source pixels it covers, weighted by
 * overlap (area averaging, no aliasing); when enlarging, bilinear.
 */
function resampleWeights(n: number, m: number): { index: number; weight: number }[][] {
  const scale = n / m;
  const out: { index: number; weight: number }[][] = [];
  for (let o = 0; o < m; o++) {
    const taps: { index: number; weight: number }[] = [];
    if (scale > 1) {
      const [lo, hi] = [o * scale, (o + 1) * scale];
      for (let i = Math.floor(lo); i < Math.min(n, Math.ceil(hi)); i++) {
        const overlap = Math.min(hi, i + 1) - Math.max(lo, i);
        if (overlap > 0) taps.push({ index: i, weight: overlap / scale });
      }
    } else {
      const center = Math.min(n - 1, Math.max(0, (o + 0.5) * scale - 0.5));
      const i = Math.floor(center), t = center - i;
      taps.push({ index: i, weight: 1 - t });
      if (t > 0) taps.push({ index: i + 1, weight: t });
    }
    out.push(taps);
  }
  return out;
}

/**
 * Resizes `img` to size×size (a non-square image is stretched) and converts
 * it to `channels` (1: luma, Rec. 601 weights; 3: gray is repeated).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toModelImage } from "./image.ts";
 * const img = { pixels: new Float32Array(4 * 4 * 3).fill(1), width: 4, height: 4, channels: 3 as const };
 * const out = toModelImage(img, 2, 1);
 * assert(out.length === 4 && out.every((v) => Math.abs(v - 1) < 1e-6));
 * ```
 */
export function toModelImage(img: FloatImage, size: number, channels: 1 | 3): Float32Array {
  const { width: w, height: h, channels: c } = img;
  // Colour first, so the resampling runs on the channels we keep.
  const src = new Float32Array(w * h * channels);
  for (let i = 0; i < w * h; i++) {
    const px = img.pixels.subarray(i * c, i * c + c);
    const gray = c >= 3 ? 0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2] : px[0];
    for (let k = 0; k < channels; k++) {
      src[i * channels + k] = channels === 1 ? gray : c >= 3 ? px[k] : gray;
    }
  }
  const cols = resampleWeights(w, size), rows = resampleWeights(h, size);
  const wide = new Float32Array(h * size * channels); // rows resampled along x
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < size; x++) {
      for (const { index, weight } of cols[x]) {
        for (let k = 0; k < channels; k++) {
          wide[(y * size + x) * channels + k] += weight * src[(y * w + index) * channels + k];
        }
      }
    }
  }
  const out = new Float32Array(size * size * channels);
  for (let y = 0; y < size; y++) {
    for (const { index, weight } of rows[y]) {
      for (let x = 0; x < size * channels; x++) {
        out[y * size * channels + x] += weight * wide[index * size * channels + x];
      }
    }
  }
  return out;
}

/**
 * Image tools fill what a rotation uncovers with a background colour
 * (ImageMagick: white, on a canvas grown to hold the turned square); the
 * channel fills it with 0. Those uncovered parts are four corner triangles
 * whose far vertices, the turned square's corners, sit on the four edges
 * at x = f·w (top), y = f·h (right), x = (1−f)·w (bottom), y = (1−f)·h
 * (left) for one f in (0, 1), either turning direction. When the four
 * corners share one colour, we take the set of triangles that best fits
 * it (most pixels of that colour inside, each other pixel costing
 * `penalty` of them, which tolerates the soft edge a later blur leaves) and
 * set it to 0. A flood fill from the corners would also eat the glyph's
 * own areas of that colour. Works in place; returns how many pixels it
 * changed (0 when the corners differ).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { blackenFill } from "./image.ts";
 * // 8×8 white, with a gray diamond (a square turned 45°) touching the edge midpoints.
 * const pixels = new Float32Array(64).map((_, i) =>
 *   Math.abs((i % 8) + 0.5 - 4) + Math.abs(Math.floor(i / 8) + 0.5 - 4) < 4 ? 0.5 : 1
 * );
 * const img = { pixels, width: 8, height: 8, channels: 1 as const };
 * const changed = blackenFill(img);
 * assert(changed > 0 && img.pixels[0] === 0); // the white corners are black now
 * assert.equal(img.pixels.filter((p) => p === 0.5).length, 24); // the diamond is untouched
 * ```
 */
export function blackenFill(
  img: FloatImage,
  opts: { tolerance?: number; penalty?: number } = {},
): number {
  const { width: w, height: h, channels: c, pixels } = img;
  const tolerance = opts.tolerance ?? 0.04, penalty = opts.penalty ?? 3;
  const fill = Array.from(pixels.subarray(0, c));
  const isFill = new Uint8Array(w * h).map((_, i) =>
    fill.every((v, k) => Math.abs(pixels[i * c + k] - v) <= tolerance) ? 1 : 0
  );
  const corners = [0, w - 1, (h - 1) * w, h * w - 1];
  if (!corners.every((i) => isFill[i]) || fill.every((v) => v <= tolerance)) return 0;
  const inside = (x: number, y: number, f: number) => {
    const [u, v, g] = [(x + 0.5) / w, (y + 0.5) / h, 1 - f];
    return u / f + v / g < 1 || (1 - u) / g + v / f < 1 || (1 - u) / f + (1 - v) / g < 1 ||
      u / g + (1 - v) / f < 1;
  };
  let best: number[] = [], bestScore = 0;
  const steps = Math.min(256, Math.max(w, h));
  for (let s = 1; s < steps; s++) {
    const f = s / steps, mask: number[] = [];
    let hits = 0;
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        if (!inside(x, y, f)) continue;
        mask.push(y * w + x);
        hits += isFill[y * w + x];
      }
    }
    const score = hits - penalty * (mask.length - hits);
    if (score > bestScore) [best, bestScore] = [mask, score];
  }
  for (const i of best) pixels.fill(0, i * c, i * c + c);
  return best.length;
}

/** Enlarges HWC pixels `factor` times by repeating each pixel (keeps glyphs crisp). */
export function upscale(
  pixels: Float32Array,
  size: number,
  channels: number,
  factor: number,
): Float32Array {
  if (!(Number.isInteger(factor) && factor >= 1)) {
    throw new RangeError(`Cannot upscale: the factor must be a whole number ≥ 1, got ${factor}`);
  }
  const big = size * factor, out = new Float32Array(big * big * channels);
  for (let y = 0; y < big; y++) {
    for (let x = 0; x < big; x++) {
      const from = ((Math.floor(y / factor) * size) + Math.floor(x / factor)) * channels;
      out.set(pixels.subarray(from, from + channels), (y * big + x) * channels);
    }
  }
  return out;
}
