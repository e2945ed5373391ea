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
import type { Progress } from "./run/progress.ts";
import { readCheckpoint, readRun } from "./run/reader.ts";
import { RunWriter } from "./run/writer.ts";

/** How to run. */
export interface RunOptions {
  /** Folder that holds run folders (default "runs"). */
  root?: string;
  /** Experiment file path and text, saved in the folder. */
  file?: string;
  source?: string;
  /** Aborting stops after the current step and marks the run interrupted. */
  signal?: AbortSignal;
  /** Extra subscriber for training events. */
  onEvent?: (e: TrainEvent) => void | Promise<void>;
  /** Progress display; default none. */
  progress?: (backend: BackendInfo, writer: RunWriter, epochs: number) => Progress;
  /** Called once the folder exists (e.g. to mark it on a second Ctrl-C). */
  onStarted?: (writer: RunWriter) => void;
}

/** How a run ended and where it is. */
export interface RunResult {
  dir: string;
  status: "completed" | "interrupted" | "failed";
  backend: BackendInfo;
}

/**
 * Trains `config` into a new folder under `opts.root`.
 *
 * @example
 * ```ts ignore
 * import { loadExperiment } from "./config/load.ts";
 * import { runExperiment } from "./runner.ts";
 * const { config, source, path } = await loadExperiment("experiments/quick.yaml");
 * const { dir, status } = await runExperiment(config, { source, file: path });
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

/** Continues an interrupted or failed run in its own folder from its last checkpoint. */
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
