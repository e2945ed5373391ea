/**
 * The channel preview: a PNG sheet with one row per difficulty level and
 * one column per sample glyph, to see what each level does.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type Experiment, imageChannels } from "../config/schema.ts";
import { encodePng, gridImage } from "../image/png.ts";
import { Rng } from "../rng.ts";
import { applyChannel } from "./pipeline.ts";

/** Options of {@linkcode renderChannelSheet}. */
export interface SheetOptions {
  /** Glyphs [N,H,W,C] in [0, 1] to send (default: random smooth blobs). */
  glyphs?: tf.Tensor4D;
  /** Columns: samples per level (default: all given glyphs, else 8). */
  samples?: number;
  /** Seed of the channel's draws (default: the experiment's seed). */
  seed?: number;
}

/** Pixels between cells of the sheet. */
const GAP = 2;

/**
 * Renders levels 0..`channel.schedule.max` (rows) of the experiment's
 * channel applied to sample glyphs (columns), separated by a thin white gap,
 * as PNG bytes. Runs on the current tfjs backend.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { experimentSchema } from "../config/schema.ts";
 * import { renderChannelSheet } from "./preview.ts";
 * const config = experimentSchema.parse({ image: { size: 8 }, channel: { schedule: { max: 2 } } });
 * const sheet = await renderChannelSheet(config, { samples: 2 });
 * assert(sheet.height === 3 * (8 + 2) + 2);
 * ```
 */
export async function renderChannelSheet(
  config: Experiment,
  opts: SheetOptions = {},
): Promise<{ data: Uint8Array; width: number; height: number }> {
  const rng = new Rng(opts.seed ?? config.seed);
  const glyphs = opts.glyphs
    ? pickGlyphs(opts.glyphs, opts.samples)
    : randomBlobs(config, opts, rng);
  const [n, h, w, c] = glyphs.shape;
  if (c !== 1 && c !== 3) {
    tf.dispose(glyphs);
    throw new RangeError(`Cannot render the channel sheet: glyphs need 1 or 3 channels, got ${c}`);
  }
  const levels = config.channel.schedule.max + 1;
  const cells = new Float32Array(levels * n * h * w * c);
  try {
    for (let level = 0; level < levels; level++) {
      const out = applyChannel(glyphs, config.channel, { level, rng: rng.fork() });
      cells.set(await out.data(), level * n * h * w * c);
      out.dispose();
    }
  } finally {
    glyphs.dispose();
  }
  const grid = gridImage(cells, [levels * n, h, w, c], { cols: n, pad: GAP, background: 1 });
  return {
    data: encodePng(grid.pixels, grid.width, grid.height, grid.channels),
    width: grid.width,
    height: grid.height,
  };
}

/** The first `samples` glyphs, as a new tensor the caller disposes. */
function pickGlyphs(glyphs: tf.Tensor4D, samples?: number): tf.Tensor4D {
  if (glyphs.rank !== 4 || glyphs.shape[0] < 1) {
    throw new RangeError(
      `Cannot render the channel sheet: glyphs must be [N,H,W,C] with N ≥ 1, got [${glyphs.shape}]`,
    );
  }
  const n = Math.min(samples ?? glyphs.shape[0], glyphs.shape[0]);
  return tf.slice(glyphs, [0, 0, 0, 0], [n, -1, -1, -1]);
}

/** Smooth random images: upsampled sigmoid(3·normal) blobs, so geometry shows. */
function randomBlobs(config: Experiment, opts: SheetOptions, rng: Rng): tf.Tensor4D {
  const n = opts.samples ?? 8;
  if (!(Number.isInteger(n) && n >= 1)) {
    throw new RangeError(`Cannot render the channel sheet: samples must be ≥ 1, got ${n}`);
  }
  const size = config.image.size;
  const channels = imageChannels(config.image);
  const coarse = Math.max(3, Math.round(size / 8));
  return tf.tidy(() => {
    const noise = tf.randomNormal([n, coarse, coarse, channels], 0, 3, "float32", rng.seed());
    return tf.image.resizeBilinear(tf.sigmoid(noise) as tf.Tensor4D, [size, size], true);
  });
}
