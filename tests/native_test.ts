import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
import assert from "node:assert/strict";
import { startNative, takeBuffer } from "../lib/backend/native.ts";
import { nativeSync, setNativeThreads } from "../lib/backend/native/ffi.ts";
import { drainQueue } from "../lib/backend/native/queue.ts";
import {
  buildNative,
  compilerFlags,
  flagsForMacros,
  NativeBuildError,
} from "../lib/backend/native/build.ts";
import { broadcastGeometry, NATIVE_KERNELS } from "../lib/backend/native/kernels.ts";
import {
  ADAM,
  AFFINE_CORNERS,
  type AffineCornersAttrs,
  backendHasKernels,
  BLUR,
  BN_ACT_GRAD,
  CONV_BN_ACT,
  CONV_INPUT_GRAD_ADD,
  MOVING_AVERAGES,
  randomNormal,
} from "../lib/backend/fused_kernels.ts";
import { Adam } from "../lib/train/adam.ts";
import { applyExtras, drawExtras } from "../lib/channel/extras.ts";
import { gaussianBlur } from "../lib/channel/blur.ts";
import { type AffineMaps, centredMaps, corners, resampleAffine } from "../lib/channel/_resample.ts";
import {
  type BatchStats,
  type BlockOptions,
  type BlockParams,
  convBnAct,
  updateRunningStats,
} from "../lib/model/block.ts";
import { buildGenerator, generate } from "../lib/model/generator.ts";
import { buildDiscriminator, discriminate } from "../lib/model/discriminator.ts";
import { Rng } from "../lib/rng.ts";

const TOL = 1e-4;
const info = await startNative();

type Shaped = { values: Float32Array; shape: number[] };

function random(shape: number[], rng: Rng, scale = 1): Shaped {
  const values = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < values.length; i++) values[i] = rng.uniform(-scale, scale);
  return { values, shape };
}

/** Runs fn on `backend` with fresh tensors of `inputs`; returns the outputs' values. */
async function on(
  backend: string,
  inputs: Shaped[],
  fn: (...xs: tf.Tensor[]) => tf.Tensor[],
): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const out = tf.tidy(() => fn(...inputs.map((i) => tf.tensor(i.values, i.shape))));
  const values = out.map((t) => t.dataSync().slice() as Float32Array);
  tf.dispose(out);
  return values;
}

/** Values of f and the gradients of sum(f·r) w.r.t. every input. */
function valueAndGrads(f: (...xs: tf.Tensor[]) => tf.Tensor, r: Shaped) {
  return (...xs: tf.Tensor[]) => {
    const rt = tf.tensor(r.values, r.shape);
    const y = f(...xs);
    const grads = tf.grads((...ys: tf.Tensor[]) => tf.sum(tf.mul(f(...ys), rt)))(xs);
    return [y, ...grads];
  };
}

function maxAbs(a: Float32Array): number {
  let m = 0;
  for (const v of a) m = Math.max(m, Math.abs(v));
  return m;
}

function assertClose(got: Float32Array, want: Float32Array, what: string, scale = maxAbs(want)) {
  assert.equal(got.length, want.length, `${what}: length`);
  let diff = 0;
  for (let i = 0; i < got.length; i++) diff = Math.max(diff, Math.abs(got[i] - want[i]));
  const rel = diff / Math.max(scale, 1e-12);
  assert.ok(rel <= TOL, `${what}: relative error ${rel.toExponential(2)} > ${TOL}`);
}

async function compare(
  inputs: Shaped[],
  f: (...xs: tf.Tensor[]) => tf.Tensor,
  outShape: number[],
  what: string,
  rng: Rng,
) {
  const r = random(outShape, rng);
  const want = await on("cpu", inputs, valueAndGrads(f, r));
  for (const [n, got] of await onNative(inputs, valueAndGrads(f, r), what)) {
    got.forEach((g, i) =>
      assertClose(g, want[i], `${what} ${i === 0 ? "value" : `grad ${i - 1}`} at ${n} threads`)
    );
  }
}

/** Thread counts every native kernel is checked at; 3 splits the test shapes unevenly. */
const THREADS = [1, 2, 3];

/**
 * Runs `n` threads of native kernels, splitting even the tiny test shapes
 * over the team, then restores the defaults.
 */
async function withThreads<T>(n: number, fn: () => Promise<T>): Promise<T> {
  setNativeThreads(n);
  nativeSync().symbols.gn_set_min_work(0);
  try {
    return await fn();
  } finally {
    nativeSync().symbols.gn_set_min_work(-1);
    setNativeThreads(info.threads);
  }
}

/**
 * fn's outputs on native at each of THREADS, as [threads, outputs] pairs
 * for the caller to check every count against its reference.
 */
async function onNative(
  inputs: Shaped[],
  fn: (...xs: tf.Tensor[]) => tf.Tensor[],
  what: string,
): Promise<[number, Float32Array[]][]> {
  return await atEveryThreadCount(() => on("native", inputs, fn), what);
}

/** run's outputs at each of THREADS, each run twice: the same thread count must give the same bits. */
async function atEveryThreadCount<T = Float32Array>(
  run: () => Promise<T[]>,
  what: string,
): Promise<[number, T[]][]> {
  const all: [number, T[]][] = [];
  for (const n of THREADS) {
    const [got, again] = await withThreads(n, async () => [await run(), await run()]);
    again.forEach((g, i) => assert.deepEqual(g, got[i], `${what}: output ${i} at ${n} threads`));
    all.push([n, got]);
  }
  return all;
}

Deno.test("startNative() reports its BLAS and threads", () => {
  assert.equal(info.name, "native");
  assert.ok(info.threads >= 1);
  assert.match(info.device, /OpenBLAS|Accelerate/);
  for (const k of NATIVE_KERNELS) assert.ok(tf.getKernel(k, "native"), k);
});

/**
 * The device string native reports in a fresh process with `env` (OpenBLAS
 * reads it as it loads), under the run task's narrow permissions.
 */
async function deviceWith(env: Record<string, string>, clear: string[]): Promise<string> {
  const dir = await Deno.makeTempDir();
  const script = `${dir}/device.ts`;
  const native = new URL("../lib/backend/native.ts", import.meta.url).href;
  await Deno.writeTextFile(
    script,
    `import { startNative } from "${native}";\n` +
      `console.log((await startNative({ threads: { threads: 1, from: "test" } })).device);\n`,
  );
  const inherited = Object.entries(Deno.env.toObject()).filter(([k]) => !clear.includes(k));
  const flags = ["--allow-read", "--allow-write=build", "--allow-run=cc", "--allow-ffi=build"];
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--quiet", "--config", "deno.json", ...flags, "--allow-env", script],
    env: { ...Object.fromEntries(inherited), ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).output();
  await Deno.remove(dir, { recursive: true });
  const text = new TextDecoder();
  assert.ok(out.success, text.decode(out.stderr));
  return text.decode(out.stdout).trim();
}

Deno.test({
  name:
    "the device names the CPU and OpenBLAS's kernels, and says when OPENBLAS_CORETYPE chose them",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const pinned = await deviceWith({ OPENBLAS_CORETYPE: "Haswell" }, []);
    assert.match(pinned, /OpenBLAS [\d.]+, Haswell kernels from OPENBLAS_CORETYPE, 1 thread\)$/);
    // A name OpenBLAS does not know leaves the choice to it.
    const unknown = await deviceWith({ OPENBLAS_CORETYPE: "NoSuchCore" }, []);
    assert.match(unknown, /OpenBLAS [\d.]+, \w+ kernels, 1 thread\)$/);
    const own = await deviceWith({}, ["OPENBLAS_CORETYPE"]);
    assert.match(own, /OpenBLAS [\d.]+, \w+ kernels, 1 thread\)$/);
    // CPUID names the model though the task may not read /proc/cpuinfo.
    if (Deno.build.arch === "x86_64") assert.doesNotMatch(own, /^x86_64 CPU/);
  },
});

Deno.test("buildNative() says what to install when there is no C compiler", async () => {
  const path = Deno.env.get("PATH") ?? "";
  const empty = await Deno.makeTempDir();
  Deno.env.set("PATH", empty);
  try {
    await assert.rejects(
      () => buildNative({ force: true }),
      (e: Error) =>
        e instanceof NativeBuildError && /apt-get install libopenblas-dev gcc/.test(e.message),
    );
  } finally {
    Deno.env.set("PATH", path);
    await Deno.remove(empty);
  }
});

// The test task has no --allow-all, like every task: /proc/cpuinfo is closed to it.
Deno.test("the native library is built with AVX2/FMA and AVX-512 whenever this CPU has them", async () => {
  const args = ["-march=native", "-E", "-dM", "-x", "c", "/dev/null"];
  const out = await new Deno.Command("cc", { args, stdout: "piped", stderr: "null" }).output();
  const macros = new TextDecoder().decode(out.stdout);
  const has = (...m: string[]) => m.every((name) => macros.includes(`#define ${name} 1`));
  const avx2 = has("__AVX2__", "__FMA__");
  const avx512 = avx2 && has("__AVX512F__", "__AVX512VL__", "__AVX512BW__", "__AVX512DQ__");
  const flags = await compilerFlags();
  assert.equal(flags.includes("-mavx2") && flags.includes("-mfma"), avx2, flags.join(" "));
  assert.equal(
    flags.includes("-mavx512f") && flags.includes("-mavx512vl"),
    avx512,
    flags.join(" "),
  );
  // AVX-512 without AVX2 is never asked for, and a missing part of it drops all of it.
  assert.deepEqual(flagsForMacros("#define __AVX512F__ 1\n#define __AVX512VL__ 1\n"), []);
  const partial = "#define __AVX2__ 1\n#define __FMA__ 1\n#define __AVX512F__ 1\n";
  assert.deepEqual(flagsForMacros(partial), ["-mavx2", "-mfma"]);
});

Deno.test("native Conv2D, Conv2DBackpropInput and Conv2DBackpropFilter match cpu", async () => {
  const rng = new Rng(1);
  const cases: [number[], number[], 1 | 2, "same" | "valid"][] = [
    [[2, 5, 5, 3], [3, 3, 3, 4], 1, "same"],
    [[3, 7, 7, 2], [3, 3, 2, 5], 2, "same"],
    [[1, 8, 8, 2], [3, 3, 2, 3], 2, "same"],
    [[2, 4, 4, 3], [1, 1, 3, 2], 1, "same"],
    [[2, 6, 5, 2], [3, 3, 2, 2], 1, "valid"],
    [[2, 1, 1, 6], [1, 1, 6, 3], 1, "same"],
    [[3, 9, 8, 1], [7, 1, 1, 1], 1, "same"], // the channel's separable blur
    [[3, 9, 8, 1], [1, 7, 1, 1], 1, "same"],
    [[2, 5, 6, 1], [3, 3, 1, 1], 1, "valid"],
    [[1, 40, 40, 16], [3, 3, 16, 4], 1, "same"], // im2col in several row chunks
    [[3, 40, 40, 16], [3, 3, 16, 4], 2, "same"],
    // Thin layers (thin.c's direct loops): 1-4 inputs and 1-4 vectors of outputs...
    [[2, 7, 6, 3], [3, 3, 3, 24], 1, "same"],
    [[3, 5, 5, 1], [3, 3, 1, 16], 1, "valid"],
    [[2, 4, 5, 2], [3, 3, 2, 32], 1, "same"],
    [[2, 5, 4, 4], [1, 1, 4, 8], 1, "same"],
    // ...and 1-4 outputs of inputs in whole vectors.
    [[2, 6, 7, 24], [3, 3, 24, 3], 1, "same"],
    [[3, 6, 5, 8], [3, 3, 8, 1], 1, "same"],
    [[2, 5, 5, 16], [3, 3, 16, 2], 1, "valid"],
    [[2, 5, 5, 16], [3, 3, 16, 4], 1, "same"],
    // Rows wide enough for several blocks of inner pixels (every tap inside) and a rest.
    [[2, 6, 21, 1], [3, 3, 1, 16], 1, "same"],
    [[1, 5, 19, 2], [3, 3, 2, 32], 1, "valid"],
    [[2, 5, 23, 4], [3, 3, 4, 8], 1, "same"],
    [[1, 4, 22, 3], [3, 3, 3, 24], 1, "same"],
    [[2, 4, 19, 16], [3, 3, 16, 1], 1, "same"],
    [[1, 6, 13, 24], [3, 3, 24, 3], 1, "valid"],
    [[2, 5, 17, 32], [3, 3, 32, 4], 1, "same"],
    [[1, 5, 18, 8], [3, 3, 8, 2], 1, "same"],
    // Wide layers (wide.c, with AVX-512): outputs in 16-float vectors, 8-32 inputs; blocks of
    // 12 and 4 pixels and the edges between and after them.
    [[2, 9, 30, 8], [3, 3, 8, 16], 2, "same"],
    [[1, 6, 29, 16], [3, 3, 16, 32], 1, "same"],
    [[2, 5, 20, 32], [3, 3, 32, 16], 1, "valid"],
    [[2, 7, 13, 24], [1, 1, 24, 32], 1, "same"],
    [[1, 8, 8, 32], [3, 3, 32, 32], 2, "same"],
    // Their input gradient at stride 2 in pixel pairs (both parities from one dy load), with odd
    // widths and no padding: pairs up to the last dy pixel, then single pixels.
    [[2, 7, 13, 16], [3, 3, 16, 32], 2, "valid"],
    [[1, 5, 15, 32], [3, 3, 32, 16], 2, "valid"],
    // Its filter gradient runs from 32×32 outputs on: 12 and 4 of 16 inputs, 16 and 32 outputs.
    [[3, 32, 33, 16], [3, 3, 16, 16], 1, "same"],
    [[1, 64, 66, 8], [3, 3, 8, 32], 2, "same"],
    // Outputs too few to reach every tap (D's 2×2 → 1×1): the filter is cut to the taps reached,
    // on both axes, on one, to the centre tap alone, and through wide.c on the cut filter.
    [[3, 2, 2, 24], [3, 3, 24, 40], 2, "same"],
    [[2, 2, 6, 8], [3, 3, 8, 12], 2, "same"],
    [[2, 1, 1, 8], [3, 3, 8, 4], 1, "same"],
    [[2, 2, 2, 32], [3, 3, 32, 16], 2, "same"],
    // Edge outputs reaching fewer taps (D's 2×2 and 4×4 outputs): regions.c, 4 and 9 regions.
    [[3, 4, 4, 8], [3, 3, 8, 40], 2, "same"],
    [[2, 8, 8, 6], [3, 3, 6, 20], 2, "same"],
    [[2, 3, 3, 6], [3, 3, 6, 20], 1, "same"],
    [[2, 3, 5, 6], [3, 3, 6, 20], 1, "same"],
  ];
  for (const [xs, ws, stride, pad] of cases) {
    const [b, h, w] = xs;
    const oh = pad === "same" ? Math.ceil(h / stride) : Math.ceil((h - ws[0] + 1) / stride);
    const ow = pad === "same" ? Math.ceil(w / stride) : Math.ceil((w - ws[1] + 1) / stride);
    await compare(
      [random(xs, rng), random(ws, rng)],
      (x, k) => tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, stride, pad),
      [b, oh, ow, ws[3]],
      `conv2d x[${xs}] k[${ws}] s${stride} ${pad}`,
      rng,
    );
  }
  // Padding 3 at stride 3 on a 1×1 input: three of the four outputs reach no tap.
  await compare(
    [random([2, 1, 1, 6], rng), random([3, 3, 6, 20], rng)],
    (x, k) => tf.conv2d(x as tf.Tensor4D, k as tf.Tensor4D, 3, 3),
    [2, 2, 2, 20],
    "conv2d x[2,1,1,6] k[3,3,6,20] s3 pad 3",
    rng,
  );
  // Transposed: forward is Conv2DBackpropInput, its filter gradient is BackpropFilter.
  // The last two through wide.c's input gradient (with AVX-512): 16 and 32 outputs in vectors.
  const transposed = [
    [[2, 3, 3, 5], 3],
    [[1, 1, 1, 4], 2], // 1×1 → 2×2 reaches 2×2 of the taps
    [[3, 1, 2, 24], 40],
    [[2, 2, 2, 40], 8], // 2×2 → 4×4 through regions.c
    [[1, 4, 4, 20], 6],
    [[2, 4, 4, 2], 3],
    [[2, 7, 6, 32], 16],
    [[1, 3, 15, 16], 32],
  ] as const;
  for (const [xs, out] of transposed) {
    const [b, h, w] = xs;
    await compare(
      [random([...xs], rng), random([3, 3, out, xs[3]], rng)],
      (x, k) =>
        tf.conv2dTranspose(x as tf.Tensor4D, k as tf.Tensor4D, [b, 2 * h, 2 * w, out], 2, "same"),
      [b, 2 * h, 2 * w, out],
      `conv2dTranspose x[${xs}] → ${out}`,
      rng,
    );
  }
});

Deno.test("native conv passes write every value of their outputs (pooled buffers are not zeroed)", async () => {
  const { symbols } = nativeSync();
  const rng = new Rng(3);
  const fill = (n: number) => Float32Array.from({ length: n }, () => rng.normal());
  // B, H, W, C, KH, KW, CO, OH, OW, SH, SW, PT, PL
  const geometries = [
    [3, 2, 2, 24, 3, 3, 40, 1, 1, 2, 2, 0, 0], // filter cut to the 2×2 taps reached
    [2, 1, 1, 8, 3, 3, 4, 1, 1, 1, 1, 1, 1], // cut to the centre tap
    [2, 2, 2, 32, 3, 3, 16, 1, 1, 2, 2, 0, 0], // cut, then wide.c
    [2, 8, 8, 16, 3, 3, 24, 4, 4, 2, 2, 0, 0], // im2col + sgemm
    [1, 8, 8, 3, 3, 3, 32, 8, 8, 1, 1, 1, 1], // thin.c
    [3, 4, 4, 8, 3, 3, 40, 2, 2, 2, 2, 0, 0], // regions.c, 4 regions
    [2, 3, 3, 6, 3, 3, 20, 3, 3, 1, 1, 1, 1], // regions.c, 9 regions
    [2, 1, 1, 6, 3, 3, 20, 2, 2, 3, 3, 3, 3], // regions.c, 3 of 4 reaching no tap
  ];
  for (const g of geometries) {
    const [b, h, w, c, kh, kw, co, oh, ow] = g;
    const geo = Int32Array.from(g);
    const x = fill(b * h * w * c), k = fill(kh * kw * c * co), dy = fill(b * oh * ow * co);
    for (const n of THREADS) {
      await withThreads(n, () => {
        const y = new Float32Array(dy.length).fill(NaN);
        const dx = new Float32Array(x.length).fill(NaN);
        const dk = new Float32Array(k.length).fill(NaN);
        assert.equal(symbols.gn_conv2d(x, k, y, geo), 0);
        assert.equal(symbols.gn_conv2d_bwd_input(dy, k, dx, geo), 0);
        assert.equal(symbols.gn_conv2d_bwd_filter(x, dy, dk, geo), 0);
        for (const [name, out] of [["y", y], ["dx", dx], ["dw", dk]] as const) {
          const at = `geometry [${g}] at ${n} threads`;
          assert.equal(out.findIndex(Number.isNaN), -1, `${at}: ${name} left unwritten`);
        }
        return Promise.resolve();
      });
    }
  }
});

Deno.test("native BatchMatMul matches cpu", async () => {
  const rng = new Rng(2);
  await compare(
    [random([5, 7], rng), random([7, 3], rng)],
    (a, b) => tf.matMul(a, b),
    [5, 3],
    "2d",
    rng,
  );
  await compare(
    [random([7, 5], rng), random([3, 7], rng)],
    (a, b) => tf.matMul(a, b, true, true),
    [5, 3],
    "2d transposed",
    rng,
  );
  await compare(
    [random([2, 4, 6], rng), random([2, 6, 3], rng)],
    (a, b) => tf.matMul(a, b),
    [2, 4, 3],
    "batched",
    rng,
  );
});

Deno.test("native Add, Sub, Multiply and RealDiv match cpu with every kind of broadcast", async () => {
  const rng = new Rng(10);
  const shapes: [number[], number[]][] = [
    [[2, 3, 4], [2, 3, 4]],
    [[2, 3, 4], [4]],
    [[4], [2, 3, 4]],
    [
      [2, 3, 4],
      [],
    ],
    [[], [3, 4]],
    [[2, 3], [2, 1]],
    [[5, 4, 3, 3], [5, 1, 1, 1]], // a per-sample factor on images
    [[5, 1, 1, 1], [5, 4, 3, 3]],
    [[2, 3, 4, 5], [1, 3, 1, 5]],
    [[2, 1, 4], [1, 3, 1]],
    [[3, 1, 2], [3, 4, 2]],
    [[1, 1], [1]],
  ];
  for (const [sa, sb] of shapes) {
    const div = (a: tf.Tensor, b: tf.Tensor) => tf.div(a, tf.add(tf.abs(b), 0.5));
    const ops = [["add", tf.add], ["sub", tf.sub], ["mul", tf.mul], ["div", div]] as const;
    for (const [name, f] of ops) {
      const outShape = tf.backend_util.assertAndGetBroadcastShape(sa, sb);
      await compare(
        [random(sa, rng), random(sb, rng)],
        (a, b) => f(a, b),
        outShape,
        `${name} [${sa}] [${sb}]`,
        rng,
      );
    }
  }
});

Deno.test("broadcast geometry drops size-1 axes and merges axes walked alike", () => {
  const g = (
    a: number[],
    b: number[],
  ) => [...broadcastGeometry(a, b, tf.backend_util.assertAndGetBroadcastShape(a, b))];
  // [rank, shape…, a strides…, b strides…]
  assert.deepEqual(g([5, 4, 3, 3], [5, 1, 1, 1]), [2, 5, 36, 36, 1, 1, 0]);
  assert.deepEqual(g([2, 3, 4, 5], [1, 3, 1, 5]), [4, 2, 3, 4, 5, 60, 20, 5, 1, 0, 5, 0, 1]);
  assert.deepEqual(g([2, 3], [3]), [2, 2, 3, 3, 1, 0, 1]);
  assert.deepEqual(g([1, 1], [1]), [1, 1, 0, 0]);
});

Deno.test("native Sigmoid matches cpu's, value and gradient", async () => {
  const rng = new Rng(13);
  for (const shape of [[7], [3, 5, 4, 2]]) {
    const x = random(shape, rng, 20);
    await compare([x], (t) => tf.sigmoid(t), shape, `sigmoid [${shape}]`, rng);
    const want = await on("cpu", [x], (t) => [tf.sigmoid(t)]);
    for (const [n, got] of await onNative([x], (t) => [tf.sigmoid(t)], `sigmoid [${shape}]`)) {
      assert.deepEqual(got[0], want[0], `the same bits as cpu's float64 formula at ${n} threads`);
    }
  }
});

Deno.test("native backend reuses output buffers only when nothing else can see them", async () => {
  await tf.setBackend("native");
  const a = tf.randomNormal([64, 64]);
  const b = tf.randomNormal([64, 64]);
  // Read out: cpu hands out its live array, so this buffer must not be reused.
  const sum = tf.add(a, b);
  const read = sum.dataSync();
  const copy = read.slice();
  sum.dispose();
  // A view: cpu's Slice of a contiguous range shares the parent's buffer.
  const parent = tf.mul(a, b);
  const view = tf.slice(parent, [0, 0], [32, 64]);
  parent.dispose();
  const viewCopy = view.dataSync().slice();
  // Churn: same-sized outputs that would take recycled buffers.
  for (let i = 0; i < 4; i++) tf.tidy(() => tf.sub(tf.add(a, b), tf.mul(b, b)));
  assert.deepEqual(read, copy);
  assert.deepEqual(view.dataSync(), viewCopy);
  // A buffer handed out by takeBuffer() comes back when its tensor is
  // disposed (once no queued kernel may still read it: native_queue_test.ts).
  drainQueue();
  const mine = takeBuffer(4096, { zero: true });
  assert.ok(mine.every((v) => v === 0));
  tf.tensor(mine, [4096]).dispose();
  assert.equal(takeBuffer(4096), mine);
  // And recycling does happen for plain intermediates.
  const backend = tf.backend() as unknown as { pooledBytes(): number };
  tf.tidy(() => tf.add(tf.mul(a, b), a));
  assert.ok(backend.pooledBytes() > 0);
  tf.dispose([a, b, view]);
});

Deno.test("native Exp, Neg, Log, Sum and Max match cpu, over any axes", async () => {
  const rng = new Rng(14);
  const x = random([3, 4, 5], rng);
  const log = (t: tf.Tensor) => tf.log(tf.add(tf.abs(t), 0.1));
  for (const [name, f] of [["exp", tf.exp], ["neg", tf.neg], ["log", log]] as const) {
    await compare([x], (t) => f(t), [3, 4, 5], name, rng);
  }
  const axes: [number | number[] | null, boolean][] = [
    [null, false],
    [0, false],
    [1, true],
    [2, false],
    [[0, 2], false],
    [[2, 0], true],
    [-1, false],
  ];
  for (const [axis, keepDims] of axes) {
    const shape = tf.tidy(() => tf.sum(tf.zeros([3, 4, 5]), axis ?? undefined, keepDims).shape);
    for (const [name, f] of [["sum", tf.sum], ["max", tf.max]] as const) {
      await compare(
        [x],
        (t) => f(t, axis ?? undefined, keepDims),
        shape,
        `${name} over ${JSON.stringify(axis)}${keepDims ? " keeping dims" : ""}`,
        rng,
      );
    }
  }
  // Max lets NaN through, as cpu's kernel does.
  const withNaN = await on(
    "native",
    [{ shape: [2, 3], values: Float32Array.from([1, NaN, 3, 4, 5, 6]) }],
    (t) => [tf.max(t, 1)],
  );
  assert.ok(Number.isNaN(withNaN[0][0]) && withNaN[0][1] === 6, `max with NaN: ${withNaN[0]}`);
});

Deno.test("native Transpose matches cpu", async () => {
  const rng = new Rng(13);
  const cases: [number[], number[]][] = [
    [[2, 3, 4, 5], [0, 3, 1, 2]],
    [[4, 5, 3, 2], [2, 0, 1, 3]],
    [[3, 4], [1, 0]],
    [[6], [0]],
    // The blur's planes and back: H and W merge into one axis.
    [[2, 3, 4, 5], [0, 2, 3, 1]],
    [[2, 4, 5, 3], [0, 3, 1, 2]],
    [[2, 3, 4], [0, 1, 2]],
    [[2, 3, 4, 5, 6], [0, 3, 4, 1, 2]],
    [[3, 1, 4], [2, 0, 1]],
    [[7, 2], [1, 0]],
  ];
  for (const [shape, perm] of cases) {
    const outShape = perm.map((p) => shape[p]);
    await compare(
      [random(shape, rng)],
      (x) => tf.transpose(x, perm),
      outShape,
      `transpose [${shape}] by [${perm}]`,
      rng,
    );
  }
});

function blockInputs(x: number[], kernel: number[], rng: Rng, out = kernel[3]): Shaped[] {
  return [
    random(x, rng),
    random(kernel, rng, 0.5),
    random([out], rng),
    random([out], rng, 2),
    random([out], rng),
  ];
}

/** convBnAct on raw tensors: the fused kernel on native, tfjs ops on cpu. */
function block(o: BlockOptions) {
  return (x: tf.Tensor, kernel: tf.Tensor, bias: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor) => {
    const p = { name: "t", kernel, bias, gamma, beta } as unknown as BlockParams;
    return convBnAct(x as tf.Tensor4D, p, o);
  };
}

Deno.test("backendHasKernels() finds the fused kernels on native only", async () => {
  await tf.setBackend("native");
  assert.ok(backendHasKernels(CONV_BN_ACT, BN_ACT_GRAD, ADAM));
  await tf.setBackend("cpu");
  assert.ok(!backendHasKernels(CONV_BN_ACT));
  assert.ok(!backendHasKernels(ADAM));
});

Deno.test("convBnAct() as a native kernel matches its tfjs ops for every shape G and D use", async () => {
  const rng = new Rng(3);
  const cases: [number[], number, BlockOptions][] = [
    [[3, 1, 1, 26], 8, { size: 1, stride: 1, activation: "swish" }], // G stem: 1×1 on 1×1
    [[2, 1, 1, 8], 4, { size: 3, stride: 2, transpose: true, activation: "swish" }],
    [[3, 3, 3, 5], 3, { size: 3, stride: 2, transpose: true, activation: "swish" }],
    [[2, 4, 4, 3], 3, { size: 1, stride: 1, activation: "swish" }],
    [[2, 6, 6, 3], 1, { size: 3, stride: 1, activation: "sigmoid" }], // G head
    [[1, 5, 5, 1], 4, { size: 3, stride: 1, activation: "swish" }], // batch 1, D stem
    [[3, 7, 7, 3], 5, { size: 3, stride: 2, activation: "swish" }],
    [[2, 8, 8, 2], 3, { size: 3, stride: 2, activation: "swish" }],
    [[4, 2, 2, 4], 4, { size: 3, stride: 2, activation: "swish" }], // D's last: 2×2 → 1×1
    [[1, 40, 40, 16], 4, { size: 3, stride: 1, activation: "swish" }], // several im2col chunks
    [[4, 32, 32, 8], 4, { size: 3, stride: 2, transpose: true, activation: "swish" }],
    // Residual 1×1 blocks (GlyphnetConvBnActAdd): G's and D's, one large.
    [[2, 4, 4, 3], 3, { size: 1, stride: 1, activation: "swish", residual: true }],
    [[3, 5, 5, 2], 2, { size: 1, stride: 1, activation: "sigmoid", residual: true }],
    [[2, 24, 24, 16], 16, { size: 1, stride: 1, activation: "swish", residual: true }],
  ];
  for (const [xs, out, o] of cases) {
    const [b, h, w, c] = xs;
    const kernel = o.transpose ? [o.size, o.size, out, c] : [o.size, o.size, c, out];
    const s = o.transpose ? 2 * h : Math.ceil(h / o.stride);
    const sw = o.transpose ? 2 * w : Math.ceil(w / o.stride);
    const inputs = blockInputs(xs, kernel, rng, out);
    const r = random([b, s, sw, out], rng);
    const what = `block x[${xs}] → ${out} ${JSON.stringify(o)}`;
    const want = await on("cpu", inputs, valueAndGrads(block(o), r));
    const names = ["value", "dx", "dkernel", "dbias", "dgamma", "dbeta"];
    for (const [n, got] of await onNative(inputs, valueAndGrads(block(o), r), what)) {
      got.forEach((g, i) => {
        // The bias gradient is zero up to rounding under batch norm: scale by dbeta's.
        const scale = names[i] === "dbias" ? maxAbs(want[5]) : maxAbs(want[i]);
        assertClose(g, want[i], `${what} ${names[i]} at ${n} threads`, scale);
      });
    }
  }
});

Deno.test("native GlyphnetConvInputGradAdd is Conv2DBackpropInput plus add: 1×1 in chunks, few rows, 3×3", async () => {
  const rng = new Rng(21);
  const cases: [number[], number[], 1 | 2][] = [
    [[2, 5, 5, 3], [1, 1, 3, 3], 1],
    [[2, 96, 96, 8], [1, 1, 8, 8], 1], // two chunks of rows per image
    [[2, 1, 1, 64], [1, 1, 64, 64], 1], // few rows: the sum after the input gradient
    [[2, 7, 7, 3], [3, 3, 3, 4], 2], // not 1×1: the sum after
  ];
  for (const [xs, fs, stride] of cases) {
    const info = tf.backend_util.computeConv2DInfo(
      xs as [number, number, number, number],
      fs as [number, number, number, number],
      stride,
      1,
      "same",
    );
    const inputs = [random(info.outShape, rng), random(fs, rng), random(xs, rng)];
    const attrs = {
      strides: stride,
      pad: "same",
      dataFormat: "NHWC",
      inputShape: xs,
      dilations: 1,
    };
    const run = (name: string, t: tf.NamedTensorMap) =>
      tf.engine().runKernel(name, t, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
    const what = `dx of x[${xs}] filter[${fs}] stride ${stride} plus add`;
    const want = await on("cpu", inputs, (dy, filter, add) => [
      tf.add(run("Conv2DBackpropInput", { dy, filter }), add),
    ]);
    const fused = (dy: tf.Tensor, filter: tf.Tensor, add: tf.Tensor) => [
      run(CONV_INPUT_GRAD_ADD, { dy, filter, add }),
    ];
    for (const [n, got] of await onNative(inputs, fused, what)) {
      assertClose(got[0], want[0], `${what} at ${n} threads`);
    }
  }
});

Deno.test("convBnAct() on native runs only the conv gradients asked for, with the full gradient's bits", async () => {
  const rng = new Rng(9);
  const options: BlockOptions[] = [
    { size: 3, stride: 2, activation: "swish" },
    { size: 3, stride: 2, transpose: true, activation: "sigmoid" },
    { size: 1, stride: 1, activation: "swish", residual: true },
  ];
  await tf.setBackend("native");
  for (const o of options) {
    const out = o.residual ? 3 : 5;
    const kernel = o.transpose ? [3, 3, 5, 3] : [o.size, o.size, 3, out];
    const inputs = blockInputs([2, 4, 4, 3], kernel, rng, out);
    const r = random(o.transpose ? [2, 8, 8, 5] : o.residual ? [2, 4, 4, 3] : [2, 2, 2, 5], rng);
    const ts = inputs.map((i) => tf.tensor(i.values, i.shape));
    const rt = tf.tensor(r.values, r.shape);
    const f = block(o);
    const loss = (...ys: tf.Tensor[]) =>
      tf.sum(tf.mul(f(...(ys as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor])), rt));
    const all = tf.grads(loss)(ts);
    const onlyX = () => tf.grad((x: tf.Tensor) => loss(x, ...ts.slice(1)))(ts[0]);
    const onlyParams = () => tf.grads((...p: tf.Tensor[]) => loss(ts[0], ...p))(ts.slice(1));
    // tf.profile returns the same object each time: copy its names out.
    const xKernels = [...(await tf.profile(() => onlyX())).kernelNames];
    const paramKernels = [...(await tf.profile(() => onlyParams())).kernelNames];
    const what = JSON.stringify(o);
    assert.ok(xKernels.includes("GlyphnetBnActGrad"), `${what}: the split gradient did not run`);
    if (o.residual) {
      assert.ok(xKernels.includes("GlyphnetConvInputGradAdd"), `${what}: dx ran ${xKernels}`);
      assert.ok(!xKernels.includes("Add"), `${what}: dx summed its two paths with an Add`);
      const forward = [...(await tf.profile(() => loss(...ts))).kernelNames];
      assert.ok(forward.includes("GlyphnetConvBnActAdd"), `${what}: ran ${forward}`);
      assert.ok(!forward.includes("Add"), `${what}: the sum ran as its own kernel`);
    }
    assert.ok(!xKernels.includes("Conv2DBackpropFilter"), `${what}: dx ran the filter pass`);
    const inputPass = o.transpose ? "Conv2D" : "Conv2DBackpropInput";
    assert.ok(!paramKernels.includes(inputPass), `${what}: params ran ${inputPass}`);
    assert.deepEqual(onlyX().dataSync(), all[0].dataSync(), `${what}: dx`);
    onlyParams().forEach((g, i) =>
      assert.deepEqual(g.dataSync(), all[i + 1].dataSync(), `${what}: param ${i}`)
    );
    tf.dispose([...ts, rt, ...all]);
  }
});

Deno.test("convBnAct() pushes the same batch mean and variance on native and cpu", async () => {
  const rng = new Rng(4);
  const o: BlockOptions = { size: 3, stride: 2, activation: "swish" };
  const inputs = blockInputs([2, 6, 6, 3], [3, 3, 3, 4], rng);
  const statsOf = (...xs: tf.Tensor[]) => {
    const stats: BatchStats[] = [];
    const p = {
      name: "t",
      kernel: xs[1],
      bias: xs[2],
      gamma: xs[3],
      beta: xs[4],
    } as unknown as BlockParams;
    convBnAct(xs[0] as tf.Tensor4D, p, o, stats);
    return [stats[0].mean, stats[0].variance];
  };
  const want = await on("cpu", inputs, statsOf);
  for (const [n, got] of await onNative(inputs, statsOf, "stats")) {
    assertClose(got[0], want[0], `mean at ${n} threads`);
    assertClose(got[1], want[1], `variance at ${n} threads`);
  }
});

Deno.test("convBnAct() on native keeps tf.memory().numTensors flat over repeated calls", async () => {
  await tf.setBackend("native");
  const rng = new Rng(5);
  const ts = blockInputs([2, 4, 4, 3], [3, 3, 3, 2], rng).map((s) => tf.tensor(s.values, s.shape));
  const rs = blockInputs([2, 4, 4, 3], [1, 1, 3, 3], rng, 3).map((s) =>
    tf.tensor(s.values, s.shape)
  );
  const o: BlockOptions = { size: 3, stride: 1, activation: "swish" };
  const residual: BlockOptions = { size: 1, stride: 1, activation: "swish", residual: true };
  const stepOnce = () => {
    const stats: BatchStats[] = [];
    tf.tidy(() => {
      tf.grads((...xs: tf.Tensor[]) =>
        tf.sum((block(o) as (...a: tf.Tensor[]) => tf.Tensor)(...xs))
      )(ts);
      const p = {
        name: "t",
        kernel: ts[1],
        bias: ts[2],
        gamma: ts[3],
        beta: ts[4],
      } as unknown as BlockParams;
      convBnAct(ts[0] as tf.Tensor4D, p, o, stats);
      convBnAct(ts[0] as tf.Tensor4D, p, o);
      tf.grads((...xs: tf.Tensor[]) =>
        tf.sum((block(residual) as (...a: tf.Tensor[]) => tf.Tensor)(...xs))
      )(rs);
    });
    for (const s of stats) tf.dispose([s.mean, s.variance]);
  };
  stepOnce();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) stepOnce();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([...ts, ...rs]);
});

Deno.test("native G and D forward and gradients match cpu", async () => {
  const spec = { messageLength: 5, imageSize: 8, channels: 3, filters: 2 };
  const rng = new Rng(6);
  const messages = random([3, 5], rng);
  const r = random([3, 6], rng);
  let names: string[] = [];
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    const g = buildGenerator(spec, new Rng(7));
    const d = buildDiscriminator(spec, new Rng(8));
    const named = [...g.variables, ...d.variables].filter(([, v]) => v.trainable);
    names = named.map(([n]) => n);
    const vars = named.map(([, v]) => v);
    const out = tf.tidy(() => {
      const m = tf.tensor2d(messages.values, [3, 5]);
      const rt = tf.tensor2d(r.values, [3, 6]);
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.mul(discriminate(d, generate(g, m)), rt)) as tf.Scalar,
        vars,
      );
      return [value, ...vars.map((v) => grads[v.name])];
    });
    const values = out.map((t) => t.dataSync().slice() as Float32Array);
    tf.dispose([...out, ...vars]);
    return values;
  };
  const want = await run("cpu");
  for (const [n, got] of await atEveryThreadCount(() => run("native"), "G+D")) {
    assertClose(got[0], want[0], `G+D loss at ${n} threads`);
    names.forEach((name, i) => {
      // A conv bias gets no gradient through batch norm, only rounding: scale by its beta's.
      const convBias = name.endsWith("/bias") && !name.startsWith("D/dense");
      const ref = convBias ? want[1 + names.indexOf(name.replace(/bias$/, "beta"))] : want[1 + i];
      assertClose(got[1 + i], want[1 + i], `G+D grad ${name} at ${n} threads`, maxAbs(ref));
    });
  }
});

Deno.test("Adam.apply() through the native GlyphnetAdam kernel matches its tfjs ops", async () => {
  const rng = new Rng(9);
  const init = [random([4, 3], rng), random([5], rng)];
  const steps = [0, 1, 2].map(() => init.map((s) => random(s.shape, rng)));
  const options = { learning_rate: 0.01, beta1: 0.5, beta2: 0.999, epsilon: 1e-7 };
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    const vars = new Map(init.map((s, i) => [`w${i}`, tf.variable(tf.tensor(s.values, s.shape))]));
    const adam = new Adam(vars, options);
    const before = tf.memory().numTensors;
    for (const step of steps) {
      const grads = new Map(step.map((s, i) => [`w${i}`, tf.tensor(s.values, s.shape)]));
      adam.apply(vars, grads);
      tf.dispose([...grads.values()]);
    }
    assert.equal(tf.memory().numTensors, before, `${backend}: tensors leaked`);
    const out = [...vars.values(), ...adam.stateTensors().values()].map((t) =>
      t.dataSync().slice() as Float32Array
    );
    adam.dispose();
    tf.dispose([...vars.values()]);
    return out;
  };
  const want = await run("cpu");
  for (const [n, got] of await atEveryThreadCount(() => run("native"), "adam")) {
    got.forEach((g, i) => assertClose(g, want[i], `adam tensor ${i} at ${n} threads`));
  }
});

Deno.test("updateRunningStats() through native GlyphnetMovingAverages gives cpu's tfjs ops' bits", async () => {
  const rng = new Rng(12);
  const sizes = [4, 7, 1, 130];
  const values = sizes.map((n) => [0, 1, 2, 3].map(() => random([n], rng, 3)));
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    const blocks = values.map(([m, v]) => ({
      movingMean: tf.variable(tf.tensor(m.values, m.shape)),
      movingVariance: tf.variable(tf.tensor(v.values, v.shape)),
    }));
    const before = tf.memory().numTensors;
    const stats: BatchStats[] = values.map(([, , mean, variance], i) => ({
      params: blocks[i] as unknown as BlockParams,
      mean: tf.tensor1d(mean.values),
      variance: tf.tensor1d(variance.values),
    }));
    updateRunningStats(stats);
    assert.equal(stats.length, 0, "the batch statistics are consumed");
    assert.equal(tf.memory().numTensors, before, `${backend}: no tensor leaks`);
    const out = blocks.flatMap((b) => [b.movingMean, b.movingVariance]).map((t) =>
      t.dataSync().slice() as Float32Array
    );
    tf.dispose(blocks.flatMap((b) => [b.movingMean, b.movingVariance]));
    return out;
  };
  const want = await run("cpu");
  assert.ok(!backendHasKernels(MOVING_AVERAGES), "cpu runs the tfjs ops");
  const got = await run("native");
  assert.ok(backendHasKernels(MOVING_AVERAGES), "native runs the kernel");
  got.forEach((g, i) => assert.deepEqual(g, want[i], `average ${i}`));
  assert.notDeepEqual(want[0], values[0][0].values, "the averages moved");
});

Deno.test("randomNormal() on native: seeded, the same at every thread count, normal", async () => {
  await tf.setBackend("native");
  const draw = (seed: number, n: number, mean = 0, sd = 1) =>
    tf.tidy(() => randomNormal([n], mean, sd, seed).dataSync().slice() as Float32Array);
  // An odd count: the last Box-Muller pair is half used.
  const n = 100_001;
  const all = await atEveryThreadCount(() => Promise.resolve([draw(7, n)]), "randomNormal");
  const [[, [v]]] = all;
  for (const [threads, [u]] of all) assert.deepEqual(u, v, `the same draws at ${threads} threads`);
  assert.notDeepEqual(draw(8, n), v);
  const mean = v.reduce((a, b) => a + b, 0) / n;
  const sd = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / n);
  assert.ok(Math.abs(mean) < 0.01 && Math.abs(sd - 1) < 0.01, `mean ${mean}, sd ${sd}`);
  // Φ(−1), Φ(0), Φ(1); 3 standard errors of a fraction of 100,001 draws ≈ 0.005.
  for (const [x, phi] of [[-1, 0.1587], [0, 0.5], [1, 0.8413]]) {
    const below = v.filter((y) => y < x).length / n;
    assert.ok(Math.abs(below - phi) < 0.005, `P(z < ${x}) = ${below}, want ${phi}`);
  }
  const scaled = draw(7, 11, 2, 3);
  scaled.forEach((y, i) => assert.ok(Math.abs(y - (2 + 3 * v[i])) < 1e-5, `value ${i}`));
  await tf.setBackend("cpu");
  const cpu = tf.tidy(() => randomNormal([5], 0, 1, 3).dataSync().slice());
  const tfjs = tf.tidy(() => tf.randomNormal([5], 0, 1, "float32", 3).dataSync().slice());
  assert.deepEqual(cpu, tfjs, "without the kernel it is tfjs's randomNormal");
});

Deno.test("the native corner tables are the JS corners() to the bit: fractional and whole-pixel maps, edges, odd widths", async () => {
  const rng = new Rng(5);
  await tf.setBackend("native");
  const onNativeKernel = (shape: [number, number, number], stages: AffineMaps[]) => {
    const attrs: AffineCornersAttrs = {
      maps: stages.flatMap((m) => [...m]),
      stages: stages.length,
      shape,
    };
    const out = tf.engine().runKernel(
      AFFINE_CORNERS,
      {},
      attrs as unknown as tf.NamedAttrMap,
    ) as tf.Tensor[];
    const tables = out.map((t) => t.dataSync().slice() as Int32Array | Float32Array);
    tf.dispose(out);
    return Promise.resolve(tables);
  };
  // Widths 5 and 33 leave a remainder after the 4-wide vector loops; 24×33 spans two of
  // the C code's 512-pixel runs, split mid-row.
  const shapes: [number, number, number][] = [
    [2, 5, 5],
    [3, 16, 16],
    [2, 7, 33],
    [1, 33, 5],
    [2, 24, 33],
  ];
  for (const shape of shapes) {
    const [b, h, w] = shape;
    const each = (f: () => number) => [...Array(b)].map(f);
    const maps = (p: { sx?: number; angle?: number; shift?: () => number }) =>
      centredMaps(h, w, {
        sx: each(() => p.sx ?? rng.uniform(0.7, 1.3)),
        sy: each(() => p.sx ?? rng.uniform(0.7, 1.3)),
        angle: each(() => p.angle ?? rng.uniform(-0.5, 0.5)),
        dx: each(p.shift ?? (() => rng.uniform(-2, 2))),
        dy: each(p.shift ?? (() => rng.uniform(-2, 2))),
      });
    const whole = () => rng.int(-3, 3);
    const cases: [string, AffineMaps[], 1 | 4][] = [
      ["rotation", [maps({ sx: 1, angle: 0.17, shift: () => 0 })], 4],
      [
        "scaled resize",
        [maps({ sx: 0.9, angle: 0, shift: () => 0 }), maps({ sx: 1.3, angle: 0 })],
        4,
      ],
      ["whole-pixel shifts", [
        maps({ sx: 1, angle: 0, shift: whole }),
        maps({ sx: 1, angle: 0, shift: whole }),
      ], 1],
      ["three random stages", [maps({}), maps({}), maps({})], 4],
    ];
    if (h === w) {
      cases.push(["quarter turn", [maps({ sx: 1, angle: Math.PI / 2, shift: whole })], 1]);
    }
    for (const [name, stages, count] of cases) {
      const what = `corners ${name} [${shape}]`;
      const want = corners(shape, stages);
      assert.equal(want.count, count, `${what}: JS count`);
      for (
        const [n, [index, weight]] of await atEveryThreadCount(
          () => onNativeKernel(shape, stages),
          what,
        )
      ) {
        assert.deepEqual(index, want.index, `${what}: index at ${n} threads`);
        assert.deepEqual(weight, want.weight, `${what}: weight at ${n} threads`);
      }
      if (name === "three random stages") {
        assert.ok(want.index.includes(b * h * w), `${what}: some corners fall outside`);
      }
    }
  }
});

Deno.test("native GlyphnetBlur is the two convs' blur, value and gradient: one and three channels, images smaller than the taps", async () => {
  await tf.setBackend("native");
  assert.ok(backendHasKernels(BLUR));
  const rng = new Rng(21);
  // The largest keeps every thread busy at once (each part blurs in its own scratch).
  const shapes: [number, number, number, number][] = [
    [3, 9, 8, 1],
    [5, 7, 6, 3],
    [2, 3, 2, 3],
    [32, 48, 46, 3],
  ];
  for (const shape of shapes) {
    const x = random(shape, rng);
    const r = random(shape, rng);
    const what = `blur [${shape}]`;
    const f = (t: tf.Tensor) => gaussianBlur(t as tf.Tensor4D, 1.3);
    // cpu has no blur kernel: it runs the 7×1 and 1×7 conv2d.
    const want = await on("cpu", [x], valueAndGrads(f, r));
    for (const [n, got] of await onNative([x], valueAndGrads(f, r), what)) {
      got.forEach((g, i) => assertClose(g, want[i], `${what} output ${i} at ${n} threads`));
    }
  }
});

Deno.test("the channel's corner tables, resampling, 3×3 correlation and squash kernels give the JS loops' bits", async () => {
  const rng = new Rng(12);
  for (const shape of [[3, 7, 5, 1], [5, 6, 6, 3]] as [number, number, number, number][]) {
    const [b, h, w] = shape;
    const image = random(shape, rng, 0.5);
    const draw = () =>
      centredMaps(h, w, {
        sx: [...Array(b)].map(() => rng.uniform(0.7, 1.3)),
        sy: [...Array(b)].map(() => rng.uniform(0.7, 1.3)),
        angle: [...Array(b)].map(() => rng.uniform(-0.5, 0.5)),
        dx: [...Array(b)].map(() => rng.uniform(-2, 2)),
        dy: [...Array(b)].map(() => rng.uniform(-2, 2)),
      });
    // Three stages: the corner tables (GlyphnetAffineCorners) compose and cover edges.
    const maps = [draw(), draw(), draw()];
    const extras = drawExtras([...Array(b)].map(() => 15), rng);
    const f = (x: tf.Tensor) => applyExtras(resampleAffine(x as tf.Tensor4D, maps), extras);
    const r = random(shape, rng);
    const what = `channel [${shape}]`;
    const want = await on("cpu", [image], valueAndGrads(f, r));
    for (const [n, got] of await onNative([image], valueAndGrads(f, r), what)) {
      got.forEach((g, i) => assert.deepEqual(g, want[i], `${what} output ${i} at ${n} threads`));
    }
  }
});
