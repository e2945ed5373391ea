// The run-folder format: runs written before every key was snake_case still
// read, evaluate, decode and resume; the growing files are appended at a cost
// that does not grow with the run.
import { initBackend } from "../lib/backend/init.ts";
import { parseExperiment } from "../lib/config/load.ts";
import { gifLayout } from "../lib/image/gif.ts";
import { listRunDirs, readMetrics, readRun } from "../lib/run/reader.ts";
import { RUN_FILES, RunWriter } from "../lib/run/writer.ts";
import { resumeRun } from "../lib/runner.ts";
import { decodeRun } from "../lib/tools/decode.ts";
import { encodeRun } from "../lib/tools/encode.ts";
import { evalRun } from "../lib/tools/eval.ts";
import { assert, assertEquals } from "./_assert.ts";
import { epochMetrics } from "./_metrics.ts";

const backend = await initBackend("cpu");

/** A tiny interrupted run (1 of 2 epochs) written with camelCase eval keys. */
const OLD_RUN = new URL("./fixtures/run-before-snake-case", import.meta.url).pathname;

/** A copy of the fixture to write into. */
async function copyOldRun(): Promise<{ root: string; dir: string }> {
  const root = await Deno.makeTempDir();
  const dir = `${root}/run`;
  await new Deno.Command("cp", { args: ["-r", OLD_RUN, dir] }).output();
  return { root, dir };
}

Deno.test("readRun() reads a run written before keys were snake_case", async () => {
  assert((await listRunDirs(`${OLD_RUN}/..`)).some((d) => d.endsWith("run-before-snake-case")));
  const run = await readRun(OLD_RUN);
  assertEquals(run.manifest.status, "interrupted");
  assertEquals(run.metrics.length, 1);
  const scores = run.metrics[0].eval!;
  assertEquals(Object.keys(scores).sort(), [
    "accuracy",
    "bit_accuracy",
    "called_noise",
    "negatives_called_message",
  ]);
  assertEquals(scores.called_noise, 0.25);
});

Deno.test("evalRun(), encodeRun() and decodeRun() work on a run in the old format", async () => {
  const { root, dir } = await copyOldRun();
  const { report } = await evalRun(dir, { samples: 8, maxLevel: 1, backend: "cpu" });
  assertEquals(report.matrix.levels, [0, 1]);
  const png = `${root}/a.png`;
  await encodeRun(dir, "1", { out: png, backend: "cpu" });
  const decoded = await decodeRun(dir, png, { level: 0, backend: "cpu" });
  assert(decoded.probability >= 0 && decoded.probability <= 1, JSON.stringify(decoded));
  await Deno.remove(root, { recursive: true });
});

Deno.test("resumeRun() continues a run in the old format and writes today's keys", async () => {
  const { root, dir } = await copyOldRun();
  assertEquals((await resumeRun(dir)).status, "completed");
  const text = await Deno.readTextFile(`${dir}/${RUN_FILES.metrics}`);
  assert(!/bitAccuracy|calledNoise/.test(text), "old keys rewritten");
  const lines = text.trimEnd().split("\n").map((l) => JSON.parse(l));
  assertEquals(lines.map((m) => m.epoch), [1, 2]);
  assertEquals(typeof lines[1].eval.bit_accuracy, "number");
  const gif = await Deno.readFile(`${dir}/${RUN_FILES.gif}`);
  assertEquals(gifLayout(gif).length, gif.length, "one valid GIF, nothing after its trailer");
  await Deno.remove(root, { recursive: true });
});

Deno.test("readMetrics() ignores a last line cut short, and only that", async () => {
  const path = await Deno.makeTempFile();
  await Deno.writeTextFile(path, '{"epoch":1}\n{"epoch":2}\n{"epo');
  assertEquals((await readMetrics(path)).map((m) => m.epoch), [1, 2]);
  await Deno.writeTextFile(path, '{"epoch":1}\n{"epo\n{"epoch":3}\n');
  await readMetrics(path).then(
    () => assert.fail("a bad middle line must not pass"),
    (e) => assert(/line 2/.test(e.message), e.message),
  );
  await Deno.remove(path);
});

Deno.test("RunWriter: an epoch costs the same at epoch 1,000 as at epoch 10", async () => {
  const config = parseExperiment(
    "message: { type: one-hot, size: 4 }\nimage: { size: 4, color: grayscale }\noutput: { grid: 1 }",
    "tiny.yaml",
  );
  const root = await Deno.makeTempDir();
  const w = await RunWriter.create({ root, name: "x", config, source: "", file: "", backend });
  const images = new Float32Array(16).map((_, i) => i / 16);
  const epoch = async (writer: RunWriter, n: number) => {
    const started = performance.now();
    await writer.onEvent({ type: "epoch", metrics: epochMetrics({ epoch: n }) }, config);
    await writer.onEvent({ type: "frame", epoch: n, images, shape: [1, 4, 4, 1] }, config);
    return performance.now() - started;
  };
  const early: number[] = [];
  for (let n = 1; n <= 12; n++) early.push(await epoch(w, n));
  // Grow the files to 990 epochs without 978 more epochs of work: repeat the
  // last frame's bytes and the metrics line, then continue in a new writer.
  const path = `${w.dir}/${RUN_FILES.gif}`;
  const gif = await Deno.readFile(path);
  const chunk = lastFrameBytes(gif);
  const grown = new Uint8Array(gif.length + 978 * chunk.length);
  grown.set(gif.subarray(0, gif.length - 1));
  for (let i = 0; i < 978; i++) grown.set(chunk, gif.length - 1 + i * chunk.length);
  grown[grown.length - 1] = 0x3b;
  await Deno.writeFile(path, grown);
  const metrics = Array.from({ length: 990 }, (_, i) => epochMetrics({ epoch: i + 1 }));
  const run = await readRun(w.dir);
  const later = await RunWriter.reopen(w.dir, run.manifest, metrics);
  const late: number[] = [];
  for (let n = 991; n <= 1000; n++) late.push(await epoch(later, n));
  const median = (xs: number[]) => xs.sort((a, b) => a - b)[xs.length >> 1];
  const [at10, at1000] = [median(early.slice(2)), median(late)];
  assert(
    at1000 < 3 * at10 + 2,
    `epoch ~10: ${at10.toFixed(2)} ms, ~1,000: ${at1000.toFixed(2)} ms`,
  );
  const final = await Deno.readFile(path);
  const layout = gifLayout(final);
  assertEquals([layout.length, layout.frames], [final.length, 1000], "a valid GIF of every frame");
  assertEquals((await readRun(w.dir)).metrics.length, 1000);
  await Deno.remove(root, { recursive: true });
});

/** The bytes of a GIF's last frame (from its graphic control extension to the trailer). */
function lastFrameBytes(gif: Uint8Array): Uint8Array {
  const { lastDelayAt } = gifLayout(gif);
  return gif.slice(lastDelayAt - 4, gif.length - 1);
}
