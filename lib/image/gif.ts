/**
 * An animated GIF of the frames, one palette per frame (gifenc).
 * @module
 */
// @ts-types="./gifenc.d.ts"
import gifenc from "gifenc";

// gifenc ships CommonJS whose named exports Deno cannot detect.
const { applyPalette, GIFEncoder, quantize } = gifenc;

/** One RGB(A) picture with values 0..255. */
export interface RgbaFrame {
  rgba: Uint8Array;
  width: number;
  height: number;
}

/** Encodes frames as a looping GIF, `delayMs` per frame (last one held 4×). */
export function encodeGif(frames: RgbaFrame[], delayMs = 150): Uint8Array {
  const gif = GIFEncoder();
  frames.forEach((f, i) => {
    const palette = quantize(f.rgba, 256);
    gif.writeFrame(applyPalette(f.rgba, palette), f.width, f.height, {
      palette,
      delay: i === frames.length - 1 ? delayMs * 4 : delayMs,
      repeat: 0,
    });
  });
  gif.finish();
  return gif.bytes();
}

/** Float pixels in [0, 1] (1 or 3 channels) as RGBA bytes. */
export function toRgba(
  pixels: Float32Array,
  width: number,
  height: number,
  channels: number,
): Uint8Array {
  const out = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) {
      const v = pixels[i * channels + (channels === 3 ? c : 0)];
      out[i * 4 + c] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
    out[i * 4 + 3] = 255;
  }
  return out;
}
