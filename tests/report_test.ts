import { parseHTML } from "linkedom";
import { report } from "../lib/tools/report.ts";
import { describeLevel } from "../lib/channel/describe.ts";
import { experimentSchema } from "../lib/config/schema.ts";
import { frameSvg } from "../lib/image/compose.ts";
import { rasterizeSvg } from "../lib/image/raster.ts";
import { frameMessages } from "../lib/model/frame_messages.ts";
import { loadReportRun } from "../lib/report/data.ts";
import { changedKeys, headlineDeltas } from "../lib/report/diff.ts";
import { inlineFrames } from "../lib/report/frames.ts";
import { REPORT_FILE, writeRunReport } from "../lib/report/write.ts";
import { tinyRuns } from "./_report_runs.ts";
import { assert, assertEquals, assertMatch } from "./_assert.ts";

/** Elements and attributes of a page, through linkedom. */
function parse(html: string) {
  // deno-lint-ignore no-explicit-any
  return (parseHTML(html) as any).document;
}

/** Every URL-bearing attribute and CSS url() must be inline (data:) or in-page (#). */
function assertSelfContained(html: string, what: string) {
  assert(!/https?:/i.test(html), `${what}: no http: or https: anywhere`);
  const doc = parse(html);
  for (const el of doc.querySelectorAll("[src], [href], [action], [poster], [srcset]")) {
    for (const attr of ["src", "href", "action", "poster", "srcset"]) {
      const v = el.getAttribute(attr);
      if (v !== null) assertMatch(v, /^(data:|#)/, `${what}: <${el.tagName} ${attr}> is inline`);
    }
  }
  for (const m of html.matchAll(/url\(\s*['"]?([^'")]*)/g)) {
    assertMatch(m[1], /^(data:|#)/, `${what}: CSS url() is inline`);
  }
  assert(!/<link\b/i.test(html) && !/<iframe\b/i.test(html), `${what}: no <link> or <iframe>`);
  assertEquals(doc.querySelectorAll("script[src]").length, 0);
}

Deno.test("runExperiment() leaves a self-contained report.html with plots, heat map and slider", async () => {
  const { runs } = await tinyRuns();
  const html = await Deno.readTextFile(`${runs[0]}/${REPORT_FILE}`);
  assertSelfContained(html, "run report");
  const doc = parse(html);
  const plots = [...doc.querySelectorAll(".plot")];
  assert(
    plots.length >= 6,
    `losses, level, accuracy, noise, diversity and matrix (${plots.length})`,
  );
  for (const p of plots) {
    assert(p.querySelector("svg"), `plot "${p.querySelector("h3")?.textContent}" is an SVG`);
  }
  const titles = plots.map((p) => p.querySelector("h3").textContent).join("\n");
  for (
    const t of [
      "Losses",
      "Difficulty level",
      "Held-out accuracy",
      "Noise detection",
      "Glyph diversity",
    ]
  ) {
    assert(titles.includes(t), `a plot of ${t}`);
  }
  // The heat map: one cell per (row, level) of the matrix, each with its percentage.
  const matrix = plots.find((p) => p.querySelector("h3").textContent.includes("per op alone"));
  assert(matrix, "the robustness matrix is there");
  const run = await loadReportRun(runs[0]);
  const mx = run.summary.matrix!;
  const cells = Object.values(mx.rows).reduce((a, r) => a + (r?.length ?? 0), 0);
  assertEquals(
    matrix.querySelectorAll("rect").length -
        matrix.querySelectorAll("svg rect[width='100%']").length >= cells,
    true,
  );
  assertEquals(matrix.querySelectorAll("text").length >= cells, true);
  // The slider covers every frame, newest selected.
  const slider = doc.querySelector("[data-slider] input[type=range]");
  assertEquals(JSON.parse(slider.getAttribute("data-epochs")), [1, 2, 3]);
  assertEquals(slider.getAttribute("value"), "2");
  assertEquals(doc.querySelectorAll("[data-slider] img[data-epoch]").length, 3);
  // The config marks keys that differ from the defaults; the manifest is there.
  const changed = [...doc.querySelectorAll("tr.changed td:first-child")].map((t) => t.textContent);
  assert(changed.includes("message.size") && !changed.includes("channel.extras"), changed.join());
  assert(html.includes("experiment_hash"));
  assertEquals(doc.body.getAttribute("data-running"), "false", "a finished run does not reload");
});

Deno.test("runExperiment() rewrites report.html each epoch; mid-run it reloads itself", async () => {
  const { midRun } = await tinyRuns();
  assertSelfContained(midRun, "mid-run report");
  const doc = parse(midRun);
  assertEquals(doc.body.getAttribute("data-running"), "true");
  assertMatch(midRun, /location\.reload\(\)/);
  const slider = doc.querySelector("[data-slider] input[type=range]");
  assertEquals(JSON.parse(slider.getAttribute("data-epochs")), [1], "the frame of epoch 1 is in");
});

Deno.test("writeRunReport() renders the same bytes twice", async () => {
  const { runs } = await tinyRuns();
  const out = await Deno.makeTempFile({ suffix: ".html" });
  await writeRunReport(runs[0], { out });
  const first = await Deno.readFile(out);
  await writeRunReport(runs[0], { out });
  assertEquals(await Deno.readFile(out), first);
  assertEquals(await Deno.readFile(`${runs[0]}/${REPORT_FILE}`), first);
});

Deno.test("report() of several runs writes a comparison page: changed keys, deltas, one slider", async () => {
  const { runs, root } = await tinyRuns();
  const out = `${root}/compare.html`;
  assertEquals(await report(runs, { out }), out);
  const html = await Deno.readTextFile(out);
  assertSelfContained(html, "comparison");
  const doc = parse(html);
  const keys = [...doc.querySelectorAll("table")].flatMap((t) =>
    [...t.querySelectorAll("tr td:first-child")].map((td) => td.textContent)
  );
  for (const k of ["seed", "training.optimizer.learning_rate", "final accuracy", "level at 95 %"]) {
    assert(keys.includes(k), `row "${k}"`);
  }
  assert(!keys.includes("message.size"), "unchanged keys are left out");
  for (const p of doc.querySelectorAll(".plot")) assert(p.querySelector("svg"));
  assertEquals(doc.querySelectorAll("[data-slider]").length, 1);
  assertEquals(doc.querySelectorAll("[data-slider] .stack").length, 2);
});

Deno.test("report() of a sweep folder plots the headline metric against each swept key", async () => {
  const { runs, root } = await tinyRuns();
  const sweep = `${root}/sweeps/lr`;
  await Deno.mkdir(sweep, { recursive: true });
  // The layout `deno task sweep` writes: one row per setting, its points (seeds) inside.
  await Deno.writeTextFile(
    `${sweep}/summary.json`,
    JSON.stringify({
      name: "lr",
      keys: ["training.optimizer.learning_rate"],
      settings: runs.map((run, i) => ({
        setting: i,
        values: { "training.optimizer.learning_rate": [0.002, 0.004][i] },
        points: [{ id: `p${i}`, seed: 5 + i, status: "completed", run }],
        completed: 1,
        best: i === 0,
      })),
      best: 0,
    }),
  );
  const out = await report([sweep]);
  assertEquals(out, `${sweep}/report.html`);
  const html = await Deno.readTextFile(out);
  assertSelfContained(html, "sweep page");
  const doc = parse(html);
  const plots = [...doc.querySelectorAll(".plot")];
  assertEquals(plots.length, 1, "one plot per swept key");
  assertMatch(
    plots[0].querySelector("h3").textContent,
    /against training\.optimizer\.learning_rate/,
  );
  assertEquals(plots[0].querySelectorAll("svg circle").length, 2, "a dot per completed point");
  const table = doc.querySelector("table");
  assertEquals(table.querySelectorAll("tr").length, 3, "a header and a row per point");
  assert([...table.querySelectorAll("th")].some((th) => th.textContent === "seed"));
});

Deno.test("changedKeys() and headlineDeltas() compare against the first run", async () => {
  const { runs } = await tinyRuns();
  const [a, b] = await Promise.all(runs.map(loadReportRun));
  assertEquals(changedKeys([a, b]).map((d) => d.key), ["seed", "training.optimizer.learning_rate"]);
  assertEquals(changedKeys([a, a]), []);
  const rows = headlineDeltas([a, b]);
  const acc = rows.find((r) => r.name === "final accuracy")!;
  assertEquals(acc.deltas[0], 0);
  assertEquals(acc.deltas[1], acc.values[1]! - acc.values[0]!);
  const expected = acc.deltas[1]! > 0 ? "better" : acc.deltas[1]! < 0 ? "worse" : "same";
  assertEquals(acc.verdicts[1], expected);
  const loss = rows.find((r) => r.name === "final total loss")!;
  if (loss.deltas[1]! > 0) assertEquals(loss.verdicts[1], "worse", "a higher loss is worse");
});

Deno.test("inlineFrames() stays within its budget by thumbnails, then every k-th (keeping the last)", async () => {
  const { runs } = await tinyRuns();
  const run = await loadReportRun(runs[0]);
  const one = run.frames[0];
  const size = (await Deno.stat(one.path)).size;
  const many = Array.from({ length: 40 }, (_, i) => ({ epoch: i + 1, path: one.path }));
  const all = await inlineFrames(many, 1e9);
  assertEquals(all.length, 40);
  const budget = Math.ceil(size * 4 / 3) * 10;
  const small = await inlineFrames(many, budget);
  assert(small.length < 40 && small.length >= 10, `${small.length} frames`);
  assertEquals(small.at(-1)?.epoch, 40);
  assert(small.reduce((a, f) => a + f.uri.length, 0) <= budget * 1.1);
  assertEquals(small[0].width, all[0].width, "thumbnails show at the frame's size");
  assertEquals(small.at(-1)?.uri, all.at(-1)?.uri, "the newest frame stays whole");
  assert(small[0].uri.length < all[0].uri.length, "older frames are thumbnails");
});

Deno.test("frameMessages() shows every message up to 64, else a fixed sample, labelled", () => {
  const letters = frameMessages({ type: "one-hot", size: 26 }, 2);
  assertEquals(letters.labels.join(""), "abcdefghijklmnopqrstuvwxyz");
  assertEquals(frameMessages({ type: "one-hot", size: 64 }, 2).labels.at(-1), "63");
  const sample = frameMessages({ type: "one-hot", size: 128 }, 3);
  assertEquals(sample.labels.length, 9);
  assertEquals(frameMessages({ type: "one-hot", size: 128 }, 3).labels, sample.labels);
  const bits = frameMessages({ type: "binary", bits: 3 }, 2);
  assertEquals(bits.labels, ["000", "100", "010", "110", "001", "101", "011", "111"]);
  assertEquals(frameMessages({ type: "binary", bits: 16 }, 2).labels.length, 4);
  assertMatch(frameMessages({ type: "binary", bits: 32 }, 1).labels[0], /^0x[0-9a-f]{8}$/);
});

Deno.test("describeLevel() names what each op does at a level", () => {
  const channel = experimentSchema.parse({}).channel;
  assertEquals(describeLevel(channel, 3), [
    "noise σ 0.06",
    "blur 0.8 px",
    "scale 0.80–1.20",
    "shift 7 %",
    "±18°",
    "slope 1.6",
    "invert 10 %",
    "kernel 0.12",
  ]);
  assert(
    !describeLevel(channel, 3, { grayscale: false }).includes("invert 10 %"),
    "RGB: no inversion",
  );
});

Deno.test("rasterizeSvg() sets a frame's labels in a real font", async () => {
  const shape: [number, number, number, number] = [2, 4, 4, 1];
  const svg = frameSvg({
    header: "epoch 1 · level 0",
    labels: ["a", "b"],
    panels: [{ title: "clean", images: new Float32Array(32).fill(1), shape }],
  });
  const blank = await rasterizeSvg(svg.replace(/<text[^>]*>[^<]*<\/text>/g, ""));
  const r = await rasterizeSvg(svg);
  assertEquals([r.width, r.height], [blank.width, blank.height]);
  let inked = 0;
  for (let i = 0; i < r.rgba.length; i += 4) if (r.rgba[i] < 128 && blank.rgba[i] > 128) inked++;
  assert(inked > 50, `text draws pixels (${inked})`);
});
