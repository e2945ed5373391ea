// Drills: a run stopped by SIGTERM (Slurm, Kubernetes), SIGHUP (a closed terminal)
// or SIGINT (Ctrl-C) checkpoints, records the signal and exits 128 + its number;
// SIGUSR1 (Slurm's early warning) checkpoints and training goes on.
import { readCheckpoint, readRun } from "../lib/run/reader.ts";
import type { StartedRun } from "../lib/runner.ts";
import { onSignal } from "../main.ts";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { exists, onlyRun, runMain } from "./_spawn.ts";

// Two epochs of 40 steps: seconds on the native backend, so a signal sent when
// training starts always lands mid-run.
const TINY = `
seed: 3
message: { type: one-hot, size: 4 }
image: { size: 8, color: grayscale }
model: { filters: 2 }
training: { backend: native, batch_size: 8, epochs: 2, steps_per_epoch: 40 }
eval: { samples: 8, matrix_samples: 8, matrix_levels: 1, glyph_samples: 8 }
output: { checkpoint_every: 0, grid: 2 }
`;

async function tinyExperiment(): Promise<{ root: string; file: string }> {
  const root = await Deno.makeTempDir();
  await Deno.writeTextFile(`${root}/tiny.yaml`, TINY);
  return { root, file: `${root}/tiny.yaml` };
}

const STOPS: [Deno.Signal, number][] = [["SIGTERM", 143], ["SIGHUP", 129], ["SIGINT", 130]];

for (const [signal, code] of STOPS) {
  const name = `drill: ${signal} stops after the step with a checkpoint, exit ${code}` +
    (signal === "SIGHUP" ? " (with the terminal gone)" : "");
  Deno.test(name, async () => {
    const { root, file } = await tinyExperiment();
    // SIGHUP comes when the terminal went away: nothing reads the run's output any more.
    const run = await runMain(["run", file, "--runs", `${root}/runs`], {
      steps: [{ after: /start: /, send: signal, hangUp: signal === "SIGHUP" }],
    });
    assertEquals(run.code, code, run.stderr);
    if (signal !== "SIGHUP") assertMatch(run.stderr, new RegExp(`${signal}: stopping after`));
    const dir = await onlyRun(`${root}/runs`);
    const { manifest } = await readRun(dir);
    assertEquals([manifest.status, manifest.signal], ["interrupted", signal]);
    const snap = await readCheckpoint(dir);
    assertEquals(snap.meta.epoch, 1);
    assert(snap.meta.step_in_epoch >= 1 && snap.meta.step_in_epoch < 40, run.stderr);
    if (signal === "SIGTERM") {
      // The stopped run goes on where it stopped and completes.
      const again = await runMain(["run", "--resume", dir]);
      assertEquals(again.code, 0, again.stderr);
      const done = await readRun(dir);
      assertEquals([done.manifest.status, done.manifest.signal], ["completed", null]);
      assertEquals(done.metrics.map((m) => m.epoch), [1, 2]);
    }
    await Deno.remove(root, { recursive: true });
  });
}

Deno.test("drill: SIGUSR1 writes a checkpoint after the step and training goes on", async () => {
  const { root, file } = await tinyExperiment();
  const run = await runMain(["run", file, "--runs", `${root}/runs`], {
    steps: [{ after: /start: /, send: "SIGUSR1" }],
  });
  assertEquals(run.code, 0, run.stderr);
  // The requested checkpoint is written mid-epoch (checkpoint_every 0 writes none until the end).
  const [, step] = run.stderr.match(/checkpoint written at epoch 1, step (\d+) \(requested\)/) ??
    [];
  assert(Number(step) >= 1 && Number(step) < 40, run.stderr);
  const dir = await onlyRun(`${root}/runs`);
  const log = await Deno.readTextFile(`${dir}/train.log`);
  assertMatch(log, /checkpoint written at epoch 1, step \d+ \(requested\)[^]*completed after/);
  const { manifest, metrics } = await readRun(dir);
  assertEquals([manifest.status, manifest.signal], ["completed", null]);
  assertEquals(metrics.length, 2);
  assert(await exists(`${dir}/checkpoints/last.safetensors`));
  await Deno.remove(root, { recursive: true });
});

Deno.test("drill: a second stopping signal marks the run interrupted and exits at once", () => {
  const controller = new AbortController();
  const calls: string[] = [];
  const run: StartedRun = {
    dir: "runs/x",
    markInterrupted: () => void calls.push("mark"),
    checkpointNow: () => void calls.push("checkpoint"),
  };
  const handle = onSignal(controller, () => run, (code) => void calls.push(`exit ${code}`));
  handle("SIGUSR1");
  handle("SIGUSR2");
  assertEquals([calls, controller.signal.aborted], [["checkpoint", "checkpoint"], false]);
  handle("SIGTERM");
  assertEquals([calls.length, controller.signal.reason], [2, "SIGTERM"]);
  handle("SIGHUP");
  assertEquals(calls.slice(2), ["mark", "exit 129"]);
  // Before the run folder exists a checkpoint request has nothing to save.
  const early = onSignal(new AbortController(), () => undefined, () => {});
  early("SIGUSR1");
});
