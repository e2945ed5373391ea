/**
 * Reads run folders: the one module tools use to get at runs.
 * @module
 */
import { UserError } from "../errors.ts";
import { type Experiment, experimentSchema } from "../config/schema.ts";
import type { EpochMetrics, TrainSnapshot } from "../train/loop.ts";
import type { Manifest } from "./manifest.ts";
import { decodeSafetensors } from "./safetensors.ts";
import { RUN_FILES } from "./writer.ts";
import type { RunSummary } from "./summary.ts";

/** A run folder's contents, except frames and checkpoints. */
export interface Run {
  /** The folder. */
  dir: string;
  /** manifest.json: status, times, git, backend, versions. */
  manifest: Manifest;
  /** config.json: the resolved experiment. */
  config: Experiment;
  /** metrics.jsonl: one entry per finished epoch. */
  metrics: EpochMetrics[];
  /** metrics.json; null before the first epoch ends. */
  summary: RunSummary | null;
}

/** A run folder could not be read; the message names the file and why. */
export class RunReadError extends UserError {
  /** Always "RunReadError". */
  override name = "RunReadError";
}

async function readJson<T>(path: string): Promise<T> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new RunReadError(`Cannot read "${path}": ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new RunReadError(`Cannot read "${path}": not valid JSON`);
  }
}

/**
 * Reads manifest, config, per-epoch metrics and summary of a run folder.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readRun } from "./reader.ts";
 * const dir = "tests/fixtures/tiny_runs/2026-12-01T19-28-49.921Z_tiny";
 * const run = await readRun(dir);
 * assert.equal(run.manifest.status, "completed");
 * assert.equal(run.metrics.length, 1);
 * assert.equal(run.summary?.epochs, 1);
 * ```
 */
export async function readRun(dir: string): Promise<Run> {
  dir = dir.replace(/\/+$/, "");
  const isRun = await Deno.stat(`${dir}/${RUN_FILES.manifest}`).then((i) => i.isFile, () => false);
  if (!isRun) {
    throw new RunReadError(
      `Cannot read run "${dir}": it has no ${RUN_FILES.manifest} (not a run folder?)`,
    );
  }
  const manifest = await readJson<Manifest>(`${dir}/${RUN_FILES.manifest}`);
  const raw = await readJson<Record<string, unknown>>(`${dir}/${RUN_FILES.config}`);
  delete raw.$comment;
  const parsed = experimentSchema.safeParse(raw);
  if (!parsed.success) {
    throw new RunReadError(
      `Cannot read "${dir}/${RUN_FILES.config}": it does not match this version's format`,
    );
  }
  const metrics = await readMetrics(`${dir}/${RUN_FILES.metrics}`);
  let summary: RunSummary | null = null;
  try {
    summary = JSON.parse(await Deno.readTextFile(`${dir}/${RUN_FILES.summary}`));
  } catch { /* absent until the first epoch ends */ }
  return { dir, manifest, config: parsed.data, metrics, summary };
}

/**
 * Reads metrics.jsonl: one epoch a line, appended as epochs end. A last line
 * without its newline was cut short by a crash and is ignored; any other
 * line that is not JSON is an error.
 */
export async function readMetrics(path: string): Promise<EpochMetrics[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw new RunReadError(`Cannot read "${path}": ${(e as Error).message}`);
  }
  const lines = text.split("\n");
  const torn = lines.pop(); // "" when the file ends with a newline
  const metrics: EpochMetrics[] = [];
  for (const [i, line] of lines.entries()) {
    if (!line.trim()) continue;
    try {
      metrics.push(upgradeEpochLine(JSON.parse(line)));
    } catch {
      throw new RunReadError(`Cannot read "${path}": line ${i + 1} is not valid JSON`);
    }
  }
  if (torn?.trim()) {
    // A whole line whose newline was lost still counts; a cut one does not.
    try {
      metrics.push(upgradeEpochLine(JSON.parse(torn)));
    } catch { /* cut short by a crash */ }
  }
  return metrics;
}

/** Names runs wrote before every key was snake_case (eval scores were camelCase). */
const OLD_EVAL_KEYS: Record<string, string> = {
  bitAccuracy: "bit_accuracy",
  calledNoise: "called_noise",
  negativesCalledMessage: "negatives_called_message",
};

/** An epoch line in today's keys, whichever version wrote it. */
function upgradeEpochLine(line: EpochMetrics): EpochMetrics {
  if (!line.eval) return line;
  const scores: Record<string, number> = {};
  for (const [k, v] of Object.entries(line.eval)) scores[OLD_EVAL_KEYS[k] ?? k] = v as number;
  return { ...line, eval: scores as unknown as EpochMetrics["eval"] };
}

/**
 * Reads the run's last checkpoint.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readCheckpoint } from "./reader.ts";
 * const dir = "tests/fixtures/tiny_runs/2026-12-01T19-28-49.921Z_tiny";
 * const snapshot = await readCheckpoint(dir);
 * assert.equal(snapshot.meta.step, 2);
 * assert.ok(snapshot.tensors.has("G/stem/kernel"));
 * ```
 */
export async function readCheckpoint(dir: string): Promise<TrainSnapshot> {
  const path = `${dir.replace(/\/+$/, "")}/${RUN_FILES.checkpoint}`;
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    throw new RunReadError(`Cannot read "${path}": ${(e as Error).message} (no checkpoint yet?)`);
  }
  const file = decodeSafetensors(bytes, path);
  const n = (k: string) => {
    const v = Number(file.metadata[k]);
    if (!Number.isFinite(v)) {
      throw new RunReadError(`Cannot read "${path}": metadata "${k}" is missing`);
    }
    return v;
  };
  return {
    tensors: file.tensors,
    meta: {
      epoch: n("epoch"),
      step_in_epoch: n("step_in_epoch"),
      step: n("step"),
      level: n("level"),
      rng_state: n("rng_state"),
      g_iterations: n("g_iterations"),
      d_iterations: n("d_iterations"),
    },
  };
}

/**
 * Run folders under `root`, oldest first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { listRunDirs } from "./reader.ts";
 * const root = "tests/fixtures/tiny_runs";
 * assert.deepEqual(await listRunDirs(root), [`${root}/2026-12-01T19-28-49.921Z_tiny`]);
 * ```
 */
export async function listRunDirs(root = "runs"): Promise<string[]> {
  const dirs: string[] = [];
  try {
    for await (const e of Deno.readDir(root)) {
      if (e.isDirectory) dirs.push(`${root}/${e.name}`);
    }
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return dirs.sort();
}
