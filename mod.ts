/**
 * glyphnet: two neural networks invent a visual language. A generator G
 * draws a message as an image, a discriminator D reads it back, and a noisy
 * channel between them gets harder as they improve (after GlyphNet and Joel
 * Simon's "Dimensions of Dialogue").
 *
 * The scripting API: load and validate an experiment, run it with an event
 * callback, read a run folder; list, compare and sweep runs.
 *
 * @example
 * ```ts ignore
 * import { loadExperiment, readRun, runExperiment } from "./mod.ts";
 *
 * const { config, source, path } = await loadExperiment("experiments/quick.yaml", {
 *   set: ["training.epochs=2"],
 * });
 * const { dir } = await runExperiment(config, {
 *   source,
 *   file: path,
 *   onEvent: (e) => {
 *     if (e.type === "epoch") console.log(e.metrics.epoch, e.metrics.eval?.accuracy);
 *   },
 * });
 * const run = await readRun(dir);
 * console.log(run.manifest.status, run.summary?.highest_level);
 * ```
 *
 * @module
 */
export {
  ConfigError,
  type LoadedExperiment,
  loadExperiment,
  parseExperiment,
} from "./lib/config/load.ts";
export {
  BACKEND_NAMES,
  type Experiment,
  experimentSchema,
  messageLength,
  OP_NAMES,
  type OpName,
} from "./lib/config/schema.ts";
export { experimentJsonSchema } from "./lib/config/json_schema.ts";
export { type BackendInfo, initBackend } from "./lib/backend/init.ts";
export {
  buildGenerator,
  generate,
  type Generator,
  type GeneratorSpec,
} from "./lib/model/generator.ts";
export { buildDiscriminator, discriminate, type Discriminator } from "./lib/model/discriminator.ts";
export { countParams } from "./lib/model/network.ts";
export { applyChannel } from "./lib/channel/mod.ts";
export { type EpochMetrics, train, type TrainEvent, type TrainOptions } from "./lib/train/loop.ts";
export { type EvalOptions, type EvalResult, evaluate } from "./lib/eval/evaluate.ts";
export { resumeRun, runExperiment, type RunOptions, type RunResult } from "./lib/runner.ts";
export { listRunDirs, readCheckpoint, readRun, type Run } from "./lib/run/reader.ts";
export { loadNetworks, type TrainedNetworks } from "./lib/run/networks.ts";
export { type LoadedSweep, loadSweep, type SweepPoint, sweepSchema } from "./lib/config/sweep.ts";
export { type LiveStatus, liveStatus } from "./lib/run/liveness.ts";
export { listRuns, type RunRow } from "./lib/tools/runs.ts";
export { checkGates, diffRuns, parseGate, type RunDiff } from "./lib/tools/diff.ts";
export { runSweep, type SweepOptions, type SweepResult } from "./lib/tools/sweep/run.ts";
