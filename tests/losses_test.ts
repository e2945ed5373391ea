import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/backend/init.ts";
import { experimentSchema } from "../lib/config/schema.ts";
import { train, type TrainEvent } from "../lib/train/loop.ts";
import { PendingLosses } from "../lib/train/losses.ts";
import { assertEquals } from "./_assert.ts";

await initBackend("native");

Deno.test("PendingLosses.read() returns every step's losses in order with one read", async () => {
  const pending = new PendingLosses();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    pending.add(i + 1, { dReal: tf.scalar(i), dFake: tf.scalar(10 + i), g: tf.scalar(20 + i) });
  }
  assertEquals(pending.size, 3);
  const read = await pending.read();
  assertEquals(read.map((r) => r.step), [1, 2, 3]);
  assertEquals(read[2].losses, { d_real: 2, d_fake: 12, g: 22 });
  assertEquals(pending.size, 0);
  assertEquals(tf.memory().numTensors, before, "the losses are freed");
});

Deno.test("train() reports the same steps and metrics when reading losses every 4 steps", async () => {
  const config = experimentSchema.parse({
    seed: 5,
    message: { type: "one-hot", size: 4 },
    image: { size: 8, color: "grayscale" },
    model: { filters: 2 },
    training: { backend: "native", batch_size: 4, epochs: 2, steps_per_epoch: 6 },
    channel: { schedule: { kind: "accuracy", max: 3, check_every: 5, check_samples: 8 } },
    eval: { every: 0 },
    output: { grid: 2, frame_every: 0, checkpoint_every: 0 },
  });
  const run = async (readEvery: number) => {
    const seen: unknown[] = [];
    const onEvent = (e: TrainEvent) => {
      if (e.type === "step") seen.push([e.epoch, e.step, e.losses, e.level]);
      if (e.type === "level") seen.push(e);
      if (e.type === "epoch") seen.push({ ...e.metrics, seconds: 0, steps_per_second: 0 });
    };
    await train(config, { onEvent, readEvery });
    return seen;
  };
  assertEquals(await run(4), await run(1));
});
