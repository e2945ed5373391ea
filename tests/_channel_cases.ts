/**
 * Channel checks that run on each backend, on whichever one is started:
 * channel_test.ts runs them on cpu, native and wasm; _webgpu_checks.ts on
 * webgpu, in a child process (see webgpu_test.ts). Images are 16×16 and
 * batches ≤ 4: Mesa's software WebGPU adapter is slow.
 *
 * "Range" per op: every op but `static` maps [0, 1] into [0, 1] (bilinear
 * and blur weights are non-negative and sum to at most 1, zero fill, the
 * extras clip); `static` adds unclipped Gaussian noise, so it may leave it.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import {
  type ChannelConfig,
  experimentSchema,
  OP_NAMES,
  type OpName,
} from "../lib/config/schema.ts";
import {
  applyChannel,
  DEFAULT_TABLES,
  gaussianBlur,
  resizeImages,
  rotateImages,
  translateImages,
} from "../lib/channel/mod.ts";
import { gaussianTaps } from "../lib/channel/blur.ts";
import { Rng } from "../lib/rng.ts";

/** A named check of the started backend. */
export interface Check {
  name: string;
  fn: () => Promise<void>;
}

/** Every op alone, and the extras. */
export const ONLY: (OpName | "extras")[] = [...OP_NAMES, "extras"];

/** The channel settings: defaults, then `over`. */
export function channel(over: Record<string, unknown> = {}): ChannelConfig {
  return experimentSchema.parse({ channel: over }).channel;
}

/** A random image batch in [0, 1), the same for a seed on every backend. */
export function image(shape: [number, number, number, number], seed = 1): tf.Tensor4D {
  return tf.randomUniform(shape, 0, 1, "float32", seed) as tf.Tensor4D;
}

/** Reads a tensor (webgpu cannot `dataSync` under Deno) and disposes it. */
export async function read(t: tf.Tensor): Promise<Float32Array> {
  const data = await t.data() as Float32Array;
  t.dispose();
  return data;
}

/** The largest absolute difference between two equal-length arrays. */
export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** The checks, in order; each leaves no tensors behind. */
export const CHANNEL_CHECKS: Check[] = [];
const check = (name: string, fn: () => Promise<void>) => CHANNEL_CHECKS.push({ name, fn });

check("applyChannel() keeps shape and range for each op at levels 1, 8, 15", async () => {
  const x = image([3, 16, 16, 3]);
  for (const only of ONLY) {
    for (const level of [1, 8, 15]) {
      const y = await read(applyChannel(x, channel(), { level, rng: new Rng(level), only }));
      assert.equal(y.length, x.size, `${only} at ${level}`);
      assert.ok(y.every(Number.isFinite), `${only} at ${level}: finite`);
      if (only === "static") continue;
      const [lo, hi] = [Math.min(...y), Math.max(...y)];
      assert.ok(lo >= -1e-6 && hi <= 1 + 1e-6, `${only} at ${level}: ${lo}..${hi}`);
    }
  }
  x.dispose();
});

check("applyChannel() is the identity at level 0, whole pipeline and each op", async () => {
  const x = image([2, 16, 16, 1]);
  const want = await x.data();
  for (const only of [undefined, ...ONLY]) {
    const y = await read(applyChannel(x, channel(), { level: 0, rng: new Rng(3), only }));
    assert.equal(maxAbsDiff(y, want), 0, String(only));
  }
  x.dispose();
});

check("applyChannel() static noise σ within 5 % of the table at level 8", async () => {
  const x = tf.fill([4, 32, 32, 1], 0.5) as tf.Tensor4D;
  const y = await read(applyChannel(x, channel(), { level: 8, rng: new Rng(5), only: "static" }));
  const mean = y.reduce((s, v) => s + v, 0) / y.length;
  const sd = Math.sqrt(y.reduce((s, v) => s + (v - mean) ** 2, 0) / y.length);
  const want = DEFAULT_TABLES.static[8];
  assert.ok(Math.abs(sd - want) / want < 0.05, `σ ${sd}, table ${want}`);
  assert.ok(Math.abs(mean - 0.5) < 0.01, `mean ${mean}`);
  x.dispose();
});

check("translateImages() moves a known image by the expected pixels", async () => {
  const x = image([2, 8, 8, 1]);
  const src = await x.data();
  const y = await read(translateImages(x, { dx: [2, -3], dy: [-1, 0] }));
  for (const [b, dx, dy] of [[0, 2, -1], [1, -3, 0]]) {
    for (let r = 0; r < 8; r++) {
      for (let c = 0; c < 8; c++) {
        const [sr, sc] = [r - dy, c - dx];
        const inside = sr >= 0 && sr < 8 && sc >= 0 && sc < 8;
        const want = inside ? src[b * 64 + sr * 8 + sc] : 0;
        assert.equal(y[b * 64 + r * 8 + c], want, `sample ${b} at ${r},${c}`);
      }
    }
  }
  x.dispose();
});

check("applyChannel() translate shifts by at most the table's pixels at level 15", async () => {
  const dot = tf.tensor4d(Array.from({ length: 256 }, (_, i) => (i === 8 * 16 + 8 ? 1 : 0)), [
    1,
    16,
    16,
    1,
  ]);
  const most = Math.round(DEFAULT_TABLES.translate[15] * 16);
  for (let seed = 0; seed < 4; seed++) {
    const y = await read(
      applyChannel(dot, channel(), { level: 15, rng: new Rng(seed), only: "translate" }),
    );
    const at = y.indexOf(1);
    assert.equal(y.reduce((s, v) => s + v, 0), 1, "the dot moves whole");
    const [dr, dc] = [Math.floor(at / 16) - 8, (at % 16) - 8];
    assert.ok(Math.abs(dr) <= most && Math.abs(dc) <= most, `moved ${dr},${dc}`);
  }
  dot.dispose();
});

check(
  "rotateImages() by 90° equals the transpose then flip, and 180° flips both axes",
  async () => {
    const x = image([1, 8, 8, 2]);
    const src = await x.data();
    const quarter = await read(rotateImages(x, [90]));
    const half = await read(rotateImages(x, [180]));
    for (let r = 0; r < 8; r++) {
      for (let c = 0; c < 8; c++) {
        for (let ch = 0; ch < 2; ch++) {
          const at = (r * 8 + c) * 2 + ch;
          assert.ok(Math.abs(quarter[at] - src[((7 - c) * 8 + r) * 2 + ch]) < 1e-5);
          assert.ok(Math.abs(half[at] - src[((7 - r) * 8 + 7 - c) * 2 + ch]) < 1e-5);
        }
      }
    }
    x.dispose();
  },
);

check("resizeImages() of a constant image stays constant inside the crop", async () => {
  const x = tf.fill([2, 16, 16, 1], 0.7) as tf.Tensor4D;
  const y = await read(resizeImages(x, { sx: [1.5, 0.5], sy: [1.3, 0.75] }));
  assert.ok(y.subarray(0, 256).every((v) => Math.abs(v - 0.7) < 1e-6), "enlarged: all crop");
  for (let r = 0; r < 16; r++) {
    for (let c = 0; c < 16; c++) {
      // Scale 0.5 in x, 0.75 in y about 7.5: the image now spans x 4..11, y 2..13.
      const v = y[256 + r * 16 + c];
      if (c >= 4 && c <= 11 && r >= 2 && r <= 13) assert.ok(Math.abs(v - 0.7) < 1e-6);
      if (c < 3 || c > 12 || r < 1 || r > 14) assert.equal(v, 0, `padding at ${r},${c}`);
    }
  }
  x.dispose();
});

check("gaussianBlur() spreads a dot into the table's 7×7 Gaussian", async () => {
  const sigma = DEFAULT_TABLES.blur[8];
  const dot = tf.tensor4d(Array.from({ length: 256 }, (_, i) => (i === 8 * 16 + 8 ? 1 : 0)), [
    1,
    16,
    16,
    1,
  ]);
  const y = await read(gaussianBlur(dot, sigma));
  const taps = gaussianTaps(sigma);
  for (let r = 0; r < 16; r++) {
    for (let c = 0; c < 16; c++) {
      const [dr, dc] = [r - 8 + 3, c - 8 + 3];
      const want = dr >= 0 && dr < 7 && dc >= 0 && dc < 7 ? taps[dr] * taps[dc] : 0;
      assert.ok(Math.abs(y[r * 16 + c] - want) < 1e-6, `at ${r},${c}`);
    }
  }
  dot.dispose();
});

check(
  "applyChannel() gives finite non-zero gradients through each op at levels 1, 8, 15",
  async () => {
    const x = image([2, 16, 16, 1]);
    const dy = tf.randomNormal([2, 16, 16, 1], 0, 1, "float32", 9);
    for (const only of [undefined, ...ONLY]) {
      for (const level of [1, 8, 15]) {
        const f = (im: tf.Tensor) =>
          applyChannel(im as tf.Tensor4D, channel(), { level, rng: new Rng(level), only });
        const g = await read(tf.grad(f)(x, dy));
        assert.ok(g.every(Number.isFinite), `${only} at ${level}: finite`);
        assert.ok(g.some((v) => v !== 0), `${only} at ${level}: non-zero`);
      }
    }
    tf.dispose([x, dy]);
  },
);

check("applyChannel() does not grow tf.memory().numTensors", async () => {
  const x = image([2, 16, 16, 3]);
  const dy = tf.ones([2, 16, 16, 3]);
  const before = tf.memory().numTensors;
  for (const level of [0, 5, 15]) {
    const config = channel({ randomize: level === 5 });
    await read(applyChannel(x, config, { level, rng: new Rng(1) }));
    const f = (im: tf.Tensor) =>
      applyChannel(im as tf.Tensor4D, config, { level, rng: new Rng(1) });
    await read(tf.grad(f)(x, dy));
  }
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, dy]);
});

/**
 * A level-15 batch through every op but static noise (native draws that from
 * its own stream, GlyphnetRandomNormal) and its gradient, on the started
 * backend: the same on every backend within 1e-4.
 */
export async function sameSeedBatch(): Promise<Float32Array[]> {
  const x = image([2, 16, 16, 3]);
  const config = channel({ randomize: true, ops: OP_NAMES.filter((op) => op !== "static") });
  const out = await read(applyChannel(x, config, { level: 15, rng: new Rng(21) }));
  const f = (im: tf.Tensor) =>
    applyChannel(im as tf.Tensor4D, config, { level: 15, rng: new Rng(21) });
  const dy = tf.onesLike(x);
  const grad = await read(tf.grad(f)(x, dy));
  tf.dispose([x, dy]);
  return [out, grad];
}
