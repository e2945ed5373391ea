/**
 * Two tiny real runs (3 epochs, seconds each on the cpu backend) shared by
 * the report tests: made once per test process.
 * @module
 */
import { initBackend } from "../lib/backend/init.ts";
import { parseExperiment } from "../lib/config/load.ts";
import { runExperiment } from "../lib/runner.ts";

/** A tiny experiment: 4 symbols, 8×8 grayscale, 3 epochs of 2 steps. */
export const TINY_REPORT = `
name: tiny
seed: 5
message: { type: one-hot, size: 4 }
image: { size: 8, color: grayscale }
model: { filters: 2 }
training: { backend: cpu, batch_size: 8, epochs: 3, steps_per_epoch: 2, optimizer: { learning_rate: 0.002 } }
channel: { schedule: { kind: accuracy, check_every: 1, check_samples: 8 } }
eval: { samples: 16, matrix_samples: 8, matrix_levels: 2, glyph_samples: 8 }
`;

/** The tiny runs, and the first run's report.html as it was after epoch 1. */
export interface TinyRuns {
  root: string;
  runs: string[];
  midRun: string;
}

let made: Promise<TinyRuns> | undefined;

/** Folders of two tiny runs that differ in seed and learning rate. */
export function tinyRuns(): Promise<TinyRuns> {
  made ??= (async () => {
    await initBackend("cpu");
    const root = await Deno.makeTempDir({ prefix: "glyphnet-report-" });
    const runs: string[] = [];
    let midRun = "";
    for (const set of [[], ["seed=6", "training.optimizer.learning_rate=0.004"]]) {
      const config = parseExperiment(TINY_REPORT, "tiny.yaml", { set });
      let dir = "";
      const result = await runExperiment(config, {
        root,
        source: TINY_REPORT,
        file: "tiny.yaml",
        onStarted: (w) => dir = w.dir,
        // Subscribers hear an event after the writer (and the report) handled it.
        onEvent: async (e) => {
          if (e.type === "frame" && e.epoch === 1 && !midRun) {
            midRun = await Deno.readTextFile(`${dir}/report.html`);
          }
        },
      });
      runs.push(result.dir);
    }
    return { root, runs, midRun };
  })();
  return made;
}
