/**
 * The `resize` op: scale x and y by random factors about the centre, then
 * crop or zero-pad back to the original size (bilinear).
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../rng.ts";
import { type AffineMaps, centredMaps, resampleAffine } from "./_resample.ts";

/**
 * Scales sample i by (sx[i], sy[i]) about the image centre, keeping the
 * size: a scale above 1 crops the border, below 1 pads it with zeros.
 * Values stay in [0, 1] (bilinear weights sum to at most 1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { resizeImages } from "./resize.ts";
 * const small = resizeImages(tf.ones([1, 8, 8, 1]) as tf.Tensor4D, { sx: [0.5], sy: [0.75] });
 * assert(small.shape.join() === "1,8,8,1");
 * ```
 */
export function resizeImages(
  images: tf.Tensor4D,
  scales: { sx: number[]; sy: number[] },
): tf.Tensor4D {
  return resampleAffine(images, resizeMaps(images.shape, scales));
}

/** The resampling maps of {@linkcode resizeImages}, for chaining. */
export function resizeMaps(
  shape: readonly number[],
  scales: { sx: number[]; sy: number[] },
): AffineMaps {
  const zeros = new Array(scales.sx.length).fill(0);
  return centredMaps(shape[1], shape[2], { ...scales, angle: zeros, dx: zeros, dy: zeros });
}

/** Draws x and y scales uniformly from each sample's [min, max] range. */
export function drawScales(
  ranges: [number, number][],
  rng: Rng,
): { sx: number[]; sy: number[] } {
  const sx: number[] = [], sy: number[] = [];
  for (const [lo, hi] of ranges) {
    sx.push(rng.uniform(lo, hi));
    sy.push(rng.uniform(lo, hi));
  }
  return { sx, sy };
}
