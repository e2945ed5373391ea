/**
 * One run's report: headline numbers, curves over training, the
 * robustness matrix as a heat map, the frames with an epoch slider, the
 * config (keys that differ from the defaults marked) and the manifest.
 * @module
 */
import { matrixRows } from "../eval/matrix.ts";
import { defaultConfig, flatten, HEADLINES, type ReportRun, SERIES, show } from "./data.ts";
import { inlineFrames, type ThumbnailCache } from "./frames.ts";
import { cards, escapeHtml, fmt, frameSlider, page, table } from "./html.ts";
import { heatMap, linePlot, type Point } from "./plots.ts";

/** The run report as one self-contained HTML page (`thumbnails` carries frame thumbnails between rewrites). */
export async function runPage(
  run: ReportRun,
  opts: { thumbnails?: ThumbnailCache } = {},
): Promise<string> {
  const m = run.manifest;
  const head = `<h1>${
    escapeHtml(run.label)
  } <span class="status ${m.status}">${m.status}</span></h1>
<p class="sub">${escapeHtml(run.dir.split("/").at(-1) ?? run.dir)} · started ${
    escapeHtml(m.started_at)
  }${
    m.ended_at ? ` · ended ${escapeHtml(m.ended_at)}` : ""
  } · epoch ${m.epochs_done} of ${run.config.training.epochs} · backend ${
    escapeHtml(m.backend?.name ?? "?")
  }</p>`;
  const headline = cards(
    HEADLINES.map((h) => [h.name, fmt(h.value(run), h.kind)] as [string, string]),
  );
  const frames = await inlineFrames(run.frames, undefined, opts.thumbnails);
  const body = [
    head,
    headline,
    `<h2>Training</h2><div class="plots">${curves(run).join("")}</div>`,
    `<h2>Robustness</h2>${matrix(run)}`,
    `<h2>Frames</h2><p class="sub">G's glyphs of the same messages each epoch, and the same glyphs as D receives them through the channel.</p>`,
    frameSlider(frames.map((f) => f.epoch), [{ title: "", frames }]),
    `<h2>Config</h2><p class="sub">Highlighted: keys that differ from the defaults.</p>`,
    configTable(run),
    `<h2>Manifest</h2>`,
    table(
      ["key", "value"],
      [...flatten(m)].map(([k, v]) => ({ cells: [escapeHtml(k), escapeHtml(show(v))] })),
    ),
  ].join("\n");
  return page(`${run.label}: glyphnet run report`, body, { running: m.status === "running" });
}

/** Per-epoch series of a run as plot points. */
export function points(run: ReportRun, names: string[], series = (n: string) => n): Point[] {
  const out: Point[] = [];
  for (const m of run.metrics) {
    for (const n of names) {
      const y = SERIES[n](m);
      if (y !== undefined && y !== null) out.push({ x: m.epoch, y, series: series(n) });
    }
  }
  return out;
}

function curves(run: ReportRun): string[] {
  const binary = run.config.message.type === "binary";
  const plots = [
    linePlot(points(run, ["d_real", "d_fake", "g", "total"]), {
      title: "Losses (mean per epoch)",
      x: "epoch",
      y: "loss",
    }),
    linePlot(points(run, ["level"]), {
      title: "Difficulty level",
      x: "epoch",
      y: "level",
      step: true,
    }),
    linePlot(points(run, binary ? ["accuracy", "bit_accuracy"] : ["accuracy"]), {
      title: "Held-out accuracy at the epoch's level",
      x: "epoch",
      y: "accuracy",
      yDomain: [0, 1],
    }),
    linePlot(points(run, ["real_called_noise", "noise_called_message"]), {
      title: "Noise detection (lower is better)",
      x: "epoch",
      y: "share",
      yDomain: [0, 1],
    }),
    linePlot(
      points(run, binary ? ["glyph_diversity", "topographic_similarity"] : ["glyph_diversity"]),
      {
        title: "Glyph diversity (near 0: collapse)",
        x: "epoch",
        y: binary ? "value" : "mean pixel distance",
      },
    ),
  ];
  return plots;
}

function matrix(run: ReportRun): string {
  const mx = run.summary.matrix;
  if (!mx) {
    return `<p class="sub">No robustness matrix yet (it is taken at the last epoch, or every eval.matrix_every).</p>`;
  }
  const rows = matrixRows(run.config).filter((r) => mx.rows[r]);
  const cells = rows.flatMap((row) =>
    (mx.rows[row] ?? []).map((c, i) => ({ x: mx.levels[i], y: row, value: c.accuracy }))
  );
  return heatMap(cells, {
    title:
      `Held-out accuracy (%) per op alone and the whole channel, epoch ${mx.epoch}, ${mx.samples} messages per cell`,
    x: "level",
    rows,
  });
}

function configTable(run: ReportRun): string {
  const defaults = defaultConfig();
  const rows = [...flatten(run.config)].map(([k, v]) => {
    const d = defaults.get(k);
    const changed = JSON.stringify(d) !== JSON.stringify(v);
    return {
      cells: [escapeHtml(k), escapeHtml(show(v)), changed ? escapeHtml(show(d)) : ""],
      className: changed ? "changed" : undefined,
    };
  });
  return table(["key", "value", "default (when different)"], rows);
}
