/**
 * The `blur` op: a 7×7 Gaussian kernel applied to each channel.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { affineOp } from "./_custom.ts";
import { backendHasKernels, BLUR, type BlurAttrs } from "../backend/fused_kernels.ts";

/** Kernel width: GlyphNet's 7×7. */
export const BLUR_SIZE = 7;

/** The normalised 1-D Gaussian whose outer product is the 7×7 kernel. */
export function gaussianTaps(sigma: number): Float32Array {
  const half = (BLUR_SIZE - 1) / 2;
  const taps = new Float32Array(BLUR_SIZE);
  let sum = 0;
  for (let i = 0; i < BLUR_SIZE; i++) {
    taps[i] = Math.exp(-((i - half) ** 2) / (2 * sigma * sigma));
    sum += taps[i];
  }
  return taps.map((t) => t / sum);
}

/**
 * Blurs every channel of `images` [B,H,W,C] with a 7×7 Gaussian of width
 * `sigma` pixels, zero padded ("same"), so values stay in [0, 1].
 * The kernel is separable: the backend's blur kernel where it registers one
 * (lib/backend/fused_kernels.ts), else a 7×1 then a 1×7 `conv2d` on
 * [B·C,H,W,1] (plain conv2d runs on every backend; depthwise lacks backward
 * kernels on wasm). Its gradient is the same blur of the upstream one.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { gaussianBlur } from "./blur.ts";
 * const soft = gaussianBlur(tf.ones([1, 8, 8, 3]) as tf.Tensor4D, 1.5);
 * assert(soft.shape.join() === "1,8,8,3");
 * ```
 */
export function gaussianBlur(images: tf.Tensor4D, sigma: number): tf.Tensor4D {
  if (!(sigma > 0)) {
    throw new RangeError(`Cannot blur: σ must be positive, got ${sigma}`);
  }
  const taps = gaussianTaps(sigma);
  const attrs: BlurAttrs = { taps: Array.from(taps) };
  // Zero-padded correlation with a symmetric kernel is its own adjoint.
  const blur = (x: tf.Tensor4D) =>
    backendHasKernels(BLUR)
      ? tf.engine().runKernel(BLUR, { x }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor4D
      : blurByConvs(x, taps);
  return affineOp(images, blur, blur);
}

/** The blur as a T×1 then a 1×T `conv2d` of each channel, on [B·C, H, W, 1]. */
function blurByConvs(x: tf.Tensor4D, taps: Float32Array): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  return tf.tidy(() => {
    const planes = c === 1
      ? x
      : tf.reshape(tf.transpose(x, [0, 3, 1, 2]), [b * c, h, w, 1]) as tf.Tensor4D;
    const down = tf.conv2d(planes, tf.tensor4d(taps, [BLUR_SIZE, 1, 1, 1]), 1, "same");
    const across = tf.conv2d(down, tf.tensor4d(taps, [1, BLUR_SIZE, 1, 1]), 1, "same");
    return c === 1
      ? across
      : tf.transpose(tf.reshape(across, [b, c, h, w]), [0, 2, 3, 1]) as tf.Tensor4D;
  });
}
