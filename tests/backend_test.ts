import * as tf from "@tensorflow/tfjs-core";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { join } from "node:path";
import { BackendError, initBackend } from "../lib/backend/init.ts";
import { assertSameLosses, stepLosses } from "./_step_losses.ts";
import {
  findTensorflowPackage,
  startTensorflow,
  TENSORFLOW_INSTALL_HINT,
} from "../lib/backend/tensorflow.ts";
import { registerWasmKernels, WASM_KERNELS } from "../lib/backend/wasm_kernels.ts";
import { Rng } from "../lib/rng.ts";
import { forwardMacs } from "../bench/_measure.ts";

// initBackend("auto") is tested in webgpu_test.ts (child process): it asks for a WebGPU adapter.

function random(shape: number[], rng: Rng): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => rng.uniform(-1, 1)), shape);
}

/** Conv2DBackpropFilter of random x and dy on `backend`, as a flat array. */
async function filterGrad(
  backend: string,
  xShape: number[],
  filterShape: [number, number, number, number],
  strides: number,
  pad: "same" | "valid" | tf.backend_util.ExplicitPadding,
): Promise<Float32Array> {
  await initBackend(backend);
  const rng = new Rng(7);
  const x = random(xShape, rng);
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape,
    strides,
    1,
    pad,
  );
  const dy = random(info.outShape, rng);
  const before = tf.engine().backend.numDataIds();
  const dw = tf.engine().runKernel("Conv2DBackpropFilter", { x, dy }, {
    strides,
    pad,
    dataFormat: "NHWC",
    filterShape,
  }) as tf.Tensor;
  const values = await dw.data() as Float32Array;
  assert.deepEqual(dw.shape, filterShape);
  dw.dispose();
  assert.equal(tf.engine().backend.numDataIds(), before, "temporaries are freed");
  tf.dispose([x, dy]);
  return values;
}

Deno.test("registerWasmKernels() adds Conv2DBackpropFilter, matching cpu to 1e-4", async () => {
  await initBackend("wasm");
  assert.deepEqual(registerWasmKernels(), [], "initBackend('wasm') registered them already");
  for (const name of WASM_KERNELS) assert.ok(tf.getKernel(name, "wasm"), name);
  const cases: [
    number[],
    [number, number, number, number],
    number,
    Parameters<typeof filterGrad>[4],
  ][] = [
    [[2, 8, 8, 3], [3, 3, 3, 4], 1, "same"],
    [[2, 8, 8, 3], [3, 3, 3, 4], 2, "same"], // tf pads after only: a negative pad to slice
    [[3, 9, 7, 2], [3, 3, 2, 5], 2, "valid"],
    [[4, 6, 6, 5], [1, 1, 5, 6], 1, "same"],
    [[6, 16, 16, 1], [7, 1, 1, 1], 1, "same"], // the blur's separable taps
    [[2, 5, 5, 2], [3, 3, 2, 2], 1, [[0, 0], [2, 1], [0, 1], [0, 0]]],
  ];
  for (const [xShape, filterShape, strides, pad] of cases) {
    const want = await filterGrad("cpu", xShape, filterShape, strides, pad);
    const got = await filterGrad("wasm", xShape, filterShape, strides, pad);
    const scale = Math.max(...want.map(Math.abs));
    const diff = Math.max(...got.map((v, i) => Math.abs(v - want[i])));
    assert.ok(
      diff <= 1e-4 * scale,
      `x [${xShape}] filter [${filterShape}] s${strides} ${pad}: ${diff}`,
    );
  }
});

Deno.test("trainStep() runs on cpu, native and wasm with the same finite losses", async () => {
  // webgpu's: webgpu_test.ts, in a child process.
  const want = await stepLosses("cpu");
  for (const backend of ["native", "wasm"]) {
    let got: number[];
    try {
      got = await stepLosses(backend);
    } catch (e) {
      // Only native may be absent (no compiler or OpenBLAS).
      if (!(e instanceof BackendError) || backend === "wasm") throw e;
      console.warn(`skipping ${backend}: ${e.message}`);
      continue;
    }
    assertSameLosses(backend, got, want);
  }
});

Deno.test("startTensorflow() says what to install when tfjs-node is missing", async () => {
  const root = await Deno.makeTempDir();
  await assert.rejects(startTensorflow({ root }), (e: Error) => {
    assert.ok(e instanceof BackendError);
    assert.match(e.message, /^Cannot start tensorflow: neither @tensorflow\/tfjs-node-gpu/);
    assert.ok(e.message.includes(TENSORFLOW_INSTALL_HINT));
    assert.match(e.message, /deno install --allow-scripts=npm:@tensorflow\/tfjs-node-gpu/);
    assert.match(e.message, /--allow-ffi/);
    return true;
  });
  await Deno.remove(root, { recursive: true });
});

/** A stand-in package under `root`/node_modules whose main file is `code`. */
async function fakePackage(root: string, name: string, code: string): Promise<void> {
  const dir = join(root, "node_modules", name);
  await Deno.mkdir(dir, { recursive: true });
  await Deno.writeTextFile(join(dir, "package.json"), JSON.stringify({ name, main: "index.js" }));
  await Deno.writeTextFile(join(dir, "index.js"), code);
}

Deno.test("startTensorflow() loads the GPU package first and reports a failing one", async () => {
  const root = await Deno.makeTempDir();
  await fakePackage(root, "@tensorflow/tfjs-node", "module.exports = {};");
  await fakePackage(
    root,
    "@tensorflow/tfjs-node-gpu",
    "throw new Error('libtensorflow.so.2: cannot open shared object file');",
  );
  assert.equal(findTensorflowPackage({ root }), "@tensorflow/tfjs-node-gpu");
  await assert.rejects(
    startTensorflow({ root }),
    /loading @tensorflow\/tfjs-node-gpu failed \(libtensorflow\.so\.2: cannot open/,
  );
  // The CPU package, standing in for tfjs-node, with a backend registered as tfjs-node would.
  tf.registerBackend("tensorflow", () => new MathBackendCPU());
  const info = await startTensorflow({ root, packages: ["@tensorflow/tfjs-node"] });
  assert.equal(info.name, "tensorflow");
  assert.match(info.device, /tfjs-node \(CPU\)/);
  assert.equal(tf.getBackend(), "tensorflow");
  tf.removeBackend("tensorflow");
  await Deno.remove(root, { recursive: true });
});

Deno.test("forwardMacs() counts G and D of the tiny config", () => {
  // G: stem 26·128; 4 ups; head 16²·9·8·1. D: stem 16²·9·1·16; 4 downs; dense 128·27.
  const [g, d] = forwardMacs({ messageLength: 26, imageSize: 16, channels: 1, filters: 8 });
  const ups = [[1, 128], [2, 64], [4, 32], [8, 16]]
    .reduce((s, [px, f]) => s + px * px * 9 * f * (f / 2) + (2 * px) ** 2 * (f / 2) ** 2, 0);
  assert.equal(g, 26 * 128 + ups + 256 * 9 * 8);
  const downs = [[8, 16, 16], [4, 16, 32], [2, 32, 64], [1, 64, 128]]
    .reduce((s, [px, ci, co]) => s + px * px * 9 * ci * co + px * px * co * co, 0);
  assert.equal(d, 256 * 9 * 16 + downs + 128 * 27);
});
