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
 * 1. `xhat` [B, OH, OW, Cout] = (z − mean) / √(variance + epsilon), with
 *    z = conv(x, filter) + bias; kept for the backward pass;
 * 2. `mean` [Cout], the batch mean of z over B, OH, OW;
 * 3. `variance` [Cout], the biased batch variance of z.
 *
 * Gradient: only through `y`. `mean` and `variance` are for the running
 * averages and must not feed a differentiated loss; `xhat` is saved state.
 * The gradient function (in lib/model/block.ts) calls
 * {@link CONV_BN_ACT_GRAD}; a backend registers both kernels or neither.
 *
 * ## `GlyphnetConvBnActGrad`: the backward pass of `GlyphnetConvBnAct`
 * Inputs `{ x, filter, gamma, beta, xhat, variance, dy }`: the forward's
 * inputs and its outputs 1 and 3, and `dy` (the gradient of `y`, y's shape).
 * Attributes: the forward's. Outputs, in this order: `dx` (x's shape),
 * `dfilter` (filter's), `dbias`, `dgamma`, `dbeta` [Cout] (`dbias` is zero
 * up to rounding: the bias only shifts the batch mean).
 *
 * ## `GlyphnetAdam`: one Keras-form Adam step on one variable
 * Inputs `{ value, grad, m, v }`, all of one shape. Attributes
 * {@link AdamAttrs}. Outputs, in this order, each of that shape:
 * m' = β1·m + (1−β1)·g; v' = β2·v + (1−β2)·g²;
 * value' = value − stepSize · m' / (√v' + epsilon), returned as
 * `[value', m', v']`. No gradient. Inputs are never written in place.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** Fused conv → batch norm → activation, forward. */
export const CONV_BN_ACT = "GlyphnetConvBnAct";
/** Its backward pass. */
export const CONV_BN_ACT_GRAD = "GlyphnetConvBnActGrad";
/** One Adam step on one variable. */
export const ADAM = "GlyphnetAdam";

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

/** Attributes of {@link ADAM}. */
export interface AdamAttrs {
  /** Keras: lr·√(1−β2ᵗ)/(1−β1ᵗ) at step t. */
  stepSize: number;
  beta1: number;
  beta2: number;
  /** Added to √v. */
  epsilon: number;
}

/** True when the active tfjs backend has a kernel registered under every one of `names`. */
export function backendHasKernels(...names: string[]): boolean {
  const backend = tf.getBackend();
  return names.every((name) => tf.getKernel(name, backend) != null);
}
