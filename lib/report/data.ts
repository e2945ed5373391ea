/**
 * What reports read from a run folder (through lib/run/reader.ts): the run,
 * its frames, per-epoch series and the headline numbers, tolerant of both
 * spellings of older metrics keys (camelCase and snake_case).
 * @module
 */
import { experimentSchema } from "../config/schema.ts";
import { listFrames, readRun, type Run } from "../run/reader.ts";
import { type RunSummary, summarize } from "../run/summary.ts";
import type { EpochMetrics } from "../train/loop.ts";

/** A run as a report sees it. */
export interface ReportRun extends Run {
  summary: RunSummary;
  frames: { epoch: number; path: string }[];
  /** Short unique name for legends: the run's name (with its folder stamp when names repeat). */
  label: string;
}

/** Reads a run folder for a report. */
export async function loadReportRun(dir: string): Promise<ReportRun> {
  const run = await readRun(dir);
  const frames = await listFrames(run.dir);
  const summary = run.summary ?? summarize(run.metrics, run.config);
  return { ...run, summary, frames, label: run.manifest.name };
}

/** Gives runs with the same name their folder's stamp, so legends tell them apart. */
export function uniqueLabels(runs: ReportRun[]): void {
  const count = new Map<string, number>();
  for (const r of runs) count.set(r.label, (count.get(r.label) ?? 0) + 1);
  for (const r of runs) {
    if ((count.get(r.label) ?? 0) > 1) r.label = r.dir.split("/").at(-1) ?? r.dir;
  }
}

/** A field of an epoch's eval under its snake_case or older camelCase name. */
export function evalField(m: EpochMetrics, snake: string, camel: string): number | undefined {
  const ev = m.eval as Record<string, unknown> | null | undefined;
  const v = ev?.[snake] ?? ev?.[camel];
  return typeof v === "number" ? v : undefined;
}

/** Per-epoch series a report plots, by name. */
export const SERIES: Record<string, (m: EpochMetrics) => number | undefined> = {
  d_real: (m) => m.loss.d_real,
  d_fake: (m) => m.loss.d_fake,
  g: (m) => m.loss.g,
  total: (m) => m.loss.total,
  level: (m) => m.level,
  accuracy: (m) => evalField(m, "accuracy", "accuracy"),
  bit_accuracy: (m) => evalField(m, "bit_accuracy", "bitAccuracy"),
  real_called_noise: (m) => evalField(m, "called_noise", "calledNoise"),
  noise_called_message: (m) => evalField(m, "negatives_called_message", "negativesCalledMessage"),
  glyph_diversity: (m) => m.glyphs?.diversity,
  topographic_similarity: (m) => m.glyphs?.topographic_similarity ?? undefined,
};

/** A headline number: how to read it from a run and which way is better. */
export interface Headline {
  name: string;
  kind: "pct" | "num" | "int";
  /** +1: higher is better; −1: lower is better; 0: neither. */
  better: 1 | -1 | 0;
  value: (r: ReportRun) => number | null | undefined;
}

/** The numbers a report puts on top and a comparison compares. */
export const HEADLINES: Headline[] = [
  { name: "final accuracy", kind: "pct", better: 1, value: (r) => r.summary.final?.accuracy },
  { name: "best accuracy", kind: "pct", better: 1, value: (r) => r.summary.best.accuracy },
  { name: "level at 95 %", kind: "int", better: 1, value: (r) => r.summary.level_at_95 },
  { name: "level at 99 %", kind: "int", better: 1, value: (r) => r.summary.level_at_99 },
  { name: "highest level", kind: "int", better: 1, value: (r) => r.summary.highest_level },
  { name: "glyph diversity", kind: "num", better: 1, value: (r) => r.summary.glyph_diversity },
  {
    name: "real called noise",
    kind: "pct",
    better: -1,
    value: (r) => r.summary.noise?.real_called_noise,
  },
  {
    name: "noise called message",
    kind: "pct",
    better: -1,
    value: (r) => r.summary.noise?.negatives_called_message,
  },
  { name: "final total loss", kind: "num", better: -1, value: (r) => r.summary.final?.loss_total },
  { name: "epochs", kind: "int", better: 0, value: (r) => r.summary.epochs },
  { name: "seconds", kind: "int", better: -1, value: (r) => r.summary.seconds },
];

/** Every leaf of a JSON value as "a.b.c" → value (arrays are leaves). */
export function flatten(value: unknown, prefix = ""): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (value && typeof value === "object" && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) {
      if (k === "$comment" || k === "$schema") continue;
      for (const [kk, vv] of flatten(v, prefix ? `${prefix}.${k}` : k)) out.set(kk, vv);
    }
  } else if (prefix) {
    out.set(prefix, value);
  }
  return out;
}

/** The resolved defaults, flattened: what an experiment file that states nothing gets. */
export function defaultConfig(): Map<string, unknown> {
  return flatten(experimentSchema.parse({}));
}

/** A leaf value as text. */
export function show(v: unknown): string {
  return v === undefined ? "–" : typeof v === "string" ? v : JSON.stringify(v);
}
