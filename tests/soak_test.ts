// Memory soak, on demand only (`deno task test:soak`, GLYPHNET_SOAK=1): 5,000
// steps of a tiny run, written to a folder as usual; the tfjs tensor count
// must stay flat and RSS must grow less than 5 % after warm-up.
import * as tf from "@tensorflow/tfjs-core";
import { parseExperiment } from "../lib/config/load.ts";
import { runExperiment } from "../lib/runner.ts";
import { assert } from "./_assert.ts";

const SOAK = Deno.env.get("GLYPHNET_SOAK") === "1";
const BACKEND = Deno.env.get("GLYPHNET_SOAK_BACKEND") ?? "native";
const STEPS = 5000, PER_EPOCH = 250, WARMUP = 1000, EVERY = 250;

const TINY = `
seed: 4
message: { type: one-hot, size: 8 }
image: { size: 16, color: grayscale }
model: { filters: 4 }
training:
  backend: ${BACKEND}
  batch_size: 16
  epochs: ${STEPS / PER_EPOCH}
  steps_per_epoch: ${PER_EPOCH}
channel: { randomize: true, schedule: { kind: accuracy, check_every: 50, check_samples: 64 } }
eval: { samples: 64, matrix_every: 5, matrix_samples: 16, glyph_samples: 16 }
output: { grid: 2 }
`;

if (!SOAK) console.log("soak skipped: set GLYPHNET_SOAK=1 (deno task test:soak); it takes minutes");

Deno.test({
  name: `soak: ${STEPS} steps keep the tensor count flat and RSS growth under 5 % (drill)`,
  ignore: !SOAK,
  async fn() {
    const root = await Deno.makeTempDir({ prefix: "glyphnet-soak-" });
    const gc = (globalThis as { gc?: () => void }).gc;
    const samples: { step: number; tensors: number; rss: number; heap: number }[] = [];
    let step = 0;
    const started = performance.now();
    try {
      await runExperiment(parseExperiment(TINY, "soak.yaml"), {
        root,
        onEvent: (e) => {
          if (e.type !== "step" || ++step % EVERY !== 0) return;
          gc?.();
          const { rss, heapUsed } = Deno.memoryUsage();
          samples.push({ step, tensors: tf.memory().numTensors, rss, heap: heapUsed });
        },
      });
    } finally {
      await Deno.remove(root, { recursive: true });
    }
    const mb = (b: number) => (b / 2 ** 20).toFixed(1);
    const after = samples.filter((s) => s.step >= WARMUP);
    // RSS swings by tens of MB with the GC and malloc: compare medians of the first and last
    // four samples after warm-up (a leak grows steadily; a swing does not).
    const median = (xs: number[]) => xs.toSorted((a, b) => a - b)[xs.length >> 1];
    const base = { rss: median(after.slice(0, 4).map((s) => s.rss)) };
    const last = { rss: median(after.slice(-4).map((s) => s.rss)) };
    const maxRss = Math.max(...after.map((s) => s.rss));
    const tensorCounts = [...new Set(after.map((s) => s.tensors))];
    const growth = (last.rss - base.rss) / base.rss;
    const peakGrowth = (maxRss - base.rss) / base.rss;
    console.log(
      `${BACKEND}, ${step} steps in ${((performance.now() - started) / 1000).toFixed(0)} s\n` +
        `step   tensors  rss MB  heap MB\n` +
        samples.map((s) => `${s.step}\t${s.tensors}\t${mb(s.rss)}\t${mb(s.heap)}`).join("\n") +
        `\nafter step ${WARMUP}: tensors ${tensorCounts.join(", ")}; median rss of the first ` +
        `and last 4 samples ${mb(base.rss)} → ${mb(last.rss)} MB (${
          (growth * 100).toFixed(2)
        } %), ` +
        `peak ${mb(maxRss)} MB (${(peakGrowth * 100).toFixed(2)} %)`,
    );
    assert(step === STEPS, `ran ${step} steps`);
    assert(tensorCounts.length === 1, `tensor count moved: ${tensorCounts}`);
    assert(growth < 0.05, `RSS grew ${(growth * 100).toFixed(1)} % after warm-up`);
  },
});
