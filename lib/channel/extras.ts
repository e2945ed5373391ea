/**
 * GlyphNet's extras: a random hard sigmoid, random inversion of one-channel
 * images and a random normalised 3×3 kernel, each with per-sample draws.
 * Strengths per level are in `EXTRAS_TABLES` (tables.ts).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { affineOp, elementwiseOp } from "./_custom.ts";
import type { Rng } from "../train/rng.ts";
import { EXTRAS_TABLES, tableEntry } from "./tables.ts";

/** Per-sample parameters of the extras. */
export interface ExtrasParams {
  /** Hard-sigmoid slope per sample (1 = identity on [0, 1]). */
  slope: number[];
  /** Whether each sample is inverted (one-channel images only). */
  invert: boolean[];
  /** Nine row-major 3×3 kernel weights per sample, each kernel summing to 1. */
  kernel: number[];
}

/** The identity 3×3 kernel. */
const DELTA = [0, 0, 0, 0, 1, 0, 0, 0, 0];

/**
 * Draws the extras for samples at the given levels: a slope uniform in
 * [1, slope(level)], inversion with chance invert(level), and a kernel
 * (1 − α)·δ + α·u/Σu with u uniform in [0, 1)⁹ and α uniform in [0, kernel(level)].
 */
export function drawExtras(levels: number[], rng: Rng): ExtrasParams {
  const slope: number[] = [], invert: boolean[] = [], kernel: number[] = [];
  for (const level of levels) {
    slope.push(rng.uniform(1, tableEntry(EXTRAS_TABLES.slope, level)));
    invert.push(rng.next() < tableEntry(EXTRAS_TABLES.invert, level));
    const alpha = rng.uniform(0, tableEntry(EXTRAS_TABLES.kernel, level));
    const u = DELTA.map(() => rng.next());
    const sum = u.reduce((s, v) => s + v, 0) || 1;
    kernel.push(...u.map((v, k) => (1 - alpha) * DELTA[k] + alpha * v / sum));
  }
  return { slope, invert, kernel };
}

/**
 * Applies the extras to `images` [B,H,W,C]: the 3×3 kernel (zero padded),
 * then the hard sigmoid clip((x − ½)·k + ½, 0, 1), then inversion x ↦ 1 − x
 * where asked (C = 1 only). Output stays in [0, 1].
 *
 * @example
 * ```ts
 * import * as tf from "@tensorflow/tfjs-core";
import { affineOp, elementwiseOp } from "./_custom.ts";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { Rng } from "../train/rng.ts";
 * import { applyExtras, drawExtras } from "./extras.ts";
 * const x = tf.fill([2, 8, 8, 1], 0.3) as tf.Tensor4D;
 * const y = applyExtras(x, drawExtras([15, 15], new Rng(1)));
 * console.assert(y.shape.join() === "2,8,8,1");
 * ```
 */
export function applyExtras(images: tf.Tensor4D, p: ExtrasParams): tf.Tensor4D {
  const [b, , , c] = images.shape;
  if (p.slope.length !== b || p.invert.length !== b || p.kernel.length !== 9 * b) {
    throw new RangeError(`Cannot apply the extras: parameters do not match a batch of ${b}`);
  }
  let y = images;
  if (!p.kernel.every((v, i) => v === DELTA[i % 9])) {
    // The adjoint of correlating with a kernel is correlating with it flipped.
    const flipped = p.kernel.map((_, i) => p.kernel[i - (i % 9) + 8 - (i % 9)]);
    y = affineOp(y, (x) => mixKernels(x, p.kernel), (dy) => mixKernels(dy, flipped));
  }
  const invert = c === 1 ? p.invert : p.invert.map(() => false);
  return elementwiseOp(y, (x) =>
    tf.tidy(() => {
      const k = tf.tensor4d(p.slope, [b, 1, 1, 1]);
      const sign = tf.tensor4d(invert.map((v) => (v ? -1 : 1)), [b, 1, 1, 1]);
      const offset = tf.tensor4d(invert.map((v) => (v ? 1 : 0)), [b, 1, 1, 1]);
      const z = tf.add(tf.mul(tf.sub(x, 0.5), k), 0.5);
      const inside = tf.cast(tf.logicalAnd(tf.greater(z, 0), tf.less(z, 1)), "float32");
      return {
        value: tf.add(tf.mul(tf.clipByValue(z, 0, 1), sign), offset) as tf.Tensor4D,
        slope: tf.mul(inside, tf.mul(k, sign)) as tf.Tensor4D,
      };
    }));
}

/**
 * Per-sample 3×3 correlation (zero padded) as one depthwise conv over
 * [1,H,W,B·C]: one filter per sample and channel. (Nine shifted slices cost
 * 10× more on cpu, where strided slices are slow.)
 */
function mixKernels(images: tf.Tensor4D, kernel: number[]): tf.Tensor4D {
  const [b, h, w, c] = images.shape;
  const filter = new Float32Array(9 * b * c);
  for (let k = 0; k < 9; k++) {
    for (let i = 0; i < b * c; i++) filter[k * b * c + i] = kernel[9 * Math.floor(i / c) + k];
  }
  return tf.tidy(() => {
    const planes = tf.reshape(tf.transpose(images, [1, 2, 0, 3]), [1, h, w, b * c]);
    const out = tf.depthwiseConv2d(
      planes as tf.Tensor4D,
      tf.tensor4d(filter, [3, 3, b * c, 1]),
      1,
      "same",
    );
    return tf.transpose(tf.reshape(out, [h, w, b, c]), [2, 0, 1, 3]) as tf.Tensor4D;
  });
}
