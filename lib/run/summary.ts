/**
 * metrics.json: the headline numbers of a run, derived from its epochs.
 * @module
 */
import type { Experiment } from "../config/schema.ts";
import type { EpochMetrics } from "../train/loop.ts";

/** The summary a run folder carries in metrics.json. */
export interface RunSummary {
  epochs: number;
  steps: number;
  seconds: number;
  final: {
    level: number;
    loss_total: number;
    accuracy: number | null;
    bit_accuracy: number | null;
  } | null;
  best: { accuracy: number | null; accuracy_epoch: number | null; loss_total: number | null };
  highest_level: number;
  /** Epochs spent at each level, by level. */
  epochs_per_level: Record<string, number>;
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
  return {
    epochs: metrics.length,
    steps: metrics.reduce((a, m) => a + m.steps, 0),
    seconds: metrics.reduce((a, m) => a + m.seconds, 0),
    final: last
      ? {
        level: last.next_level,
        loss_total: last.loss.total,
        accuracy: last.eval?.accuracy ?? null,
        bit_accuracy: last.eval?.bitAccuracy ?? null,
      }
      : null,
    best: { accuracy: bestAcc, accuracy_epoch: bestEpoch, loss_total: bestLoss },
    highest_level: highest,
    epochs_per_level: perLevel,
    message: config.message,
  };
}
