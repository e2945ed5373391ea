/**
 * The tfjs tensor types that cross the public API, under glyphnet's own
 * export so the API documents them as tfjs's (they are the same types).
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";

/** tfjs's `Tensor1D`: a vector, e.g. batch-norm statistics per channel. */
export type Tensor1D = tf.Tensor1D;
/** tfjs's `Tensor2D`: a batch of vectors [B, N], e.g. messages or logits. */
export type Tensor2D = tf.Tensor2D;
/** tfjs's `Tensor4D`: a batch of images [B, H, W, C]. */
export type Tensor4D = tf.Tensor4D;
/** tfjs's `Variable`: a trainable (or running-average) tensor. */
export type Variable = tf.Variable;
