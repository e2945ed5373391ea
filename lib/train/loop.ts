/**
 * The training loop: builds G and D, runs epochs of steps, moves the
 * channel's difficulty, and reports everything as events. No files, no
 * terminal: the run writer and the progress display subscribe.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Experiment } from "../config/schema.ts";
import { levelAfterCheck, levelAfterEpoch } from "../channel/mod.ts";
import { countParams } from "../model/network.ts";
import { evaluate, heldOutSeed } from "../eval/evaluate.ts";
import { type GlyphMetrics, glyphMetrics } from "../eval/glyphs.ts";
import {
  type MatrixCell,
  type RobustnessMatrix,
  robustnessMatrix,
  storedScores,
} from "../eval/matrix.ts";
import { frameMessages } from "../model/frame_messages.ts";
import { type FrameEvent, frameEvent } from "./frame.ts";
import {
  checkWeights,
  createTrainState,
  disposeTrainState,
  NonFiniteError,
  renewRandomGenerator,
  restoreState,
  snapshotState,
  type TrainSnapshot,
  type TrainState,
} from "./state.ts";
import { trainStep } from "./step.ts";
import { PendingLosses } from "./losses.ts";

export { networkSpec, NonFiniteError, type TrainSnapshot } from "./state.ts";

/** One line of metrics.jsonl. */
export interface EpochMetrics {
  /** The epoch, from 1. */
  epoch: number;
  /** Difficulty during the epoch's last step, and after the schedule moved it. */
  level: number;
  /** The level the next epoch starts at. */
  next_level: number;
  /** Mean losses over the epoch's steps. */
  loss: { d_real: number; d_fake: number; g: number; total: number };
  /** Held-out decoding at `level` through the whole channel (null when eval is off). */
  eval: MatrixCell | null;
  /** Diversity (and binary: topographic similarity) of the held-out glyph set. */
  glyphs?: GlyphMetrics | null;
  /** Each op alone and the whole channel at every level (eval.matrix_every; last epoch). */
  matrix?: RobustnessMatrix | null;
  /** Steps done in the run so far. */
  steps: number;
  /** Seconds the epoch took. */
  seconds: number;
  /** Training speed over the epoch. */
  steps_per_second: number;
}

/** What the loop reports. */
export type TrainEvent =
  | { type: "start"; params: { g: number; d: number }; level: number; epoch: number }
  | {
    type: "step";
    epoch: number;
    step: number;
    stepsPerEpoch: number;
    losses: { d_real: number; d_fake: number; g: number };
    level: number;
    stepsPerSecond: number;
  }
  | { type: "level"; step: number; from: number; to: number; accuracy?: number }
  | { type: "epoch"; metrics: EpochMetrics }
  | FrameEvent
  | {
    type: "checkpoint";
    epoch: number;
    snapshot: TrainSnapshot;
    /** True for a checkpoint asked for mid-epoch ({@link TrainOptions.checkpointWanted}). */
    requested?: boolean;
  }
  | { type: "end"; status: "completed" | "interrupted"; epoch: number };

/** How to run. */
export interface TrainOptions {
  /** Called for every event, awaited before training goes on. */
  onEvent?: (e: TrainEvent) => void | Promise<void>;
  /** Aborting stops after the current step, with a checkpoint. */
  signal?: AbortSignal;
  /**
   * Asked after every step; true writes a checkpoint (a `checkpoint` event
   * with `requested`) and training goes on. E.g. Slurm's early warning.
   */
  checkpointWanted?: () => boolean;
  /** Continue from a snapshot instead of starting fresh. */
  resume?: TrainSnapshot;
  /**
   * Read the losses back every this many steps (default 1). On a GPU a read
   * drains the queue; step events and metrics are the same, only batched.
   */
  readEvery?: number;
}

/** What the epoch's parts share. */
interface Loop {
  config: Experiment;
  state: TrainState;
  emit: (e: TrainEvent) => Promise<void>;
  signal?: AbortSignal;
  checkpointWanted?: () => boolean;
  /** When the loop last let the event loop run (see {@link letEventsIn}). */
  lastYield: number;
  /** Drills only: the run step before which a weight is poisoned ({@link drillNanStep}). */
  nanAt?: number;
  /** Steps whose losses are still on the backend, read every `readEvery` steps. */
  pending: PendingLosses;
  readEvery: number;
}

type Losses = { d_real: number; d_fake: number; g: number };

/**
 * Trains G and D as the experiment says. Resolves when the last epoch ends
 * or the signal aborts; the events carry every result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend } from "../backend/init.ts";
 * import { experimentSchema } from "../config/schema.ts";
 * import { train, type TrainEvent } from "./loop.ts";
 * const config = experimentSchema.parse({
 *   message: { size: 4 },
 *   image: { size: 4, color: "grayscale" },
 *   model: { filters: 1 },
 *   training: { backend: "cpu", batch_size: 4, epochs: 1, steps_per_epoch: 2 },
 *   channel: { schedule: { max: 1 } },
 *   eval: { samples: 4, glyph_samples: 4, matrix_samples: 4 },
 * });
 * await initBackend("cpu");
 * const events: TrainEvent[] = [];
 * await train(config, { onEvent: (e) => void events.push(e) });
 * assert.equal(events.filter((e) => e.type === "step").length, 2);
 * assert.deepEqual(events.at(-1), { type: "end", status: "completed", epoch: 1 });
 * ```
 */
export async function train(
  config: Experiment,
  opts: TrainOptions = {},
): Promise<"completed" | "interrupted"> {
  const state = createTrainState(config);
  const loop: Loop = {
    config,
    state,
    emit: async (e) => await opts.onEvent?.(e),
    signal: opts.signal,
    checkpointWanted: opts.checkpointWanted,
    lastYield: performance.now(),
    nanAt: drillNanStep(),
    pending: new PendingLosses(),
    readEvery: opts.readEvery ?? 1,
  };
  try {
    let { epoch, skip } = opts.resume ? restoreState(state, opts.resume) : { epoch: 1, skip: 0 };
    const params = { g: countParams(state.g), d: countParams(state.d) };
    await loop.emit({ type: "start", params, level: state.level, epoch });
    const epochs = config.training.epochs;
    for (; epoch <= epochs; epoch++, skip = 0) {
      if (epoch > 1 || skip > 0) renewRandomGenerator(state);
      if (await runEpoch(loop, epoch, skip) === "interrupted") return "interrupted";
    }
    await loop.emit({ type: "end", status: "completed", epoch: epochs });
    return "completed";
  } finally {
    loop.pending.dispose();
    disposeTrainState(state);
  }
}

/** One epoch: its steps (from `skip` on), then evaluation, schedule, frame and checkpoint. */
async function runEpoch(
  loop: Loop,
  epoch: number,
  skip: number,
): Promise<"done" | "interrupted"> {
  const started = performance.now();
  const sums: Losses = { d_real: 0, d_fake: 0, g: 0 };
  const stepsPerEpoch = loop.config.training.steps_per_epoch;
  let done = 0;
  // Reads the pending losses (one transfer), adds them to the sums and reports each step.
  const report = async () => {
    for (const { step, losses } of await loop.pending.read()) {
      checkFinite(losses, epoch, step);
      for (const k of ["d_real", "d_fake", "g"] as const) sums[k] += losses[k];
      done++;
      const seconds = (performance.now() - started) / 1000;
      await loop.emit({
        type: "step",
        epoch,
        step,
        stepsPerEpoch,
        losses,
        level: loop.state.level,
        stepsPerSecond: done / seconds,
      });
    }
  };
  for (let step = skip; step < stepsPerEpoch; step++) {
    if (loop.nanAt === loop.state.step + 1) poisonWeight(loop.state);
    loop.pending.add(step + 1, trainStep(loop.state));
    const read = loop.pending.size >= loop.readEvery || step + 1 === stepsPerEpoch;
    if (read || checkDue(loop)) await report();
    await checkLevel(loop);
    await letEventsIn(loop);
    if (loop.signal?.aborted) {
      await report();
      await interrupt(loop, epoch, step + 1);
      return "interrupted";
    }
    if (loop.checkpointWanted?.()) {
      await report();
      const snapshot = await snapshotState(loop.state, { epoch, stepInEpoch: step + 1 });
      await loop.emit({ type: "checkpoint", epoch, snapshot, requested: true });
    }
  }
  await endEpoch(loop, epoch, { sums, done, started });
  return "done";
}

/**
 * Lets timers and signal handlers (Ctrl-C aborting the signal) run: a
 * step's awaits can all be microtasks, which never let them in, so without
 * this an abort would wait for the epoch's end. At most every 100 ms.
 */
async function letEventsIn(loop: Loop): Promise<void> {
  const now = performance.now();
  if (now - loop.lastYield < 100) return;
  loop.lastYield = now;
  await new Promise((resolve) => setTimeout(resolve, 0));
}

/**
 * Stops the run at a non-finite loss (a {@link NonFiniteError}). Losses are
 * checked as they are read (every step, or every `readEvery` on a GPU), and
 * always before a checkpoint, so a poisoned state is never saved.
 */
function checkFinite(losses: Losses, epoch: number, step: number): void {
  for (const [name, value] of Object.entries(losses)) {
    if (!Number.isFinite(value)) {
      const what = Number.isNaN(value) ? "NaN" : "Inf";
      throw new NonFiniteError(`${name} loss is ${what} at epoch ${epoch}, step ${step}`);
    }
  }
}

/** Whether the accuracy schedule checks the level after this step. */
function checkDue({ config, state }: Pick<Loop, "config" | "state">): boolean {
  const schedule = config.channel.schedule;
  return schedule.kind === "accuracy" && state.step % schedule.check_every === 0;
}

/**
 * Drills only (tests/drill_numbers_test.ts): GLYPHNET_DRILL_NAN=N, when the
 * process may read it, poisons a weight of G before the run's N-th step, as
 * an update that blew up would. Never set in normal runs.
 */
function drillNanStep(): number | undefined {
  const variable = "GLYPHNET_DRILL_NAN";
  if (Deno.permissions.querySync({ name: "env", variable }).state !== "granted") return undefined;
  const n = Number(Deno.env.get(variable));
  return Number.isInteger(n) && n > 0 ? n : undefined;
}

function poisonWeight(state: TrainState): void {
  const [, w] = state.g.variables.entries().next().value!;
  tf.tidy(() => w.assign(tf.fill(w.shape, NaN)));
}

/** The accuracy schedule's check: every `check_every` steps, maybe move the level. */
async function checkLevel({ config, state, emit }: Loop): Promise<void> {
  const schedule = config.channel.schedule;
  if (!checkDue({ config, state })) return;
  // On the training distribution: with `randomize`, levels 0..current.
  const check = await evaluate({ g: state.g, d: state.d }, config, {
    level: state.level,
    samples: schedule.check_samples,
    seed: state.rng.seed(),
    asTrained: true,
  });
  const next = levelAfterCheck(state.level, schedule, check.accuracy);
  if (next === state.level) return;
  await emit({
    type: "level",
    step: state.step,
    from: state.level,
    to: next,
    accuracy: check.accuracy,
  });
  state.level = next;
}

/** Stops mid-epoch: a checkpoint that resumes after `stepInEpoch`, then the end. */
async function interrupt(loop: Loop, epoch: number, stepInEpoch: number): Promise<void> {
  const snapshot = await snapshotState(loop.state, { epoch, stepInEpoch });
  await loop.emit({ type: "checkpoint", epoch, snapshot });
  await loop.emit({ type: "end", status: "interrupted", epoch });
}

/** Whether a cadence of `every` epochs (0: never) falls on `epoch`; the last epoch always counts. */
function due(every: number, epoch: number, epochs: number): boolean {
  return every > 0 && (epoch % every === 0 || epoch === epochs);
}

/** After the steps: held-out evaluation, the schedule's move, the metrics, frame and checkpoint. */
async function endEpoch(
  loop: Loop,
  epoch: number,
  run: { sums: Losses; done: number; started: number },
): Promise<void> {
  const { config, state, emit } = loop;
  const { sums, done, started } = run;
  // The last step's update may have poisoned a weight its loss did not show yet.
  await checkWeights(state, { epoch, step: config.training.steps_per_epoch });
  const mean = (x: number) => done ? x / done : NaN;
  const loss = { d_real: mean(sums.d_real), d_fake: mean(sums.d_fake), g: mean(sums.g), total: 0 };
  loss.total = loss.d_real + loss.d_fake + loss.g;
  const results = await evaluateEpoch(loop, epoch);
  const seconds = (performance.now() - started) / 1000;
  const level = state.level;
  const schedule = config.channel.schedule;
  const epochs = config.training.epochs;
  state.level = levelAfterEpoch(level, schedule, { meanLoss: loss.total, epoch, epochs });
  if (state.level !== level) {
    await emit({ type: "level", step: state.step, from: level, to: state.level });
  }
  await emit({
    type: "epoch",
    metrics: {
      epoch,
      level,
      next_level: state.level,
      loss,
      ...results,
      steps: done,
      seconds,
      steps_per_second: done / seconds,
    },
  });
  if (due(config.output.frame_every, epoch, epochs)) {
    const messages = frameMessages(config.message, config.output.grid);
    await emit(await frameEvent(state.g, config, { messages, epoch, level }));
  }
  if (due(config.output.checkpoint_every, epoch, epochs) || epoch === epochs) {
    const snapshot = await snapshotState(state, { epoch, stepInEpoch: 0 });
    await emit({ type: "checkpoint", epoch, snapshot });
  }
}

/** Held-out decoding, glyph metrics and (on its cadence) the robustness matrix. */
async function evaluateEpoch(
  { config, state }: Loop,
  epoch: number,
): Promise<Pick<EpochMetrics, "eval" | "glyphs" | "matrix">> {
  const ev = config.eval, epochs = config.training.epochs;
  // Held-out: one seed per run, the same test every epoch.
  const seed = heldOutSeed(config);
  const evalDue = due(ev.every, epoch, epochs);
  const result = evalDue
    ? await evaluate({ g: state.g, d: state.d }, config, {
      level: state.level,
      samples: ev.samples,
      seed,
      negatives: true,
    })
    : null;
  const glyphs = evalDue
    ? await glyphMetrics(state.g, config, { samples: ev.glyph_samples, seed })
    : null;
  // The matrix costs (ops + 2) × levels × matrix_samples decodes: bounded by its own cadence.
  const matrixDue = ev.every > 0 && (due(ev.matrix_every, epoch, epochs) || epoch === epochs);
  const top = ev.matrix_levels ?? config.channel.schedule.max;
  const matrix = matrixDue
    ? await robustnessMatrix({ g: state.g, d: state.d }, config, {
      levels: Array.from({ length: top + 1 }, (_, l) => l),
      samples: ev.matrix_samples,
      seed,
    })
    : null;
  return { eval: result && storedScores(result), glyphs, matrix };
}
