/**
 * The robustness matrix: held-out decode accuracy for each channel op on
 * its own and for the whole channel, at each difficulty level. Every cell
 * uses the same seed, so it sees the same messages; batches are the
 * training batch size because batch norm uses batch statistics.
 * @module
 */
import type { Experiment, OpName } from "../config/schema.ts";
import type { Discriminator } from "../model/discriminator.ts";
import type { Generator } from "../model/generator.ts";
import { type EvalResult, evaluate } from "./evaluate.ts";

/** A row of the matrix: one op alone, the extras alone, or the whole channel. */
export type MatrixRow = OpName | "extras" | "channel";

/**
 * Decoding scores as run files store them (a matrix cell, an epoch's `eval`):
 * snake_case, like every key written to disk.
 */
export interface MatrixCell {
  /** Share of messages decoded exactly. */
  accuracy: number;
  /** Binary messages: share of bits right (equals accuracy for one-hot). */
  bit_accuracy: number;
  /** Share of real glyphs D called noise. */
  called_noise: number;
  /** Whole-channel row only: share of noise images D took for a message. */
  negatives_called_message?: number;
}

/** Cells by row name, one per level in `levels`. */
export interface RobustnessMatrix {
  /** The levels evaluated, one cell per level in each row. */
  levels: number[];
  /** Messages per cell. */
  samples: number;
  /** Seed of every cell's messages and channel draws. */
  seed: number;
  /** Each op alone, the extras alone and the whole channel. */
  rows: Partial<Record<MatrixRow, MatrixCell[]>>;
}

/** An evaluation's scores with the keys run files use. */
export function storedScores(r: EvalResult): MatrixCell {
  const cell: MatrixCell = {
    accuracy: r.accuracy,
    bit_accuracy: r.bitAccuracy,
    called_noise: r.calledNoise,
  };
  if (r.negativesCalledMessage !== undefined) {
    cell.negatives_called_message = r.negativesCalledMessage;
  }
  return cell;
}

/** Options of {@linkcode robustnessMatrix}. */
export interface MatrixOptions {
  /** Levels to evaluate, e.g. 0..max. */
  levels: number[];
  samples: number;
  seed: number;
  /** Rows to fill (default: every configured op, the extras if on, the channel). */
  rows?: MatrixRow[];
}

/** The rows an experiment's channel has, in the order it applies them, then "channel". */
export function matrixRows(config: Experiment): MatrixRow[] {
  const rows: MatrixRow[] = [...config.channel.ops];
  if (config.channel.extras) rows.push("extras");
  rows.push("channel");
  return rows;
}

/** Evaluates every (row, level) cell: rows × levels × samples decodes. */
export async function robustnessMatrix(
  nets: { g: Generator; d: Discriminator },
  config: Experiment,
  opts: MatrixOptions,
): Promise<RobustnessMatrix> {
  if (!(Number.isInteger(opts.samples) && opts.samples >= 1)) {
    throw new RangeError(
      `Cannot evaluate the matrix: samples must be a whole number ≥ 1, got ${opts.samples}`,
    );
  }
  const rows: RobustnessMatrix["rows"] = {};
  // A cell is one exact level: `randomize` (levels drawn from 0..L) is for training only.
  const fixed = { ...config, channel: { ...config.channel, randomize: false } };
  for (const row of opts.rows ?? matrixRows(config)) {
    const cells: MatrixCell[] = [];
    for (const level of opts.levels) {
      const r = await evaluate(nets, fixed, {
        level,
        samples: opts.samples,
        seed: opts.seed,
        only: row === "channel" ? undefined : row,
        negatives: row === "channel",
      });
      cells.push(storedScores(r));
    }
    rows[row] = cells;
  }
  return { levels: [...opts.levels], samples: opts.samples, seed: opts.seed, rows };
}

/**
 * The highest level whose whole-channel accuracy is at least `threshold`
 * (null when none is, or the matrix has no "channel" row).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { levelAt } from "./matrix.ts";
 * const cell = (accuracy: number) => ({ accuracy, bit_accuracy: accuracy, called_noise: 0 });
 * const m = { levels: [0, 1, 2], samples: 1, seed: 0, rows: { channel: [1, 0.97, 0.9].map(cell) } };
 * assert(levelAt(m, 0.95) === 1 && levelAt(m, 0.99) === 0);
 * ```
 */
export function levelAt(matrix: RobustnessMatrix, threshold: number): number | null {
  const cells = matrix.rows.channel;
  if (!cells) return null;
  let best: number | null = null;
  cells.forEach((c, i) => {
    if (c.accuracy >= threshold) best = Math.max(best ?? -1, matrix.levels[i]);
  });
  return best;
}

/**
 * The matrix as a text table of percentages: a row per op, a column per level.
 *
 * @example
 * ```ts
 * import { formatMatrix } from "./matrix.ts";
 * const cell = { accuracy: 0.5, bit_accuracy: 0.5, called_noise: 0 };
 * console.log(formatMatrix({ levels: [0], samples: 1, seed: 0, rows: { blur: [cell] } }));
 * ```
 */
export function formatMatrix(
  matrix: RobustnessMatrix,
  field: "accuracy" | "bit_accuracy" | "called_noise" = "accuracy",
): string {
  const names = Object.keys(matrix.rows) as MatrixRow[];
  const width = Math.max(9, ...names.map((n) => n.length));
  const head = "level".padEnd(width) + matrix.levels.map((l) => String(l).padStart(6)).join("");
  const lines = [head];
  for (const name of names) {
    const cells = matrix.rows[name] ?? [];
    lines.push(
      name.padEnd(width) + cells.map((c) => (c[field] * 100).toFixed(1).padStart(6)).join(""),
    );
  }
  return lines.join("\n");
}
