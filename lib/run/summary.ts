/**
 * metrics.json: the headline numbers of a run, derived from its epochs.
 * @module
 */
import type { Experiment } from "../config/schema.ts";
import type { EpochMetrics } from "../train/loop.ts";
import { levelAt, type RobustnessMatrix } from "../eval/matrix.ts";

/** The summary a run folder carries in metrics.json. */
export interface RunSummary {
  /** Epochs finished. */
  epochs: number;
  /** Training steps done. */
  steps: number;
  /** Training time in seconds. */
  seconds: number;
  /** The last epoch's level, loss and held-out accuracy; null before any epoch. */
  final: {
    level: number;
    loss_total: number;
    accuracy: number | null;
    bit_accuracy: number | null;
  } | null;
  /** Best held-out accuracy (and its epoch) and lowest total loss over the epochs. */
  best: { accuracy: number | null; accuracy_epoch: number | null; loss_total: number | null };
  /** Highest level training reached. */
  highest_level: number;
  /** Epochs spent at each level, by level. */
  epochs_per_level: Record<string, number>;
  /** Highest level whose whole-channel held-out accuracy is ≥ 95 % (latest matrix). */
  level_at_95: number | null;
  /** The same at ≥ 99 %. */
  level_at_99: number | null;
  /** Noise detection at the final level: real glyphs called noise, noise called a message. */
  noise: { real_called_noise: number; negatives_called_message: number | null } | null;
  /** Mean RMS pixel distance between glyphs of distinct messages (near 0: collapse). */
  glyph_diversity: number | null;
  /** Binary messages: Spearman ρ of message Hamming vs glyph pixel distances. */
  topographic_similarity: number | null;
  /** The latest robustness matrix and the epoch it was taken at. */
  matrix: (RobustnessMatrix & { epoch: number }) | null;
  /** The message format, to read `final` and `best` by. */
  message: Experiment["message"];
}

/** Summarises per-epoch metrics. */
export function summarize(metrics: EpochMetrics[], config: Experiment): RunSummary {
  const last = metrics.at(-1);
  let bestAcc: number | null = null,
    bestEpoch: number | null = null,
    bestLoss: number | null = null;
  const perLevel: Record<string, number> = {};
  let highest = 0;
  for (const m of metrics) {
    const acc = m.eval?.accuracy;
    if (acc !== undefined && (bestAcc === null || acc > bestAcc)) {
      [bestAcc, bestEpoch] = [acc, m.epoch];
    }
    if (bestLoss === null || m.loss.total < bestLoss) bestLoss = m.loss.total;
    perLevel[m.level] = (perLevel[m.level] ?? 0) + 1;
    highest = Math.max(highest, m.level, m.next_level);
  }
  // Older runs' lines lack these fields: read them as absent.
  const withMatrix = metrics.findLast((m) => m.matrix);
  const matrix = withMatrix?.matrix ? { epoch: withMatrix.epoch, ...withMatrix.matrix } : null;
  const glyphs = metrics.findLast((m) => m.glyphs)?.glyphs ?? null;
  return {
    epochs: metrics.length,
    steps: metrics.reduce((a, m) => a + m.steps, 0),
    seconds: metrics.reduce((a, m) => a + m.seconds, 0),
    final: last
      ? {
        level: last.next_level,
        loss_total: last.loss.total,
        accuracy: last.eval?.accuracy ?? null,
        bit_accuracy: last.eval?.bit_accuracy ?? null,
      }
      : null,
    best: { accuracy: bestAcc, accuracy_epoch: bestEpoch, loss_total: bestLoss },
    highest_level: highest,
    epochs_per_level: perLevel,
    level_at_95: matrix ? levelAt(matrix, 0.95) : null,
    level_at_99: matrix ? levelAt(matrix, 0.99) : null,
    noise: last?.eval
      ? {
        real_called_noise: last.eval.called_noise,
        negatives_called_message: last.eval.negatives_called_message ?? null,
      }
      : null,
    glyph_diversity: glyphs?.diversity ?? null,
    topographic_similarity: glyphs?.topographic_similarity ?? null,
    matrix,
    message: config.message,
  };
}
