/**
 * glyphnet: two neural networks invent a visual language. A generator G
 * draws a message as an image, a discriminator D reads it back, and a noisy
 * channel between them gets harder as they improve (after GlyphNet and Joel
 * Simon's "Dimensions of Dialogue").
 *
 * The scripting API, in the order data flows (docs/ARCHITECTURE.md):
 *
 * - experiments: {@linkcode loadExperiment}, {@linkcode parseExperiment},
 *   {@linkcode experimentSchema}, {@linkcode experimentJsonSchema}
 * - backends: {@linkcode initBackend} (`auto`, `native`, `wasm`, `cpu`, `webgpu`, `tensorflow`)
 * - networks and channel: {@linkcode buildGenerator}, {@linkcode generate},
 *   {@linkcode buildDiscriminator}, {@linkcode discriminate}, {@linkcode applyChannel},
 *   seeded by an {@linkcode Rng}
 * - evaluation: {@linkcode evaluate}
 * - training: {@linkcode train} (events, no files), or {@linkcode runExperiment} and
 *   {@linkcode resumeRun} (a run folder under `runs/`, as the command line does)
 * - reading runs: {@linkcode readRun}, {@linkcode readCheckpoint}, {@linkcode listRunDirs},
 *   {@linkcode loadNetworks}
 *
 * Every exported function has a small example that runs under `deno test --doc`.
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
export { Rng } from "./lib/rng.ts";
export { InputError, UserError } from "./lib/errors.ts";
export {
  ConfigError,
  type LoadedExperiment,
  loadExperiment,
  type LoadOptions,
  parseExperiment,
} from "./lib/config/load.ts";
export {
  BACKEND_NAMES,
  type BackendName,
  type ChannelConfig,
  type Experiment,
  experimentSchema,
  type MessageConfig,
  messageLength,
  OP_NAMES,
  type OpName,
} from "./lib/config/schema.ts";
export { experimentJsonSchema } from "./lib/config/json_schema.ts";
export { type BackendInfo, initBackend } from "./lib/backend/init.ts";
export type { BatchStats, BlockParams } from "./lib/model/block.ts";
export {
  buildGenerator,
  generate,
  type Generator,
  type GeneratorSpec,
} from "./lib/model/generator.ts";
export {
  buildDiscriminator,
  discriminate,
  type Discriminator,
  type DiscriminatorSpec,
} from "./lib/model/discriminator.ts";
export { countParams, type Network } from "./lib/model/network.ts";
export { applyChannel, type ChannelOptions } from "./lib/channel/mod.ts";
export type { DecodeScore } from "./lib/eval/scores.ts";
export type { GlyphMetrics } from "./lib/eval/glyphs.ts";
export type { MatrixCell, MatrixRow, RobustnessMatrix } from "./lib/eval/matrix.ts";
export { type EvalOptions, type EvalResult, evaluate } from "./lib/eval/evaluate.ts";
export {
  type EpochMetrics,
  train,
  type TrainEvent,
  type TrainOptions,
  type TrainSnapshot,
} from "./lib/train/loop.ts";
export type { Manifest } from "./lib/run/manifest.ts";
export type { RunSummary } from "./lib/run/summary.ts";
export type { Progress } from "./lib/run/progress.ts";
export {
  resumeRun,
  runExperiment,
  type RunOptions,
  type RunResult,
  type StartedRun,
} from "./lib/runner.ts";
export { listRunDirs, readCheckpoint, readRun, type Run, RunReadError } from "./lib/run/reader.ts";
export { loadNetworks, type TrainedNetworks } from "./lib/run/networks.ts";
export type { Tensor1D, Tensor2D, Tensor4D, Variable } from "./lib/tensors.ts";
