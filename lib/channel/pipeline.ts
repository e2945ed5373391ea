/**
 * The channel: applies the configured ops in `config.ops` order, then the
 * extras, at one difficulty level. JS-side draws come from the caller's
 * `Rng`, tensor noise from tfjs seeded by it, so a seed reproduces a batch.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { ChannelConfig, OpName } from "../config/schema.ts";
import type { Rng } from "../rng.ts";
import type { Tensor4D } from "../tensors.ts";
import { gaussianBlur } from "./blur.ts";
import { applyExtras, drawExtras } from "./extras.ts";
import { drawScales, resizeMaps } from "./resize.ts";
import { drawAngles, rotateMaps } from "./rotate.ts";
import { staticNoise } from "./static.ts";
import { type ChannelTables, isIdentity, resolveTables, tableEntry } from "./tables.ts";
import { drawShifts, translateMaps } from "./translate.ts";
import { affineOp } from "./_custom.ts";
import { type AffineMaps, resampleAffine } from "./_resample.ts";

/** Ops that move pixels; consecutive ones are fused into one resampling. */
const GEOMETRIC: ReadonlySet<OpName> = new Set(["resize", "translate", "rotate"]);

/** Options of {@linkcode applyChannel}: the level and the draws of this call. */
export interface ChannelOptions {
  /** Difficulty: a whole number ≥ 0 (0 is the identity); each op reads its table at it. */
  level: number;
  /** Draws shifts, scales, angles and tfjs noise seeds: the same stream, the same batch. */
  rng: Rng;
  /** Apply just this op (or just the extras), whatever `config.ops` says. */
  only?: OpName | "extras";
}

/**
 * Sends `images` [B,H,W,C] (values in [0, 1]) through the channel at
 * `opts.level` and returns a new tensor of the same shape. Pure tfjs ops, so it
 * can sit inside `tf.variableGrads` or `tf.tidy`; differentiable on cpu,
 * wasm and webgpu. Ops whose level is 0 are skipped (identity).
 *
 * With `config.randomize`, each op's level is drawn from 0..level, per
 * sample (per batch for blur, whose kernel is shared). With
 * `config.per_sample === false`, one scale, shift and angle serve the batch.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { experimentSchema } from "../config/schema.ts";
 * import { Rng } from "../rng.ts";
 * import { applyChannel } from "./pipeline.ts";
 * const config = experimentSchema.parse({}).channel;
 * const images = tf.ones([2, 16, 16, 1]) as tf.Tensor4D;
 * const out = applyChannel(images, config, { level: 8, rng: new Rng(1) });
 * assert.deepEqual(out.shape, [2, 16, 16, 1]);
 * const same = applyChannel(images, config, { level: 0, rng: new Rng(1) });
 * assert.deepEqual(await same.data(), await images.data()); // level 0: the identity
 * ```
 */
export function applyChannel(
  images: Tensor4D,
  config: ChannelConfig,
  opts: ChannelOptions,
): Tensor4D {
  const { level, rng } = opts;
  if (!Number.isInteger(level) || level < 0) {
    throw new RangeError(
      `Cannot apply the channel: level must be a whole number ≥ 0, got ${level}`,
    );
  }
  if (images.rank !== 4) {
    throw new RangeError(
      `Cannot apply the channel: images must be [B,H,W,C], got [${images.shape}]`,
    );
  }
  const tables = resolveTables(config);
  const ops: OpName[] = opts.only === undefined
    ? config.ops
    : opts.only === "extras"
    ? []
    : [opts.only];
  const extras = opts.only === undefined ? config.extras : opts.only === "extras";
  return tf.tidy(() => {
    let y = images;
    // Consecutive geometric ops share one resampling pass (see _resample.ts).
    let stages: AffineMaps[] = [];
    for (const op of ops) {
      const levels = levelsFor(y.shape[0], level, config, rng, op === "blur");
      if (levels.every((l) => isIdentity(op, tables, l))) continue;
      if (GEOMETRIC.has(op)) {
        stages.push(geometricMaps(y.shape, op, levels, tables, config, rng));
        continue;
      }
      if (stages.length) [y, stages] = [resampleAffine(y, stages), []];
      y = op === "static"
        ? staticNoise(y, levels.map((l) => tableEntry(tables.static, l)), rng.seed())
        // One kernel per batch: with randomize, the batch shares one drawn level.
        : gaussianBlur(y, tableEntry(tables.blur, levels[0]));
    }
    if (stages.length) y = resampleAffine(y, stages);
    if (extras) {
      const levels = levelsFor(y.shape[0], level, config, rng, false);
      if (levels.some((l) => l > 0)) y = applyExtras(y, drawExtras(levels, rng));
    }
    return y === images ? affineOp(images, tf.clone, tf.clone) : y;
  });
}

/**
 * Each sample's level: `level`, or a uniform draw from 0..level when
 * randomizing (one draw for the batch when `perBatch` or not per sample).
 */
function levelsFor(
  batch: number,
  level: number,
  config: ChannelConfig,
  rng: Rng,
  perBatch: boolean,
): number[] {
  if (!config.randomize || level === 0) return new Array(batch).fill(level);
  if (perBatch || config.per_sample === false) return new Array(batch).fill(rng.int(0, level));
  return Array.from({ length: batch }, () => rng.int(0, level));
}

/** Draws the parameters of geometric `op` for samples at `levels`; returns its maps. */
function geometricMaps(
  shape: number[],
  op: OpName,
  levels: number[],
  tables: ChannelTables,
  config: ChannelConfig,
  rng: Rng,
): AffineMaps {
  const batch = shape[0];
  // Per batch: draw for one sample and repeat it; levels are then all equal.
  const drawn = config.per_sample === false ? levels.slice(0, 1) : levels;
  const spread = <T>(xs: T[]): T[] => xs.length === batch ? xs : new Array(batch).fill(xs[0]);
  switch (op) {
    case "resize": {
      const { sx, sy } = drawScales(drawn.map((l) => tableEntry(tables.resize, l)), rng);
      return resizeMaps(shape, { sx: spread(sx), sy: spread(sy) });
    }
    case "translate": {
      const fractions = drawn.map((l) => tableEntry(tables.translate, l));
      const { dx, dy } = drawShifts(fractions, shape[1], shape[2], rng);
      return translateMaps(shape, { dx: spread(dx), dy: spread(dy) });
    }
    case "rotate":
      return rotateMaps(
        shape,
        spread(drawAngles(drawn.map((l) => tableEntry(tables.rotate, l)), rng)),
      );
    default:
      throw new TypeError(`Cannot draw maps for "${op}": it is not a geometric op`);
  }
}
