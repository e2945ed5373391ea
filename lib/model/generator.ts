/**
 * G: message → image, GlyphNet's generator.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../rng.ts";
import type { Tensor2D, Tensor4D } from "../tensors.ts";
import {
  type BatchStats,
  type BlockParams,
  blockVariables,
  convBnAct,
  makeBlockParams,
} from "./block.ts";
import { addVariables, type Network, resolutionSteps } from "./network.ts";

/** Shape of a generator. */
export interface GeneratorSpec {
  /** Message length V (symbols for one-hot, bits for binary). */
  messageLength: number;
  /** Image width and height, a power of two. */
  imageSize: number;
  /** Image channels: 1 (grayscale) or 3 (RGB). */
  channels: number;
  /** Filters of the last feature map; each earlier one has twice as many. */
  filters: number;
}

/** A generator's variables and shape. */
export interface Generator extends Network {
  /** Always "generator". */
  kind: "generator";
  /** The shape it was built for. */
  spec: GeneratorSpec;
  /** 1×1 conv from the message to filters·2^R. */
  stem: BlockParams;
  /** One stride-2 upsampling step per resolution doubling. */
  ups: { deconv: BlockParams; conv: BlockParams }[];
  /** 3×3 conv to the image's channels, sigmoid. */
  head: BlockParams;
}

/**
 * Builds G with R = log2(imageSize) upsampling steps: 1×1 conv to
 * filters·2^R → R × [3×3 stride-2 transposed conv, 1×1 conv, residual add],
 * halving filters → 3×3 conv to `channels` with a sigmoid.
 *
 * @example
 * ```ts
 * import { buildGenerator, generate } from "./generator.ts";
 * import { Rng } from "../rng.ts";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * const g = buildGenerator({ messageLength: 4, imageSize: 8, channels: 1, filters: 2 }, new Rng(1));
 * import assert from "node:assert/strict";
 * const images = generate(g, tf.eye(4) as tf.Tensor2D);
 * assert.deepEqual(images.shape, [4, 8, 8, 1]);
 * ```
 */
export function buildGenerator(spec: GeneratorSpec, rng: Rng): Generator {
  if (spec.channels !== 1 && spec.channels !== 3) {
    throw new RangeError(`Cannot build a generator with ${spec.channels} channels: use 1 or 3`);
  }
  const r = resolutionSteps(spec.imageSize);
  let filters = spec.filters * 2 ** r;
  const stem = makeBlockParams("G/stem", {
    size: 1,
    inChannels: spec.messageLength,
    outChannels: filters,
  }, rng);
  const ups = [];
  for (let i = 1; i <= r; i++) {
    const out = filters / 2;
    const deconv = makeBlockParams(`G/deconv_${i}`, {
      size: 3,
      inChannels: filters,
      outChannels: out,
      transpose: true,
    }, rng);
    const conv = makeBlockParams(
      `G/conv1x1_${i}`,
      { size: 1, inChannels: out, outChannels: out },
      rng,
    );
    ups.push({ deconv, conv });
    filters = out;
  }
  const head = makeBlockParams("G/head", {
    size: 3,
    inChannels: filters,
    outChannels: spec.channels,
  }, rng);
  const g: Generator = { kind: "generator", spec, variables: new Map(), stem, ups, head };
  for (const block of [stem, ...ups.flatMap((u) => [u.deconv, u.conv]), head]) {
    addVariables(g, blockVariables(block));
  }
  return g;
}

/**
 * Draws messages [B, V] as images [B, S, S, C] with values in (0, 1).
 * With `stats`, each block adds its batch statistics (for the running averages).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { Rng } from "../rng.ts";
 * import { buildGenerator, generate } from "./generator.ts";
 * const g = buildGenerator({ messageLength: 3, imageSize: 4, channels: 3, filters: 1 }, new Rng(2));
 * const pixels = await generate(g, tf.eye(3) as tf.Tensor2D).data();
 * assert.equal(pixels.length, 3 * 4 * 4 * 3);
 * assert.ok(pixels.every((p) => p > 0 && p < 1));
 * ```
 */
export function generate(g: Generator, messages: Tensor2D, stats?: BatchStats[]): Tensor4D {
  return tf.tidy(() => {
    const [b, v] = messages.shape;
    let x = convBnAct(tf.reshape(messages, [b, 1, 1, v]), g.stem, {
      size: 1,
      stride: 1,
      activation: "swish",
    }, stats);
    for (const { deconv, conv } of g.ups) {
      const pre = convBnAct(
        x,
        deconv,
        { size: 3, stride: 2, transpose: true, activation: "swish" },
        stats,
      );
      x = convBnAct(pre, conv, { size: 1, stride: 1, activation: "swish", residual: true }, stats);
    }
    return convBnAct(x, g.head, { size: 3, stride: 1, activation: "sigmoid" }, stats);
  });
}
