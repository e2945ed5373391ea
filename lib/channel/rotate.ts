/**
 * The `rotate` op: a random angle about the centre, bilinear, zero fill.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../rng.ts";
import { type AffineMaps, centredMaps, resampleAffine } from "./_resample.ts";

/**
 * Rotates sample i clockwise (as displayed) by `degrees[i]` about its
 * centre; corners rotated in from outside read zero. Values stay in [0, 1].
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { rotateImages } from "./rotate.ts";
 * const turned = rotateImages(tf.ones([2, 8, 8, 1]) as tf.Tensor4D, [90, -30]);
 * assert(turned.shape.join() === "2,8,8,1");
 * ```
 */
export function rotateImages(images: tf.Tensor4D, degrees: number[]): tf.Tensor4D {
  return resampleAffine(images, rotateMaps(images.shape, degrees));
}

/** The resampling maps of {@linkcode rotateImages}, for chaining. */
export function rotateMaps(shape: readonly number[], degrees: number[]): AffineMaps {
  const ones = new Array(degrees.length).fill(1), zeros = new Array(degrees.length).fill(0);
  const angle = degrees.map((d) => d * Math.PI / 180);
  return centredMaps(shape[1], shape[2], { sx: ones, sy: ones, angle, dx: zeros, dy: zeros });
}

/** Draws an angle uniformly in [−max, max] degrees per sample. */
export function drawAngles(maxDegrees: number[], rng: Rng): number[] {
  return maxDegrees.map((m) => rng.uniform(-m, m));
}
