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
import { InputError, OperationalError } from "./errors.ts";
import { osReason, probeWritable, WriteError } from "./fs.ts";
import { train, type TrainEvent, type TrainSnapshot } from "./train/loop.ts";
import { resumeOverrides } from "./run/overrides.ts";
import { makeProgress, type Progress } from "./run/progress.ts";
import { readCheckpoint, readRun, RunReadError } from "./run/reader.ts";
import { RUN_FILES, RunWriter } from "./run/writer.ts";
import { keepGifFrames } from "./image/gif.ts";
import { writeRunReport } from "./report/write.ts";

/** How to run. */
export interface RunOptions {
  /** Folder that holds run folders (default "runs"). */
  root?: string;
  /** Experiment file path and text, saved in the folder. */
  file?: string;
  /** The experiment file's text, saved as experiment.yaml. */
  source?: string;
  /**
   * Aborting stops after the current step, with a checkpoint, and marks the
   * run interrupted. A reason that is a signal's name (`abort("SIGTERM")`) is
   * recorded as the manifest's `signal`.
   */
  signal?: AbortSignal;
  /** Extra subscriber for training events. */
  onEvent?: (e: TrainEvent) => void | Promise<void>;
  /** Where to show progress (e.g. stderr); train.log is written either way. */
  display?: { write: (s: string) => void; terminal: boolean };
  /** The sweep and point this run belongs to (recorded in the manifest). */
  sweep?: { name: string; point: string };
  /** Called once the folder exists (e.g. to print it, or to stop at once on a second Ctrl-C). */
  onStarted?: (run: StartedRun) => void;
}

/** How to continue a run. */
export interface ResumeOptions extends RunOptions {
  /**
   * `key.path=value` changes for the rest of the run, e.g. a lower learning
   * rate after a NaN: only optimizer, channel schedule and epoch keys
   * (changing the networks' shapes is refused). Recorded in the manifest's
   * `resume_overrides`; config.json gets the new values.
   */
  set?: string[];
}

/** A run whose folder exists, as {@linkcode RunOptions.onStarted} sees it. */
export interface StartedRun {
  /** The run folder. */
  readonly dir: string;
  /**
   * Marks the run interrupted right away (synchronously, with the abort
   * reason's signal name), for a process about to exit.
   */
  markInterrupted(): void;
  /** Writes a checkpoint after the current step; training goes on (e.g. on SIGUSR1). */
  checkpointNow(): void;
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
  const root = opts.root ?? "runs";
  await checkWritable(root, `Cannot start a run in "${root}"`);
  const backend = await initBackend(config.training.backend, {
    threads: config.training.threads,
  });
  const writer = await RunWriter.create({
    root,
    name: sanitizeName(config.name ?? "run"),
    config,
    source: opts.source ?? "",
    file: opts.file ?? "",
    backend,
    sweep: opts.sweep,
  });
  return await trainInto(writer, config, backend, opts);
}

/**
 * Continues an interrupted, failed or killed run in its own folder from its
 * last checkpoint (from the start when it died before the first one),
 * optionally with some settings changed (`opts.set`).
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
 * const again = await resumeRun(first.dir, { set: ["training.optimizer.learning_rate=0.001"] });
 * assert.deepEqual([again.dir, again.status], [first.dir, "completed"]);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function resumeRun(dir: string, opts: ResumeOptions = {}): Promise<RunResult> {
  const run = await readRun(dir);
  if (run.manifest.status === "completed") {
    throw new RunReadError(`Cannot resume "${dir}": the run already completed`);
  }
  const hasCheckpoint = await Deno.stat(`${run.dir}/${RUN_FILES.checkpoint}`).then(() => true)
    .catch(() => false);
  const snapshot = hasCheckpoint ? await readCheckpoint(dir) : undefined;
  const done = epochsDone(snapshot);
  const { config, changes } = resumeOverrides(run.config, opts.set ?? [], {
    dir,
    continuesAt: done + 1,
  });
  await checkWritable(dir, `Cannot resume "${dir}"`);
  // What a killed run wrote after its checkpoint goes: those epochs run again.
  await dropAfter(run.dir, done);
  run.manifest.epochs_done = done;
  // Older runs' configs have no threads: auto.
  const backend = await initBackend(config.training.backend, {
    threads: config.training.threads ?? "auto",
  });
  const metrics = run.metrics.filter((m) => m.epoch <= done);
  const writer = await RunWriter.reopen(dir, run.manifest, metrics);
  if (Object.keys(changes).length) {
    const at = writer.manifest.resumed_from?.at(-1) ?? new Date().toISOString();
    writer.manifest.resume_overrides = [...(writer.manifest.resume_overrides ?? []), {
      at,
      changes,
    }];
    await writer.writeConfig(config);
    await writer.writeManifest();
  }
  return await trainInto(writer, config, backend, opts, snapshot);
}

/**
 * Refuses to start when `dir` cannot take files (read-only, full, not
 * allowed), before the backend starts or anything is written.
 */
async function checkWritable(dir: string, what: string): Promise<void> {
  try {
    await probeWritable(dir);
  } catch (e) {
    const cause = e instanceof WriteError ? e.cause : e;
    throw new InputError(`${what}: cannot write files there: ${osReason(cause)}`);
  }
}

/** The signal name an abort reason carries ("SIGTERM"), or null. */
function signalName(signal: AbortSignal | undefined): string | null {
  const reason = signal?.reason;
  return typeof reason === "string" && /^SIG[A-Z0-9]+$/.test(reason) ? reason : null;
}

/** Epochs a checkpoint holds whole (a mid-epoch one continues its epoch). */
function epochsDone(snapshot: TrainSnapshot | undefined): number {
  if (!snapshot) return 0;
  return snapshot.meta.step_in_epoch === 0 ? snapshot.meta.epoch : snapshot.meta.epoch - 1;
}

/**
 * Removes what a killed run wrote after its checkpoint (frames of epochs
 * that will run again, in frames/ and in the GIF) and temp files it left;
 * metrics past it are dropped by the caller.
 */
async function dropAfter(dir: string, done: number): Promise<void> {
  let frames = 0;
  for (const folder of [dir, `${dir}/frames`, `${dir}/checkpoints`]) {
    const names: string[] = [];
    try {
      for await (const e of Deno.readDir(folder)) names.push(e.name);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
    }
    for (const name of names) {
      const epoch = /^epoch-(\d+)\.png$/.exec(name)?.[1];
      if (name.endsWith(".tmp") || (epoch !== undefined && Number(epoch) > done)) {
        await Deno.remove(`${folder}/${name}`);
      } else if (epoch !== undefined) frames++;
    }
  }
  // The GIF got a frame with each PNG (after it): keep as many as there are PNGs left.
  await keepGifFrames(`${dir}/${RUN_FILES.gif}`, frames);
}

async function trainInto(
  writer: RunWriter,
  config: Experiment,
  backend: BackendInfo,
  opts: RunOptions,
  resume?: TrainSnapshot,
): Promise<RunResult> {
  let checkpointWanted = false;
  opts.onStarted?.({
    dir: writer.dir,
    markInterrupted: () => writer.finishSync("interrupted", { signal: signalName(opts.signal) }),
    checkpointNow: () => void (checkpointWanted = true),
  });
  const epochs = config.training.epochs;
  // train.log gets the plain lines whatever the display is, so it reads the same everywhere.
  const logged = makeProgress({ epochs, backend, terminal: false, write: logWriter(writer.dir) });
  const shown: Progress | undefined = opts.display &&
    makeProgress({ epochs, backend, ...opts.display });
  const report = reportWriter(writer.dir, (line) => logged.line(line));
  try {
    const status = await train(config, {
      signal: opts.signal,
      checkpointWanted: () => checkpointWanted && !(checkpointWanted = false),
      resume,
      readEvery: lossReadInterval(backend),
      onEvent: async (e) => {
        await writer.onEvent(e, config);
        // report.html once an epoch: after its frame, or after its metrics when no frame is due.
        if (e.type === "frame" || (e.type === "epoch" && !frameDue(config, e.metrics.epoch))) {
          await report();
        }
        logged.event(e);
        shown?.event(e);
        await opts.onEvent?.(e);
      },
    });
    const signal = status === "interrupted" ? signalName(opts.signal) : null;
    await writer.finish(status, { signal });
    await report();
    return { dir: writer.dir, status, backend };
  } catch (e) {
    const err = operational(e);
    // A full disk may refuse the manifest too: say so, and keep the first error.
    const marked = await writer.finish("failed", { error: err.message }).then(
      () => true,
      () => false,
    );
    if (!marked) err.message += "; the manifest could not be marked failed either";
    await report();
    for (const show of [logged, shown]) {
      try {
        show?.line(`failed: ${err.message}`);
      } catch { /* the log may sit on the same full disk */ }
    }
    throw err;
  }
}

/**
 * An OS error that escaped without naming its file (e.g. from a GIF append)
 * becomes an {@link OperationalError} with the OS's own message; anything
 * else stays as it is.
 */
function operational(e: unknown): Error {
  if (e instanceof OperationalError || !(e instanceof Error)) return e as Error;
  const code = (e as { code?: unknown }).code;
  if (typeof code !== "string" || !/^E[A-Z]+$/.test(code)) return e;
  return new OperationalError(`Cannot write: ${e.message}`, { cause: e });
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
    try {
      Deno.writeTextFileSync(path, lines, { append: true });
    } catch (e) {
      throw new WriteError(path, e);
    }
  };
}

/** Whether the loop draws a frame after `epoch` (output.frame_every, and always the last). */
function frameDue(config: Experiment, epoch: number): boolean {
  const every = config.output.frame_every;
  return every > 0 && (epoch % every === 0 || epoch === config.training.epochs);
}

/**
 * Rewrites the run's report.html when called, keeping frame thumbnails
 * between calls; a report that cannot be written is logged, never fatal.
 */
function reportWriter(dir: string, log: (line: string) => void): () => Promise<void> {
  const thumbnails = new Map<string, Uint8Array>();
  return async () => {
    try {
      await writeRunReport(dir, { thumbnails });
    } catch (e) {
      try {
        log(`report.html not written: ${(e as Error).stack ?? e}`);
      } catch { /* the log may sit on the same full disk */ }
    }
  };
}
