import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/backend/init.ts";
import { nativeSync } from "../lib/backend/native/ffi.ts";
import { parseExperiment } from "../lib/config/load.ts";
import { initialLevel } from "../lib/channel/mod.ts";
import { readCheckpoint, readRun } from "../lib/run/reader.ts";
import { resumeRun, runExperiment } from "../lib/runner.ts";
import { createRunDir, RUN_FILES } from "../lib/run/writer.ts";
import { createTrainState, disposeTrainState } from "../lib/train/state.ts";
import { trainStep } from "../lib/train/step.ts";
import { UserError } from "../lib/errors.ts";
import { gifLayout } from "../lib/image/gif.ts";
import { assert, assertEquals, assertMatch } from "./_assert.ts";

await initBackend("cpu");

const TINY = `
seed: 5
message: { type: one-hot, size: 4 }
image: { size: 8, color: grayscale }
model: { filters: 2 }
training: { backend: cpu, batch_size: 8, epochs: 2, steps_per_epoch: 2, optimizer: { learning_rate: 0.002 } }
channel: { schedule: { kind: accuracy, check_every: 1, check_samples: 8 } }
eval: { samples: 16, matrix_samples: 8, matrix_levels: 2, glyph_samples: 8 }
output: { grid: 2 }
`;

function tiny(set: string[] = []) {
  return parseExperiment(TINY, "tiny.yaml", { set });
}

Deno.test("runExperiment() writes a complete run folder", async () => {
  const root = await Deno.makeTempDir();
  const { dir, status } = await runExperiment(tiny(), { root, source: TINY, file: "tiny.yaml" });
  assertEquals(status, "completed");
  for (const f of Object.values(RUN_FILES)) {
    assert((await Deno.stat(`${dir}/${f}`)).size > 0, `${f} exists`);
  }
  // The runner writes train.log itself: a run started from the library gets one too.
  const log = await Deno.readTextFile(`${dir}/${RUN_FILES.log}`);
  assertMatch(log, /^\d{4}-\d\d-\d\dT[\d:.]+Z start: G /);
  assertMatch(log, /Z epoch 2\/2 level /);
  assertMatch(log, /Z completed after epoch 2, 4 steps in /);
  assertEquals(await Deno.readTextFile(`${dir}/${RUN_FILES.experiment}`), TINY);
  const run = await readRun(dir);
  assertEquals(run.manifest.status, "completed");
  assertEquals(run.manifest.backend.name, "cpu");
  assertEquals(run.manifest.epochs_done, 2);
  assertMatch(run.manifest.experiment_hash, /^[0-9a-f]{64}$/);
  assert(run.manifest.ended_at !== null);
  assertEquals(run.metrics.map((m) => m.epoch), [1, 2]);
  for (const m of run.metrics) {
    assert(
      Number.isFinite(m.loss.total) && m.eval !== null && m.eval.accuracy >= 0 &&
        m.eval.accuracy <= 1,
    );
  }
  assertEquals(run.summary?.epochs, 2);
  const frames = [];
  for await (const f of Deno.readDir(`${dir}/frames`)) frames.push(f.name);
  assertEquals(frames.sort(), ["epoch-0001.png", "epoch-0002.png"]);
  const png = await Deno.readFile(`${dir}/frames/epoch-0001.png`);
  assertEquals([...png.subarray(1, 4)], [0x50, 0x4e, 0x47]); // "PNG"
  const gif = await Deno.readFile(`${dir}/${RUN_FILES.gif}`);
  assertEquals(new TextDecoder().decode(gif.subarray(0, 6)), "GIF89a");
  const snap = await readCheckpoint(dir);
  assertEquals(snap.meta.epoch, 2);
  assert(snap.tensors.has("G/stem/kernel") && snap.tensors.has("adam/D/dense/kernel/m"));
  // No temp files are left behind.
  for await (const f of Deno.readDir(dir)) assert(!f.name.endsWith(".tmp"), f.name);
  await Deno.remove(root, { recursive: true });
});

for (const [backend, threads] of [["cpu", 1], ["native", 1], ["native", 3]] as const) {
  Deno.test(`runExperiment() is deterministic for a seed and backend (${backend}, ${threads} thr)`, async () => {
    const root = await Deno.makeTempDir();
    const set = [`training.backend=${backend}`, `training.threads=${threads}`];
    // Split even this tiny model's kernels over the native team.
    if (threads > 1) nativeSync().symbols.gn_set_min_work(0);
    const a = await readRun((await runExperiment(tiny(set), { root })).dir);
    const b = await readRun((await runExperiment(tiny(set), { root })).dir);
    const c = await readRun((await runExperiment(tiny([...set, "seed=6"]), { root })).dir);
    const strip = (r: typeof a) =>
      r.metrics.map((m) => ({ ...m, seconds: 0, steps_per_second: 0 }));
    if (threads > 1) nativeSync().symbols.gn_set_min_work(-1);
    assertEquals(a.manifest.backend.name, backend);
    if (backend === "native") {
      assertEquals([a.manifest.backend.threads, a.manifest.backend.threads_from], [
        threads,
        "training.threads",
      ]);
    }
    assertEquals(strip(a), strip(b));
    assert(
      JSON.stringify(strip(a)) !== JSON.stringify(strip(c)),
      "another seed gives other metrics",
    );
    assert(a.dir !== b.dir, "run folders never collide");
    await Deno.remove(root, { recursive: true });
  });
}

Deno.test("runExperiment() stops on abort, marks the run interrupted, and resumeRun() finishes it", async () => {
  const root = await Deno.makeTempDir();
  const controller = new AbortController();
  let steps = 0;
  const first = await runExperiment(tiny(), {
    root,
    signal: controller.signal,
    onEvent: (e) => {
      if (e.type === "step" && ++steps === 3) controller.abort();
    },
  });
  assertEquals(first.status, "interrupted");
  const stopped = await readRun(first.dir);
  assertEquals(stopped.manifest.status, "interrupted");
  assertEquals(stopped.metrics.length, 1);
  const snap = await readCheckpoint(first.dir);
  assertEquals([snap.meta.epoch, snap.meta.step_in_epoch, snap.meta.step], [2, 1, 3]);

  const resumed = await resumeRun(first.dir);
  assertEquals(resumed.status, "completed");
  const done = await readRun(first.dir);
  assertEquals(done.manifest.status, "completed");
  assertEquals(done.metrics.map((m) => m.epoch), [1, 2]);
  assertEquals(done.metrics[1].steps, 1, "the resumed epoch ran only its remaining step");
  assertEquals(done.manifest.resumed_from?.length, 1);
  // The GIF keeps the frames from before the interruption.
  assertEquals(gifLayout(await Deno.readFile(`${first.dir}/${RUN_FILES.gif}`)).frames, 2);
  // A completed run cannot be resumed: a user mistake (exit 2), not a bug.
  const again = await resumeRun(first.dir).catch((e) => e);
  assert(again instanceof UserError && /already completed/.test(again.message), String(again));
  await Deno.remove(root, { recursive: true });
});

Deno.test("trainStep() keeps the tensor count flat", () => {
  const config = tiny();
  const state = createTrainState(config, { level: 3 });
  const counts = [];
  for (let i = 0; i < 4; i++) {
    const l = trainStep(state);
    tf.dispose([l.dReal, l.dFake, l.g]);
    counts.push(tf.memory().numTensors);
  }
  assertEquals(new Set(counts.slice(1)).size, 1, `tensor counts ${counts}`);
  disposeTrainState(state);
  assert(initialLevel(config.channel.schedule) === 0);
});

Deno.test("createRunDir() never reuses a folder, even within the same millisecond", async () => {
  const root = await Deno.makeTempDir();
  const now = new Date("2026-11-24T22:50:01.123Z");
  const a = await createRunDir(root, "x", now);
  const b = await createRunDir(root, "x", now);
  assertEquals(a, `${root}/2026-11-24T22-50-01.123Z_x`);
  assertEquals(b, `${root}/2026-11-24T22-50-01.123Z_x-2`);
  await Deno.remove(root, { recursive: true });
});
