/**
 * Plots as inline SVG, drawn at write time with Observable Plot on
 * linkedom's DOM: no browser, no script, and the same data gives the same
 * bytes (reports diff cleanly in git).
 * @module
 */
import * as Plot from "@observablehq/plot";
import { parseHTML } from "linkedom";

/** One point of a line: x, y, and the series it belongs to. */
export interface Point {
  x: number;
  y: number;
  series: string;
}

/** Options of {@linkcode linePlot}. */
export interface LineOptions {
  title: string;
  x: string;
  y: string;
  /** Fix the y range, e.g. [0, 1] for accuracies. */
  yDomain?: [number, number];
  /** Step line (levels) instead of straight segments. */
  step?: boolean;
  /** Series names in legend order with their colours (default: Plot's palette). */
  colors?: Record<string, string>;
  width?: number;
}

const WIDTH = 520;
const HEIGHT = 240;

type PlotDocument = NonNullable<Plot.PlotOptions["document"]>;

/** A fresh linkedom document for Plot to build its SVG in. */
function domDocument(): PlotDocument {
  const window = parseHTML("<!doctype html><html><body></body></html>");
  return (window as unknown as { document: PlotDocument }).document;
}

/** Plot's figure or SVG as markup, with the plot's title above it. */
function markup(title: string, plot: { outerHTML: string }): string {
  return `<div class="plot"><h3>${escape(title)}</h3>${plot.outerHTML}</div>`;
}

/**
 * Lines of y over x, one per series, with a legend when there are several.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { linePlot } from "./plots.ts";
 * const svg = linePlot([{ x: 1, y: 0.5, series: "a" }, { x: 2, y: 0.7, series: "a" }], {
 *   title: "accuracy", x: "epoch", y: "accuracy",
 * });
 * assert(svg.includes("<svg"));
 * ```
 */
export function linePlot(points: Point[], opts: LineOptions): string {
  const names = opts.colors ? Object.keys(opts.colors) : [...new Set(points.map((p) => p.series))];
  const data = points.filter((p) => Number.isFinite(p.y));
  const plot = Plot.plot({
    document: domDocument(),
    width: opts.width ?? WIDTH,
    height: HEIGHT,
    marginLeft: 50,
    x: { label: opts.x, ...wholeTicks(data.map((p) => p.x)) },
    y: { label: opts.y, grid: true, domain: opts.yDomain ?? spread(data), nice: !opts.yDomain },
    color: {
      domain: names,
      range: opts.colors ? Object.values(opts.colors) : undefined,
      legend: names.length > 1,
    },
    marks: [
      Plot.line(data, {
        x: "x",
        y: "y",
        stroke: "series",
        z: "series",
        curve: opts.step ? "step-after" : "linear",
        strokeWidth: 1.8,
      }),
      Plot.dot(data, { x: "x", y: "y", fill: "series", r: data.length > 60 ? 0 : 2 }),
    ],
  });
  return markup(opts.title, plot);
}

/** One cell of a heat map. */
export interface Cell {
  x: number;
  y: string;
  value: number;
}

/**
 * A heat map of values in [0, 1] (the robustness matrix: rows × levels),
 * each cell labelled with its value in percent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { heatMap } from "./plots.ts";
 * const svg = heatMap([{ x: 0, y: "channel", value: 1 }], { title: "m", x: "level", rows: ["channel"] });
 * assert(svg.includes("<svg"));
 * ```
 */
export function heatMap(
  cells: Cell[],
  opts: { title: string; x: string; rows: string[]; width?: number },
): string {
  const levels = [...new Set(cells.map((c) => c.x))].sort((a, b) => a - b);
  const plot = Plot.plot({
    document: domDocument(),
    width: opts.width ?? Math.max(WIDTH, 90 + levels.length * 38),
    height: 40 + opts.rows.length * 30,
    marginLeft: 70,
    padding: 0.04,
    x: { label: opts.x, domain: levels, type: "band" },
    y: { label: null, domain: opts.rows },
    color: { type: "linear", domain: [0, 1], scheme: "ylgnbu" },
    marks: [
      Plot.cell(cells, { x: "x", y: "y", fill: "value" }),
      Plot.text(cells, {
        x: "x",
        y: "y",
        text: (c: Cell) => String(Math.round(c.value * 100)),
        fill: (c: Cell) => (c.value > 0.6 ? "white" : "black"),
        fontSize: 10,
      }),
    ],
  });
  return markup(opts.title, plot);
}

/**
 * Dots of a metric against one swept key (numbers on a linear axis, other
 * values as categories).
 */
export function dotPlot(
  points: { x: number | string; y: number; label: string }[],
  opts: { title: string; x: string; y: string },
): string {
  const numeric = points.every((p) => typeof p.x === "number");
  const data = points.filter((p) => Number.isFinite(p.y));
  const plot = Plot.plot({
    document: domDocument(),
    width: 360,
    height: HEIGHT,
    marginLeft: 50,
    x: numeric
      ? { label: opts.x, nice: true }
      : { label: opts.x, type: "point", domain: [...new Set(points.map((p) => String(p.x)))] },
    y: { label: opts.y, grid: true, nice: true },
    marks: [
      Plot.dot(data, {
        x: (p: { x: number | string }) => (numeric ? p.x : String(p.x)),
        y: "y",
        r: 4,
        fill: "#4269d0",
      }),
    ],
  });
  return markup(opts.title, plot);
}

/** The y range, widened when every value is the same (Plot would draw a point-sized axis). */
function spread(data: Point[]): [number, number] | undefined {
  const ys = data.map((p) => p.y);
  const lo = Math.min(...ys), hi = Math.max(...ys);
  if (ys.length === 0 || hi > lo) return undefined;
  return [Math.min(0, lo), Math.max(1, hi + 1)];
}

/** Ticks on whole numbers only (epochs, levels): every one when there are few. */
function wholeTicks(xs: number[]): { ticks?: number[]; tickFormat: string } {
  const lo = Math.min(...xs), hi = Math.max(...xs);
  if (!(hi - lo <= 12)) return { tickFormat: "d" };
  return { ticks: Array.from({ length: hi - lo + 1 }, (_, i) => lo + i), tickFormat: "d" };
}

function escape(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
