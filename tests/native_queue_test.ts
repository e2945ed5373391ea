/**
 * The native kernel queue (lib/backend/native/queue.ts): kernels queued on
 * the worker thread give the bits they give called in turn, and JavaScript
 * never reads a value before its kernel wrote it nor writes a buffer a
 * queued kernel still reads.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { assertSameBits } from "./_assert.ts";
import { initBackend } from "../lib/backend/init.ts";
import { takeBuffer } from "../lib/backend/native.ts";
import { nativeSync, setNativeThreads } from "../lib/backend/native/ffi.ts";
import { drainQueue, queueOn, setQueue } from "../lib/backend/native/queue.ts";
import { kernels } from "../lib/backend/native/c_args.ts";
import { experimentSchema } from "../lib/config/schema.ts";
import { createTrainState, disposeTrainState } from "../lib/train/state.ts";
import { trainStep } from "../lib/train/step.ts";

const info = await initBackend("native", { threads: 2 });
const lib = nativeSync();

Deno.test("native at 2 threads queues kernels; at 1 it calls them in turn", async () => {
  assert.equal(info.threads, 2);
  assert.ok(queueOn());
  await initBackend("native", { threads: 1 });
  assert.ok(!queueOn());
  await initBackend("native", { threads: 2 });
  assert.ok(queueOn());
});

/** Losses of `steps` training steps and every weight after them. */
async function train(steps: number): Promise<number[]> {
  const config = experimentSchema.parse({
    seed: 5,
    message: { size: 26 },
    image: { size: 16, color: "grayscale" },
    model: { filters: 4 },
    training: { batch_size: 8 },
    channel: { randomize: true },
  });
  const state = createTrainState(config, { level: 15 });
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    const l = trainStep(state);
    for (const t of [l.dReal, l.dFake, l.g]) out.push((await t.data())[0]);
    tf.dispose([l.dReal, l.dFake, l.g]);
  }
  for (const net of [state.g, state.d]) {
    for (const v of net.variables.values()) out.push(...(v.dataSync() as Float32Array));
  }
  disposeTrainState(state);
  return out;
}

Deno.test("training steps give the same bits queued or in turn, on one thread or all, at 1, 2 and 3 threads", async () => {
  // Every kernel cut into parts (no smallest work), so the parts' runners matter.
  lib.symbols.gn_set_min_work(0);
  try {
    for (const threads of [1, 2, 3]) {
      setNativeThreads(threads);
      setQueue(lib, false);
      const inTurn = await train(4);
      lib.symbols.gn_set_runners(1);
      const oneRunner = await train(4);
      lib.symbols.gn_set_runners(0);
      setQueue(lib, true);
      const queued = await train(4);
      assertSameBits(oneRunner, inTurn, `${threads} thread(s), parts on one thread`);
      assertSameBits(queued, inTurn, `${threads} thread(s), queued`);
    }
  } finally {
    lib.symbols.gn_set_runners(0);
    lib.symbols.gn_set_min_work(-1);
    setQueue(lib, true);
    setNativeThreads(info.threads);
  }
});

Deno.test("reading a tensor, and cpu's kernels, wait for the queued kernels that write it", () => {
  // 200 queued adds, each reading the last: the sum is exact in float32.
  let x = tf.zeros([100_000]);
  for (let i = 0; i < 200; i++) {
    const next = tf.add(x, tf.scalar(1));
    x.dispose();
    x = next;
  }
  // Floor is cpu's JavaScript kernel: it must see the last add's values.
  const floored = tf.floor(tf.mul(x, 0.5));
  assert.ok(x.dataSync().every((v) => v === 200));
  assert.ok(floored.dataSync().every((v) => v === 100));
  tf.dispose([x, floored]);
});

Deno.test("a buffer freed while a queued kernel reads it is not handed to JavaScript to write", () => {
  const n = 512;
  // A native kernel's output: its buffer goes back to the pool when freed.
  const a = tf.tidy(() => tf.add(tf.randomUniform([n, n], -1, 1, "float32", 1), 0));
  const b = tf.randomUniform([n, n], -1, 1, "float32", 2);
  const want = withQueue(false, () => tf.matMul(a, b).dataSync().slice());
  drainQueue();
  // Queue matmuls reading `a`, free it, then write every buffer JavaScript
  // gets: had one been `a`'s, the queued matmuls would read NaN.
  const products = [0, 1, 2, 3].map(() => tf.matMul(a, b));
  a.dispose();
  for (let i = 0; i < 4; i++) takeBuffer(n * n).fill(NaN);
  for (const [i, p] of products.entries()) assertSameBits(p.dataSync(), want, `product ${i}`);
  tf.dispose([b, ...products]);
});

/** Runs fn with the queue on or off, then puts it back on. */
function withQueue<T>(on: boolean, fn: () => T): T {
  setQueue(lib, on);
  try {
    return fn();
  } finally {
    setQueue(lib, true);
  }
}

Deno.test("a queued kernel that fails says which at the next wait, and the queue goes on", () => {
  // A 255×255 filter over 2^30 channels: its im2col scratch (~2^55 bytes)
  // is more than any address space, so the kernel returns -1 before it
  // touches the (tiny) buffers.
  const g = Int32Array.from([1, 8, 8, 2 ** 30, 255, 255, 8, 8, 8, 1, 1, 127, 127]);
  const [x, w, y] = [new Float32Array(64), new Float32Array(64), new Float32Array(64)];
  assert.equal(withQueue(false, () => lib.symbols.gn_conv2d(x, w, y, g)), -1);
  kernels().gn_conv2d(x, w, y, g);
  assert.throws(() => drainQueue(), /^RangeError: Cannot run native gn_conv2d: out of memory/);
  // Reported once; later kernels run.
  const sum = tf.add(tf.ones([4096]), tf.ones([4096]));
  assert.ok(sum.dataSync().every((v) => v === 2));
  sum.dispose();
});

Deno.test("an uncaught error with kernels queued is printed and exits 1, thrown in the module or a timer", async () => {
  const script = new URL("./_throw_mid_step.ts", import.meta.url).pathname;
  for (const where of ["module", "timer"]) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", script, where],
      stdout: "null",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    // Before the queue drained on errors, the isolate's teardown freed buffers
    // the worker still wrote: SIGSEGV or SIGFPE, and no message.
    assert.equal(out.signal, null, `${where}: killed by ${out.signal}\n${stderr}`);
    assert.equal(out.code, 1, `${where}: ${stderr}`);
    assert.match(stderr, /thrown with kernels queued/, where);
  }
});
