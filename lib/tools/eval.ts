/**
 * `deno task eval <run>`: evaluates a run's last checkpoint on more
 * held-out messages than training did, prints the robustness matrix and
 * writes eval.json into the run folder (whole or not at all).
 * @module
 */
import type { BackendInfo } from "../backend/init.ts";
import { heldOutSeed } from "../eval/evaluate.ts";
import { type GlyphMetrics, glyphMetrics } from "../eval/glyphs.ts";
import {
  formatMatrix,
  levelAt,
  type MatrixCell,
  type RobustnessMatrix,
  robustnessMatrix,
} from "../eval/matrix.ts";
import { toJson, writeFileAtomic } from "../fs.ts";
import { type TrainedNetworks, withNetworks } from "../run/networks.ts";

/** What eval.json holds. */
export interface EvalReport {
  $comment: string;
  created_at: string;
  backend: BackendInfo;
  /** Where the evaluated checkpoint stood. */
  checkpoint: { epoch: number; step: number; level: number };
  /** Highest level with whole-channel accuracy ≥ 95 % / ≥ 99 %. */
  level_at_95: number | null;
  level_at_99: number | null;
  /** Whole-channel scores at the checkpoint's level. */
  at_level: MatrixCell | null;
  glyphs: GlyphMetrics;
  matrix: RobustnessMatrix;
}

/** Options of {@linkcode evalRun}. */
export interface EvalRunOptions {
  /** Held-out messages per matrix cell (default 1024). */
  samples?: number;
  /** Backend to run on (default auto). */
  backend?: string;
  /** Highest level to evaluate (default: the schedule's max). */
  maxLevel?: number;
}

/** Evaluates the run in `dir`, writes `dir/eval.json`; returns it and the printable table. */
export async function evalRun(
  dir: string,
  opts: EvalRunOptions = {},
): Promise<{ report: EvalReport; table: string; path: string }> {
  return await withNetworks(dir, (nets, backend) => evaluateRun(dir, nets, backend, opts), opts);
}

async function evaluateRun(
  dir: string,
  nets: TrainedNetworks,
  backend: BackendInfo,
  opts: EvalRunOptions,
): Promise<{ report: EvalReport; table: string; path: string }> {
  const { config, meta } = nets;
  const max = opts.maxLevel ?? config.eval.matrix_levels ?? config.channel.schedule.max;
  const seed = heldOutSeed(config); // as in training
  const matrix = await robustnessMatrix(nets, config, {
    levels: Array.from({ length: max + 1 }, (_, l) => l),
    samples: opts.samples ?? 1024,
    seed,
  });
  const glyphs = await glyphMetrics(nets.g, config, { samples: config.eval.glyph_samples, seed });
  const report: EvalReport = {
    $comment: "held-out evaluation of the last checkpoint (deno task eval)",
    created_at: new Date().toISOString(),
    backend,
    checkpoint: { epoch: meta.epoch, step: meta.step, level: meta.level },
    level_at_95: levelAt(matrix, 0.95),
    level_at_99: levelAt(matrix, 0.99),
    at_level: matrix.rows.channel?.[matrix.levels.indexOf(meta.level)] ?? null,
    glyphs,
    matrix,
  };
  const path = `${dir.replace(/\/+$/, "")}/eval.json`;
  await writeFileAtomic(path, toJson(report));
  const lines = [
    `accuracy (%) over ${matrix.samples} held-out messages per cell, checkpoint epoch ${meta.epoch} (level ${meta.level}):`,
    formatMatrix(matrix),
  ];
  if (config.message.type === "binary") {
    lines.push("", "bit accuracy (%):", formatMatrix(matrix, "bit_accuracy"));
  }
  const pct = (x: number | undefined) => x === undefined ? "–" : `${(x * 100).toFixed(1)} %`;
  lines.push(
    "",
    `level_at_95 ${report.level_at_95 ?? "none"}, level_at_99 ${report.level_at_99 ?? "none"}`,
    `at level ${meta.level}: accuracy ${pct(report.at_level?.accuracy)}, real glyphs called noise ${
      pct(report.at_level?.called_noise)
    }, noise called a message ${pct(report.at_level?.negatives_called_message)}`,
    `glyph diversity ${glyphs.diversity.toFixed(3)} over ${glyphs.glyphs} glyphs` +
      (glyphs.topographic_similarity === null
        ? ""
        : `, topographic similarity ${glyphs.topographic_similarity.toFixed(3)}`),
  );
  return { report, table: lines.join("\n"), path };
}
