/**
 * Plain-number metrics of a trained language: rank correlation, pairwise
 * distances, glyph diversity and topographic similarity. No tfjs, so they
 * are testable on hand-made inputs with known answers.
 * @module
 */

/**
 * Ranks of `xs` from 1, ties sharing their mean rank (as Spearman's ρ needs).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ranks } from "./metrics.ts";
 * assert(ranks([10, 30, 20, 20]).join() === "1,4,2.5,2.5");
 * ```
 */
export function ranks(xs: ArrayLike<number>): Float64Array {
  const order = Array.from({ length: xs.length }, (_, i) => i).sort((a, b) => xs[a] - xs[b]);
  const out = new Float64Array(xs.length);
  for (let i = 0; i < order.length;) {
    let j = i;
    while (j + 1 < order.length && xs[order[j + 1]] === xs[order[i]]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) out[order[k]] = rank;
    i = j + 1;
  }
  return out;
}

/**
 * Pearson correlation of `a` and `b`; NaN when either is constant (no
 * correlation is defined) or they differ in length.
 */
export function pearson(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const n = a.length;
  if (n !== b.length || n < 2) return NaN;
  let ma = 0, mb = 0;
  for (let i = 0; i < n; i++) [ma, mb] = [ma + a[i], mb + b[i]];
  [ma, mb] = [ma / n, mb / n];
  let sab = 0, saa = 0, sbb = 0;
  for (let i = 0; i < n; i++) {
    const [da, db] = [a[i] - ma, b[i] - mb];
    sab += da * db;
    saa += da * da;
    sbb += db * db;
  }
  return saa > 0 && sbb > 0 ? sab / Math.sqrt(saa * sbb) : NaN;
}

/**
 * Spearman's rank correlation ρ: Pearson's r of the (tie-averaged) ranks.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spearman } from "./metrics.ts";
 * assert(spearman([1, 2, 3, 4], [10, 20, 30, 40]) === 1);
 * assert(spearman([1, 2, 3, 4], [4, 3, 2, 1]) === -1);
 * ```
 */
export function spearman(a: ArrayLike<number>, b: ArrayLike<number>): number {
  return pearson(ranks(a), ranks(b));
}

/** Distance between two rows. */
export type Metric = "euclidean" | "rms" | "hamming";

/**
 * Distances between all pairs of the `n` rows of `rows` (row-major, `dim`
 * each), in the order (0,1), (0,2)…(0,n−1), (1,2)…; n·(n−1)/2 values.
 * `rms` is the Euclidean distance over √dim (pixels in [0, 1] give [0, 1]);
 * `hamming` counts entries on different sides of ½.
 */
export function pairwiseDistances(
  rows: ArrayLike<number>,
  dim: number,
  metric: Metric,
): Float64Array {
  if (!(dim > 0) || rows.length % dim !== 0) {
    throw new RangeError(
      `Cannot compute distances: ${rows.length} values are not whole rows of ${dim}`,
    );
  }
  const n = rows.length / dim;
  const out = new Float64Array((n * (n - 1)) / 2);
  let k = 0;
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      let s = 0;
      for (let t = 0; t < dim; t++) {
        const [x, y] = [rows[i * dim + t], rows[j * dim + t]];
        if (metric === "hamming") s += (x > 0.5) !== (y > 0.5) ? 1 : 0;
        else s += (x - y) * (x - y);
      }
      out[k++] = metric === "hamming" ? s : metric === "rms" ? Math.sqrt(s / dim) : Math.sqrt(s);
    }
  }
  return out;
}

/**
 * Glyph diversity: the mean RMS pixel distance between glyphs of distinct
 * messages (pairs whose messages are equal are skipped). Near 0 means G
 * draws every message alike (collapse); pixels in [0, 1] bound it by 1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { glyphDiversity } from "./metrics.ts";
 * // Two messages, one all-black and one all-white 2×2 glyph: distance 1.
 * const d = glyphDiversity(new Float32Array([0, 0, 0, 0, 1, 1, 1, 1]), 4, new Float32Array([1, 0, 0, 1]), 2);
 * assert(d === 1);
 * ```
 */
export function glyphDiversity(
  glyphs: ArrayLike<number>,
  pixels: number,
  messages: ArrayLike<number>,
  length: number,
): number {
  const g = pairwiseDistances(glyphs, pixels, "rms");
  const m = pairwiseDistances(messages, length, "hamming");
  if (g.length !== m.length) {
    throw new RangeError(
      `Cannot measure diversity: ${glyphs.length / pixels} glyphs for ${
        messages.length / length
      } messages`,
    );
  }
  let sum = 0, count = 0;
  for (let k = 0; k < g.length; k++) {
    if (m[k] > 0) [sum, count] = [sum + g[k], count + 1];
  }
  return count ? sum / count : NaN;
}

/**
 * Topographic similarity: Spearman's ρ between the messages' Hamming
 * distances and their glyphs' pixel distances, over all pairs. 1 means
 * similar messages get similar glyphs (a compositional code); NaN when
 * either side has a single distance (e.g. one-hot messages, all 2 apart).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { topographicSimilarity } from "./metrics.ts";
 * const msgs = new Float32Array([0, 0, 0, 1, 1, 1]); // 3 messages of 2 bits
 * assert(topographicSimilarity(msgs, 2, msgs, 2) === 1);
 * ```
 */
export function topographicSimilarity(
  messages: ArrayLike<number>,
  length: number,
  glyphs: ArrayLike<number>,
  pixels: number,
): number {
  return spearman(
    pairwiseDistances(messages, length, "hamming"),
    pairwiseDistances(glyphs, pixels, "euclidean"),
  );
}
