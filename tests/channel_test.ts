/**
 * The channel's ops: the per-backend checks of _channel_cases.ts on cpu,
 * native and wasm (webgpu's run in a child process: webgpu_test.ts), and
 * checks of gradients, seeds and the preview sheet on cpu.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/backend/init.ts";
import { experimentSchema } from "../lib/config/schema.ts";
import { applyChannel } from "../lib/channel/mod.ts";
import { renderChannelSheet } from "../lib/channel/preview.ts";
import { Rng } from "../lib/rng.ts";
import {
  channel,
  CHANNEL_CHECKS,
  image,
  maxAbsDiff,
  ONLY,
  read,
  sameSeedBatch,
} from "./_channel_cases.ts";

// webgpu is left to webgpu_test.ts: its software adapter's libraries can
// crash a `deno test` process at exit.
const BACKENDS = ["cpu", "native", "wasm"];
const available = new Set<string>();
for (const name of BACKENDS) {
  try {
    await initBackend(name);
    available.add(name);
  } catch { /* reported by the ignored tests */ }
}

for (const backend of BACKENDS) {
  for (const c of CHANNEL_CHECKS) {
    Deno.test({
      name: `${c.name} (${backend})`,
      ignore: !available.has(backend),
      fn: async () => {
        await initBackend(backend);
        await c.fn();
      },
    });
  }
}

Deno.test("applyChannel() gradient matches finite differences for each op (cpu)", async () => {
  await initBackend("cpu");
  const x = image([2, 12, 12, 1]);
  const v = tf.randomNormal([2, 12, 12, 1], 0, 1, "float32", 4);
  const dy = tf.randomNormal([2, 12, 12, 1], 0, 1, "float32", 5);
  const eps = 1e-3; // small enough that the hard sigmoid rarely crosses a kink
  for (const only of [undefined, ...ONLY]) {
    const f = (im: tf.Tensor) =>
      applyChannel(im as tf.Tensor4D, channel(), { level: 10, rng: new Rng(7), only });
    const g = await read(tf.grad(f)(x, dy));
    const up = await read(f(tf.add(x, tf.mul(v, eps))));
    const down = await read(f(tf.sub(x, tf.mul(v, eps))));
    const [dyv, vv] = [await dy.data(), await v.data()];
    let fd = 0, an = 0;
    for (let i = 0; i < up.length; i++) {
      fd += dyv[i] * (up[i] - down[i]) / (2 * eps);
      an += g[i] * vv[i];
    }
    assert.ok(Math.abs(fd - an) <= 0.02 * Math.abs(an) + 0.05, `${only}: fd ${fd} vs ${an}`);
  }
  tf.dispose([x, v, dy]);
});

Deno.test("applyChannel() gives the same batch on every backend, static noise aside (host loops vs tensor ops)", async () => {
  const results: Float32Array[][] = [];
  for (const backend of BACKENDS.filter((b) => available.has(b))) {
    await initBackend(backend);
    results.push(await sameSeedBatch());
  }
  for (let b = 1; b < results.length; b++) {
    for (let i = 0; i < 2; i++) {
      assert.ok(maxAbsDiff(results[0][i], results[b][i]) < 1e-4, `backend ${b}, output ${i}`);
    }
  }
});

Deno.test("applyChannel() reproduces a batch from the same seed (cpu)", async () => {
  await initBackend("cpu");
  const x = image([3, 16, 16, 3]);
  const a = await read(
    applyChannel(x, channel({ randomize: true }), { level: 12, rng: new Rng(11) }),
  );
  const b = await read(
    applyChannel(x, channel({ randomize: true }), { level: 12, rng: new Rng(11) }),
  );
  const c = await read(
    applyChannel(x, channel({ randomize: true }), { level: 12, rng: new Rng(12) }),
  );
  assert.equal(maxAbsDiff(a, b), 0);
  assert.ok(maxAbsDiff(a, c) > 0.1);
  x.dispose();
});

Deno.test("applyChannel() with per_sample false moves every sample alike (cpu)", async () => {
  await initBackend("cpu");
  const one = image([1, 16, 16, 1]);
  const x = tf.concat([one, one, one]) as tf.Tensor4D;
  const config = channel({
    per_sample: false,
    ops: ["resize", "translate", "rotate"],
    extras: false,
  });
  const y = await read(applyChannel(x, config, { level: 15, rng: new Rng(2) }));
  assert.ok(maxAbsDiff(y.subarray(0, 256), y.subarray(256, 512)) < 1e-6);
  assert.ok(maxAbsDiff(y.subarray(0, 256), y.subarray(512)) < 1e-6);
  const z = await read(
    applyChannel(x, { ...config, per_sample: true }, { level: 15, rng: new Rng(2) }),
  );
  assert.ok(maxAbsDiff(z.subarray(0, 256), z.subarray(256, 512)) > 0.01);
  tf.dispose([one, x]);
});

Deno.test("applyChannel() uses a user table (rotate in degrees)", async () => {
  await initBackend("cpu");
  const x = image([1, 8, 8, 1]);
  const config = channel({ tables: { rotate: Array(16).fill(0) }, ops: ["rotate"] });
  const y = await read(
    applyChannel(x, { ...config, extras: false }, { level: 9, rng: new Rng(1) }),
  );
  assert.equal(maxAbsDiff(y, await x.data()), 0);
  x.dispose();
});

Deno.test("applyChannel() rejects a level that is not a whole number ≥ 0", async () => {
  await initBackend("cpu");
  const x = image([1, 4, 4, 1]);
  assert.throws(() => applyChannel(x, channel(), { level: -1, rng: new Rng(1) }), /level must be/);
  assert.throws(() => applyChannel(x, channel(), { level: 1.5, rng: new Rng(1) }), /level must be/);
  x.dispose();
});

Deno.test("renderChannelSheet() lays out levels as labelled rows and samples as captioned columns (cpu)", async () => {
  await initBackend("cpu");
  const config = (max: number) =>
    experimentSchema.parse({
      image: { size: 16, color: "grayscale" },
      channel: { schedule: { max } },
    });
  const sheet = await renderChannelSheet(config(3), { samples: 3, seed: 1 });
  assert.deepEqual([...sheet.data.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
  const narrower = await renderChannelSheet(config(3), { samples: 2, seed: 1 });
  const narrowest = await renderChannelSheet(config(3), { samples: 1, seed: 1 });
  const taller = await renderChannelSheet(config(4), { samples: 3, seed: 1 });
  // Each column adds the same width (a cell at least as wide as the 48-pixel glyph);
  // one more level adds a row of 16-pixel glyphs shown at 48 pixels, and a gap.
  assert.equal(sheet.width - narrower.width, narrower.width - narrowest.width);
  assert.ok(sheet.width - narrower.width >= 48, `${sheet.width - narrower.width}`);
  assert.equal(taller.height - sheet.height, 48 + 4);
  // Row labels take room on the left: the sheet is wider than its glyphs.
  assert.ok(sheet.width > 3 * (48 + 8) + 200, `${sheet.width}`);
  const glyphs = tf.ones([5, 16, 16, 1]) as tf.Tensor4D;
  const given = await renderChannelSheet(config(3), { glyphs, samples: 2, labels: ["a", "b"] });
  // One-letter captions leave the cells at the glyph's width: narrower than "sample 1".
  assert.ok(given.width < narrower.width, `${given.width} < ${narrower.width}`);
  glyphs.dispose();
});
