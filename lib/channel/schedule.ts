/**
 * Difficulty schedules: pure functions from the current level and what
 * training measured to the next level. No tfjs.
 * @module
 */
import type { ChannelConfig } from "../config/schema.ts";

/** The schedule section of a channel config. */
export type Schedule = ChannelConfig["schedule"];

function clamp(level: number, s: Schedule): number {
  return Math.min(Math.max(level, 0), s.max);
}

/**
 * The level a run starts at: `level ?? start` for a fixed schedule, `start`
 * otherwise, within 0..max.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { experimentSchema } from "../config/schema.ts";
 * import { initialLevel } from "./schedule.ts";
 * const s = experimentSchema.parse({ channel: { schedule: { start: 2 } } }).channel.schedule;
 * assert(initialLevel(s) === 2);
 * ```
 */
export function initialLevel(s: Schedule): number {
  return clamp(s.kind === "fixed" ? s.level ?? s.start : s.start, s);
}

/**
 * The level for the next epoch, after epoch number `info.epoch` (1 after
 * the first) of `info.epochs`:
 * - adaptive (GlyphNet's rule): mean loss below `raise_below` → +1, above
 *   `lower_above` → −1, within 0..max; a NaN loss changes nothing;
 * - linear: from `start` at the first epoch to `max` at the last, rounded;
 * - fixed: `level ?? start`;
 * - accuracy: unchanged (see {@linkcode levelAfterCheck}).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { experimentSchema } from "../config/schema.ts";
 * import { levelAfterEpoch } from "./schedule.ts";
 * const s = experimentSchema.parse({}).channel.schedule; // adaptive
 * assert(levelAfterEpoch(3, s, { meanLoss: 1.5, epoch: 1, epochs: 10 }) === 4);
 * ```
 */
export function levelAfterEpoch(
  level: number,
  s: Schedule,
  info: { meanLoss: number; epoch: number; epochs: number },
): number {
  switch (s.kind) {
    case "adaptive":
      if (info.meanLoss < s.raise_below) return clamp(level + 1, s);
      if (info.meanLoss > s.lower_above) return clamp(level - 1, s);
      return level;
    case "linear": {
      const progress = info.epochs > 1 ? Math.min(1, info.epoch / (info.epochs - 1)) : 1;
      return clamp(Math.round(s.start + (s.max - s.start) * progress), s);
    }
    case "fixed":
      return clamp(s.level ?? s.start, s);
    case "accuracy":
      return level;
  }
}

/**
 * The level after an accuracy check (kind `accuracy` only): accuracy at the
 * current level ≥ `raise_at` → +1 (at most max), below `lower_below` → −1
 * (at least 0). Other kinds return `level` unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { experimentSchema } from "../config/schema.ts";
 * import { levelAfterCheck } from "./schedule.ts";
 * const s = experimentSchema.parse({ channel: { schedule: { kind: "accuracy" } } })
 *   .channel.schedule;
 * assert(levelAfterCheck(5, s, 0.97) === 6);
 * ```
 */
export function levelAfterCheck(level: number, s: Schedule, accuracy: number): number {
  if (s.kind !== "accuracy") return level;
  if (accuracy >= s.raise_at) return clamp(level + 1, s);
  if (accuracy < s.lower_below) return clamp(level - 1, s);
  return level;
}
