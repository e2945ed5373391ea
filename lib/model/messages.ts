/**
 * Messages and their labels. A label is the message with one more entry,
 * the noise flag: 0 for a real message, 1 (and the rest 0) for noise.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  type Experiment,
  imageChannels,
  type MessageConfig,
  messageLength,
} from "../config/schema.ts";

type ImageConfig = Experiment["image"];
import { randomNormal } from "../backend/fused_kernels.ts";
import type { Rng } from "../rng.ts";

/** A batch of messages as plain arrays (row-major [B, V] and [B, V+1]). */
export interface MessageBatch {
  size: number;
  length: number;
  messages: Float32Array;
  labels: Float32Array;
}

/** `count` random messages drawn from `rng`. */
export function randomMessages(m: MessageConfig, count: number, rng: Rng): MessageBatch {
  const v = messageLength(m);
  const ids = Array.from({ length: count }, () => m.type === "one-hot" ? rng.int(0, v - 1) : -1);
  return fillBatch(
    m,
    count,
    (i, j) => m.type === "one-hot" ? (ids[i] === j ? 1 : 0) : rng.int(0, 1),
  );
}

/**
 * The same `count` messages every time, so frames compare across epochs and
 * runs: symbols 0, 1, 2… for one-hot; for binary, message i is the bits of
 * i·φ-spread integers so the grid shows varied patterns.
 */
export function fixedMessages(m: MessageConfig, count: number): MessageBatch {
  const v = messageLength(m);
  return fillBatch(m, count, (i, j) => {
    if (m.type === "one-hot") return j === i % v ? 1 : 0;
    const code = Math.floor(((i * 0.6180339887) % 1) * 2 ** Math.min(v, 30));
    return j < 30 ? (code >> j) & 1 : (i + j) & 1;
  });
}

function fillBatch(
  m: MessageConfig,
  count: number,
  bit: (i: number, j: number) => number,
): MessageBatch {
  const v = messageLength(m);
  const messages = new Float32Array(count * v);
  const labels = new Float32Array(count * (v + 1));
  for (let i = 0; i < count; i++) {
    for (let j = 0; j < v; j++) {
      const b = bit(i, j);
      messages[i * v + j] = b;
      labels[i * (v + 1) + j] = b;
    }
  }
  return { size: count, length: v, messages, labels };
}

/** Labels that say "noise": all zeros but the last entry. */
export function noiseLabels(m: MessageConfig, count: number): Float32Array {
  const v = messageLength(m);
  const labels = new Float32Array(count * (v + 1));
  for (let i = 0; i < count; i++) labels[i * (v + 1) + v] = 1;
  return labels;
}

/**
 * Noise images, the negatives D learns to call noise: sigmoid of a standard
 * normal, [count, size, size, channels], seeded.
 */
export function noiseImages(image: ImageConfig, count: number, seed: number): tf.Tensor4D {
  const shape: [number, number, number, number] = [
    count,
    image.size,
    image.size,
    imageChannels(image),
  ];
  return tf.tidy(() => tf.sigmoid(randomNormal(shape, 0, 1, seed)) as tf.Tensor4D);
}

/** Messages of a batch as a [B, V] tensor. */
export function messageTensor(b: MessageBatch): tf.Tensor2D {
  return tf.tensor2d(b.messages, [b.size, b.length]);
}

/** Labels of a batch as a [B, V+1] tensor. */
export function labelTensor(labels: Float32Array, length: number): tf.Tensor2D {
  return tf.tensor2d(labels, [labels.length / (length + 1), length + 1]);
}
