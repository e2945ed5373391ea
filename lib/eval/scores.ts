/**
 * Decoding loss and accuracy. One-hot messages use softmax cross-entropy
 * over V+1 classes (the last is noise); binary messages use sigmoid
 * cross-entropy per bit plus the noise flag.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type MessageConfig, messageLength } from "../config/schema.ts";

/** Mean cross-entropy of logits [B, V+1] against labels [B, V+1]. */
export function decodeLoss(m: MessageConfig, logits: tf.Tensor2D, labels: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    if (m.type === "one-hot") return tf.losses.softmaxCrossEntropy(labels, logits) as tf.Scalar;
    return tf.losses.sigmoidCrossEntropy(labels, logits) as tf.Scalar;
  });
}

/** How well logits decode a batch of real messages. */
export interface DecodeScore {
  /** Share of messages decoded exactly (one-hot: argmax over V+1 is the symbol). */
  accuracy: number;
  /** Binary only: share of bits right. Equals accuracy for one-hot. */
  bitAccuracy: number;
  /** Share of real glyphs that D called noise. */
  calledNoise: number;
}

/** Scores logits (row-major [B, V+1]) against the messages they should decode. */
export function scoreDecoding(
  m: MessageConfig,
  logits: Float32Array,
  messages: Float32Array,
): DecodeScore {
  const v = messageLength(m);
  const b = messages.length / v;
  let exact = 0, bits = 0, noise = 0;
  for (let i = 0; i < b; i++) {
    const row = i * (v + 1);
    if (m.type === "one-hot") {
      const best = argmax(logits, row, v + 1);
      if (best === v) noise++;
      else if (messages[i * v + best] === 1) exact++;
    } else {
      let right = 0;
      for (let j = 0; j < v; j++) {
        if ((logits[row + j] > 0 ? 1 : 0) === messages[i * v + j]) right++;
      }
      bits += right;
      if (right === v) exact++;
      if (logits[row + v] > 0) noise++;
    }
  }
  const accuracy = b ? exact / b : 0;
  return {
    accuracy,
    bitAccuracy: m.type === "one-hot" ? accuracy : (b ? bits / (b * v) : 0),
    calledNoise: b ? noise / b : 0,
  };
}

/** Share of negatives (logits [B, V+1]) that D took for a message. */
export function negativesCalledMessage(m: MessageConfig, logits: Float32Array): number {
  const v = messageLength(m);
  const b = logits.length / (v + 1);
  let wrong = 0;
  for (let i = 0; i < b; i++) {
    const row = i * (v + 1);
    if (m.type === "one-hot") {
      const best = argmax(logits, row, v + 1);
      if (best !== v) wrong++;
    } else if (logits[row + v] <= 0) wrong++;
  }
  return b ? wrong / b : 0;
}

/** Index (relative to `from`) of the largest of `n` values starting at `from`; the first on a tie. */
export function argmax(values: ArrayLike<number>, from: number, n: number): number {
  let best = 0;
  for (let j = 1; j < n; j++) if (values[from + j] > values[from + best]) best = j;
  return best;
}
