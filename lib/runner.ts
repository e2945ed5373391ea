/**
 * Runs an experiment into a run folder: starts the backend, creates the
 * folder, trains with the writer and the progress display subscribed, and
 * records how it ended. Also continues an interrupted run.
 * @module
 */
import { type BackendInfo, initBackend, lossReadInterval } from "./backend/init.ts";
import { sanitizeName } from "./config/load.ts";
import type { Experiment } from "./config/schema.ts";
import { train, type TrainEvent, type TrainSnapshot } from "./train/loop.ts";
import type { Manifest } from "./run/manifest.ts";
import type { Progress } from "./run/progress.ts";
import { readCheckpoint, readRun } from "./run/reader.ts";
import { RunWriter } from "./run/writer.ts";

/** The run folder being written, as the callbacks of {@linkcode RunOptions} see it. */
export interface RunFolder {
  /** The folder's path. */
  readonly dir: string;
  /** Appends a line to the run's train.log. */
  log(line: string): Promise<void>;
  /** Marks the run ended and writes its manifest at once (for a second Ctrl-C). */
  finishSync(status: Manifest["status"], error?: string): void;
}

/** How to run. */
export interface RunOptions {
  /** Folder that holds run folders (default "runs"). */
  root?: string;
  /** Experiment file path and text, saved in the folder. */
  file?: string;
  /** The experiment file's text, saved as experiment.yaml. */
  source?: string;
  /** Aborting stops after the current step and marks the run interrupted. */
  signal?: AbortSignal;
  /** Extra subscriber for training events. */
  onEvent?: (e: TrainEvent) => void | Promise<void>;
  /** Progress display; default none. */
  progress?: (backend: BackendInfo, folder: RunFolder, epochs: number) => Progress;
  /** Called once the folder exists (e.g. to mark it on a second Ctrl-C). */
  onStarted?: (folder: RunFolder) => void;
}

/** How a run ended and where it is. */
export interface RunResult {
  /** The run folder. */
  dir: string;
  /** How the run ended (also in its manifest). */
  status: "completed" | "interrupted" | "failed";
  /** The backend it ran on. */
  backend: BackendInfo;
}

/**
 * Trains `config` into a new folder under `opts.root`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { experimentSchema } from "./config/schema.ts";
 * import { readRun } from "./run/reader.ts";
 * import { runExperiment } from "./runner.ts";
 * const config = experimentSchema.parse({
 *   message: { size: 4 },
 *   image: { size: 4, color: "grayscale" },
 *   model: { filters: 1 },
 *   training: { backend: "cpu", batch_size: 4, epochs: 1, steps_per_epoch: 2 },
 *   channel: { schedule: { max: 1 } },
 *   eval: { samples: 4, glyph_samples: 4, matrix_samples: 4 },
 * });
 * const root = await Deno.makeTempDir();
 * const { dir, status } = await runExperiment(config, { root });
 * assert.equal(status, "completed");
 * assert.equal((await readRun(dir)).manifest.status, "completed");
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function runExperiment(config: Experiment, opts: RunOptions = {}): Promise<RunResult> {
  const backend = await initBackend(config.training.backend, {
    threads: config.training.threads,
  });
  const writer = await RunWriter.create({
    root: opts.root ?? "runs",
    name: sanitizeName(config.name ?? "run"),
    config,
    source: opts.source ?? "",
    file: opts.file ?? "",
    backend,
  });
  return await trainInto(writer, config, backend, opts);
}

/**
 * Continues an interrupted or failed run in its own folder from its last checkpoint.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { experimentSchema } from "./config/schema.ts";
 * import { resumeRun, runExperiment } from "./runner.ts";
 * const config = experimentSchema.parse({
 *   message: { size: 4 },
 *   image: { size: 4, color: "grayscale" },
 *   model: { filters: 1 },
 *   training: { backend: "cpu", batch_size: 4, epochs: 1, steps_per_epoch: 2 },
 *   channel: { schedule: { max: 1 } },
 *   eval: { samples: 4, glyph_samples: 4, matrix_samples: 4 },
 * });
 * const root = await Deno.makeTempDir();
 * const stop = new AbortController();
 * const first = await runExperiment(config, {
 *   root,
 *   signal: stop.signal,
 *   onEvent: (e) => {
 *     if (e.type === "step") stop.abort(); // as Ctrl-C does
 *   },
 * });
 * assert.equal(first.status, "interrupted");
 * const again = await resumeRun(first.dir);
 * assert.deepEqual([again.dir, again.status], [first.dir, "completed"]);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function resumeRun(dir: string, opts: RunOptions = {}): Promise<RunResult> {
  const run = await readRun(dir);
  if (run.manifest.status === "completed") {
    throw new RangeError(`Cannot resume "${dir}": the run already completed`);
  }
  const snapshot = await readCheckpoint(dir);
  // Older runs' configs have no threads: auto.
  const backend = await initBackend(run.config.training.backend, {
    threads: run.config.training.threads ?? "auto",
  });
  const writer = await RunWriter.reopen(dir, run.manifest, run.metrics);
  return await trainInto(writer, run.config, backend, opts, snapshot);
}

async function trainInto(
  writer: RunWriter,
  config: Experiment,
  backend: BackendInfo,
  opts: RunOptions,
  resume?: TrainSnapshot,
): Promise<RunResult> {
  opts.onStarted?.(writer);
  const progress = opts.progress?.(backend, writer, config.training.epochs);
  try {
    const status = await train(config, {
      signal: opts.signal,
      resume,
      readEvery: lossReadInterval(backend),
      onEvent: async (e) => {
        await writer.onEvent(e, config);
        progress?.event(e);
        await opts.onEvent?.(e);
      },
    });
    await writer.finish(status);
    return { dir: writer.dir, status, backend };
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    await writer.finish("failed", message);
    progress?.line(`failed: ${message}`);
    throw e;
  }
}
