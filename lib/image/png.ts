/**
 * PNG in and out for glyph frames, channel sheets and images given to
 * decode: float pixels in [0, 1] on our side, PNG bytes on the other, and a
 * helper that tiles images into a grid. Encoding uses `fast-png` (deflate in
 * JavaScript, fflate): `pngjs` deflates through node:zlib, whose sync calls
 * kept their memory under Deno 2.9 (encoding and decoding a 200×200 image
 * 3,000 times grew the C heap by 1.4 GB; with this encoder it stays flat).
 * Decoding keeps `pngjs`, which reads every PNG kind (palette, 16-bit,
 * alpha) as RGBA; it runs once per image given.
 * @module
 */
// @ts-types="@types/pngjs"
import { PNG } from "pngjs";
import { encode } from "fast-png";
import { Buffer } from "node:buffer";
import { InputError } from "../errors.ts";

/** An image as HWC float pixels in [0, 1] with its size. */
export interface FloatImage {
  pixels: Float32Array;
  width: number;
  height: number;
  channels: 1 | 3;
}

/** Options of {@linkcode gridImage}. */
export interface GridOptions {
  /** Images per row. */
  cols: number;
  /** Pixels between images and around the edge (default 1). */
  pad?: number;
  /** Value of the padding, 0 (black) to 1 (white) (default 1). */
  background?: number;
}

/**
 * Encodes HWC pixels in [0, 1] (values outside are clipped) as an 8-bit
 * grayscale (1 channel) or RGB (3 channels) PNG.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodePng } from "./png.ts";
 * const bytes = encodePng(new Float32Array(4 * 4).fill(0.5), 4, 4, 1);
 * assert(bytes[1] === 0x50); // "P" of the PNG signature
 * ```
 */
export function encodePng(
  pixels: Float32Array,
  width: number,
  height: number,
  channels: 1 | 3,
): Uint8Array {
  if (channels !== 1 && channels !== 3) {
    throw new RangeError(`Cannot encode a PNG: channels must be 1 or 3, got ${channels}`);
  }
  if (!(width > 0 && height > 0) || pixels.length !== width * height * channels) {
    throw new RangeError(
      `Cannot encode a PNG: ${pixels.length} values do not fill ${width}×${height}×${channels}`,
    );
  }
  const data = new Uint8Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) {
    const v = pixels[i];
    data[i] = Number.isNaN(v) ? 0 : Math.round(Math.min(1, Math.max(0, v)) * 255);
  }
  return encode({ width, height, data, channels, depth: 8 });
}

/**
 * Tiles `n` images of shape [h, w, c] (NHWC, row-major) into rows of
 * `cols`, separated and framed by `pad` pixels of `background`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { gridImage } from "./png.ts";
 * const g = gridImage(new Float32Array(3 * 2 * 2), [3, 2, 2, 1], { cols: 2, pad: 1 });
 * assert(g.width === 7 && g.height === 7);
 * ```
 */
export function gridImage(
  images: Float32Array,
  shape: [number, number, number, number],
  opts: GridOptions,
): FloatImage {
  const [n, h, w, c] = shape;
  const pad = opts.pad ?? 1;
  if (c !== 1 && c !== 3) {
    throw new RangeError(`Cannot tile images: channels must be 1 or 3, got ${c}`);
  }
  if (images.length !== n * h * w * c) {
    throw new RangeError(
      `Cannot tile images: ${images.length} values do not match shape [${shape.join(", ")}]`,
    );
  }
  if (!(Number.isInteger(opts.cols) && opts.cols >= 1) || !(Number.isInteger(pad) && pad >= 0)) {
    throw new RangeError("Cannot tile images: cols must be a whole number ≥ 1 and pad ≥ 0");
  }
  const cols = Math.min(opts.cols, Math.max(n, 1));
  const rows = Math.max(1, Math.ceil(n / cols));
  const width = cols * (w + pad) + pad, height = rows * (h + pad) + pad;
  const pixels = new Float32Array(width * height * c).fill(opts.background ?? 1);
  for (let i = 0; i < n; i++) {
    const top = pad + Math.floor(i / cols) * (h + pad), left = pad + (i % cols) * (w + pad);
    for (let y = 0; y < h; y++) {
      const from = ((i * h + y) * w) * c;
      pixels.set(images.subarray(from, from + w * c), ((top + y) * width + left) * c);
    }
  }
  return { pixels, width, height, channels: c };
}

/** Largest image we decode: 32 Mpx (a 6000×4000 photo fits); it costs ~20 bytes a pixel. */
export const MAX_PNG_PIXELS = 2 ** 25;

/** Refuses a PNG whose header declares more pixels than we are willing to allocate. */
function checkPngSize(bytes: Uint8Array, name: string): void {
  // Signature (8 bytes), IHDR length and type (8), then width and height, big-endian.
  if (bytes.length < 24) return; // pngjs says what is wrong with it
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const width = view.getUint32(16), height = view.getUint32(20);
  if (width * height > MAX_PNG_PIXELS) {
    throw new InputError(
      `Cannot read "${name}": it declares ${width}×${height} pixels, more than the ` +
        `${MAX_PNG_PIXELS / 2 ** 20} Mpx this tool decodes`,
    );
  }
}

/**
 * Decodes PNG bytes (gray, RGB, RGBA, palette; 8 or 16 bit) to RGB floats.
 * Transparent pixels are composited over white, the background image
 * tools fill with when they rotate or pad.
 */
export function decodePng(bytes: Uint8Array, name = "image"): FloatImage {
  checkPngSize(bytes, name);
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (e) {
    throw new InputError(
      `Cannot read "${name}": not a PNG pngjs can decode (${(e as Error).message})`,
    );
  }
  const { width, height, data } = png; // always 8-bit RGBA after decoding
  const pixels = new Float32Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const a = data[i * 4 + 3] / 255;
    for (let c = 0; c < 3; c++) pixels[i * 3 + c] = (data[i * 4 + c] / 255) * a + (1 - a);
  }
  return { pixels, width, height, channels: 3 };
}
