/**
 * The page shell every report shares: inline styles and a small inline
 * script (epoch sliders, reload while a run is running), tables, escaping.
 * Nothing on a page refers to a file or the network.
 * @module
 */
import { escapeXml } from "../image/compose.ts";

export { escapeXml as escapeHtml };

const STYLE = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1a1a1a; background: #fafafa; }
main { max-width: 1400px; margin: 0 auto; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 8px 0 4px; }
h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; padding-bottom: 4px; }
h3 { font-size: 14px; margin: 0 0 4px; font-weight: 600; }
.sub { color: #555; }
.status { display: inline-block; padding: 1px 8px; border-radius: 10px; font-size: 12px; color: #fff; background: #777; }
.status.completed { background: #2e7d32; } .status.running { background: #1565c0; }
.status.failed { background: #c62828; } .status.interrupted { background: #ef6c00; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; }
.plot { background: #fff; border: 1px solid #e3e3e3; border-radius: 6px; padding: 10px; }
.plot svg { display: block; }
.plot figure { margin: 0; }
table { border-collapse: collapse; background: #fff; font-size: 13px; }
th, td { border: 1px solid #e3e3e3; padding: 3px 8px; text-align: left; vertical-align: top; }
th { background: #f2f2f2; font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.changed td { background: #fff6d6; } tr.changed td:first-child { font-weight: 600; }
.better { color: #2e7d32; } .worse { color: #c62828; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; }
.card { background: #fff; border: 1px solid #e3e3e3; border-radius: 6px; padding: 8px 12px; min-width: 120px; }
.card b { display: block; font-size: 20px; }
.slider { display: flex; align-items: center; gap: 12px; margin: 8px 0; }
.slider input { width: min(600px, 70vw); }
.stacks { display: flex; flex-wrap: wrap; gap: 16px; }
.stack { background: #fff; border: 1px solid #e3e3e3; border-radius: 6px; padding: 8px; flex: 1 1 380px; min-width: 0; max-width: max-content; }
.stack img { display: block; max-width: 100%; height: auto; }
.stack img[hidden] { display: none; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; }
code, pre { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; }
details { margin: 8px 0; }
`;

const SCRIPT = `
for (const box of document.querySelectorAll("[data-slider]")) {
  const input = box.querySelector("input[type=range]");
  const label = box.querySelector(".epoch");
  const epochs = JSON.parse(input.dataset.epochs);
  const show = () => {
    const epoch = epochs[Number(input.value)];
    label.textContent = "epoch " + epoch;
    for (const stack of box.querySelectorAll(".stack")) {
      const imgs = [...stack.querySelectorAll("img[data-epoch]")];
      let pick = imgs[0];
      for (const img of imgs) if (Number(img.dataset.epoch) <= epoch) pick = img;
      for (const img of imgs) img.hidden = img !== pick;
    }
  };
  input.addEventListener("input", show);
  show();
}
if (document.body.dataset.running === "true") setTimeout(() => location.reload(), 30000);
`;

/** A whole page: title, body sections; `running` makes it reload itself every 30 s. */
export function page(title: string, body: string, opts: { running?: boolean } = {}): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeXml(title)}</title>
<style>${STYLE}</style>
</head>
<body data-running="${opts.running ? "true" : "false"}">
<main>
${body}
</main>
<script>${SCRIPT}</script>
</body>
</html>
`;
}

/** A table; cells are HTML already (escape text with {@link escapeXml}). */
export function table(
  headers: string[],
  rows: { cells: string[]; className?: string; numeric?: boolean[] }[],
): string {
  const head = `<tr>${headers.map((h) => `<th>${h}</th>`).join("")}</tr>`;
  const body = rows.map((r) =>
    `<tr${r.className ? ` class="${r.className}"` : ""}>${
      r.cells.map((c, i) => `<td${r.numeric?.[i] ? ' class="num"' : ""}>${c}</td>`).join("")
    }</tr>`
  ).join("\n");
  return `<table>${head}\n${body}</table>`;
}

/** One slider over `epochs` driving every frame stack in it. */
export function frameSlider(
  epochs: number[],
  stacks: { title: string; frames: { epoch: number; uri: string; width: number }[] }[],
): string {
  if (epochs.length === 0) return `<p class="sub">No frames yet.</p>`;
  const html = stacks.map((s) =>
    `<div class="stack"><h3>${s.title}</h3>${
      s.frames.map((f) =>
        `<img data-epoch="${f.epoch}" width="${f.width}" alt="frame of epoch ${f.epoch}" src="${f.uri}">`
      ).join("")
    }</div>`
  ).join("");
  return `<div data-slider><div class="slider"><input type="range" min="0" max="${
    epochs.length - 1
  }" value="${epochs.length - 1}" step="1" data-epochs="${
    JSON.stringify(epochs)
  }" aria-label="epoch"><span class="epoch">epoch ${
    epochs.at(-1)
  }</span></div><div class="stacks">${html}</div></div>`;
}

/** Headline numbers as cards. */
export function cards(items: [string, string][]): string {
  return `<div class="cards">${
    items.map(([k, v]) => `<div class="card">${escapeXml(k)}<b>${escapeXml(v)}</b></div>`).join("")
  }</div>`;
}

/** A number for people: percentages for shares, a few digits otherwise, "–" when absent. */
export function fmt(v: number | null | undefined, kind: "pct" | "num" | "int" = "num"): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return "–";
  if (kind === "pct") return `${(v * 100).toFixed(1)} %`;
  if (kind === "int") return String(Math.round(v));
  return Math.abs(v) >= 100 ? v.toFixed(0) : v.toPrecision(3);
}
