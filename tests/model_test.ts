import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../lib/backend/init.ts";
import { buildDiscriminator, discriminate } from "../lib/model/discriminator.ts";
import { buildGenerator, generate } from "../lib/model/generator.ts";
import { countParams, disposeNetwork } from "../lib/model/network.ts";
import { Rng } from "../lib/rng.ts";
import { assert, assertEquals } from "./_assert.ts";

await initBackend("cpu");

Deno.test("buildGenerator() and buildDiscriminator() count parameters as tf.keras does", () => {
  // GlyphNet's default: one-hot 128, 64×64×3, 16 filters (numbers from Keras's count_params()).
  const spec = { messageLength: 128, imageSize: 64, channels: 3, filters: 16 };
  const g = buildGenerator(spec, new Rng(1));
  const d = buildDiscriminator(spec, new Rng(2));
  assertEquals(countParams(g), 6_786_079);
  assertEquals(countParams(d), 7_845_697);
  // Batch norm's running averages are the non-trainable part.
  assert(countParams(g, { trainableOnly: true }) < countParams(g));
  disposeNetwork(g);
  disposeNetwork(d);
});

Deno.test("generate() and discriminate() give the documented shapes and ranges", async () => {
  for (const [size, channels, v] of [[8, 1, 5], [16, 3, 26], [4, 3, 2]]) {
    const spec = { messageLength: v, imageSize: size, channels, filters: 2 };
    const g = buildGenerator(spec, new Rng(3));
    const d = buildDiscriminator(spec, new Rng(4));
    const images = generate(g, tf.eye(v) as tf.Tensor2D);
    assertEquals(images.shape, [v, size, size, channels]);
    const px = await images.data();
    assert(px.every((x) => x > 0 && x < 1), "sigmoid output lies in (0, 1)");
    const logits = discriminate(d, images);
    assertEquals(logits.shape, [v, v + 1]);
    tf.dispose([images, logits]);
    disposeNetwork(g);
    disposeNetwork(d);
  }
});

Deno.test("buildGenerator() refuses sizes that are not powers of two and odd channel counts", () => {
  const spec = { messageLength: 4, imageSize: 12, channels: 1, filters: 2 };
  let err: Error | undefined;
  try {
    buildGenerator(spec, new Rng(1));
  } catch (e) {
    err = e as Error;
  }
  assert(err instanceof RangeError && /power of two/.test(err.message));
  err = undefined;
  try {
    buildGenerator({ ...spec, imageSize: 8, channels: 2 }, new Rng(1));
  } catch (e) {
    err = e as Error;
  }
  assert(err instanceof RangeError && /1 or 3/.test(err.message));
});

Deno.test("buildGenerator() is seeded: the same seed gives the same weights", async () => {
  const spec = { messageLength: 3, imageSize: 4, channels: 1, filters: 2 };
  const a = buildGenerator(spec, new Rng(9));
  const b = buildGenerator(spec, new Rng(9));
  for (const [name, v] of a.variables) {
    assertEquals(await v.data(), await b.variables.get(name)!.data(), name);
  }
  disposeNetwork(a);
  disposeNetwork(b);
});
