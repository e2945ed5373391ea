/**
 * Rebuilds a run's G and D from its config and last checkpoint, for tools
 * (eval, encode, decode, channel preview).
 * @module
 */
import { type BackendInfo, initBackend } from "../backend/init.ts";
import type { Experiment } from "../config/schema.ts";
import { buildDiscriminator, type Discriminator } from "../model/discriminator.ts";
import { buildGenerator, type Generator } from "../model/generator.ts";
import { disposeNetwork } from "../model/network.ts";
import { assignTensors, networkSpec, type TrainSnapshot } from "../train/state.ts";
import { Rng } from "../rng.ts";
import { readCheckpoint, readRun } from "./reader.ts";

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
    assignTensors([...g.variables, ...d.variables], snap, `Cannot load "${dir}"`);
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

/**
 * What every tool does around a run's networks: starts `backend` (default
 * "auto"), loads the networks, runs `use`, and frees them however it ends.
 */
export async function withNetworks<T>(
  dir: string,
  use: (nets: TrainedNetworks, backend: BackendInfo) => Promise<T>,
  opts: { backend?: string } = {},
): Promise<T> {
  const backend = await initBackend(opts.backend ?? "auto");
  const nets = await loadNetworks(dir);
  try {
    return await use(nets, backend);
  } finally {
    nets.dispose();
  }
}
