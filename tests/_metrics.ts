// One epoch's metrics line for tests that need one without training.
import type { EpochMetrics } from "../lib/train/loop.ts";

/** A metrics.jsonl line (epoch 1, level 2→3, accuracy 0.5); `over` replaces fields. */
export function epochMetrics(over: Partial<EpochMetrics> = {}): EpochMetrics {
  return {
    epoch: 1,
    level: 2,
    next_level: 3,
    loss: { d_real: 1, d_fake: 0.5, g: 0.25, total: 1.75 },
    eval: { accuracy: 0.5, bit_accuracy: 0.5, called_noise: 0.1 },
    steps: 10,
    seconds: 2.5,
    steps_per_second: 4,
    ...over,
  };
}

/** A robustness-matrix cell whose accuracy and bit accuracy are `accuracy`. */
export function matrixCell(accuracy: number) {
  return { accuracy, bit_accuracy: accuracy, called_noise: 0 };
}
