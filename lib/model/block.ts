/**
 * The one building block of G and D: convolution (or stride-2 transposed
 * convolution) → batch norm → activation, with Keras-compatible parameters.
 *
 * Batch norm always normalises with the statistics of the batch at hand, in
 * training and in evaluation: D's running averages mix glyph and noise
 * batches and decode near chance (docs/ARCHITECTURE.md, "Batch statistics"). The running
 * averages are still kept, as Keras keeps them, for checkpoints.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Rng } from "../rng.ts";
import type { Tensor1D, Variable } from "../tensors.ts";
import { toVariable } from "./network.ts";
import {
  backendHasKernels,
  BN_ACT_GRAD,
  CONV_BN_ACT,
  CONV_BN_ACT_ADD,
  CONV_BN_ACT_GRAD,
  CONV_INPUT_GRAD_ADD,
  type ConvBnActAttrs,
  MOVING_AVERAGES,
  type MovingAveragesAttrs,
  numberedInputs,
  runKernelInto,
} from "../backend/fused_kernels.ts";

/** Batch norm's epsilon, Keras's default. */
export const BN_EPSILON = 1e-3;
/** Momentum of the running averages, Keras's default. */
export const BN_MOMENTUM = 0.99;

/** Parameters of one conv → BN → activation block. */
export interface BlockParams {
  /** Name of the block, e.g. `G/deconv_2`; variables are `<name>/kernel` etc. */
  name: string;
  /** [k, k, in, out] for a convolution; [k, k, out, in] for a transposed one. */
  kernel: Variable;
  /** Convolution bias [out]. */
  bias: Variable;
  /** Batch-norm scale [out]. */
  gamma: Variable;
  /** Batch-norm shift [out]. */
  beta: Variable;
  /** Not trained; updated from batch statistics. */
  movingMean: Variable;
  /** Not trained; updated from batch statistics. */
  movingVariance: Variable;
}

/** How a block computes. */
export interface BlockOptions {
  /** Kernel size (1 or 3). */
  size: number;
  stride: 1 | 2;
  /** A stride-2 transposed convolution that doubles height and width. */
  transpose?: boolean;
  activation: "swish" | "sigmoid";
  /** Add the block's input to its output (stride 1, as many channels out as in). */
  residual?: boolean;
}

/** Batch statistics one block saw, to update its running averages. */
export interface BatchStats {
  /** The block whose running averages these update. */
  params: BlockParams;
  /** Per-channel mean of the batch. */
  mean: Tensor1D;
  /** Per-channel variance of the batch. */
  variance: Tensor1D;
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
  const v = (value: tf.Tensor, _suffix: string, trainable = true) => toVariable(value, trainable);
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
 *
 * With `residual`, returns x plus the block's output.
 *
 * Runs as one `GlyphnetConvBnAct` kernel (lib/backend/fused_kernels.ts) when
 * the active backend registers it, else as the tfjs ops it fuses; a residual
 * block as one `GlyphnetConvBnActAdd` where the backend has that.
 */
export function convBnAct(
  x: tf.Tensor4D,
  p: BlockParams,
  o: BlockOptions,
  stats?: BatchStats[],
): tf.Tensor4D {
  const attrs: ConvBnActAttrs = {
    stride: o.transpose ? 2 : o.stride,
    transpose: o.transpose ?? false,
    activation: o.activation,
    epsilon: BN_EPSILON,
  };
  const fused = backendHasKernels(CONV_BN_ACT) &&
    (backendHasKernels(BN_ACT_GRAD) || backendHasKernels(CONV_BN_ACT_GRAD));
  const withSum = o.residual === true && fused && backendHasKernels(CONV_BN_ACT_ADD) &&
    backendHasKernels(BN_ACT_GRAD);
  const { y, mean, variance } = fused
    ? convBnActKernel(x, p, attrs, withSum ? CONV_BN_ACT_ADD : CONV_BN_ACT)
    : convBnActComposed(x, p, attrs);
  const out = o.residual && !withSum ? tf.add(x, y) as tf.Tensor4D : y;
  if (stats) {
    stats.push({
      params: p,
      mean: tf.keep(mean) as tf.Tensor1D,
      variance: tf.keep(variance) as tf.Tensor1D,
    });
  } else if (fused) {
    tf.dispose([mean, variance]);
  }
  return out;
}

/** The block's output and batch statistics. */
interface BlockResult {
  y: tf.Tensor4D;
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/** The reference: the block as tfjs ops (what the fused kernel must match). */
function convBnActComposed(x: tf.Tensor4D, p: BlockParams, a: ConvBnActAttrs): BlockResult {
  let z: tf.Tensor4D;
  if (a.transpose) {
    const [b, h, w] = x.shape;
    const out = p.kernel.shape[2] as number;
    z = tf.conv2dTranspose(x, p.kernel as tf.Tensor4D, [b, 2 * h, 2 * w, out], 2, "same");
  } else {
    z = tf.conv2d(x, p.kernel as tf.Tensor4D, a.stride, "same");
  }
  z = tf.add(z, p.bias);
  const { mean, variance } = tf.moments(z, [0, 1, 2]);
  const scale = tf.mul(tf.rsqrt(tf.add(variance, a.epsilon)), p.gamma);
  const normed = tf.add(tf.mul(tf.sub(z, mean), scale), p.beta) as tf.Tensor4D;
  const y = a.activation === "swish" ? swish(normed) : tf.sigmoid(normed);
  return { y, mean: mean as tf.Tensor1D, variance: variance as tf.Tensor1D };
}

/**
 * The block as one backend kernel, recorded on the tape as a node with one
 * output, y. Registered as a kernel gradient, the node would have four
 * outputs, and tfjs fills a zero gradient for each one nobody uses: a
 * zeroed tensor the size of xhat in every block's backward pass (about a
 * tenth of a small step's time). The gradient is the backend's grad kernel.
 */
function convBnActKernel(
  x: tf.Tensor4D,
  p: BlockParams,
  a: ConvBnActAttrs,
  kernel: string,
): BlockResult {
  const attrs = a as unknown as tf.NamedAttrMap;
  const inputs = { x, filter: p.kernel, bias: p.bias, gamma: p.gamma, beta: p.beta };
  let stats: tf.Tensor[] = [];
  const y = (tf.engine() as unknown as CustomKernelEngine).runKernelFunc({
    inputs,
    attrs,
    forwardFunc: (_backend, save) => {
      // The kernels read float32 only; a one-hot int32 message is cast here.
      const input = x.dtype === "float32" ? x : tf.cast(x, "float32");
      const [y, state, mean, variance] = tf.engine().runKernel(
        kernel,
        { ...inputs, x: input },
        attrs,
      ) as tf.Tensor[];
      // tfjs copies each saved tensor into a new one (a kernel call each), so
      // the variables, which outlive the step, are read in the backward pass
      // instead of saved.
      save([input, state, variance, mean]);
      stats = [tf.keep(mean), tf.keep(variance)];
      return y;
    },
    backwardsFunc: (dy, [input, state, variance, mean]) =>
      // The gradient kernels read the first six; GlyphnetBnActGrad also mean and bias.
      blockGradient(
        dy,
        [input, p.kernel, p.gamma, p.beta, state, variance, mean, p.bias],
        attrs,
        kernel === CONV_BN_ACT_ADD,
      ),
  }) as tf.Tensor4D;
  return { y, mean: stats[0] as tf.Tensor1D, variance: stats[1] as tf.Tensor1D };
}

/**
 * The part of tfjs's engine that `tf.customGrad` runs on: a tape node from a
 * forward function (which saves what the backward one needs) and a backward
 * function that returns each input's gradient as a function, called only for
 * inputs on the path to what is being differentiated. customGrad itself would
 * compute every input's gradient.
 */
interface CustomKernelEngine {
  runKernelFunc(params: {
    inputs: tf.NamedTensorMap;
    attrs: tf.NamedAttrMap;
    forwardFunc: (backend: unknown, save: (tensors: tf.Tensor[]) => void) => tf.Tensor;
    backwardsFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => Record<string, () => tf.Tensor>;
  }): tf.Tensor;
}

/** The block's gradient through y: the backend's split or fused grad kernel. */
function blockGradient(
  dy: tf.Tensor,
  saved: tf.Tensor[],
  attrs: tf.NamedAttrMap,
  residual: boolean,
): Record<string, () => tf.Tensor> {
  if (backendHasKernels(BN_ACT_GRAD)) return splitGradient(dy, saved, attrs, residual);
  const [x, filter, gamma, beta, xhat, variance] = saved;
  const inputs = { x, filter, gamma, beta, xhat, variance, dy };
  const [dx, dfilter, dbias, dgamma, dbeta] = tf.engine().runKernel(
    CONV_BN_ACT_GRAD,
    inputs,
    attrs,
  ) as tf.Tensor[];
  return {
    x: () => dx,
    filter: () => dfilter,
    bias: () => dbias,
    gamma: () => dgamma,
    beta: () => dbeta,
  };
}

/**
 * The gradient as GlyphnetBnActGrad (dz, the conv output's gradient) and
 * then the conv's gradients from dz, each only when tfjs asks for it: tfjs
 * calls an input's function only when that input leads to what is being
 * differentiated. A residual block's input gradient also gets dy (in the
 * conv's input gradient where the backend has GlyphnetConvInputGradAdd).
 */
function splitGradient(
  dy: tf.Tensor,
  saved: tf.Tensor[],
  attrs: tf.NamedAttrMap,
  residual: boolean,
): Record<string, () => tf.Tensor> {
  const [x, filter, gamma, beta, convOut, variance, mean, bias] = saved;
  const a = attrs as unknown as ConvBnActAttrs;
  const [dz, dbias, dgamma, dbeta] = tf.engine().runKernel(
    BN_ACT_GRAD,
    { gamma, beta, bias, conv: convOut, mean, variance, dy },
    attrs,
  ) as tf.Tensor[];
  const convAttrs = { pad: "same", dataFormat: "NHWC" };
  const strides = a.transpose ? 2 : a.stride;
  const run = (name: string, inputs: tf.NamedTensorMap, extra: tf.NamedAttrMap) =>
    tf.engine().runKernel(
      name,
      inputs,
      { ...convAttrs, strides, ...extra } as tf.NamedAttrMap,
    ) as tf.Tensor;
  // A transposed block is the input gradient of the conv whose input is its output.
  const inputShape = { inputShape: x.shape };
  const dx = a.transpose
    ? () => run(tf.Conv2D, { x: dz, filter }, { dilations: 1 })
    : !residual
    ? () => run(tf.Conv2DBackpropInput, { dy: dz, filter }, inputShape)
    : backendHasKernels(CONV_INPUT_GRAD_ADD)
    ? () => run(CONV_INPUT_GRAD_ADD, { dy: dz, filter, add: dy }, inputShape)
    : () => tf.add(run(tf.Conv2DBackpropInput, { dy: dz, filter }, inputShape), dy);
  const dfilter = a.transpose
    ? () => run(tf.Conv2DBackpropFilter, { x: dz, dy: x }, { filterShape: filter.shape })
    : () => run(tf.Conv2DBackpropFilter, { x, dy: dz }, { filterShape: filter.shape });
  return { x: dx, filter: dfilter, bias: () => dbias, gamma: () => dgamma, beta: () => dbeta };
}

/** x · sigmoid(x). */
export function swish<T extends tf.Tensor>(x: T): T {
  return tf.mul(x, tf.sigmoid(x));
}

/**
 * Moves each block's running averages toward the batch statistics, then
 * frees them: one {@link MOVING_AVERAGES} kernel call where the backend has
 * it, else six tfjs ops a block.
 */
export function updateRunningStats(stats: BatchStats[]): void {
  if (backendHasKernels(MOVING_AVERAGES)) updateFused(stats);
  else updateComposed(stats);
  for (const { mean, variance } of stats) tf.dispose([mean, variance]);
  stats.length = 0;
}

function updateFused(stats: BatchStats[]): void {
  const pairs = stats.flatMap(({ params, mean, variance }) => [
    { m: params.movingMean, x: mean },
    { m: params.movingVariance, x: variance },
  ]);
  const attrs: MovingAveragesAttrs = { momentum: BN_MOMENTUM };
  runKernelInto(MOVING_AVERAGES, numberedInputs(pairs), attrs, pairs.map((p) => p.m));
}

function updateComposed(stats: BatchStats[]): void {
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
