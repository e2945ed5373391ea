/**
 * The `translate` op: a random whole-pixel shift with zero padding.
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../rng.ts";
import { type AffineMaps, centredMaps, resampleAffine } from "./_resample.ts";

/**
 * Shifts sample i right by dx[i] and down by dy[i] pixels (integers),
 * filling the uncovered border with zeros. Values stay in [0, 1].
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { translateImages } from "./translate.ts";
 * const moved = translateImages(tf.ones([1, 4, 4, 1]) as tf.Tensor4D, { dx: [1], dy: [-2] });
 * assert(moved.shape.join() === "1,4,4,1");
 * ```
 */
export function translateImages(
  images: tf.Tensor4D,
  shifts: { dx: number[]; dy: number[] },
): tf.Tensor4D {
  return resampleAffine(images, translateMaps(images.shape, shifts));
}

/** The resampling maps of {@linkcode translateImages}, for chaining. */
export function translateMaps(
  shape: readonly number[],
  shifts: { dx: number[]; dy: number[] },
): AffineMaps {
  if (![...shifts.dx, ...shifts.dy].every(Number.isInteger)) {
    throw new RangeError("Cannot translate: shifts must be whole pixels");
  }
  const ones = new Array(shifts.dx.length).fill(1);
  const angle = new Array(shifts.dx.length).fill(0);
  return centredMaps(shape[1], shape[2], { sx: ones, sy: ones, angle, ...shifts });
}

/**
 * Draws whole-pixel shifts in [−m, m] per axis, where m is the sample's
 * fraction of that side, rounded to the nearest pixel.
 */
export function drawShifts(
  fractions: number[],
  height: number,
  width: number,
  rng: Rng,
): { dx: number[]; dy: number[] } {
  const dx: number[] = [], dy: number[] = [];
  for (const f of fractions) {
    const mx = Math.round(f * width), my = Math.round(f * height);
    dx.push(rng.int(-mx, mx));
    dy.push(rng.int(-my, my));
  }
  return { dx, dy };
}
