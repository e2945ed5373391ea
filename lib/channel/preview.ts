/**
 * The channel preview: a PNG sheet with one row per difficulty level,
 * labelled with what each op does there, and one column per sample glyph,
 * labelled with its message, to see what each level does.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type Experiment, imageChannels } from "../config/schema.ts";
import { tableSvg } from "../image/compose.ts";
import { rasterizeSvg } from "../image/raster.ts";
import { describeLevel } from "./describe.ts";
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
  /** Column captions, one per glyph (default: "sample 1", "sample 2", …). */
  labels?: string[];
  /** The line on top (default: what the sheet shows). */
  title?: string;
}

/**
 * Renders levels 0..`channel.schedule.max` (rows, each labelled with its
 * level and what every op does there) of the experiment's channel applied
 * to sample glyphs (columns, captioned), as PNG bytes. Runs on the current
 * tfjs backend.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { experimentSchema } from "../config/schema.ts";
 * import { renderChannelSheet } from "./preview.ts";
 * const config = experimentSchema.parse({ image: { size: 8 }, channel: { schedule: { max: 2 } } });
 * const sheet = await renderChannelSheet(config, { samples: 2 });
 * assert(sheet.width > 0 && sheet.height > 0);
 * assert.equal(sheet.data[1], 0x50); // "P" of the PNG signature
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
  const rows = Array.from({ length: levels }, (_, level) => {
    const ops = describeLevel(config.channel, level, {
      grayscale: config.image.color === "grayscale",
    });
    const half = Math.ceil(ops.length / 2);
    return {
      label: `level ${level}: ${ops.slice(0, half).join(" · ")}\n${ops.slice(half).join(" · ")}`,
      glyphs: {
        images: cells.subarray(level * n * h * w * c, (level + 1) * n * h * w * c),
        shape: [n, h, w, c] as [number, number, number, number],
      },
    };
  });
  const columns = Array.from({ length: n }, (_, i) => opts.labels?.[i] ?? `sample ${i + 1}`);
  const title = opts.title ??
    `What each level of the channel does (${
      opts.glyphs ? "G's glyphs" : "random smooth images"
    }; one seeded draw per level)`;
  const sheet = await rasterizeSvg(tableSvg({ title, columns, rows }));
  return { data: sheet.png, width: sheet.width, height: sheet.height };
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
