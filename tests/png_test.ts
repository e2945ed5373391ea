import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
// @ts-types="@types/pngjs"
import { PNG } from "pngjs";
import { encodePng, gridImage } from "../lib/image/png.ts";

function decode(bytes: Uint8Array) {
  return PNG.sync.read(Buffer.from(bytes));
}

Deno.test("encodePng() writes grayscale pixels that decode back, clipped to [0, 1]", () => {
  const png = decode(encodePng(new Float32Array([0, 0.5, 1, 2, -1, NaN]), 3, 2, 1));
  assert.deepEqual([png.width, png.height, png.colorType], [3, 2, 0]);
  const gray = [...png.data].filter((_, i) => i % 4 === 0); // decoded as RGBA
  assert.deepEqual(gray, [0, 128, 255, 255, 0, 0]);
});

Deno.test("encodePng() writes RGB pixels that decode back", () => {
  const px = new Float32Array([1, 0, 0, 0, 1, 0, 0, 0, 1, 0.2, 0.4, 0.6]);
  const png = decode(encodePng(px, 2, 2, 3));
  assert.equal(png.colorType, 2);
  const rgb = [...png.data].filter((_, i) => i % 4 !== 3);
  assert.deepEqual(rgb, [...px].map((v) => Math.round(v * 255)));
});

Deno.test("encodePng() rejects pixels that do not fill the image", () => {
  assert.throws(() => encodePng(new Float32Array(5), 2, 2, 1), /do not fill 2×2×1/);
  assert.throws(() => encodePng(new Float32Array(8), 2, 2, 2 as 1), /channels must be 1 or 3/);
});

Deno.test("gridImage() tiles images in rows of cols with padding", () => {
  // Three 2×2 one-channel images filled with 0.1, 0.2, 0.3; two per row.
  const images = new Float32Array(12).map((_, i) => 0.1 * (Math.floor(i / 4) + 1));
  const g = gridImage(images, [3, 2, 2, 1], { cols: 2, pad: 1, background: 0.9 });
  assert.deepEqual([g.width, g.height, g.channels], [7, 7, 1]);
  const at = (x: number, y: number) => Number(g.pixels[y * g.width + x].toFixed(2));
  assert.equal(at(0, 0), 0.9);
  assert.equal(at(1, 1), 0.1);
  assert.equal(at(2, 2), 0.1);
  assert.equal(at(3, 1), 0.9);
  assert.equal(at(4, 1), 0.2);
  assert.equal(at(5, 2), 0.2);
  assert.equal(at(1, 4), 0.3);
  assert.equal(at(4, 4), 0.9, "the empty cell is background");
});

Deno.test("gridImage() keeps RGB channels in place", () => {
  const images = new Float32Array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]); // two 1×1 RGB images
  const g = gridImage(images, [2, 1, 1, 3], { cols: 2, pad: 0 });
  assert.deepEqual([g.width, g.height, g.channels], [2, 1, 3]);
  assert.deepEqual([...g.pixels].map((v) => Number(v.toFixed(2))), [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]);
});

Deno.test("gridImage() rejects a shape that does not match the data", () => {
  assert.throws(() => gridImage(new Float32Array(7), [2, 2, 2, 1], { cols: 1 }), /do not match/);
  assert.throws(() => gridImage(new Float32Array(8), [2, 2, 2, 1], { cols: 0 }), /cols must be/);
});
