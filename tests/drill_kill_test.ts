// Crash drill: kill -9 a tiny run (through `deno task run`, its exact flags)
// at seeded moments, many of them inside the write of a checkpoint, a frame
// or the metrics; after each, every file in the folder must parse and
// `--resume` must end with the metrics of an uninterrupted run.
// 3 trials in `deno task ok`; `deno task test:drills` runs GLYPHNET_DRILL_TRIALS (24).
import { readCheckpoint, readRun } from "../lib/run/reader.ts";
import { Rng } from "../lib/rng.ts";
import { ROOT, scratchRuns } from "./_cli.ts";
import {
  checkFiles,
  gifFrames,
  PAUSE_MS,
  resume,
  runAndKill,
  runWhole,
  type Target,
  withoutTimes,
} from "./_drill.ts";
import { assert, assertEquals } from "./_assert.ts";

const EPOCHS = 2;
const EXPERIMENT = `
seed: 11
message: { type: one-hot, size: 4 }
image: { size: 8, color: grayscale }
model: { filters: 2 }
training: { backend: cpu, batch_size: 8, epochs: ${EPOCHS}, steps_per_epoch: 2 }
channel: { schedule: { kind: accuracy, check_every: 2, check_samples: 8 } }
eval: { samples: 8, matrix_samples: 8, matrix_levels: 1, glyph_samples: 8 }
output: { grid: 2 }
`;

const TRIALS = Number(Deno.env.get("GLYPHNET_DRILL_TRIALS") ?? 3);

/** Where trial `i` aims: the first three are a checkpoint, a frame and the metrics. */
function target(i: number, rng: Rng, afterSetupMs: number): Target {
  const files: [string, RegExp][] = [
    ["checkpoint", /checkpoints\/last\.safetensors$/],
    ["frame", /frames\/epoch-\d+\.png$/],
    ["metrics.jsonl", /metrics\.jsonl$/],
    ["random moment", /$^/],
    ["metrics.json", /metrics\.json$/],
    ["glyphs.gif", /glyphs\.gif$/],
    ["manifest", /manifest\.json$/],
    ["random moment", /$^/],
  ];
  const [label, file] = files[i % files.length];
  if (label === "random moment") {
    return { kind: "time", delayMs: rng.uniform(0, afterSetupMs * 0.9) };
  }
  // Manifest: written at setup and after every epoch; the first is the setup's.
  const occurrence = rng.int(label === "manifest" ? 1 : 0, EPOCHS - 1);
  return { kind: "write", file, label, occurrence, delayMs: rng.uniform(0, PAUSE_MS) };
}

Deno.test(`drill: kill -9 a run ${TRIALS} times (in checkpoint, frame and metrics writes); files parse, --resume matches`, async () => {
  const scratch = await scratchRuns("drill");
  try {
    const experiment = `${scratch}/drill.yaml`;
    await Deno.writeTextFile(`${ROOT}/${experiment}`, EXPERIMENT);
    // Timed (with the slow writes) only when random moments need the run's length.
    const timed = TRIALS > 3;
    const reference = await runWhole(experiment, `${scratch}/whole`, timed);
    const whole = await readRun(reference.dir);
    const expected = withoutTimes({ metrics: whole.metrics, summary: whole.summary });
    const rng = new Rng(2026);
    const log: string[] = [];
    for (let i = 0; i < TRIALS; i++) {
      const aim = target(i, rng, reference.afterSetupMs);
      let killed = await runAndKill(experiment, `${scratch}/t${i}`, aim);
      // A random moment past the end of a run that went faster than the reference (or
      // after it marked itself completed, while the process exits): try earlier.
      const ended = async (k: typeof killed) =>
        !k.killed || await Deno.readTextFile(`${k.dir}/manifest.json`).then(
          (t) => JSON.parse(t).status === "completed",
          () => false,
        );
      for (let retry = 1; aim.kind === "time" && await ended(killed) && retry <= 3; retry++) {
        aim.delayMs /= 2;
        killed = await runAndKill(experiment, `${scratch}/t${i}-${retry}`, aim);
      }
      const what = aim.kind === "write"
        ? `${aim.label} #${aim.occurrence + 1} + ${aim.delayMs.toFixed(0)} ms`
        : `${(aim.delayMs / 1000).toFixed(2)} s after setup`;
      assert(killed.killed, `trial ${i} (${what}): the run ended before the kill`);
      if (aim.kind === "write") {
        assert(killed.inFlight !== null, `trial ${i} (${what}): no write was in flight`);
      }
      const after = await checkFiles(killed.dir);
      assertEquals(after.problems, [], `trial ${i} (${what}): files after the kill`);
      const from = await readCheckpoint(killed.dir).then(
        (c) => `epoch ${c.meta.epoch}`,
        () => "the start",
      );
      const resumed = await resume(killed.dir);
      assertEquals(resumed.code, 0, `trial ${i} (${what}): resume: ${resumed.stderr}`);
      const done = await checkFiles(killed.dir);
      assertEquals(done, { problems: [], temps: [] }, `trial ${i} (${what}): after resume`);
      const run = await readRun(killed.dir);
      assertEquals(run.manifest.status, "completed");
      assertEquals(
        withoutTimes({ metrics: run.metrics, summary: run.summary }),
        expected,
        `trial ${i} (${what}): metrics after resume`,
      );
      assertEquals(gifFrames(await Deno.readFile(`${killed.dir}/glyphs.gif`)), EPOCHS);
      const inFlight = killed.inFlight?.split("/").slice(-2).join("/") ?? "nothing";
      log.push(
        `trial ${i}: killed ${what}, writing ${inFlight}; ${after.temps.length} temp file(s) ` +
          `left; resumed from ${from}: same metrics`,
      );
    }
    console.log(log.join("\n"));
  } finally {
    await Deno.remove(`${ROOT}/${scratch}`, { recursive: true });
  }
});
