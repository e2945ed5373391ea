/**
 * Encoding one message to a glyph and decoding one image, outside training.
 *
 * Both networks normalise with batch statistics, so neither can process a
 * lone sample the way it was trained. We choose to surround it with
 * references, as in training:
 * - encode: the message is drawn in a batch of the training batch size
 *   padded with fixed held-out random messages (G's batches in training
 *   were random messages);
 * - decode: the image is read in a batch with B−1 reference glyphs, G's
 *   glyphs of fixed held-out messages (D's real batches in training). One
 *   image then moves the statistics by 1/B, as one glyph of a training
 *   batch did. A batch of N perturbed copies of the image alone would
 *   instead subtract the glyph from itself.
 * - decode also sends the image, with the references, through the channel
 *   at a level D knows, over several draws, and averages the
 *   probabilities: a D trained at one level (no `randomize`) only saw
 *   channel outputs at that level, and the robustness matrix shows it can
 *   misread clean glyphs (level 0) it reads well blurred and jittered.
 *   `level: 0` reads the image as is.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  type Experiment,
  imageChannels,
  type MessageConfig,
  messageLength,
} from "../config/schema.ts";
import { applyChannel } from "../channel/mod.ts";
import { discriminate, type Discriminator } from "../model/discriminator.ts";
import { generate, type Generator } from "../model/generator.ts";
import { messageTensor, randomMessages } from "../model/messages.ts";
import { Rng } from "../rng.ts";
import { InputError } from "../errors.ts";
import { drawGlyphs } from "./glyphs.ts";
import { argmax } from "./scores.ts";

const LETTERS = "abcdefghijklmnopqrstuvwxyz";

/**
 * Parses a message as the CLI takes it: a symbol index (0-based) or, for
 * one-hot messages of at most 26 symbols, a letter; a bit string for binary.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMessage } from "./codec.ts";
 * assert(parseMessage({ type: "one-hot", size: 26 }, "c")[2] === 1);
 * assert(parseMessage({ type: "binary", bits: 3 }, "101").join() === "1,0,1");
 * ```
 */
export function parseMessage(m: MessageConfig, text: string): Float32Array {
  const v = messageLength(m);
  const row = new Float32Array(v);
  if (m.type === "binary") {
    if (!new RegExp(`^[01]{${v}}$`).test(text)) {
      throw new InputError(
        `Cannot read message "${text}": this run's messages are ${v} bits of 0/1`,
      );
    }
    for (let j = 0; j < v; j++) row[j] = text[j] === "1" ? 1 : 0;
    return row;
  }
  const letter = v <= LETTERS.length && /^[a-z]$/i.test(text)
    ? LETTERS.indexOf(text.toLowerCase())
    : -1;
  const index = letter >= 0 ? letter : /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(index >= 0 && index < v)) {
    const letters = v <= LETTERS.length ? ` or a letter a–${LETTERS[v - 1]}` : "";
    throw new InputError(
      `Cannot read message "${text}": this run has ${v} symbols; give an index 0–${
        v - 1
      }${letters}`,
    );
  }
  row[index] = 1;
  return row;
}

/** How a message prints: a letter (one-hot ≤ 26 symbols), an index, or the bits. */
export function messageLabel(m: MessageConfig, row: ArrayLike<number>): string {
  if (m.type === "binary") return Array.from(row, (b) => (b > 0.5 ? "1" : "0")).join("");
  const best = argmax(row, 0, m.size);
  return m.size <= LETTERS.length ? LETTERS[best] : String(best);
}

/** Fixed held-out messages that fill a batch around the one we care about. */
function references(config: Experiment, seed: number): Float32Array {
  const n = Math.max(1, config.training.batch_size - 1);
  return randomMessages(config.message, n, new Rng(seed)).messages;
}

/** The glyph of one message row [V], drawn among fixed references; [S, S, C] pixels. */
export async function encodeMessage(
  g: Generator,
  config: Experiment,
  message: Float32Array,
  opts: { seed: number },
): Promise<Float32Array> {
  return await drawGlyphs(g, message, {
    batch: config.training.batch_size,
    padding: references(config, opts.seed),
  });
}

/** What D read in one image. */
export interface Decoded {
  /** The most likely message (letter, index or bit string). */
  message: string;
  /** Its probability: one-hot, softmax share over V+1; binary, product of per-bit confidences. */
  probability: number;
  /** D's probability that the image carries no message. */
  noise: number;
  /** True when "noise" is D's best answer. */
  isNoise: boolean;
}

/** Options of {@linkcode decodeImage}. */
export interface DecodeOptions {
  /** Channel level of the reference glyphs (the run's level). */
  level: number;
  /** Seed of the references. */
  seed: number;
  /** Channel draws (each with its own references) to average over (default 8). */
  sets?: number;
}

/** Decodes one image [S, S, C] (values in [0, 1]) among reference glyphs (see the module doc). */
export async function decodeImage(
  g: Generator,
  d: Discriminator,
  config: Experiment,
  image: Float32Array,
  opts: DecodeOptions,
): Promise<Decoded> {
  const m = config.message, v = messageLength(m);
  const s = config.image.size, c = imageChannels(config.image);
  if (image.length !== s * s * c) {
    throw new RangeError(
      `Cannot decode: the image has ${image.length} values, the model reads ${s}×${s}×${c}`,
    );
  }
  const sets = opts.sets ?? 8, refs = config.training.batch_size - 1;
  // Exact levels: `randomize` is a training choice, not a way to read.
  const channel = { ...config.channel, randomize: false };
  const probs = new Float64Array(v + 1);
  for (let k = 0; k < sets; k++) {
    const rng = new Rng(opts.seed + k);
    const logits = tf.tidy(() => {
      let batch: tf.Tensor4D = tf.tensor4d(image, [1, s, s, c]);
      if (refs > 0) {
        const msgs = randomMessages(m, refs, rng);
        batch = tf.concat([batch, generate(g, messageTensor(msgs))], 0);
      }
      const sent = applyChannel(batch, channel, { level: opts.level, rng });
      const row = tf.slice(discriminate(d, sent), [0, 0], [1, v + 1]);
      return m.type === "one-hot" ? tf.softmax(row) : tf.sigmoid(row);
    });
    const p = await logits.data();
    logits.dispose();
    for (let j = 0; j <= v; j++) probs[j] += p[j] / sets;
  }
  const noise = probs[v];
  if (m.type === "one-hot") {
    const best = argmax(probs, 0, v);
    return {
      message: messageLabel(m, probs.subarray(0, v)),
      probability: probs[best],
      noise,
      isNoise: noise > probs[best],
    };
  }
  let probability = 1;
  for (let j = 0; j < v; j++) probability *= Math.max(probs[j], 1 - probs[j]);
  return {
    message: messageLabel(m, probs.subarray(0, v)),
    probability,
    noise,
    isNoise: noise > 0.5,
  };
}
