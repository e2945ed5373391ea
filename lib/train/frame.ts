/**
 * The frame event: G's glyphs of the frame's messages, and the same glyphs
 * as D receives them through the channel at the epoch's level (one seeded
 * draw per run, so frames compare across epochs).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Experiment } from "../config/schema.ts";
import { applyChannel } from "../channel/mod.ts";
import { generate, type Generator } from "../model/generator.ts";
import type { FrameMessages } from "../model/frame_messages.ts";
import { messageTensor } from "../model/messages.ts";
import { Rng } from "../rng.ts";

/** What the loop reports when a frame is due. */
export interface FrameEvent {
  /** The event's kind. */
  type: "frame";
  /** The epoch that just ended. */
  epoch: number;
  /** The level the channel view was drawn at (the epoch's level). */
  level: number;
  /** G's glyphs of the frame's messages, NHWC in [0, 1]. */
  images: Float32Array;
  /** The same glyphs through the channel at `level` (values may leave [0, 1]). */
  channel: Float32Array;
  /** Shape [N, H, W, C] of `images` and `channel`. */
  shape: [number, number, number, number];
  /** One label per glyph: its message. */
  labels: string[];
}

/** Generates the frame's glyphs and their channel view. */
export async function frameEvent(
  g: Generator,
  config: Experiment,
  opts: { messages: FrameMessages; epoch: number; level: number },
): Promise<FrameEvent> {
  // Exactly the level (not 0..level as `randomize` trains), seeded per run.
  const channel = { ...config.channel, randomize: false };
  const [clean, seen] = tf.tidy(() => {
    const glyphs = generate(g, messageTensor(opts.messages.batch));
    return [
      glyphs,
      applyChannel(glyphs, channel, { level: opts.level, rng: new Rng(config.seed + 2) }),
    ];
  });
  try {
    return {
      type: "frame",
      epoch: opts.epoch,
      level: opts.level,
      images: await clean.data() as Float32Array,
      channel: await seen.data() as Float32Array,
      shape: clean.shape as [number, number, number, number],
      labels: opts.messages.labels,
    };
  } finally {
    tf.dispose([clean, seen]);
  }
}
