/**
 * The noisy channel between G and D: noise ops (static, blur, resize,
 * translate, rotate, GlyphNet's extras), their difficulty tables, the
 * schedules that move the level. The preview sheet lives in preview.ts
 * (imported on its own, as it pulls in the PNG encoder).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs-core";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { experimentSchema } from "../config/schema.ts";
 * import { Rng } from "../rng.ts";
 * import { applyChannel, initialLevel } from "./mod.ts";
 * const channel = experimentSchema.parse({}).channel;
 * const level = initialLevel(channel.schedule);
 * const out = applyChannel(tf.ones([1, 8, 8, 3]) as tf.Tensor4D, channel, { level, rng: new Rng(1) });
 * assert(out.shape.join() === "1,8,8,3");
 * ```
 * @module
 */
export { applyChannel, type ChannelOptions } from "./pipeline.ts";
export { initialLevel, levelAfterCheck, levelAfterEpoch, type Schedule } from "./schedule.ts";
export {
  type ChannelTables,
  DEFAULT_TABLES,
  EXTRAS_TABLES,
  resolveTables,
  tableEntry,
} from "./tables.ts";
export { staticNoise } from "./static.ts";
export { gaussianBlur } from "./blur.ts";
export { resizeImages } from "./resize.ts";
export { translateImages } from "./translate.ts";
export { rotateImages } from "./rotate.ts";
export { applyExtras, drawExtras, type ExtrasParams } from "./extras.ts";
