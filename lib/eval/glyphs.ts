/**
 * Drawing glyphs outside training, and the metrics of the glyph set:
 * diversity (collapse detector) and, for binary messages, topographic
 * similarity.
 *
 * G's batch norm uses the statistics of the batch it draws, and a batch of
 * one has none to speak of (its first layer is 1×1 spatially: variance 0).
 * So glyphs are always drawn in batches of the training batch size, the
 * last one padded with earlier messages, as G saw them in training.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type Experiment, imageChannels, messageLength } from "../config/schema.ts";
import { generate, type Generator } from "../model/generator.ts";
import { type MessageBatch, randomMessages } from "../model/messages.ts";
import { Rng } from "../rng.ts";
import { glyphDiversity, topographicSimilarity } from "./metrics.ts";

/** Largest glyph set the metrics compare pairwise (cost grows with its square). */
const MAX_GLYPHS = 512;

/**
 * Draws the glyph of each row of `messages` ([n, V] row-major), in batches
 * of `batch` padded with `padding` rows (default: `messages` itself,
 * cyclically). Returns [n, S, S, C] pixels in (0, 1).
 */
export async function drawGlyphs(
  g: Generator,
  messages: Float32Array,
  opts: { batch: number; padding?: Float32Array },
): Promise<Float32Array> {
  const v = g.spec.messageLength;
  const n = messages.length / v;
  const pad = opts.padding ?? messages;
  const padRows = pad.length / v;
  if (!Number.isInteger(n) || !Number.isInteger(padRows) || padRows < 1) {
    throw new RangeError(`Cannot draw glyphs: messages must be whole rows of ${v} values`);
  }
  const s = g.spec.imageSize, px = s * s * g.spec.channels;
  const out = new Float32Array(n * px);
  const batch = Math.max(1, opts.batch);
  for (let start = 0; start < n; start += batch) {
    const rows = new Float32Array(batch * v);
    const take = Math.min(batch, n - start);
    rows.set(messages.subarray(start * v, (start + take) * v));
    for (let i = take; i < batch; i++) {
      const from = (i - take) % padRows;
      rows.set(pad.subarray(from * v, (from + 1) * v), i * v);
    }
    const images = tf.tidy(() => generate(g, tf.tensor2d(rows, [batch, v])));
    const data = await images.data() as Float32Array;
    images.dispose();
    out.set(data.subarray(0, take * px), start * px);
  }
  return out;
}

/**
 * The held-out glyph set of an experiment: every symbol (up to 512) for
 * one-hot messages; `samples` seeded random messages for binary ones.
 */
export function glyphSetMessages(config: Experiment, samples: number, seed: number): MessageBatch {
  const m = config.message;
  if (m.type === "binary") {
    return randomMessages(m, Math.min(samples, MAX_GLYPHS), new Rng(seed));
  }
  const count = Math.min(m.size, MAX_GLYPHS), v = m.size;
  const messages = new Float32Array(count * v);
  for (let i = 0; i < count; i++) messages[i * v + i] = 1;
  return { size: count, length: v, messages, labels: new Float32Array(0) };
}

/** What the glyph set says about the language. */
export interface GlyphMetrics {
  /** Mean RMS pixel distance between glyphs of distinct messages (0 = collapse). */
  diversity: number;
  /** Binary messages: Spearman ρ of message Hamming vs glyph pixel distances. */
  topographic_similarity: number | null;
  /** Glyphs compared. */
  glyphs: number;
}

/** Draws the held-out glyph set and measures it. */
export async function glyphMetrics(
  g: Generator,
  config: Experiment,
  opts: { samples: number; seed: number },
): Promise<GlyphMetrics> {
  const set = glyphSetMessages(config, opts.samples, opts.seed);
  const glyphs = await drawGlyphs(g, set.messages, { batch: config.training.batch_size });
  const s = config.image.size, px = s * s * imageChannels(config.image);
  const v = messageLength(config.message);
  const rho = config.message.type === "binary"
    ? topographicSimilarity(set.messages, v, glyphs, px)
    : null;
  return {
    diversity: glyphDiversity(glyphs, px, set.messages, v),
    topographic_similarity: rho === null || Number.isNaN(rho) ? null : rho,
    glyphs: set.size,
  };
}
