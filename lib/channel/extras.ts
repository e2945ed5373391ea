/**
 * GlyphNet's extras: a random hard sigmoid, random inversion of one-channel
 * images and a random normalised 3×3 kernel, each with per-sample draws.
 * Strengths per level are in `EXTRAS_TABLES` (tables.ts).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { affineOp, elementwiseOp, inHostMemory } from "./_custom.ts";
import {
  backendHasKernels,
  type Correlate3x3Attrs,
  CORRELATE_3X3,
  SQUASH,
  type SquashAttrs,
} from "../backend/fused_kernels.ts";
import type { Rng } from "../rng.ts";
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
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { Rng } from "../rng.ts";
 * import { applyExtras, drawExtras } from "./extras.ts";
 * const x = tf.fill([2, 8, 8, 1], 0.3) as tf.Tensor4D;
 * const y = applyExtras(x, drawExtras([15, 15], new Rng(1)));
 * assert(y.shape.join() === "2,8,8,1");
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
  return elementwiseOp(y, (x) => squash(x, p.slope, invert));
}

/**
 * Hard sigmoid and inversion, the value and its slope: the backend's kernel
 * where it registers one, a JS loop in host memory, else tensor ops.
 */
function squash(x: tf.Tensor4D, slope: number[], invert: boolean[]) {
  if (backendHasKernels(SQUASH)) return squashKernel(x, slope, invert);
  if (inHostMemory()) return squashHost(x, slope, invert);
  return tf.tidy(() => {
    const b = x.shape[0];
    const k = tf.tensor4d(slope, [b, 1, 1, 1]);
    const sign = tf.tensor4d(invert.map((v) => (v ? -1 : 1)), [b, 1, 1, 1]);
    const offset = tf.tensor4d(invert.map((v) => (v ? 1 : 0)), [b, 1, 1, 1]);
    const z = tf.add(tf.mul(tf.sub(x, 0.5), k), 0.5);
    const inside = tf.cast(tf.logicalAnd(tf.greater(z, 0), tf.less(z, 1)), "float32");
    return {
      value: tf.add(tf.mul(tf.clipByValue(z, 0, 1), sign), offset) as tf.Tensor4D,
      slope: tf.mul(inside, tf.mul(k, sign)) as tf.Tensor4D,
    };
  });
}

/** Hard sigmoid and inversion by the backend's kernel. */
function squashKernel(x: tf.Tensor4D, slope: number[], invert: boolean[]) {
  const attrs: SquashAttrs = { slope, invert };
  const [value, grad] = tf.engine().runKernel(
    SQUASH,
    { x },
    attrs as unknown as tf.NamedAttrMap,
  ) as tf.Tensor4D[];
  return { value, slope: grad };
}

/**
 * Hard sigmoid and inversion as one JS loop per sample: the value and its
 * slope. (Per sample, not a division per value to find its sample: 9.1 ->
 * 4.9 ms for a [64, 32, 32, 3] batch's forward and gradient.)
 */
function squashHost(x: tf.Tensor4D, slope: number[], invert: boolean[]) {
  const src = x.dataSync() as Float32Array;
  const per = src.length / slope.length;
  const value = new Float32Array(src.length), grad = new Float32Array(src.length);
  for (let b = 0; b < slope.length; b++) {
    const k = slope[b], flip = invert[b], dk = flip ? -k : k;
    for (let i = b * per; i < (b + 1) * per; i++) {
      const z = (src[i] - 0.5) * k + 0.5;
      const clipped = z < 0 ? 0 : z > 1 ? 1 : z;
      value[i] = flip ? 1 - clipped : clipped;
      grad[i] = z > 0 && z < 1 ? dk : 0;
    }
  }
  return { value: tf.tensor4d(value, x.shape), slope: tf.tensor4d(grad, x.shape) };
}

/**
 * Per-sample 3×3 correlation (zero padded): the backend's kernel where it
 * registers one (lib/backend/fused_kernels.ts), a JS loop in host memory,
 * else one depthwise conv over [1,H,W,B·C] with a filter per sample and
 * channel (nine shifted slices cost 10× more on cpu).
 */
function mixKernels(images: tf.Tensor4D, kernel: number[]): tf.Tensor4D {
  const [b, h, w, c] = images.shape;
  if (backendHasKernels(CORRELATE_3X3)) {
    const attrs: Correlate3x3Attrs = { kernel };
    return tf.engine().runKernel(
      CORRELATE_3X3,
      { x: images },
      attrs as unknown as tf.NamedAttrMap,
    ) as tf.Tensor4D;
  }
  if (inHostMemory()) return tf.tensor4d(correlateHost(images, kernel), images.shape);
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

/** The same correlation as a JS loop, for backends in host memory. */
function correlateHost(images: tf.Tensor4D, kernel: number[]): Float32Array {
  const [b, h, w, c] = images.shape;
  const src = images.dataSync() as Float32Array;
  const out = new Float32Array(src.length);
  for (let s = 0; s < b; s++) {
    for (let k = 0; k < 9; k++) {
      const wk = kernel[9 * s + k];
      if (wk === 0) continue;
      const dy = Math.floor(k / 3) - 1, dx = (k % 3) - 1;
      for (let y = Math.max(0, -dy); y < Math.min(h, h - dy); y++) {
        const to = ((s * h + y) * w) * c, from = ((s * h + y + dy) * w) * c;
        for (let x = Math.max(0, -dx); x < Math.min(w, w - dx); x++) {
          for (let ch = 0; ch < c; ch++) out[to + x * c + ch] += wk * src[from + (x + dx) * c + ch];
        }
      }
    }
  }
  return out;
}
