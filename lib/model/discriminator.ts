/**
 * D: image → V+1 logits, GlyphNet's discriminator. The last logit is the
 * "noise" class: the image carries no message.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../rng.ts";
import type { Tensor2D, Tensor4D, Variable } from "../tensors.ts";
import {
  type BatchStats,
  type BlockParams,
  blockVariables,
  convBnAct,
  glorotUniform,
  makeBlockParams,
} from "./block.ts";
import { addVariables, type Network, resolutionSteps, toVariable } from "./network.ts";
import type { GeneratorSpec } from "./generator.ts";

/** A discriminator has the same shape parameters as its generator. */
export type DiscriminatorSpec = GeneratorSpec;

/** A discriminator's variables and shape. */
export interface Discriminator extends Network {
  /** Always "discriminator". */
  kind: "discriminator";
  /** The shape it was built for. */
  spec: DiscriminatorSpec;
  /** 3×3 conv to 2·filters. */
  stem: BlockParams;
  /** One stride-2 downsampling step per resolution halving. */
  downs: { conv: BlockParams; conv1x1: BlockParams }[];
  /** Dense layer to V+1 logits (the last is "noise"). */
  dense: { kernel: Variable; bias: Variable };
}

/**
 * Builds D with R = log2(imageSize) downsampling steps: 3×3 conv to
 * 2·filters → R × [3×3 stride-2 conv, 1×1 conv, residual add], doubling
 * filters after each → global average pool → dense to V+1 logits.
 *
 * @example
 * ```ts
 * import { buildDiscriminator, discriminate } from "./discriminator.ts";
 * import { Rng } from "../rng.ts";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * const d = buildDiscriminator({ messageLength: 4, imageSize: 8, channels: 1, filters: 2 }, new Rng(1));
 * import assert from "node:assert/strict";
 * assert.deepEqual(discriminate(d, tf.zeros([2, 8, 8, 1])).shape, [2, 5]);
 * ```
 */
export function buildDiscriminator(spec: DiscriminatorSpec, rng: Rng): Discriminator {
  const r = resolutionSteps(spec.imageSize);
  let filters = 2 * spec.filters;
  const stem = makeBlockParams("D/stem", {
    size: 3,
    inChannels: spec.channels,
    outChannels: filters,
  }, rng);
  let channels = filters;
  const downs = [];
  for (let i = 1; i <= r; i++) {
    const conv = makeBlockParams(`D/conv_${i}`, {
      size: 3,
      inChannels: channels,
      outChannels: filters,
    }, rng);
    const conv1x1 = makeBlockParams(`D/conv1x1_${i}`, {
      size: 1,
      inChannels: filters,
      outChannels: filters,
    }, rng);
    downs.push({ conv, conv1x1 });
    channels = filters;
    filters *= 2;
  }
  const out = spec.messageLength + 1;
  const dense = {
    kernel: toVariable(glorotUniform([channels, out], rng)),
    bias: toVariable(tf.zeros([out])),
  };
  const d: Discriminator = {
    kind: "discriminator",
    spec,
    variables: new Map(),
    stem,
    downs,
    dense,
  };
  for (const block of [stem, ...downs.flatMap((b) => [b.conv, b.conv1x1])]) {
    addVariables(d, blockVariables(block));
  }
  addVariables(d, [["D/dense/kernel", dense.kernel], ["D/dense/bias", dense.bias]]);
  return d;
}

/**
 * Reads images [B, S, S, C] into logits [B, V+1]; the last logit is "noise".
 * With `stats`, each block adds its batch statistics (for the running averages).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { Rng } from "../rng.ts";
 * import { buildDiscriminator, discriminate } from "./discriminator.ts";
 * const d = buildDiscriminator({ messageLength: 3, imageSize: 4, channels: 1, filters: 1 }, new Rng(2));
 * const logits = discriminate(d, tf.ones([5, 4, 4, 1]));
 * assert.deepEqual(logits.shape, [5, 4]);
 * ```
 */
export function discriminate(
  d: Discriminator,
  images: Tensor4D,
  stats?: BatchStats[],
): Tensor2D {
  return tf.tidy(() => {
    let x = convBnAct(images, d.stem, { size: 3, stride: 1, activation: "swish" }, stats);
    for (const { conv, conv1x1 } of d.downs) {
      const pre = convBnAct(x, conv, { size: 3, stride: 2, activation: "swish" }, stats);
      x = convBnAct(
        pre,
        conv1x1,
        { size: 1, stride: 1, activation: "swish", residual: true },
        stats,
      );
    }
    // D ends at 1×1: a reshape gives the mean's values without tfjs's
    // transpose-and-reduce (milliseconds a call on host backends).
    const [b, h, w, c] = x.shape;
    const pooled = (h * w === 1 ? tf.reshape(x, [b, c]) : tf.mean(x, [1, 2])) as tf.Tensor2D;
    return tf.add(tf.matMul(pooled, d.dense.kernel as tf.Tensor2D), d.dense.bias) as tf.Tensor2D;
  });
}
