/**
 * The training loop: builds G and D, runs epochs of steps, moves the
 * channel's difficulty, and reports everything as events. No files, no
 * terminal: the run writer and the progress display subscribe.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type Experiment, messageLength } from "../config/schema.ts";
import { initialLevel, levelAfterCheck, levelAfterEpoch } from "../channel/mod.ts";
import { buildDiscriminator } from "../model/discriminator.ts";
import { buildGenerator, generate, type GeneratorSpec } from "../model/generator.ts";
import { countParams, disposeNetwork } from "../model/network.ts";
import { Adam } from "./adam.ts";
import { type EvalResult, evaluate } from "../eval/evaluate.ts";
import { type GlyphMetrics, glyphMetrics } from "../eval/glyphs.ts";
import { type RobustnessMatrix, robustnessMatrix } from "../eval/matrix.ts";
import { fixedMessages, messageTensor } from "../model/messages.ts";
import { Rng } from "../rng.ts";
import { type TrainState, trainStep } from "./step.ts";
import { PendingLosses } from "./losses.ts";

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
  eval: EvalResult | null;
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

/** Tensors and counters that are enough to continue a run. */
export interface TrainSnapshot {
  /** Every variable of G, D and both optimizers by checkpoint name. */
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
  /** Counters and the RNG's position. */
  meta: {
    epoch: number;
    /** Steps done within `epoch` (0 when the epoch finished). */
    step_in_epoch: number;
    step: number;
    level: number;
    rng_state: number;
    g_iterations: number;
    d_iterations: number;
  };
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
  | { type: "frame"; epoch: number; images: Float32Array; shape: [number, number, number, number] }
  | { type: "checkpoint"; epoch: number; snapshot: TrainSnapshot }
  | { type: "end"; status: "completed" | "interrupted"; epoch: number };

/** How to run. */
export interface TrainOptions {
  /** Called for every event, awaited before training goes on. */
  onEvent?: (e: TrainEvent) => void | Promise<void>;
  /** Aborting stops after the current step, with a checkpoint. */
  signal?: AbortSignal;
  /** Continue from a snapshot instead of starting fresh. */
  resume?: TrainSnapshot;
  /**
   * Read the losses back every this many steps (default 1). On a GPU a read
   * drains the queue; step events and metrics are the same, only batched.
   */
  readEvery?: number;
}

/** Shape of G and D for an experiment. */
export function networkSpec(config: Experiment): GeneratorSpec {
  return {
    messageLength: messageLength(config.message),
    imageSize: config.image.size,
    channels: config.image.color === "rgb" ? 3 : 1,
    filters: config.model.filters,
  };
}

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
  const emit = async (e: TrainEvent) => {
    await opts.onEvent?.(e);
  };
  const spec = networkSpec(config);
  const init = new Rng(config.seed);
  const g = buildGenerator(spec, init);
  const d = buildDiscriminator(spec, init);
  const o = config.training.optimizer;
  const state: TrainState = {
    config,
    g,
    d,
    randomG: buildGenerator(spec, init),
    gOpt: new Adam(g.variables, o),
    dOpt: new Adam(d.variables, o),
    rng: init.fork(),
    level: initialLevel(config.channel.schedule),
    step: 0,
  };
  let epoch = 1, skip = 0;
  if (opts.resume) ({ epoch, skip } = restore(state, opts.resume));
  const frameMessages = fixedMessages(config.message, config.output.grid ** 2);
  const { epochs, steps_per_epoch: stepsPerEpoch } = config.training;
  const schedule = config.channel.schedule;
  await emit({
    type: "start",
    params: { g: countParams(g), d: countParams(d) },
    level: state.level,
    epoch,
  });
  // Losses are read every `readEvery` steps (and before anything that reports).
  const readEvery = opts.readEvery ?? 1;
  const pending = new PendingLosses();
  try {
    for (; epoch <= epochs; epoch++) {
      if (epoch > 1 || skip > 0) {
        disposeNetwork(state.randomG);
        state.randomG = buildGenerator(spec, state.rng.fork());
      }
      const started = performance.now();
      const sums = { d_real: 0, d_fake: 0, g: 0 };
      let done = 0;
      // Reads the pending losses, adds them to the epoch's sums and reports each step.
      const report = async () => {
        for (const { step, losses } of await pending.read()) {
          for (const k of ["d_real", "d_fake", "g"] as const) sums[k] += losses[k];
          done++;
          const seconds = (performance.now() - started) / 1000;
          await emit({
            type: "step",
            epoch,
            step,
            stepsPerEpoch,
            losses,
            level: state.level,
            stepsPerSecond: done / seconds,
          });
        }
      };
      for (let step = skip; step < stepsPerEpoch; step++) {
        pending.add(step + 1, trainStep(state));
        const checkDue = schedule.kind === "accuracy" && state.step % schedule.check_every === 0;
        if (pending.size >= readEvery || step + 1 === stepsPerEpoch || checkDue) await report();
        if (checkDue) {
          // On the training distribution: with `randomize`, levels 0..current.
          const check = await evaluate({ g, d }, config, {
            level: state.level,
            samples: schedule.check_samples,
            seed: state.rng.seed(),
            asTrained: true,
          });
          const next = levelAfterCheck(state.level, schedule, check.accuracy);
          if (next !== state.level) {
            await emit({
              type: "level",
              step: state.step,
              from: state.level,
              to: next,
              accuracy: check.accuracy,
            });
            state.level = next;
          }
        }
        if (opts.signal?.aborted) {
          await report();
          await emit({
            type: "checkpoint",
            epoch,
            snapshot: await snapshot(state, epoch, step + 1),
          });
          await emit({ type: "end", status: "interrupted", epoch });
          return "interrupted";
        }
      }
      skip = 0;
      const mean = (x: number) => done ? x / done : NaN;
      const loss = {
        d_real: mean(sums.d_real),
        d_fake: mean(sums.d_fake),
        g: mean(sums.g),
        total: 0,
      };
      loss.total = loss.d_real + loss.d_fake + loss.g;
      // Held-out: one seed per run (config.seed + 1), the same test every epoch.
      const ev = config.eval, heldOut = config.seed + 1;
      const evalDue = ev.every > 0 && (epoch % ev.every === 0 || epoch === epochs);
      const evalResult = evalDue
        ? await evaluate({ g, d }, config, {
          level: state.level,
          samples: ev.samples,
          seed: heldOut,
          negatives: true,
        })
        : null;
      const glyphs = evalDue
        ? await glyphMetrics(g, config, { samples: ev.glyph_samples, seed: heldOut })
        : null;
      // The matrix costs (ops + 2) × levels × matrix_samples decodes: bounded by its own cadence.
      const matrixDue = ev.every > 0 &&
        ((ev.matrix_every > 0 && epoch % ev.matrix_every === 0) || epoch === epochs);
      const top = ev.matrix_levels ?? schedule.max;
      const matrix = matrixDue
        ? await robustnessMatrix({ g, d }, config, {
          levels: Array.from({ length: top + 1 }, (_, l) => l),
          samples: ev.matrix_samples,
          seed: heldOut,
        })
        : null;
      const seconds = (performance.now() - started) / 1000;
      const level = state.level;
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
          eval: evalResult,
          glyphs,
          matrix,
          steps: done,
          seconds,
          steps_per_second: done / seconds,
        },
      });
      const every = config.output.frame_every;
      if (every > 0 && (epoch % every === 0 || epoch === epochs)) {
        const images = tf.tidy(() => generate(g, messageTensor(frameMessages)));
        await emit({
          type: "frame",
          epoch,
          images: await images.data() as Float32Array,
          shape: images.shape as [number, number, number, number],
        });
        images.dispose();
      }
      const ck = config.output.checkpoint_every;
      if ((ck > 0 && epoch % ck === 0) || epoch === epochs) {
        await emit({ type: "checkpoint", epoch, snapshot: await snapshot(state, epoch, 0) });
      }
    }
    await emit({ type: "end", status: "completed", epoch: epochs });
    return "completed";
  } finally {
    pending.dispose();
    for (const net of [state.g, state.d, state.randomG]) disposeNetwork(net);
    state.gOpt.dispose();
    state.dOpt.dispose();
  }
}

/** Everything needed to continue: weights, Adam moments, counters, RNG. */
async function snapshot(s: TrainState, epoch: number, stepInEpoch: number): Promise<TrainSnapshot> {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const add = async (name: string, t: tf.Tensor) =>
    tensors.set(name, { shape: t.shape, data: (await t.data()) as Float32Array });
  for (const [name, v] of s.g.variables) await add(name, v);
  for (const [name, v] of s.d.variables) await add(name, v);
  for (const [name, v] of s.gOpt.stateTensors()) await add(`adam/${name}`, v);
  for (const [name, v] of s.dOpt.stateTensors()) await add(`adam/${name}`, v);
  return {
    tensors,
    meta: {
      epoch,
      step_in_epoch: stepInEpoch,
      step: s.step,
      level: s.level,
      rng_state: s.rng.state,
      g_iterations: s.gOpt.iterations,
      d_iterations: s.dOpt.iterations,
    },
  };
}

/** Loads a snapshot into fresh state; returns where to continue. */
function restore(s: TrainState, snap: TrainSnapshot): { epoch: number; skip: number } {
  const targets = new Map<string, tf.Variable>([
    ...s.g.variables,
    ...s.d.variables,
    ...[...s.gOpt.stateTensors()].map(([n, v]) => [`adam/${n}`, v] as [string, tf.Variable]),
    ...[...s.dOpt.stateTensors()].map(([n, v]) => [`adam/${n}`, v] as [string, tf.Variable]),
  ]);
  for (const [name, v] of targets) {
    const saved = snap.tensors.get(name);
    if (!saved || saved.shape.join() !== v.shape.join()) {
      throw new RangeError(
        `Cannot resume: the checkpoint has no tensor "${name}" of shape [${v.shape}] (was the experiment changed?)`,
      );
    }
    tf.tidy(() => v.assign(tf.tensor(saved.data, saved.shape)));
  }
  const m = snap.meta;
  s.step = m.step;
  s.level = m.level;
  s.rng = Rng.fromState(m.rng_state);
  s.gOpt.iterations = m.g_iterations;
  s.dOpt.iterations = m.d_iterations;
  return m.step_in_epoch === 0
    ? { epoch: m.epoch + 1, skip: 0 }
    : { epoch: m.epoch, skip: m.step_in_epoch };
}
