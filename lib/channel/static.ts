/**
 * The `static` op: additive Gaussian noise, σ per sample.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { randomNormal } from "../backend/fused_kernels.ts";
import { affineOp } from "./_custom.ts";

/**
 * Adds N(0, σᵢ²) noise to sample i. Values may leave [0, 1]: clipping would
 * zero G's gradient on saturated pixels, and GlyphNet did not clip.
 * The noise comes from a seeded `randomNormal` (the backend's own stream
 * where it has one), so `seed` reproduces it on a backend.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { staticNoise } from "./static.ts";
 * const noisy = staticNoise(tf.fill([2, 4, 4, 1], 0.5) as tf.Tensor4D, [0.1, 0.2], 7);
 * assert(noisy.shape.join() === "2,4,4,1");
 * ```
 */
export function staticNoise(images: tf.Tensor4D, sigmas: number[], seed: number): tf.Tensor4D {
  if (sigmas.length !== images.shape[0]) {
    throw new RangeError(
      `Cannot add static noise: got ${sigmas.length} σ values for a batch of ${images.shape[0]}`,
    );
  }
  const add = (x: tf.Tensor4D) =>
    tf.tidy(() => {
      const noise = randomNormal(x.shape, 0, 1, seed);
      return tf.add(x, tf.mul(noise, tf.tensor4d(sigmas, [sigmas.length, 1, 1, 1])));
    });
  return affineOp(images, add, (dy) => tf.clone(dy));
}
