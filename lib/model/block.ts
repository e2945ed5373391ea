/**
 * The one building block of G and D: convolution (or stride-2 transposed
 * convolution) → batch norm → activation, with Keras-compatible parameters.
 *
 * Batch norm always normalises with the statistics of the batch at hand, in
 * training and in evaluation: D's running averages mix glyph and noise
 * batches and decode near chance (shared/DESIGN.md, "Learning"). The running
 * averages are still kept, as Keras keeps them, for checkpoints.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../rng.ts";
import { fusedConvBnAct } from "../backend/native/fused.ts";
import { BN_ACT, bnAct, hasKernel } from "../backend/webgpu/kernels.ts";

/** Batch norm's epsilon, Keras's default. */
export const BN_EPSILON = 1e-3;
/** Momentum of the running averages, Keras's default. */
export const BN_MOMENTUM = 0.99;

/** Parameters of one conv → BN → activation block. */
export interface BlockParams {
  /** Name of the block, e.g. `G/deconv_2`; variables are `<name>/kernel` etc. */
  name: string;
  /** [k, k, in, out] for a convolution; [k, k, out, in] for a transposed one. */
  kernel: tf.Variable;
  bias: tf.Variable;
  gamma: tf.Variable;
  beta: tf.Variable;
  /** Not trained; updated from batch statistics. */
  movingMean: tf.Variable;
  movingVariance: tf.Variable;
}

/** How a block computes. */
export interface BlockOptions {
  /** Kernel size (1 or 3). */
  size: number;
  stride: 1 | 2;
  /** A stride-2 transposed convolution that doubles height and width. */
  transpose?: boolean;
  activation: "swish" | "sigmoid";
}

/** Batch statistics one block saw, to update its running averages. */
export interface BatchStats {
  params: BlockParams;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/**
 * Variables for a block with Keras's initialisers: Glorot-uniform kernel,
 * zero bias, unit gamma, zero beta.
 */
export function makeBlockParams(
  name: string,
  shape: { size: number; inChannels: number; outChannels: number; transpose?: boolean },
  rng: Rng,
): BlockParams {
  const { size, inChannels, outChannels } = shape;
  const kernelShape = shape.transpose
    ? [size, size, outChannels, inChannels]
    : [size, size, inChannels, outChannels];
  // tfjs variable names are global; ours live in the network's map instead.
  const v = (value: tf.Tensor, _suffix: string, trainable = true) => tf.variable(value, trainable);
  return {
    name,
    kernel: v(glorotUniform(kernelShape, rng), "kernel"),
    bias: v(tf.zeros([outChannels]), "bias"),
    gamma: v(tf.ones([outChannels]), "gamma"),
    beta: v(tf.zeros([outChannels]), "beta"),
    movingMean: v(tf.zeros([outChannels]), "moving_mean", false),
    movingVariance: v(tf.ones([outChannels]), "moving_variance", false),
  };
}

/** Glorot (Xavier) uniform values for a kernel or dense weight shape, from `rng`. */
export function glorotUniform(shape: number[], rng: Rng): tf.Tensor {
  const receptive = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  const fanIn = shape[shape.length - 2] * receptive;
  const fanOut = shape[shape.length - 1] * receptive;
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = rng.uniform(-limit, limit);
  return tf.tensor(values, shape);
}

/**
 * Applies conv → BN (batch statistics) → activation.
 * Input [B, H, W, in]; output [B, H/stride, W/stride, out], or
 * [B, 2H, 2W, out] when `transpose`.
 * When `stats` is given, the block's batch mean and variance are pushed to
 * it (kept past any tidy) so the caller can update the running averages.
 */
export function convBnAct(
  x: tf.Tensor4D,
  p: BlockParams,
  o: BlockOptions,
  stats?: BatchStats[],
): tf.Tensor4D {
  // One native call forward and one backward instead of ~100 small kernels.
  if (tf.getBackend() === "native") return fusedConvBnAct(x, p, o, stats);
  let y: tf.Tensor4D;
  if (o.transpose) {
    const [b, h, w] = x.shape;
    const out = p.kernel.shape[2] as number;
    y = tf.conv2dTranspose(x, p.kernel as tf.Tensor4D, [b, 2 * h, 2 * w, out], 2, "same");
  } else {
    y = tf.conv2d(x, p.kernel as tf.Tensor4D, o.stride, "same");
  }
  y = tf.add(y, p.bias);
  // Two dispatches forward and two backward where the backend has the fused kernel.
  const bn = { gamma: p.gamma as tf.Tensor1D, beta: p.beta as tf.Tensor1D };
  const r = hasKernel(BN_ACT)
    ? bnAct(y, bn.gamma, bn.beta, { activation: o.activation, epsilon: BN_EPSILON })
    : bnActReference(y, { ...bn, activation: o.activation, keepStats: stats !== undefined });
  if (stats) stats.push({ params: p, mean: r.mean, variance: r.variance });
  else if (hasKernel(BN_ACT)) tf.dispose([r.mean, r.variance]);
  return r.out;
}

/**
 * Batch norm with the statistics of `y` (over all but the last axis) then
 * swish or sigmoid, composed of tfjs ops: the reference the fused kernels
 * are tested against. With `keepStats` the mean and variance are kept
 * (outside any tidy) for the caller to dispose.
 */
export function bnActReference<T extends tf.Tensor>(
  y: T,
  p: {
    gamma: tf.Tensor1D;
    beta: tf.Tensor1D;
    activation: "swish" | "sigmoid";
    keepStats?: boolean;
  },
): { out: T; mean: tf.Tensor1D; variance: tf.Tensor1D } {
  const axes = y.shape.slice(0, -1).map((_, i) => i);
  const { mean, variance } = tf.moments(y, axes) as { mean: tf.Tensor1D; variance: tf.Tensor1D };
  const scale = tf.mul(tf.rsqrt(tf.add(variance, BN_EPSILON)), p.gamma);
  const normed = tf.add(tf.mul(tf.sub(y, mean), scale), p.beta) as T;
  if (p.keepStats) {
    tf.keep(mean);
    tf.keep(variance);
  }
  return { out: p.activation === "swish" ? swish(normed) : tf.sigmoid(normed), mean, variance };
}

/** x · sigmoid(x). */
export function swish<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.sigmoid(x));
}

/** Moves each block's running averages toward the batch statistics, then frees them. */
export function updateRunningStats(stats: BatchStats[]): void {
  tf.tidy(() => {
    for (const { params, mean, variance } of stats) {
      params.movingMean.assign(
        tf.add(tf.mul(params.movingMean, BN_MOMENTUM), tf.mul(mean, 1 - BN_MOMENTUM)),
      );
      params.movingVariance.assign(
        tf.add(tf.mul(params.movingVariance, BN_MOMENTUM), tf.mul(variance, 1 - BN_MOMENTUM)),
      );
    }
  });
  for (const { mean, variance } of stats) tf.dispose([mean, variance]);
  stats.length = 0;
}

/** All variables of a block by their Keras-like names, in a fixed order. */
export function blockVariables(p: BlockParams): [string, tf.Variable][] {
  return [
    [`${p.name}/kernel`, p.kernel],
    [`${p.name}/bias`, p.bias],
    [`${p.name}/gamma`, p.gamma],
    [`${p.name}/beta`, p.beta],
    [`${p.name}/moving_mean`, p.movingMean],
    [`${p.name}/moving_variance`, p.movingVariance],
  ];
}
