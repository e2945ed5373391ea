/**
 * Rebuilds a run's G and D from its config and last checkpoint, for tools
 * (eval, encode, decode, channel preview).
 * @module
 */
import type { Experiment } from "../config/schema.ts";
import { buildDiscriminator, type Discriminator } from "../model/discriminator.ts";
import { buildGenerator, type Generator } from "../model/generator.ts";
import { disposeNetwork } from "../model/network.ts";
import { assignTensors, networkSpec, type TrainSnapshot } from "../train/state.ts";
import { Rng } from "../rng.ts";
import { readCheckpoint, readRun } from "./reader.ts";

/** A run's trained networks, with its config and where the checkpoint stood. */
export interface TrainedNetworks {
  config: Experiment;
  g: Generator;
  d: Discriminator;
  meta: TrainSnapshot["meta"];
  dispose(): void;
}

/** Loads the networks of the run in `dir` (the backend must be started). */
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
