/**
 * The fused kernels glyphnet's model and trainer ask tfjs for, by name. A
 * backend that computes them faster than tfjs's composed ops registers them
 * with `tf.registerKernel` under these names (lib/backend/native/ does for
 * `native`); lib/model/block.ts and lib/train/adam.ts run them through
 * `tf.engine().runKernel` when the active backend has them, and otherwise
 * compose the same math from tfjs ops (the reference the kernels are tested
 * against, within 1e-4 in values and gradients). This file is the contract:
 * names, inputs, attributes and outputs. It imports nothing of glyphnet, so
 * every layer may read it.
 *
 * All tensors are float32 and NHWC.
 *
 * ## `GlyphnetConvBnAct`: conv → batch norm (batch statistics) → activation
 * Inputs `{ x, filter, bias, gamma, beta }`:
 * - `x` [B, H, W, Cin];
 * - `filter` [k, k, Cin, Cout] for a convolution, or [k, k, Cout, Cin] when
 *   `transpose` (tfjs's conv2dTranspose layout);
 * - `bias`, `gamma`, `beta` [Cout].
 *
 * Attributes {@link ConvBnActAttrs}: `stride` (1 or 2, "same" padding),
 * `transpose` (a stride-2 transposed convolution, "same" padding, doubling
 * H and W), `activation` ("swish" = z·sigmoid(z), or "sigmoid") and
 * `epsilon` (added to the variance).
 *
 * Outputs, in this order:
 * 0. `y` [B, OH, OW, Cout] = act(gamma · xhat + beta), where OH = H/stride
 *    rounded up (2H when `transpose`);
 * 1. the state the backward pass reads, [B, OH, OW, Cout]: `xhat` =
 *    (z − mean) / √(variance + epsilon), with z = conv(x, filter) + bias,
 *    on a backend whose gradient is {@link CONV_BN_ACT_GRAD}; on one that
 *    registers {@link BN_ACT_GRAD}, `conv` = conv(x, filter), from which
 *    that kernel recomputes xhat (writing xhat too costs a pass over memory);
 * 2. `mean` [Cout], the batch mean of z over B, OH, OW;
 * 3. `variance` [Cout], the biased batch variance of z.
 *
 * Gradient: only through `y`. `mean` and `variance` are for the running
 * averages and must not feed a differentiated loss; output 1 is saved state.
 * The gradient function (in lib/model/block.ts) calls {@link BN_ACT_GRAD}
 * and the backend's conv gradient kernels where the backend has it, else
 * {@link CONV_BN_ACT_GRAD}; a backend that registers this kernel registers
 * one of the two (native the first, webgpu the second).
 *
 * ## `GlyphnetConvBnActAdd` (optional): the block plus its input
 * As `GlyphnetConvBnAct` with `y` = x + act(gamma · xhat + beta): a residual
 * block, stride 1 and Cin = Cout. The sum in the same pass saves an `Add`
 * kernel and a pass over memory: the block's activation is never written
 * alone. Registered only beside {@link BN_ACT_GRAD}; the gradient of `x` is
 * then the conv's input gradient plus `dy`.
 *
 * ## `GlyphnetConvInputGradAdd` (optional): a conv's input gradient plus a tensor
 * Inputs `{ dy, filter, add }`, attributes those of tfjs's `Conv2DBackpropInput`
 * (`inputShape`, `strides`, `pad`, `dataFormat`); output `Conv2DBackpropInput`'s
 * dx plus `add` (dx's shape): a residual block's input gradient, its two
 * paths summed without an `Add` over the result.
 *
 * ## `GlyphnetConvBnActGrad`: the backward pass of `GlyphnetConvBnAct`
 * Inputs `{ x, filter, gamma, beta, xhat, variance, dy }`: the forward's
 * inputs and its outputs 1 and 3, and `dy` (the gradient of `y`, y's shape).
 * Attributes: the forward's. Outputs, in this order: `dx` (x's shape),
 * `dfilter` (filter's), `dbias`, `dgamma`, `dbeta` [Cout] (`dbias` is zero
 * up to rounding: the bias only shifts the batch mean).
 *
 * ## `GlyphnetBnActGrad`: the batch-norm + activation half of that backward pass
 * Inputs `{ gamma, beta, bias, conv, mean, variance, dy }`: the forward's inputs,
 * its outputs 1 (`conv`), 2 and 3, and `dy`; attributes: the forward's (only
 * `activation` and `epsilon` matter). Outputs, in this order: `dz` (dy's shape: the gradient
 * of the convolution's output z), `dbias`, `dgamma`, `dbeta` [Cout]. A backend that registers
 * it gets `GlyphnetConvBnAct`'s gradient as this kernel plus its own `Conv2D`,
 * `Conv2DBackpropInput` and `Conv2DBackpropFilter`, each run only for the inputs being
 * differentiated: D's filters are not differentiated while G learns through D, nor D's input
 * images while D learns. `GlyphnetConvBnActGrad` computes every output in one call.
 *
 * ## `GlyphnetAdam`: one Keras-form Adam step on every variable of a network
 * Inputs `{ value0, grad0, m0, v0, value1, grad1, m1, v1, … }`: for each K,
 * a variable's value, its gradient and its two moments, all of one shape.
 * Attributes {@link AdamAttrs}. Outputs, three per K in order of K, each of
 * that K's shape: m' = β1·m + (1−β1)·g; v' = β2·v + (1−β2)·g²;
 * value' = value − stepSize · m' / (√v' + epsilon), returned as
 * `[value0', m0', v0', value1', …]`. One call a step instead of one a
 * variable: tfjs's work per kernel call outweighed the arithmetic of most
 * variables. No gradient. Inputs are never written in place.
 *
 * ## `GlyphnetMovingAverages`: every block's running averages in one call
 * Inputs `{ m0, x0, m1, x1, … }`: pairs of a running average `mK` and the
 * batch value `xK` of its shape. Attribute {@link MovingAveragesAttrs}.
 * Outputs, one per pair in order of K: mK' = momentum·mK + (1−momentum)·xK,
 * each product rounded to float32 before the sum (what the composed
 * `add(mul(m, momentum), mul(x, 1 − momentum))` gives). No gradient.
 *
 * ## The channel's loops: `GlyphnetGatherWeighted`, `GlyphnetScatterWeighted`, `GlyphnetCorrelate3x3`, `GlyphnetBlur`
 * Host-memory backends run these as JavaScript loops in lib/channel when no kernel is registered.
 * - `GlyphnetGatherWeighted`: inputs `{ x, index, weight }`: `x` [B, H, W, C]; `index` (int32)
 *   and `weight` [K·N] with N = B·H·W, corner-major (entry k·N + o). Output [B, H, W, C]:
 *   out[o, c] = Σₖ weight[k·N + o] · x[index[k·N + o], c], where index N reads zero. Every
 *   index of output pixel o lies in o's own image (or is N).
 * - `GlyphnetScatterWeighted`: its adjoint, inputs `{ dy, index, weight }` as above, output
 *   dx [B, H, W, C]: dx[index[e], c] += weight[e] · dy[e mod N, c], in order of k then o.
 * - `GlyphnetCorrelate3x3`: input `{ x }` [B, H, W, C]; attribute `kernel` (numbers, B·9: one
 *   3×3 kernel per sample, row-major). Output: y[b, i, j, c] = Σ kernel[b, u, v] ·
 *   x[b, i+u−1, j+v−1, c], zero outside the image, taps added in row-major order.
 * - `GlyphnetBlur` (optional): input `{ x }` [B, H, W, C]; attribute `taps` ({@link BlurAttrs},
 *   T odd). Output like x: t[b, i, j, c] = Σₖ taps[k] · x[b, i+k−⌊T/2⌋, j, c], then
 *   y[b, i, j, c] = Σₖ taps[k] · t[b, i, j+k−⌊T/2⌋, c], zero outside the image, in float32 and
 *   in order of k: what a T×1 then a 1×T `conv2d` ("same") of each channel give, up to rounding.
 *   Without it the channel runs those two convs on [B·C, H, W, 1].
 * No gradients: the channel wraps them in its own custom gradients.
 *
 * - `GlyphnetAffineCorners` (optional, with the two above): no inputs; attributes
 *   {@link AffineCornersAttrs}. Outputs `index` (int32) and `weight` (float32), each K·N long,
 *   exactly as lib/channel/_resample.ts computes them in JavaScript: K is 4 when any weight is
 *   fractional, else 1.
 *
 * ## `GlyphnetRandomNormal` (optional): seeded normal draws
 * No inputs. Attributes {@link RandomNormalAttrs}. Output float32 of `shape`: draws of
 * N(mean, stdDev²) from the stream `seed` names; the same seed and shape give the same values
 * at any thread count. Its stream is the backend's own (not tfjs's), so another backend draws
 * other values for a seed. Use {@link randomNormal}, which falls back to `tf.randomNormal`.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** Fused conv → batch norm → activation, forward. */
export const CONV_BN_ACT = "GlyphnetConvBnAct";
/** A conv's input gradient plus a tensor (a residual block's input gradient). */
export const CONV_INPUT_GRAD_ADD = "GlyphnetConvInputGradAdd";
/** The same block plus its input (a residual block); see the module docs. */
export const CONV_BN_ACT_ADD = "GlyphnetConvBnActAdd";
/** Its backward pass. */
export const CONV_BN_ACT_GRAD = "GlyphnetConvBnActGrad";
/** Its batch-norm + activation half alone (see the module docs). */
export const BN_ACT_GRAD = "GlyphnetBnActGrad";
/** One Adam step on every variable of a network. */
export const ADAM = "GlyphnetAdam";

/** Running averages of batch statistics, all blocks in one call. */
export const MOVING_AVERAGES = "GlyphnetMovingAverages";

/** Attributes of {@link MOVING_AVERAGES}. */
export interface MovingAveragesAttrs {
  /** The weight of the old average, e.g. 0.99. */
  momentum: number;
}

/** The channel's bilinear resampling: a weighted gather of source pixels. */
export const GATHER_WEIGHTED = "GlyphnetGatherWeighted";
/** Its adjoint: a weighted scatter-add. */
export const SCATTER_WEIGHTED = "GlyphnetScatterWeighted";
/** The channel's per-sample 3×3 correlation. */
export const CORRELATE_3X3 = "GlyphnetCorrelate3x3";
/** The channel's separable blur. */
export const BLUR = "GlyphnetBlur";
/** The channel's per-sample hard sigmoid and inversion: the value and its slope. */
export const SQUASH = "GlyphnetSquash";

/** Attributes of {@link SQUASH}: per sample, y = clip((x − ½)·slope + ½, 0, 1), then 1 − y if inverted. */
export interface SquashAttrs {
  /** B slopes. */
  slope: number[];
  /** B flags: invert the sample. */
  invert: boolean[];
}

/** Attributes of {@link CONV_BN_ACT} and {@link CONV_BN_ACT_GRAD}. */
export interface ConvBnActAttrs {
  /** 1 or 2 ("same" padding); 2 when `transpose`. */
  stride: 1 | 2;
  /** A stride-2 transposed convolution that doubles H and W. */
  transpose: boolean;
  activation: "swish" | "sigmoid";
  /** Added to the batch variance. */
  epsilon: number;
}

/** The resampling's corner tables, computed by the backend. */
export const AFFINE_CORNERS = "GlyphnetAffineCorners";

/** Attributes of {@link AFFINE_CORNERS}. */
export interface AffineCornersAttrs {
  /** `stages` blocks of B·6 affine coefficients (output → source), applied last stage first. */
  maps: number[];
  stages: number;
  /** [B, H, W] of the images. */
  shape: number[];
}

/** Seeded normal draws computed by the backend. */
export const RANDOM_NORMAL = "GlyphnetRandomNormal";

/** Attributes of {@link RANDOM_NORMAL}. */
export interface RandomNormalAttrs {
  shape: number[];
  mean: number;
  stdDev: number;
  /** A whole number naming the stream. */
  seed: number;
}

/**
 * Seeded draws of N(mean, stdDev²): the backend's {@link RANDOM_NORMAL}
 * where it has one (tfjs draws them in JavaScript, ~35 ns a value), else
 * `tf.randomNormal`. The same seed gives the same values on one backend.
 */
export function randomNormal(shape: number[], mean: number, stdDev: number, seed: number) {
  if (!backendHasKernels(RANDOM_NORMAL)) {
    return tf.randomNormal(shape, mean, stdDev, "float32", seed);
  }
  const attrs: RandomNormalAttrs = { shape, mean, stdDev, seed };
  return tf.engine().runKernel(RANDOM_NORMAL, {}, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
}

/** Attributes of {@link BLUR}. */
export interface BlurAttrs {
  /** An odd number of float32 taps, the same along H and W. */
  taps: number[];
}

/** Attributes of {@link CORRELATE_3X3}. */
export interface Correlate3x3Attrs {
  /** B·9 numbers: each sample's 3×3 kernel, row-major. */
  kernel: number[];
}

/** Attributes of {@link ADAM}. */
export interface AdamAttrs {
  /** Keras: lr·√(1−β2ᵗ)/(1−β1ᵗ) at step t. */
  stepSize: number;
  beta1: number;
  beta2: number;
  /** Added to √v. */
  epsilon: number;
}

/** The tensors of one variable in an {@link ADAM} call, each numbered K in its inputs. */
export const ADAM_INPUTS = ["value", "grad", "m", "v"] as const;
/** The tensors of one average in a {@link MOVING_AVERAGES} call, each numbered K in its inputs. */
export const MOVING_AVERAGE_INPUTS = ["m", "x"] as const;

/**
 * The inputs of a kernel that takes groups of tensors ({@link ADAM},
 * {@link MOVING_AVERAGES}): group K's tensors under their names with K
 * appended (`value0`, `grad0`, …, `value1`, …).
 */
export function numberedInputs<T>(groups: Record<string, T>[]): Record<string, T> {
  const inputs: Record<string, T> = {};
  groups.forEach((group, k) => {
    for (const [name, t] of Object.entries(group)) inputs[`${name}${k}`] = t;
  });
  return inputs;
}

/** The groups of {@link numberedInputs} back from a kernel's inputs, in order of K. */
export function inputGroups<N extends string, T>(
  inputs: Record<string, T>,
  names: readonly N[],
): Record<N, T>[] {
  const groups: Record<N, T>[] = [];
  for (let k = 0; `${names[0]}${k}` in inputs; k++) {
    groups.push(Object.fromEntries(names.map((n) => [n, inputs[`${n}${k}`]])) as Record<N, T>);
  }
  return groups;
}

/**
 * Runs kernel `name` and assigns its outputs, in order, to `targets`: for
 * the kernels that update variables ({@link ADAM}, {@link MOVING_AVERAGES}).
 */
export function runKernelInto(
  name: string,
  inputs: tf.NamedTensorMap,
  attrs: object,
  targets: tf.Variable[],
): void {
  const out = tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor[];
  targets.forEach((t, i) => t.assign(out[i]));
  tf.dispose(out);
}

/** True when the active tfjs backend has a kernel registered under every one of `names`. */
export function backendHasKernels(...names: string[]): boolean {
  const backend = tf.getBackend();
  return names.every((name) => tf.getKernel(name, backend) != null);
}
