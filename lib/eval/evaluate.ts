/**
 * Held-out decoding: fixed messages and a fixed channel draw (both from a
 * seed), run in batches of the training batch size because batch norm
 * normalises with the statistics of the batch (docs/ARCHITECTURE.md).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Experiment, OpName } from "../config/schema.ts";
import { applyChannel } from "../channel/mod.ts";
import { discriminate, type Discriminator } from "../model/discriminator.ts";
import { generate, type Generator } from "../model/generator.ts";
import { type DecodeScore, negativesCalledMessage, scoreDecoding } from "./scores.ts";
import { messageTensor, noiseImages, randomMessages } from "../model/messages.ts";
import { Rng } from "../rng.ts";

/** What to evaluate. */
export interface EvalOptions {
  /** Channel difficulty. */
  level: number;
  /** Messages to decode. */
  samples: number;
  /** Seed of the messages and the channel's draws: the same seed, the same test. */
  seed: number;
  /** Apply only this op (for a per-op robustness matrix); default: the whole channel. */
  only?: OpName | "extras";
  /**
   * Draw each op's level from 0..`level` when the experiment trains that way
   * (`channel.randomize`), as the accuracy schedule's check does; default:
   * exactly `level`.
   */
  asTrained?: boolean;
  /** Also measure how often D takes noise images for messages. */
  negatives?: boolean;
}

/** Decode scores, plus the share of negatives taken for messages when asked. */
export interface EvalResult extends DecodeScore {
  /** With `negatives`: share of noise images D took for a message. */
  negativesCalledMessage?: number;
}

/**
 * Decodes `samples` held-out messages sent through the channel at exactly
 * `level`, in batches of the training batch size (batch norm uses the
 * statistics of the batch at hand: docs/ARCHITECTURE.md).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { experimentSchema } from "../config/schema.ts";
 * import { buildDiscriminator } from "../model/discriminator.ts";
 * import { buildGenerator } from "../model/generator.ts";
 * import { Rng } from "../rng.ts";
 * import { evaluate } from "./evaluate.ts";
 * const config = experimentSchema.parse({
 *   message: { size: 4 },
 *   image: { size: 4, color: "grayscale" },
 *   training: { batch_size: 4 },
 * });
 * const spec = { messageLength: 4, imageSize: 4, channels: 1, filters: 1 };
 * const nets = { g: buildGenerator(spec, new Rng(1)), d: buildDiscriminator(spec, new Rng(2)) };
 * const r = await evaluate(nets, config, { level: 0, samples: 8, seed: 3, negatives: true });
 * assert.ok(r.accuracy >= 0 && r.accuracy <= 1); // untrained: about chance
 * assert.ok(r.negativesCalledMessage !== undefined);
 * ```
 */
export async function evaluate(
  nets: { g: Generator; d: Discriminator },
  config: Experiment,
  opts: EvalOptions,
): Promise<EvalResult> {
  const { g, d } = nets;
  const rng = new Rng(opts.seed);
  // Exactly `level`, unless asked to draw levels as training does.
  const channel = { ...config.channel, randomize: config.channel.randomize && !!opts.asTrained };
  const batch = Math.min(config.training.batch_size, opts.samples);
  const m = config.message;
  let done = 0, exact = 0, bits = 0, noise = 0, negWrong = 0, negCount = 0;
  while (done < opts.samples) {
    const n = Math.min(batch, opts.samples - done);
    const msgs = randomMessages(m, n, rng);
    const logits = tf.tidy(() => {
      const sent = applyChannel(generate(g, messageTensor(msgs)), channel, {
        level: opts.level,
        rng,
        only: opts.only,
      });
      return discriminate(d, sent);
    });
    const score = scoreDecoding(m, await logits.data() as Float32Array, msgs.messages);
    logits.dispose();
    exact += score.accuracy * n;
    bits += score.bitAccuracy * n;
    noise += score.calledNoise * n;
    if (opts.negatives) {
      const neg = tf.tidy(() => {
        const images = noiseImages(config.image, n, rng.seed());
        return discriminate(d, applyChannel(images, channel, { level: opts.level, rng }));
      });
      negWrong += negativesCalledMessage(m, await neg.data() as Float32Array) * n;
      negCount += n;
      neg.dispose();
    }
    done += n;
  }
  const result: EvalResult = {
    accuracy: exact / done,
    bitAccuracy: bits / done,
    calledNoise: noise / done,
  };
  if (opts.negatives) result.negativesCalledMessage = negWrong / negCount;
  return result;
}

/**
 * The seed of a run's held-out test (the seed after the training seed):
 * training, eval, encode and decode all measure on the same messages.
 */
export function heldOutSeed(config: Experiment): number {
  return config.seed + 1;
}
