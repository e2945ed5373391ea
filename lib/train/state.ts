/**
 * The training state: G, D, the negative-example G, both optimizers, the
 * RNG and the counters. Built in one place (the loop, the bench and the
 * tests use {@link createTrainState}); saved and restored in one place.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { type Experiment, imageChannels, messageLength } from "../config/schema.ts";
import { initialLevel } from "../channel/mod.ts";
import { UserError } from "../errors.ts";
import { buildDiscriminator, type Discriminator } from "../model/discriminator.ts";
import { buildGenerator, type Generator, type GeneratorSpec } from "../model/generator.ts";
import { disposeNetwork } from "../model/network.ts";
import { Rng } from "../rng.ts";
import { Adam } from "./adam.ts";

/** Everything a step reads and updates. */
export interface TrainState {
  config: Experiment;
  g: Generator;
  d: Discriminator;
  /** The negative-example generator, re-initialised each epoch. */
  randomG: Generator;
  gOpt: Adam;
  dOpt: Adam;
  rng: Rng;
  /** Current channel difficulty. */
  level: number;
  /** Steps taken since the run began. */
  step: number;
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

/** A checkpoint does not fit the experiment's networks (the experiment was changed). */
export class CheckpointError extends UserError {
  /** Always "CheckpointError". */
  override name = "CheckpointError";
}

/** Shape of G and D for an experiment. */
export function networkSpec(config: Experiment): GeneratorSpec {
  return {
    messageLength: messageLength(config.message),
    imageSize: config.image.size,
    channels: imageChannels(config.image),
    filters: config.model.filters,
  };
}

/**
 * Fresh, seeded state for `config`: the same seed gives the same weights.
 * `level` defaults to where the channel schedule starts.
 */
export function createTrainState(config: Experiment, opts: { level?: number } = {}): TrainState {
  const spec = networkSpec(config);
  const init = new Rng(config.seed);
  // This order of draws from `init` is part of what a seed means: keep it.
  const g = buildGenerator(spec, init);
  const d = buildDiscriminator(spec, init);
  const randomG = buildGenerator(spec, init);
  const o = config.training.optimizer;
  return {
    config,
    g,
    d,
    randomG,
    gOpt: new Adam(g.variables, o),
    dOpt: new Adam(d.variables, o),
    rng: init.fork(),
    level: opts.level ?? initialLevel(config.channel.schedule),
    step: 0,
  };
}

/** Frees every tensor of the state. */
export function disposeTrainState(s: TrainState): void {
  for (const net of [s.g, s.d, s.randomG]) disposeNetwork(net);
  s.gOpt.dispose();
  s.dOpt.dispose();
}

/** Replaces the negative-example generator with a fresh one drawn from the state's RNG. */
export function renewRandomGenerator(s: TrainState): void {
  disposeNetwork(s.randomG);
  s.randomG = buildGenerator(networkSpec(s.config), s.rng.fork());
}

/** The variables a snapshot holds, by the names it stores them under. */
function savedVariables(s: TrainState): Map<string, tf.Variable> {
  const adam = (opt: Adam) =>
    [...opt.stateTensors()].map(([n, v]) => [`adam/${n}`, v] as [string, tf.Variable]);
  return new Map([...s.g.variables, ...s.d.variables, ...adam(s.gOpt), ...adam(s.dOpt)]);
}

/** Everything needed to continue: weights, Adam moments, counters, RNG. */
export async function snapshotState(
  s: TrainState,
  at: { epoch: number; stepInEpoch: number },
): Promise<TrainSnapshot> {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, v] of savedVariables(s)) {
    tensors.set(name, { shape: v.shape, data: (await v.data()) as Float32Array });
  }
  return {
    tensors,
    meta: {
      epoch: at.epoch,
      step_in_epoch: at.stepInEpoch,
      step: s.step,
      level: s.level,
      rng_state: s.rng.state,
      g_iterations: s.gOpt.iterations,
      d_iterations: s.dOpt.iterations,
    },
  };
}

/**
 * Loads a snapshot into fresh state; returns the epoch to continue in and
 * the steps of it already done.
 */
export function restoreState(s: TrainState, snap: TrainSnapshot): { epoch: number; skip: number } {
  assignTensors(savedVariables(s), snap, "Cannot resume");
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

/**
 * Sets each variable from the snapshot tensor of the same name; `what`
 * starts the error message when one is missing or has another shape.
 */
export function assignTensors(
  targets: Iterable<[string, tf.Variable]>,
  snap: TrainSnapshot,
  what: string,
): void {
  for (const [name, v] of targets) {
    const saved = snap.tensors.get(name);
    if (!saved || saved.shape.join() !== v.shape.join()) {
      throw new CheckpointError(
        `${what}: the checkpoint has no tensor "${name}" of shape [${v.shape}] (was the experiment changed?)`,
      );
    }
    tf.tidy(() => v.assign(tf.tensor(saved.data, saved.shape)));
  }
}
