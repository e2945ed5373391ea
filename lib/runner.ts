/**
 * Runs an experiment into a run folder: starts the backend, creates the
 * folder, trains with the writer, train.log and the progress display
 * subscribed, and records how it ended. Also continues an interrupted run.
 * The command line is a thin layer over this module: a run started here gets
 * the same files and statuses.
 * @module
 */
import { type BackendInfo, initBackend, lossReadInterval } from "./backend/init.ts";
import { sanitizeName } from "./config/load.ts";
import type { Experiment } from "./config/schema.ts";
import { train, type TrainEvent, type TrainSnapshot } from "./train/loop.ts";
import { makeProgress, type Progress } from "./run/progress.ts";
import { readCheckpoint, readRun, RunReadError } from "./run/reader.ts";
import { RUN_FILES, RunWriter } from "./run/writer.ts";

/** How to run. */
export interface RunOptions {
  /** Folder that holds run folders (default "runs"). */
  root?: string;
  /** Experiment file path and text, saved in the folder. */
  file?: string;
  /** The experiment file's text, saved as experiment.yaml. */
  source?: string;
  /** Aborting stops after the current step, with a checkpoint, and marks the run interrupted. */
  signal?: AbortSignal;
  /** Extra subscriber for training events. */
  onEvent?: (e: TrainEvent) => void | Promise<void>;
  /** Where to show progress (e.g. stderr); train.log is written either way. */
  display?: { write: (s: string) => void; terminal: boolean };
  /** Called once the folder exists (e.g. to print it, or to stop at once on a second Ctrl-C). */
  onStarted?: (run: StartedRun) => void;
}

/** A run whose folder exists, as {@linkcode RunOptions.onStarted} sees it. */
export interface StartedRun {
  /** The run folder. */
  readonly dir: string;
  /** Marks the run interrupted right away (synchronously), for a process about to exit. */
  markInterrupted(): void;
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
    throw new RunReadError(`Cannot resume "${dir}": the run already completed`);
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
  opts.onStarted?.({ dir: writer.dir, markInterrupted: () => writer.finishSync("interrupted") });
  const epochs = config.training.epochs;
  // train.log gets the plain lines whatever the display is, so it reads the same everywhere.
  const logged = makeProgress({ epochs, backend, terminal: false, write: logWriter(writer.dir) });
  const shown: Progress | undefined = opts.display &&
    makeProgress({ epochs, backend, ...opts.display });
  try {
    const status = await train(config, {
      signal: opts.signal,
      resume,
      readEvery: lossReadInterval(backend),
      onEvent: async (e) => {
        await writer.onEvent(e, config);
        logged.event(e);
        shown?.event(e);
        await opts.onEvent?.(e);
      },
    });
    await writer.finish(status);
    return { dir: writer.dir, status, backend };
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    await writer.finish("failed", message);
    logged.line(`failed: ${message}`);
    shown?.line(`failed: ${message}`);
    throw e;
  }
}

/**
 * Writes train.log lines, each whole with the time in front. Synchronous, so
 * the lines land in order and none is still pending when the run ends.
 */
function logWriter(dir: string): (s: string) => void {
  const path = `${dir}/${RUN_FILES.log}`;
  return (s) => {
    const stamp = new Date().toISOString();
    const lines = s.split("\n").filter((l) => l).map((l) => `${stamp} ${l}\n`).join("");
    Deno.writeTextFileSync(path, lines, { append: true });
  };
}
