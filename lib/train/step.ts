/**
 * One GlyphNet training step: (a) D learns to decode G's glyphs sent through
 * the channel; (b) D learns to call negatives noise (even steps: glyphs of
 * a freshly initialised G, odd steps: sigmoid(normal) images, both through
 * the channel); (c) G learns, through the channel and D, to be decoded.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { messageLength } from "../config/schema.ts";
import { applyChannel } from "../channel/mod.ts";
import { type BatchStats, updateRunningStats } from "../model/block.ts";
import { discriminate } from "../model/discriminator.ts";
import { generate } from "../model/generator.ts";
import { type Network, trainableVariables } from "../model/network.ts";
import type { Adam } from "./adam.ts";
import type { TrainState } from "./state.ts";
import { decodeLoss } from "../eval/scores.ts";
import {
  labelTensor,
  messageTensor,
  noiseImages,
  noiseLabels,
  randomMessages,
} from "../model/messages.ts";

export type { TrainState } from "./state.ts";

/** The three losses of a step, as scalars still on the backend. */
export interface StepLosses {
  dReal: tf.Scalar;
  dFake: tf.Scalar;
  g: tf.Scalar;
}

/** Runs one step, updating G, D and both optimizers. The caller disposes the losses. */
export function trainStep(s: TrainState): StepLosses {
  const { config } = s;
  const batch = config.training.batch_size;
  const m = config.message;
  const v = messageLength(m);

  const real = randomMessages(m, batch, s.rng);
  const glyphs = tf.tidy(() =>
    applyChannel(generate(s.g, messageTensor(real)), config.channel, { level: s.level, rng: s.rng })
  );
  const dReal = minimize(
    s.d,
    s.dOpt,
    (stats) =>
      tf.tidy(() => decodeLoss(m, discriminate(s.d, glyphs, stats), labelTensor(real.labels, v))),
  );
  glyphs.dispose();

  const negatives = tf.tidy(() => {
    const images = s.step % 2 === 0
      ? generate(s.randomG, messageTensor(randomMessages(m, batch, s.rng)))
      : noiseImages(config.image, batch, s.rng.seed());
    return applyChannel(images, config.channel, { level: s.level, rng: s.rng });
  });
  const dFake = minimize(
    s.d,
    s.dOpt,
    (stats) =>
      tf.tidy(() =>
        decodeLoss(m, discriminate(s.d, negatives, stats), labelTensor(noiseLabels(m, batch), v))
      ),
  );
  negatives.dispose();

  const coop = randomMessages(m, batch, s.rng);
  const g = minimize(s.g, s.gOpt, (stats) =>
    tf.tidy(() => {
      const sent = applyChannel(generate(s.g, messageTensor(coop), stats), config.channel, {
        level: s.level,
        rng: s.rng,
      });
      return decodeLoss(m, discriminate(s.d, sent), labelTensor(coop.labels, v));
    }));
  s.step++;
  return { dReal, dFake, g };
}

/** Takes one Adam step on `net` for the loss `f` builds; returns the loss. */
function minimize(net: Network, opt: Adam, f: (stats: BatchStats[]) => tf.Scalar): tf.Scalar {
  const stats: BatchStats[] = [];
  const vars = trainableVariables(net);
  const { value, grads } = tf.variableGrads(() => f(stats), vars);
  const byName = new Map<string, tf.Tensor>();
  for (const [name, w] of net.variables) {
    if (grads[w.name]) byName.set(name, grads[w.name]);
  }
  opt.apply(net.variables, byName);
  tf.dispose(Object.values(grads));
  updateRunningStats(stats);
  return value;
}
