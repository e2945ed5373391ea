/**
 * What each channel op does at a level, in words short enough to label a
 * row of the channel sheet: "σ 0.06 · blur 0.8 px · scale 0.80–1.20 · …".
 * @module
 */
import type { ChannelConfig, OpName } from "../config/schema.ts";
import { EXTRAS_TABLES, resolveTables, tableEntry } from "./tables.ts";

/**
 * One short phrase per op of the channel at `level` (extras last, when on;
 * inversion only for grayscale images, the only ones it applies to).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { experimentSchema } from "../config/schema.ts";
 * import { describeLevel } from "./describe.ts";
 * const channel = experimentSchema.parse({ channel: { ops: ["rotate"], extras: false } }).channel;
 * assert(describeLevel(channel, 3).join() === "±18°");
 * ```
 */
export function describeLevel(
  channel: ChannelConfig,
  level: number,
  opts: { grayscale?: boolean } = {},
): string[] {
  const t = resolveTables(channel);
  const words: Record<OpName, () => string> = {
    static: () => `noise σ ${fmt(tableEntry(t.static, level))}`,
    blur: () => `blur ${fmt(tableEntry(t.blur, level))} px`,
    resize: () => {
      const [lo, hi] = tableEntry(t.resize, level);
      return `scale ${lo.toFixed(2)}–${hi.toFixed(2)}`;
    },
    translate: () => `shift ${Math.round(tableEntry(t.translate, level) * 100)} %`,
    rotate: () => `±${fmt(tableEntry(t.rotate, level))}°`,
  };
  const out = channel.ops.map((op) => words[op]());
  if (channel.extras) {
    const slope = tableEntry(EXTRAS_TABLES.slope, level);
    const invert = tableEntry(EXTRAS_TABLES.invert, level);
    const kernel = tableEntry(EXTRAS_TABLES.kernel, level);
    out.push(`slope ${fmt(slope)}`);
    if (opts.grayscale !== false) out.push(`invert ${Math.round(invert * 100)} %`);
    out.push(`kernel ${fmt(kernel)}`);
  }
  return out;
}

function fmt(x: number): string {
  return String(Math.round(x * 100) / 100);
}
