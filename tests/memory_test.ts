import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/backend/init.ts";
import { parseExperiment } from "../lib/config/load.ts";
import { buildGenerator } from "../lib/model/generator.ts";
import { disposeNetwork } from "../lib/model/network.ts";
import { networkSpec, train } from "../lib/train/loop.ts";
import { Rng } from "../lib/rng.ts";
import { assertEquals } from "./_assert.ts";

await initBackend("cpu");

const TINY = `
message: { type: one-hot, size: 4 }
image: { size: 8, color: grayscale }
model: { filters: 2 }
training: { backend: cpu, batch_size: 8, epochs: 3, steps_per_epoch: 1 }
eval: { samples: 8, matrix_samples: 8, matrix_levels: 1, glyph_samples: 8 }
output: { grid: 2 }
`;

Deno.test("buildGenerator() and disposeNetwork() leave no tensors behind", () => {
  const before = tf.memory().numTensors;
  const g = buildGenerator(networkSpec(parseExperiment(TINY, "tiny.yaml")), new Rng(1));
  disposeNetwork(g);
  assertEquals(tf.memory().numTensors, before);
});

Deno.test("train() keeps the tensor count flat across epochs and frees everything at the end", async () => {
  const before = tf.memory().numTensors;
  const counts: number[] = [];
  await train(parseExperiment(TINY, "tiny.yaml"), {
    onEvent: (e) => {
      if (e.type === "step") counts.push(tf.memory().numTensors);
    },
  });
  assertEquals(new Set(counts).size, 1, `tensors at each epoch's step: ${counts}`);
  assertEquals(tf.memory().numTensors, before);
});
