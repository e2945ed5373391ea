import * as tf from "@tensorflow/tfjs-core";
// @ts-types="@types/pngjs"
import { PNG } from "pngjs";
import { Buffer } from "node:buffer";
import { initBackend } from "../lib/backend/init.ts";
import { experimentSchema } from "../lib/config/schema.ts";
import { decodeImage, messageLabel, parseMessage } from "../lib/eval/codec.ts";
import { InputError } from "../lib/errors.ts";
import { drawGlyphs, glyphMetrics } from "../lib/eval/glyphs.ts";
import { blackenFill, toModelImage, upscale } from "../lib/eval/image.ts";
import { decodePng } from "../lib/image/png.ts";
import {
  formatMatrix,
  levelAt,
  matrixRows,
  type RobustnessMatrix,
  robustnessMatrix,
} from "../lib/eval/matrix.ts";
import {
  glyphDiversity,
  pairwiseDistances,
  ranks,
  spearman,
  topographicSimilarity,
} from "../lib/eval/metrics.ts";
import { buildDiscriminator } from "../lib/model/discriminator.ts";
import { buildGenerator } from "../lib/model/generator.ts";
import { disposeNetwork } from "../lib/model/network.ts";
import { runExperiment } from "../lib/runner.ts";
import { summarize } from "../lib/run/summary.ts";
import { decodeRun } from "../lib/tools/decode.ts";
import { encodeRun } from "../lib/tools/encode.ts";
import { evalRun } from "../lib/tools/eval.ts";
import { scoreDecoding } from "../lib/eval/scores.ts";
import { networkSpec } from "../lib/train/loop.ts";
import { randomMessages } from "../lib/model/messages.ts";
import { Rng } from "../lib/rng.ts";
import { epochMetrics, matrixCell } from "./_metrics.ts";
import { assert, assertAlmostEquals, assertEquals, assertThrows } from "./_assert.ts";

await initBackend("cpu");

/** A tiny experiment: 8×8 grayscale, 2 filters, short and cheap. */
function tiny(extra: Record<string, unknown> = {}) {
  return experimentSchema.parse({
    seed: 3,
    message: { type: "one-hot", size: 4 },
    image: { size: 8, color: "grayscale" },
    model: { filters: 2 },
    training: { backend: "cpu", batch_size: 8, epochs: 1, steps_per_epoch: 3 },
    channel: { schedule: { kind: "accuracy", max: 3 } },
    eval: { samples: 16, matrix_samples: 8 },
    output: { grid: 2 },
    ...extra,
  });
}

Deno.test("ranks() gives ties their mean rank", () => {
  assertEquals([...ranks([3, 1, 2, 2])], [4, 1, 2.5, 2.5]);
});

Deno.test("spearman() is 1 for a monotone map, -1 reversed, and known for a permutation", () => {
  assertEquals(spearman([1, 2, 3, 4, 5], [1, 4, 9, 16, 25]), 1);
  assertEquals(spearman([1, 2, 3, 4, 5], [5, 4, 3, 2, 1]), -1);
  // Swapping two neighbour pairs: Σd² = 4, ρ = 1 − 6·4/(5·24) = 0.8.
  assertAlmostEquals(spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]), 0.8, 1e-12);
  assert(Number.isNaN(spearman([1, 1, 1], [1, 2, 3])), "a constant side has no correlation");
});

Deno.test("pairwiseDistances() lists each pair once, in order", () => {
  const rows = new Float32Array([0, 0, 1, 1, 1, 0]); // three rows of 2
  assertEquals([...pairwiseDistances(rows, 2, "hamming")], [2, 1, 1]);
  const e = pairwiseDistances(rows, 2, "euclidean");
  assertAlmostEquals(e[0], Math.SQRT2, 1e-6);
  assertAlmostEquals(pairwiseDistances(rows, 2, "rms")[0], 1, 1e-6);
  assertThrows(() => pairwiseDistances(rows, 4, "rms"), RangeError);
});

Deno.test("glyphDiversity() is 0 for collapsed glyphs and skips pairs of equal messages", () => {
  const msgs = new Float32Array([1, 0, 0, 1, 1, 0]); // messages 0, 1, 0
  assertEquals(glyphDiversity(new Float32Array(12).fill(0.3), 4, msgs, 2), 0);
  // Glyphs 0 and 2 differ fully but carry the same message: only pairs (0,1) and (1,2) count.
  const glyphs = new Float32Array([0, 0, 0, 0, 0.5, 0.5, 0.5, 0.5, 1, 1, 1, 1]);
  assertAlmostEquals(glyphDiversity(glyphs, 4, msgs, 2), 0.5, 1e-6);
});

Deno.test("topographicSimilarity() is 1 when glyphs are the messages themselves", () => {
  const m = randomMessages({ type: "binary", bits: 8 }, 20, new Rng(1)).messages;
  assertAlmostEquals(topographicSimilarity(m, 8, m, 8), 1, 1e-12);
  // Glyphs that ignore the message: no correlation is defined.
  assert(Number.isNaN(topographicSimilarity(m, 8, new Float32Array(20 * 4), 4)));
});

Deno.test("scoreDecoding() gives 1 for a perfect decoder and chance for a constant one", () => {
  const v = 4, msgs = new Float32Array(8 * v), perfect = new Float32Array(8 * (v + 1));
  const constant = new Float32Array(8 * (v + 1));
  for (let i = 0; i < 8; i++) {
    msgs[i * v + (i % v)] = 1;
    perfect[i * (v + 1) + (i % v)] = 5;
    constant[i * (v + 1)] = 5; // always symbol 0
  }
  const m = { type: "one-hot" as const, size: v };
  assertEquals(scoreDecoding(m, perfect, msgs).accuracy, 1);
  assertEquals(scoreDecoding(m, constant, msgs).accuracy, 1 / v);
  // Binary: all four 2-bit messages; a decoder that always says "11" gets half the bits.
  const b = { type: "binary" as const, bits: 2 };
  const bits = new Float32Array([0, 0, 0, 1, 1, 0, 1, 1]);
  const ones = new Float32Array([1, 1, -1, 1, 1, -1, 1, 1, -1, 1, 1, -1]);
  const s = scoreDecoding(b, ones, bits);
  assertEquals([s.accuracy, s.bitAccuracy, s.calledNoise], [0.25, 0.5, 0]);
});

Deno.test("levelAt() and formatMatrix() read the whole-channel row", () => {
  const m: RobustnessMatrix = {
    levels: [0, 1, 2, 3],
    samples: 4,
    seed: 1,
    rows: { blur: [1, 1, 1, 1].map(matrixCell), channel: [1, 0.99, 0.96, 0.5].map(matrixCell) },
  };
  assertEquals([levelAt(m, 0.95), levelAt(m, 0.99), levelAt(m, 1.01)], [2, 1, null]);
  const table = formatMatrix(m).split("\n");
  assertEquals(table.length, 3);
  assert(table[2].startsWith("channel") && table[2].includes("96.0"), table[2]);
});

Deno.test("robustnessMatrix() has a row per op, the extras and the channel, a cell per level", async () => {
  const config = tiny();
  const g = buildGenerator(networkSpec(config), new Rng(1));
  const d = buildDiscriminator(networkSpec(config), new Rng(2));
  const before = tf.memory().numTensors;
  const m = await robustnessMatrix({ g, d }, config, { levels: [0, 1, 2], samples: 8, seed: 5 });
  assertEquals(tf.memory().numTensors, before, "no tensors leak");
  assertEquals(Object.keys(m.rows), matrixRows(config));
  assertEquals(Object.keys(m.rows), [
    "static",
    "blur",
    "resize",
    "translate",
    "rotate",
    "extras",
    "channel",
  ]);
  for (const cells of Object.values(m.rows)) {
    assertEquals(cells.length, 3);
    for (const c of cells) assert(c.accuracy >= 0 && c.accuracy <= 1 && c.called_noise <= 1);
  }
  assert(m.rows.channel!.every((c) => c.negatives_called_message !== undefined));
  assert(m.rows.blur!.every((c) => c.negatives_called_message === undefined));
  // Same seed, same test.
  const again = await robustnessMatrix({ g, d }, config, {
    levels: [0, 1, 2],
    samples: 8,
    seed: 5,
  });
  assertEquals(again, m);
  disposeNetwork(g);
  disposeNetwork(d);
});

Deno.test("glyphMetrics() measures diversity, and topographic similarity for binary messages", async () => {
  for (const message of [{ type: "one-hot", size: 4 }, { type: "binary", bits: 5 }]) {
    const config = tiny({ message });
    const g = buildGenerator(networkSpec(config), new Rng(1));
    const r = await glyphMetrics(g, config, { samples: 12, seed: 2 });
    assert(r.diversity > 0 && r.diversity < 1, `diversity ${r.diversity}`);
    assertEquals(r.glyphs, message.type === "binary" ? 12 : 4);
    if (message.type === "binary") assert(Math.abs(r.topographic_similarity!) <= 1);
    else assertEquals(r.topographic_similarity, null);
    disposeNetwork(g);
  }
});

Deno.test("drawGlyphs() returns one glyph per message, padding the last batch", async () => {
  const config = tiny();
  const g = buildGenerator(networkSpec(config), new Rng(1));
  const three = new Float32Array([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]);
  const before = tf.memory().numTensors;
  const a = await drawGlyphs(g, three, { batch: 2 }); // batches [0, 1], [2, 0 as padding]
  assertEquals(a.length, 3 * 64);
  assertEquals(tf.memory().numTensors, before);
  assertEquals(await drawGlyphs(g, three, { batch: 2 }), a, "deterministic");
  disposeNetwork(g);
});

Deno.test("parseMessage() takes letters, indices and bit strings; messageLabel() prints them", () => {
  const m = { type: "one-hot" as const, size: 26 };
  assertEquals(messageLabel(m, parseMessage(m, "Q")), "q");
  assertEquals(messageLabel(m, parseMessage(m, "3")), "d");
  assertThrows(() => parseMessage(m, "26"), InputError);
  assertThrows(() => parseMessage({ type: "one-hot", size: 40 }, "a"), InputError);
  assertEquals(
    messageLabel({ type: "one-hot", size: 40 }, parseMessage({ type: "one-hot", size: 40 }, "39")),
    "39",
  );
  const b = { type: "binary" as const, bits: 4 };
  assertEquals(messageLabel(b, parseMessage(b, "0110")), "0110");
  assertThrows(() => parseMessage(b, "011"), InputError);
});

Deno.test("toModelImage() resizes any PNG to the model's size and colour", () => {
  // A 4×2 RGBA image: left half black, right half transparent (→ white).
  const png = new PNG({ width: 4, height: 2 });
  for (let i = 0; i < 8; i++) png.data.set(i % 4 < 2 ? [0, 0, 0, 255] : [0, 0, 0, 0], i * 4);
  const bytes = PNG.sync.write(png);
  const img = decodePng(new Uint8Array(bytes), "test.png");
  assertEquals([img.width, img.height], [4, 2]);
  const gray = toModelImage(img, 2, 1);
  assertEquals([...gray].map((v) => Math.round(v * 100) / 100), [0, 1, 0, 1]);
  assertEquals(toModelImage(img, 8, 3).length, 8 * 8 * 3);
  assertEquals([...upscale(new Float32Array([0, 1, 1, 0]), 2, 1, 2)].slice(0, 4), [0, 0, 1, 1]);
  assertThrows(() => decodePng(new Uint8Array([1, 2, 3]), "junk.png"), InputError);
});

/** Turns a w×w RGBA PNG by `degrees` onto a grown canvas filled white, as ImageMagick's -rotate. */
function rotateOnWhite(src: PNG, degrees: number): PNG {
  const t = (degrees * Math.PI) / 180, w = src.width;
  const size = Math.ceil(w * (Math.abs(Math.cos(t)) + Math.abs(Math.sin(t))));
  const out = new PNG({ width: size, height: size });
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const [u, v] = [x + 0.5 - size / 2, y + 0.5 - size / 2];
      const sx = Math.floor(Math.cos(t) * u + Math.sin(t) * v + w / 2);
      const sy = Math.floor(-Math.sin(t) * u + Math.cos(t) * v + w / 2);
      const inside = sx >= 0 && sy >= 0 && sx < w && sy < w;
      const g = inside ? src.data[(sy * w + sx) * 4] : 255;
      out.data.set([g, g, g, 255], (y * size + x) * 4);
    }
  }
  return out;
}

Deno.test("blackenFill() blackens what a rotation uncovered, and nothing when corners differ", () => {
  const glyph = new PNG({ width: 20, height: 20 });
  for (let i = 0; i < 400; i++) glyph.data.set([100, 100, 100, 255], i * 4);
  const turned = rotateOnWhite(glyph, 30);
  const img = decodePng(new Uint8Array(PNG.sync.write(turned)));
  const white = img.pixels.filter((v) => v === 1).length / 3;
  const changed = blackenFill(img);
  // The fill is the four corner triangles, give or take pixels along their long sides.
  assert(changed > 0.9 * white && changed < 1.05 * white, `${changed} of ${white}`);
  assert(img.pixels.filter((v) => v === 1).length / 3 < 0.1 * white);
  assertAlmostEquals(img.pixels[(img.width * (img.height >> 1) + (img.width >> 1)) * 3], 100 / 255);
  const plain = decodePng(new Uint8Array(PNG.sync.write(glyph)));
  plain.pixels[0] = 0.9; // corners differ: no fill to find
  assertEquals(blackenFill(plain), 0);
});

Deno.test("evalRun(), encodeRun() and decodeRun() work on a briefly trained run", async () => {
  const root = await Deno.makeTempDir({ prefix: "glyphnet-eval-" });
  try {
    const config = tiny({ name: "tiny" });
    const { dir, status } = await runExperiment(config, { root });
    assertEquals(status, "completed");
    // Training wrote the summary's new fields from the last epoch's matrix.
    const summary = JSON.parse(await Deno.readTextFile(`${dir}/metrics.json`));
    assertEquals(summary.matrix.levels, [0, 1, 2, 3]);
    assert("level_at_95" in summary && "level_at_99" in summary && summary.glyph_diversity > 0);
    assert(summary.noise.real_called_noise >= 0);

    const { report, table, path } = await evalRun(dir, { samples: 8, backend: "cpu" });
    const written = JSON.parse(await Deno.readTextFile(path));
    assertEquals(written.matrix, report.matrix);
    assertEquals(written.matrix.rows.channel.length, 4);
    assert(table.includes("channel") && table.includes("level_at_95"), table);
    const leftovers = [...Deno.readDirSync(dir)].filter((e) => e.name.endsWith(".tmp"));
    assertEquals(leftovers, [], "eval.json is written whole");

    const out = `${root}/b.png`;
    const enc = await encodeRun(dir, "b", { out, scale: 4, backend: "cpu" });
    assertEquals(enc.message, "b");
    const png = PNG.sync.read(Buffer.from(await Deno.readFile(out)));
    assertEquals([png.width, png.height], [32, 32]);
    const dec = await decodeRun(dir, out, { backend: "cpu" });
    assert(["a", "b", "c", "d"].includes(dec.message), dec.message);
    assert(dec.probability >= 0 && dec.probability <= 1 && dec.noise >= 0 && dec.noise <= 1);

    // Perturb the PNG at pixel level (no ImageMagick in CI): a horizontal 3-tap blur in RGBA.
    const blurred = new PNG({ width: png.width, height: png.height });
    for (let y = 0; y < png.height; y++) {
      for (let x = 0; x < png.width; x++) {
        const at = (dx: number) =>
          png.data[(y * png.width + Math.min(png.width - 1, Math.max(0, x + dx))) * 4];
        const v = Math.round((at(-1) + at(0) + at(1)) / 3);
        blurred.data.set([v, v, v, 255], (y * png.width + x) * 4);
      }
    }
    await Deno.writeFile(`${root}/blurred.png`, new Uint8Array(PNG.sync.write(blurred)));
    const again = await decodeRun(dir, `${root}/blurred.png`, { backend: "cpu" });
    assert(["a", "b", "c", "d"].includes(again.message));
    // …and turned by 10° onto a white canvas, as an image tool does.
    await Deno.writeFile(
      `${root}/turned.png`,
      new Uint8Array(PNG.sync.write(rotateOnWhite(png, 10))),
    );
    for (const keepFill of [false, true]) {
      const turned = await decodeRun(dir, `${root}/turned.png`, { backend: "cpu", keepFill });
      assert(turned.probability >= 0 && turned.probability <= 1);
    }
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("decodeImage() refuses an image of the wrong size", async () => {
  const config = tiny();
  const g = buildGenerator(networkSpec(config), new Rng(1));
  const d = buildDiscriminator(networkSpec(config), new Rng(2));
  let error: unknown;
  try {
    await decodeImage(g, d, config, new Float32Array(10), { level: 0, seed: 1 });
  } catch (e) {
    error = e;
  }
  assert(error instanceof RangeError && /8×8×1/.test(error.message));
  disposeNetwork(g);
  disposeNetwork(d);
});

Deno.test("summarize() reads old metrics lines without matrix or glyph fields", () => {
  const config = tiny();
  const s = summarize([epochMetrics()], config);
  assertEquals([s.level_at_95, s.matrix, s.glyph_diversity, s.highest_level], [
    null,
    null,
    null,
    3,
  ]);
  assertEquals(s.noise, { real_called_noise: 0.1, negatives_called_message: null });
});
