/**
 * Rebuilds a run's G and D from its config and last checkpoint, for tools
 * (eval, encode, decode, channel preview).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Experiment } from "../config/schema.ts";
import { buildDiscriminator, type Discriminator } from "../model/discriminator.ts";
import { buildGenerator, type Generator } from "../model/generator.ts";
import { disposeNetwork, type Network } from "../model/network.ts";
import { networkSpec, type TrainSnapshot } from "../train/loop.ts";
import { Rng } from "../rng.ts";
import { readCheckpoint, readRun, RunReadError } from "./reader.ts";

/** A run's trained networks, with its config and where the checkpoint stood. */
export interface TrainedNetworks {
  /** The run's resolved experiment. */
  config: Experiment;
  /** The generator, weights from the checkpoint. */
  g: Generator;
  /** The discriminator, weights from the checkpoint. */
  d: Discriminator;
  /** Epoch, step and level the checkpoint was taken at. */
  meta: TrainSnapshot["meta"];
  /** Frees both networks' tensors. */
  dispose(): void;
}

/**
 * Loads the networks of the run in `dir` (the backend must be started).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend } from "../backend/init.ts";
 * import { loadNetworks } from "./networks.ts";
 * await initBackend("cpu");
 * const dir = "tests/fixtures/tiny_runs/2026-12-01T19-28-49.921Z_tiny";
 * const nets = await loadNetworks(dir);
 * assert.equal(nets.meta.epoch, 1);
 * assert.equal(nets.g.spec.imageSize, 4);
 * nets.dispose();
 * ```
 */
export async function loadNetworks(dir: string): Promise<TrainedNetworks> {
  const run = await readRun(dir);
  const snap = await readCheckpoint(dir);
  const spec = networkSpec(run.config);
  const g = buildGenerator(spec, new Rng(0));
  const d = buildDiscriminator(spec, new Rng(0));
  try {
    assign(g, snap, dir);
    assign(d, snap, dir);
  } catch (e) {
    disposeNetwork(g);
    disposeNetwork(d);
    throw e;
  }
  return {
    config: run.config,
    g,
    d,
    meta: snap.meta,
    dispose() {
      disposeNetwork(g);
      disposeNetwork(d);
    },
  };
}

function assign(net: Network, snap: TrainSnapshot, dir: string): void {
  for (const [name, v] of net.variables) {
    const saved = snap.tensors.get(name);
    if (!saved || saved.shape.join() !== v.shape.join()) {
      throw new RunReadError(
        `Cannot load "${dir}": its checkpoint lacks "${name}" of shape [${v.shape}]`,
      );
    }
    tf.tidy(() => v.assign(tf.tensor(saved.data, saved.shape)));
  }
}
