/**
 * Default difficulty tables: one entry per level 0..15.
 *
 * Levels 0..9 are GlyphNet's original tables. Levels 10..15 extend each one
 * in even steps to harder endpoints (static σ 0.26, blur σ 2.2, scale
 * [0.4, 1.5], shift 20 %, rotation ±72°), so the curve keeps rising without a
 * jump. Translate levels 0..10 are GlyphNet's 11-entry list (it used 10).
 * @module
 */
import type { ChannelConfig, OpName } from "../config/schema.ts";

/** Per-level tables of every channel op (rotate in degrees). */
export interface ChannelTables {
  /** Additive Gaussian noise σ. */
  static: number[];
  /** Gaussian blur σ in pixels. */
  blur: number[];
  /** [min, max] scale, drawn separately for x and y. */
  resize: [number, number][];
  /** Largest shift as a fraction of the image size. */
  translate: number[];
  /** Largest rotation angle in degrees (drawn in ±angle). */
  rotate: number[];
}

/** GlyphNet's tables extended to 16 levels. */
export const DEFAULT_TABLES: Readonly<ChannelTables> = Object.freeze({
  static: [0, .02, .04, .06, .08, .10, .13, .16, .18, .20, .21, .22, .23, .24, .25, .26],
  blur: [.01, .3, .6, .8, .9, 1, 1.25, 1.5, 1.75, 2, 2.03, 2.07, 2.1, 2.13, 2.17, 2.2],
  resize: [
    [1, 1],
    [.9, 1.1],
    [.85, 1.15],
    [.8, 1.2],
    [.75, 1.25],
    [.7, 1.3],
    [.675, 1.325],
    [.65, 1.35],
    [.625, 1.375],
    [.6, 1.4],
    [.567, 1.417],
    [.533, 1.433],
    [.5, 1.45],
    [.467, 1.467],
    [.433, 1.483],
    [.4, 1.5],
  ] as [number, number][],
  translate: [0, .025, .05, .07, .09, .1, .11, .12, .13, .14, .15, .16, .17, .18, .19, .2],
  // GlyphNet: k·π/30 (6° a level) up to 54°, then 3° a level to 72°.
  rotate: [0, 6, 12, 18, 24, 30, 36, 42, 48, 54, 57, 60, 63, 66, 69, 72],
});

/**
 * Strength of GlyphNet's extras per level; our choice, as GlyphNet applied
 * them at fixed strength. Each grows linearly from identity at level 0:
 * - `slope`: largest slope k of the hard sigmoid clip((x − ½)·k + ½, 0, 1), 1 + 0.2·level;
 * - `invert`: chance that a one-channel image is inverted, up to ½ (GlyphNet's coin flip);
 * - `kernel`: largest weight α of a random normalised 3×3 kernel mixed into the identity.
 */
export const EXTRAS_TABLES: Readonly<{ slope: number[]; invert: number[]; kernel: number[] }> =
  Object.freeze({
    slope: Array.from({ length: 16 }, (_, l) => 1 + 0.2 * l),
    invert: Array.from({ length: 16 }, (_, l) => 0.5 * l / 15),
    kernel: Array.from({ length: 16 }, (_, l) => 0.6 * l / 15),
  });

/** The tables in effect: the defaults, with any user table in its place. */
export function resolveTables(config: Pick<ChannelConfig, "tables">): ChannelTables {
  const user = config.tables ?? {};
  return {
    static: user.static ?? DEFAULT_TABLES.static,
    blur: user.blur ?? DEFAULT_TABLES.blur,
    resize: (user.resize as [number, number][] | undefined) ?? DEFAULT_TABLES.resize,
    translate: user.translate ?? DEFAULT_TABLES.translate,
    rotate: user.rotate ?? DEFAULT_TABLES.rotate,
  };
}

/** The entry of `table` at `level`; levels past its end use its last entry. */
export function tableEntry<T>(table: readonly T[], level: number): T {
  return table[Math.min(Math.max(0, level), table.length - 1)];
}

/** True when `op` at `level` changes nothing, so the pipeline skips it. */
export function isIdentity(op: OpName, tables: ChannelTables, level: number): boolean {
  if (level <= 0) return true;
  switch (op) {
    case "static":
      return tableEntry(tables.static, level) === 0;
    case "blur":
      return false;
    case "resize": {
      const [lo, hi] = tableEntry(tables.resize, level);
      return lo === 1 && hi === 1;
    }
    case "translate":
      return tableEntry(tables.translate, level) === 0;
    case "rotate":
      return tableEntry(tables.rotate, level) === 0;
  }
}
