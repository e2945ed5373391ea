/**
 * The comparison page of several runs: curves overlaid (one colour per
 * run), the frames side by side under one epoch slider, the config keys
 * that differ, and the headline numbers with their changes against the
 * first run.
 * @module
 */
import { show } from "./data.ts";
import type { ReportRun } from "./data.ts";
import { changedKeys, headlineDeltas } from "./diff.ts";
import { FRAME_BUDGET, inlineFrames } from "./frames.ts";
import { escapeHtml, fmt, frameSlider, page, table } from "./html.ts";
import { linePlot } from "./plots.ts";
import { points } from "./run_page.ts";

/** Colours of runs, in order (Observable's categorical palette). */
export const RUN_COLORS = [
  "#4269d0",
  "#efb118",
  "#ff725c",
  "#6cc5b0",
  "#3ca951",
  "#ff8ab7",
  "#a463f2",
  "#97bbf5",
  "#9c6b4e",
  "#9498a0",
];

/** The comparison page as one self-contained HTML page. */
export async function comparePage(
  runs: ReportRun[],
  opts: { title?: string } = {},
): Promise<string> {
  const colors: Record<string, string> = {};
  runs.forEach((r, i) => colors[r.label] = RUN_COLORS[i % RUN_COLORS.length]);
  const swatch = (r: ReportRun) =>
    `<span class="swatch" style="background:${colors[r.label]}"></span>${escapeHtml(r.label)}`;
  const title = opts.title ?? `Comparing ${runs.length} runs`;
  const list = table(
    ["run", "status", "folder", "epochs", "started"],
    runs.map((r) => ({
      cells: [
        swatch(r),
        `<span class="status ${r.manifest.status}">${r.manifest.status}</span>`,
        escapeHtml(r.dir.split("/").at(-1) ?? r.dir),
        `${r.manifest.epochs_done} of ${r.config.training.epochs}`,
        escapeHtml(r.manifest.started_at),
      ],
    })),
  );
  const body = [
    `<h1>${escapeHtml(title)}</h1>`,
    list,
    `<h2>Headline numbers</h2><p class="sub">Δ against the first run; green is better, red worse.</p>`,
    headlineTable(runs, swatch),
    `<h2>Config differences</h2>`,
    diffTable(runs, swatch),
    `<h2>Training</h2><div class="plots">${curves(runs, colors).join("")}</div>`,
    `<h2>Frames</h2><p class="sub">Each run's frame at the chosen epoch (its latest one up to it).</p>`,
    await frames(runs, swatch),
  ].join("\n");
  const running = runs.some((r) => r.manifest.status === "running");
  return page(title, body, { running });
}

function headlineTable(runs: ReportRun[], swatch: (r: ReportRun) => string): string {
  const rows = headlineDeltas(runs).map((h) => ({
    cells: [
      escapeHtml(h.name),
      ...h.values.map((v, i) => {
        const d = h.deltas[i];
        const delta = i === 0 || d === null
          ? ""
          : ` <span class="${h.verdicts[i]}">(${d > 0 ? "+" : d < 0 ? "−" : "±"}${
            fmt(Math.abs(d), h.kind)
          })</span>`;
        return `${fmt(v, h.kind)}${delta}`;
      }),
    ],
    numeric: [false, ...runs.map(() => true)],
  }));
  return table(["", ...runs.map(swatch)], rows);
}

function diffTable(runs: ReportRun[], swatch: (r: ReportRun) => string): string {
  const diff = changedKeys(runs);
  if (diff.length === 0) {
    return `<p class="sub">The runs' configs are the same (but for names).</p>`;
  }
  return table(
    ["key", ...runs.map(swatch)],
    diff.map((d) => ({ cells: [escapeHtml(d.key), ...d.values.map((v) => escapeHtml(show(v)))] })),
  );
}

function curves(runs: ReportRun[], colors: Record<string, string>): string[] {
  const all = (names: string[]) =>
    runs.flatMap((r) => points(r, names, (n) => names.length > 1 ? `${r.label} ${n}` : r.label));
  const overlay = (name: string, title: string, y: string, extra = {}) =>
    linePlot(all([name]), { title, x: "epoch", y, colors, ...extra });
  const robustness = runs.flatMap((r) => {
    const mx = r.summary.matrix;
    return (mx?.rows.channel ?? []).map((c, i) => ({
      x: mx!.levels[i],
      y: c.accuracy,
      series: r.label,
    }));
  });
  return [
    overlay("total", "Total loss (mean per epoch)", "loss"),
    overlay("accuracy", "Held-out accuracy at the epoch's level", "accuracy", { yDomain: [0, 1] }),
    overlay("level", "Difficulty level", "level", { step: true }),
    overlay("glyph_diversity", "Glyph diversity", "mean pixel distance"),
    linePlot(robustness, {
      title: "Whole-channel accuracy per level (latest matrix)",
      x: "level",
      y: "accuracy",
      yDomain: [0, 1],
      colors,
    }),
  ];
}

async function frames(runs: ReportRun[], swatch: (r: ReportRun) => string): Promise<string> {
  const budget = Math.floor(FRAME_BUDGET / Math.max(1, runs.length));
  const stacks = await Promise.all(
    runs.map(async (r) => ({ title: swatch(r), frames: await inlineFrames(r.frames, budget) })),
  );
  const epochs = [...new Set(stacks.flatMap((s) => s.frames.map((f) => f.epoch)))].sort((a, b) =>
    a - b
  );
  return frameSlider(epochs, stacks);
}
