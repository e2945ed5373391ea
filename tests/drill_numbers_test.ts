// Drills: a loss or weight that stops being a number fails the run at once, keeps
// the last good checkpoint, and the run resumes with a lower learning rate.
//
// The NaN is injected with GLYPHNET_DRILL_NAN=N (a weight of G poisoned before the
// run's N-th step, as an exploding update would). A huge learning rate is no
// stand-in: the schema caps it at 1, and whether 1 blows up depends on the seed,
// the backend and the initialisation, so the drill would test luck.
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/backend/init.ts";
import { parseExperiment } from "../lib/config/load.ts";
import { ConfigError } from "../lib/config/load.ts";
import { readCheckpoint, readRun } from "../lib/run/reader.ts";
import { resumeRun } from "../lib/runner.ts";
import {
  createTrainState,
  disposeTrainState,
  NonFiniteError,
  snapshotState,
} from "../lib/train/state.ts";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { onlyRun, runMain } from "./_spawn.ts";

/** Awaits `f`, which must reject with a `type` whose message contains `text`. */
async function assertRejects(
  f: () => Promise<unknown>,
  type: new (...a: never[]) => Error,
  text = "",
): Promise<void> {
  const error = await f().then(() => undefined, (e: unknown) => e);
  assert(error instanceof type, `expected a ${type.name}, got ${error}`);
  assert(error.message.includes(text), `"${error.message}" should contain "${text}"`);
}

// Two epochs of 3 steps, a checkpoint after each.
const TINY = `
seed: 4
message: { type: one-hot, size: 4 }
image: { size: 8, color: grayscale }
model: { filters: 2 }
training: { backend: native, batch_size: 8, epochs: 2, steps_per_epoch: 3, optimizer: { learning_rate: 0.002 } }
eval: { samples: 8, matrix_samples: 8, matrix_levels: 1, glyph_samples: 8 }
output: { grid: 2 }
`;

Deno.test("drill: a NaN loss fails the run at its step, keeps the last good checkpoint, resumes with --set", async () => {
  const root = await Deno.makeTempDir();
  await Deno.writeTextFile(`${root}/tiny.yaml`, TINY);
  // Step 5 of the run is epoch 2, step 2.
  const run = await runMain(["run", `${root}/tiny.yaml`, "--runs", `${root}/runs`], {
    env: { GLYPHNET_DRILL_NAN: "5" },
  });
  assertEquals(run.code, 1, run.stderr);
  assertMatch(run.stderr, /error: d_real loss is NaN at epoch 2, step 2\n/);
  assertMatch(run.stderr, /--resume \S+ --set training\.optimizer\.learning_rate=<lower>/);
  assert(!/\bat .*\.ts:\d+/.test(run.stderr), "no stack trace");
  const dir = await onlyRun(`${root}/runs`);
  const failed = await readRun(dir);
  assertEquals(failed.manifest.status, "failed");
  assertEquals(failed.manifest.error, "d_real loss is NaN at epoch 2, step 2");
  assertEquals(failed.metrics.length, 1);
  const kept = await readCheckpoint(dir);
  assertEquals([kept.meta.epoch, kept.meta.step_in_epoch], [1, 0]);
  for (const t of kept.tensors.values()) assert(t.data.every(Number.isFinite));

  // A change of the networks' shapes is refused, and nothing is touched.
  const config = await Deno.readTextFile(`${dir}/config.json`);
  await assertRejects(
    () => resumeRun(dir, { set: ["model.filters=4"] }),
    ConfigError,
    `--set model.filters would change the networks' shapes`,
  );
  await assertRejects(() => resumeRun(dir, { set: ["training.batch_size=4"] }), ConfigError);
  await assertRejects(
    () => resumeRun(dir, { set: ["training.epochs=1"] }),
    ConfigError,
    "training.epochs=1 is below epoch 2",
  );
  assertEquals(await Deno.readTextFile(`${dir}/config.json`), config);
  assertEquals((await readRun(dir)).manifest.status, "failed");

  const again = await runMain([
    "run",
    "--resume",
    dir,
    "--set",
    "training.optimizer.learning_rate=0.001",
  ]);
  assertEquals(again.code, 0, again.stderr);
  const done = await readRun(dir);
  assertEquals([done.manifest.status, done.manifest.error], ["completed", null]);
  assertEquals(done.config.training.optimizer.learning_rate, 0.001);
  assertEquals(done.manifest.resume_overrides?.length, 1);
  assertEquals(done.manifest.resume_overrides?.[0].changes, {
    "training.optimizer.learning_rate": { from: 0.002, to: 0.001 },
  });
  assertEquals(done.manifest.resume_overrides?.[0].at, done.manifest.resumed_from?.[0]);
  assertEquals(done.metrics.map((m) => m.epoch), [1, 2]);
  await Deno.remove(root, { recursive: true });
});

Deno.test("drill: snapshotState refuses a weight or Adam state with NaN or Inf, naming it", async () => {
  await initBackend("cpu");
  const config = parseExperiment(TINY, "tiny.yaml", { set: ["training.backend=cpu"] });
  const state = createTrainState(config);
  try {
    const snapshot = await snapshotState(state, { epoch: 1, stepInEpoch: 2 });
    assert(snapshot.tensors.size > 0);
    const kernel = state.d.variables.get("D/stem/kernel");
    assert(kernel, [...state.d.variables.keys()].join());
    tf.tidy(() => kernel.assign(tf.fill(kernel.shape, Infinity)));
    await assertRejects(
      () => snapshotState(state, { epoch: 2, stepInEpoch: 0 }),
      NonFiniteError,
      "weight D/stem/kernel has Inf at epoch 2, step 3",
    );
  } finally {
    disposeTrainState(state);
  }
});
