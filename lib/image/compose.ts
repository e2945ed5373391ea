/**
 * Labelled pictures as SVG: a frame (a header line, then panels of glyphs,
 * each glyph captioned with its message) and a table (one row of glyphs
 * per labelled row, captioned columns). Rasterise with `raster.ts`.
 * @module
 */
import { Buffer } from "node:buffer";
import { encodePng } from "./png.ts";
import { FONT } from "./raster.ts";

/** Glyphs as NHWC floats in [0, 1]. */
export interface Glyphs {
  images: Float32Array;
  shape: [number, number, number, number];
}

/** One panel of a frame: a title over a grid of glyphs. */
export interface FramePanel extends Glyphs {
  title: string;
}

/** What {@linkcode frameSvg} draws. */
export interface FrameLayout {
  /** The line on top, e.g. "epoch 12 · level 5 · held-out 97.0 %". */
  header: string;
  panels: FramePanel[];
  /** One caption per glyph (the message), the same for every panel. */
  labels: string[];
  /** Glyphs per row (default: about a square). */
  cols?: number;
  /** Glyphs are enlarged (nearest neighbour) to at least this size (default 64). */
  glyphPixels?: number;
}

/** What {@linkcode tableSvg} draws: one row of glyphs per entry. */
export interface TableLayout {
  title: string;
  /** Captions over the columns. */
  columns: string[];
  /** Each row's label may have several lines (separated by "\n"). */
  rows: { label: string; glyphs: Glyphs }[];
  glyphPixels?: number;
}

const GAP = 8;
const CAPTION = 12;
const HEADER = 16;
const MONO_EM = 0.602;
/** Mean advance of DejaVu Sans Bold per em, a little generous. */
const SANS_BOLD_EM = 0.68;

/**
 * A frame as an SVG document: the header line, then the panels side by
 * side, each a grid of glyphs with their messages under them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { frameSvg } from "./compose.ts";
 * const svg = frameSvg({
 *   header: "epoch 1",
 *   panels: [{ title: "clean", images: new Float32Array(2 * 4 * 4), shape: [2, 4, 4, 1] }],
 *   labels: ["a", "b"],
 * });
 * assert(svg.startsWith("<svg") && svg.includes(">b</text>"));
 * ```
 */
export function frameSvg(layout: FrameLayout): string {
  const n = layout.labels.length;
  for (const p of layout.panels) {
    if (p.shape[0] !== n) {
      throw new RangeError(
        `Cannot compose a frame: panel "${p.title}" has ${p.shape[0]} glyphs for ${n} labels`,
      );
    }
  }
  const cols = layout.cols ?? Math.max(1, Math.ceil(Math.sqrt(n)));
  const rows = Math.ceil(n / cols);
  const [, h] = layout.panels[0]?.shape ?? [0, 1];
  const g = displaySize(h, layout.glyphPixels);
  const cell = Math.max(g, textWidth(layout.labels, CAPTION));
  // Panels as wide as their grid or their title, the frame as wide as its header.
  const gridW = cols * (cell + GAP) - GAP;
  const panelW = Math.max(gridW, textWidth(layout.panels.map((p) => p.title), CAPTION));
  const panelH = rows * (g + CAPTION + 6 + GAP);
  const top = GAP + HEADER + GAP;
  const parts: string[] = [
    text(GAP, GAP + HEADER - 3, layout.header, { size: HEADER - 2, bold: true }),
  ];
  layout.panels.forEach((panel, p) => {
    const left = GAP + p * (panelW + 3 * GAP);
    parts.push(text(left, top + CAPTION, panel.title, { size: CAPTION, fill: "#444" }));
    for (let i = 0; i < n; i++) {
      const x = left + (i % cols) * (cell + GAP),
        y = top + CAPTION + 6 + Math.floor(i / cols) *
            (g + CAPTION + 6 + GAP);
      parts.push(glyph(panel, i, x + (cell - g) / 2, y, g));
      parts.push(
        text(x + cell / 2, y + g + CAPTION, layout.labels[i], { size: CAPTION - 1, middle: true }),
      );
    }
  });
  const headerW = Math.ceil(layout.header.length * (HEADER - 2) * SANS_BOLD_EM);
  const width = Math.max(
    GAP + layout.panels.length * (panelW + 3 * GAP) - 2 * GAP,
    2 * GAP + headerW,
  );
  const height = top + CAPTION + 6 + panelH;
  return document(width, height, parts);
}

/**
 * A table as an SVG document: a title, captions over the columns, and one
 * row of glyphs per entry with its label on the left.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tableSvg } from "./compose.ts";
 * const glyphs = { images: new Float32Array(2 * 4 * 4), shape: [2, 4, 4, 1] as [number, number, number, number] };
 * const svg = tableSvg({ title: "t", columns: ["a", "b"], rows: [{ label: "level 0", glyphs }] });
 * assert(svg.includes(">level 0</text>"));
 * ```
 */
export function tableSvg(layout: TableLayout): string {
  const [n, h] = layout.rows[0]?.glyphs.shape ?? [0, 1];
  const g = displaySize(h, layout.glyphPixels ?? 48);
  const labelW = textWidth(layout.rows.flatMap((r) => r.label.split("\n")), CAPTION - 1) + GAP;
  const cell = Math.max(g, textWidth(layout.columns, CAPTION - 1));
  const top = GAP + HEADER + GAP + CAPTION + 4;
  const parts = [text(GAP, GAP + HEADER - 3, layout.title, { size: HEADER - 2, bold: true })];
  layout.columns.forEach((c, j) => {
    const x = GAP + labelW + j * (cell + GAP) + cell / 2;
    parts.push(text(x, top - 4, c, { size: CAPTION - 1, middle: true }));
  });
  layout.rows.forEach((row, r) => {
    const y = top + r * (g + GAP / 2);
    const lines = row.label.split("\n");
    lines.forEach((line, k) => {
      const baseline = y + g / 2 + CAPTION / 3 + (k - (lines.length - 1) / 2) * CAPTION;
      parts.push(text(GAP, baseline, line, { size: CAPTION - 1, fill: k ? "#555" : "#000" }));
    });
    for (let j = 0; j < Math.min(n, row.glyphs.shape[0]); j++) {
      parts.push(glyph(row.glyphs, j, GAP + labelW + j * (cell + GAP) + (cell - g) / 2, y, g));
    }
  });
  const width = GAP + labelW + n * (cell + GAP);
  const height = top + layout.rows.length * (g + GAP / 2) + GAP;
  return document(width, height, parts);
}

/** PNG bytes as a `data:` URI (inline, no file or network request). */
export function pngDataUri(png: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(png).toString("base64")}`;
}

/** Escapes text for XML and HTML. */
export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function displaySize(h: number, min = 64): number {
  return h >= min ? h : h * Math.ceil(min / h);
}

function textWidth(labels: string[], size: number): number {
  return Math.ceil(Math.max(0, ...labels.map((l) => l.length)) * size * MONO_EM);
}

function document(width: number, height: number, parts: string[]): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${Math.ceil(width)}" height="${
    Math.ceil(height)
  }"><rect width="100%" height="100%" fill="#fff"/>${parts.join("")}</svg>`;
}

function text(
  x: number,
  y: number,
  s: string,
  o: { size: number; bold?: boolean; middle?: boolean; fill?: string },
): string {
  const family = o.bold ? FONT.sans : FONT.mono;
  return `<text x="${x}" y="${y}" font-family="${family}" font-size="${o.size}"${
    o.bold ? ' font-weight="bold"' : ""
  }${o.middle ? ' text-anchor="middle"' : ""} fill="${o.fill ?? "#000"}">${escapeXml(s)}</text>`;
}

/** Glyph `i` at (x, y), `size` pixels wide, enlarged without smoothing, with a thin border. */
function glyph(g: Glyphs, i: number, x: number, y: number, size: number): string {
  const [, h, w, c] = g.shape;
  const one = g.images.subarray(i * h * w * c, (i + 1) * h * w * c);
  const uri = pngDataUri(encodePng(one, w, h, c as 1 | 3));
  return `<rect x="${x - 0.5}" y="${y - 0.5}" width="${size + 1}" height="${
    size + 1
  }" fill="none" stroke="#bbb"/><image x="${x}" y="${y}" width="${size}" height="${size}" image-rendering="optimizeSpeed" preserveAspectRatio="none" href="${uri}"/>`;
}
