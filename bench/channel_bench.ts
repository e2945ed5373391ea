/**
 * Cost of the channel: applyChannel forward + backward at level 8 for a
 * tiny [32,16,16,1] and a small [64,32,32,3] batch, per backend, with the
 * median of N runs after warm-up; also each op alone, and per-batch draws.
 *
 *   deno run -A bench/channel_bench.ts [--backends cpu,wasm] [--runs 10] [--level 8]
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "node:util";
import { initBackend } from "../lib/backend/init.ts";
import {
  type ChannelConfig,
  experimentSchema,
  OP_NAMES,
  type OpName,
} from "../lib/config/schema.ts";
import { applyChannel } from "../lib/channel/mod.ts";
import { Rng } from "../lib/rng.ts";

const SHAPES: [number, number, number, number][] = [[32, 16, 16, 1], [64, 32, 32, 3]];

/** Median milliseconds of `runs` passes after three warm-ups: forward+backward unless `forwardOnly`. */
async function time(
  shape: [number, number, number, number],
  level: number,
  config: ChannelConfig,
  runs: number,
  only?: OpName | "extras",
  forwardOnly = false,
): Promise<number> {
  const x = tf.randomUniform(shape) as tf.Tensor4D;
  const dy = tf.randomNormal(shape);
  const rng = new Rng(1);
  const f = (im: tf.Tensor) => applyChannel(im as tf.Tensor4D, config, { level, rng, only });
  const pass = forwardOnly ? (im: tf.Tensor, _dy: tf.Tensor) => f(im) : tf.grad(f);
  const times: number[] = [];
  for (let i = 0; i < runs + 3; i++) {
    const t0 = performance.now();
    const g = pass(x, dy);
    await g.data();
    g.dispose();
    if (i >= 3) times.push(performance.now() - t0);
  }
  tf.dispose([x, dy]);
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)];
}

async function main() {
  const { values } = parseArgs({
    options: {
      backends: { type: "string", default: "cpu,wasm" },
      runs: { type: "string", default: "10" },
      level: { type: "string", default: "8" },
    },
  });
  const runs = Number(values.runs), level = Number(values.level);
  const base = experimentSchema.parse({}).channel;
  const perBatch = { ...base, per_sample: false };
  console.log(`applyChannel at level ${level}, median of ${runs} (ms); fwd+bwd unless marked`);
  const ops = [...OP_NAMES, "extras"].join(" | ");
  console.log(`backend | shape | all, fwd only | all | all, per batch | ${ops}`);
  for (const backend of values.backends.split(",")) {
    await initBackend(backend);
    for (const shape of SHAPES) {
      const cells = [
        await time(shape, level, base, runs, undefined, true),
        await time(shape, level, base, runs),
        await time(shape, level, perBatch, runs),
      ];
      for (const op of [...OP_NAMES, "extras" as const]) {
        cells.push(await time(shape, level, base, runs, op));
      }
      console.log(`${backend} | [${shape}] | ${cells.map((t) => t.toFixed(1)).join(" | ")}`);
    }
  }
}

if (import.meta.main) await main();
