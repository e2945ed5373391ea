/**
 * The webgpu backend's checks, run by webgpu_test.ts in a child `deno run`
 * process (it says why): the fused WGSL kernels (lib/backend/webgpu)
 * against tfjs's cpu reference, values and gradients within 1e-4; a
 * training step; the channel's checks; and `auto`'s choice, which asks for
 * an adapter. On whatever WebGPU adapter exists (here Mesa's software one),
 * so shapes are small.
 *
 * Run as a program it prints one JSON line per check ({@link CheckResult});
 * where there is no adapter, `auto`'s line, then `{"skip": why}`.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend/init.ts";
import { findTensorflowPackage } from "../lib/backend/tensorflow.ts";
import {
  ADAM,
  backendHasKernels,
  CONV_BN_ACT,
  CONV_BN_ACT_GRAD,
} from "../lib/backend/fused_kernels.ts";
import { WEBGPU_KERNELS } from "../lib/backend/webgpu/kernels.ts";
import {
  type BatchStats,
  type BlockOptions,
  convBnAct,
  makeBlockParams,
} from "../lib/model/block.ts";
import { Adam } from "../lib/train/adam.ts";
import { Rng } from "../lib/rng.ts";
import { CHANNEL_CHECKS, type Check, maxAbsDiff, sameSeedBatch } from "./_channel_cases.ts";
import { assertSameLosses, stepLosses } from "./_step_losses.ts";

const TOLERANCE = 1e-4;

function random(shape: number[], rng: Rng, lo = -1, hi = 1): tf.Tensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => rng.uniform(lo, hi)), shape);
}

/** Largest difference, relative to the value where it exceeds 1. */
function assertClose(actual: Float32Array, expected: Float32Array, what: string): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  let worst = 0, at = 0;
  for (let i = 0; i < actual.length; i++) {
    const d = Math.abs(actual[i] - expected[i]) / Math.max(1, Math.abs(expected[i]));
    if (!(d <= worst)) [worst, at] = [d, i];
  }
  assert.ok(
    worst <= TOLERANCE,
    `${what}: differs by ${worst.toExponential(2)} at ${at} (${actual[at]} vs ${expected[at]})`,
  );
}

interface BlockCase {
  x: number[];
  out: number;
  o: BlockOptions;
}

const OUTPUTS = ["y", "mean", "variance", "dx", "dkernel", "dbias", "dgamma", "dbeta"];

/** convBnAct's output, batch statistics and gradients (of Σ y·w) on `backend`. */
async function blockOn(backend: string, c: BlockCase): Promise<Float32Array[]> {
  await initBackend(backend);
  const rng = new Rng(c.x.reduce((a, b) => a * b, c.out));
  const p = makeBlockParams("b", {
    size: c.o.size,
    inChannels: c.x[3],
    outChannels: c.out,
    transpose: c.o.transpose,
  }, rng);
  // Non-trivial γ, β and bias, so their gradients and the bias's shift are exercised.
  tf.tidy(() => {
    p.gamma.assign(random([c.out], rng, 0.5, 1.5));
    p.beta.assign(random([c.out], rng, -0.5, 0.5));
    p.bias.assign(random([c.out], rng, -0.5, 0.5));
  });
  const x = random(c.x, rng, -2, 2) as tf.Tensor4D;
  const before = tf.memory().numTensors;
  const stats: BatchStats[] = [];
  let y: tf.Tensor | undefined;
  const f = (xt: tf.Tensor) => {
    const out = convBnAct(xt as tf.Tensor4D, p, c.o, stats);
    y ??= tf.keep(out.clone());
    return tf.sum(tf.mul(out, random(out.shape, new Rng(3)))) as tf.Scalar;
  };
  const vars = [p.kernel, p.bias, p.gamma, p.beta];
  const { value, grads } = tf.variableGrads(() => f(x), vars);
  const dx = tf.grad((xt: tf.Tensor) => f(xt))(x);
  const results = [y!, stats[0].mean, stats[0].variance, dx, ...vars.map((v) => grads[v.name])];
  const out = [];
  for (const t of results) out.push(await t.data() as Float32Array);
  tf.dispose([value, ...Object.values(grads), dx, y!]);
  for (const s of stats) tf.dispose([s.mean, s.variance]);
  assert.equal(tf.memory().numTensors, before, `${backend}: no tensor leaks`);
  tf.dispose([x, p.kernel, p.bias, p.gamma, p.beta, p.movingMean, p.movingVariance]);
  return out;
}

/** registerWebgpuKernels() gives webgpu the fused kernels; cpu has none. */
async function kernelsRegistered(): Promise<void> {
  await initBackend("webgpu");
  for (const name of WEBGPU_KERNELS) assert.ok(backendHasKernels(name), name);
  await initBackend("cpu");
  assert.ok(!backendHasKernels(CONV_BN_ACT) && !backendHasKernels(CONV_BN_ACT_GRAD));
  assert.ok(!backendHasKernels(ADAM));
}

/** convBnAct() with the webgpu kernels matches the composed cpu block and its gradients. */
async function blockMatchesCpu(): Promise<void> {
  const cases: BlockCase[] = [
    { x: [2, 4, 4, 3], out: 4, o: { size: 3, stride: 1, activation: "swish" } },
    { x: [2, 6, 6, 2], out: 3, o: { size: 3, stride: 2, activation: "sigmoid" } },
    { x: [2, 3, 3, 4], out: 2, o: { size: 3, stride: 2, transpose: true, activation: "swish" } },
    // 300 rows: five spans of rows summed apart, then together.
    { x: [3, 10, 10, 2], out: 5, o: { size: 1, stride: 1, activation: "swish" } },
    // 40 channels: two tiles of 32 channel lanes.
    { x: [1, 3, 3, 2], out: 40, o: { size: 1, stride: 1, activation: "sigmoid" } },
  ];
  for (const c of cases) {
    const expected = await blockOn("cpu", c);
    const actual = await blockOn("webgpu", c);
    const what = `[${c.x}]→${c.out} ${JSON.stringify(c.o)}`;
    for (let i = 0; i < OUTPUTS.length; i++) {
      assertClose(actual[i], expected[i], `${what} ${OUTPUTS[i]}`);
    }
  }
}

/** Variables and moments after three Adam.apply steps on `backend`. */
async function adamOn(backend: string): Promise<Float32Array[]> {
  await initBackend(backend);
  const rng = new Rng(9);
  const shapes = [[3, 3, 2, 5], [7]];
  const vars = new Map(shapes.map((s, i) => [`v${i}`, tf.variable(random(s, rng))]));
  const opt = new Adam(vars, { learning_rate: 0.05, beta1: 0.5, beta2: 0.999, epsilon: 1e-7 });
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    const grads = new Map(shapes.map((s, j) => [`v${j}`, random(s, rng)]));
    opt.apply(vars, grads);
    tf.dispose([...grads.values()]);
  }
  assert.equal(tf.memory().numTensors, before, `${backend}: no tensor leaks`);
  const out = [];
  for (const t of [...vars.values(), ...opt.stateTensors().values()]) {
    out.push(await t.data() as Float32Array);
  }
  opt.dispose();
  tf.dispose([...vars.values()]);
  return out;
}

/** Adam.apply() with the webgpu GlyphnetAdam kernel matches composed Adam on cpu. */
async function adamMatchesCpu(): Promise<void> {
  const expected = await adamOn("cpu");
  const actual = await adamOn("webgpu");
  const names = ["v0", "v1", "v0/m", "v1/m", "v0/v", "v1/v"];
  for (let i = 0; i < expected.length; i++) assertClose(actual[i], expected[i], names[i]);
}

/**
 * initBackend('auto') picks the fastest backend that works and says why.
 * Runs first in the child: initBackend keeps its choice for the process.
 */
async function autoPicksFastest(): Promise<void> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  const adapter = await gpu?.requestAdapter({ powerPreference: "high-performance" });
  const info = await initBackend("auto");
  if (findTensorflowPackage()) return assert.equal(info.name, "tensorflow");
  if (adapter && !adapter.info.isFallbackAdapter) return assert.equal(info.name, "webgpu");
  // Here: no tfjs-node, a software adapter at best; native unless its library cannot build.
  assert.match(info.reason ?? "", /skipped tensorflow: neither .* is installed/);
  assert.match(info.reason ?? "", /webgpu: /);
  if (info.name !== "native") assert.match(info.reason ?? "", /native: /);
  assert.equal(info.name, "native", `auto chose ${info.name}: ${info.reason}`);
}

/** The check of `auto`'s choice, run with or without an adapter. */
export const AUTO_CHECK: Check = {
  name: "initBackend('auto') picks the fastest backend that works and says why",
  fn: autoPicksFastest,
};

/** Every check that needs an adapter, in the order the child runs them. */
export const WEBGPU_CHECKS: Check[] = [
  {
    name: "registerWebgpuKernels() gives webgpu the fused kernels; cpu has none",
    fn: kernelsRegistered,
  },
  {
    name: "convBnAct() with the webgpu kernels matches the composed cpu block and its gradients",
    fn: blockMatchesCpu,
  },
  {
    name: "Adam.apply() with the webgpu GlyphnetAdam kernel matches composed Adam on cpu",
    fn: adamMatchesCpu,
  },
  {
    name: "trainStep() on webgpu gives cpu's finite losses",
    fn: async () => assertSameLosses("webgpu", await stepLosses("webgpu"), await stepLosses("cpu")),
  },
  ...CHANNEL_CHECKS.map((c) => ({
    name: `${c.name} (webgpu)`,
    fn: async () => {
      await initBackend("webgpu");
      await c.fn();
    },
  })),
  {
    name: "applyChannel() gives cpu's batch on webgpu, static noise aside",
    fn: async () => {
      await initBackend("cpu");
      const want = await sameSeedBatch();
      await initBackend("webgpu");
      const got = await sameSeedBatch();
      for (let i = 0; i < 2; i++) assert.ok(maxAbsDiff(want[i], got[i]) < 1e-4, `output ${i}`);
    },
  },
];

/** What the child prints for one check. */
export interface CheckResult {
  name: string;
  ok: boolean;
  /** The failure's stack, when not ok. */
  error?: string;
}

/** Why the checks cannot run here, or undefined when a WebGPU adapter exists. */
async function noAdapter(): Promise<string | undefined> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return "this Deno has no navigator.gpu";
  const adapter = await gpu.requestAdapter() ??
    await gpu.requestAdapter({ forceFallbackAdapter: true });
  return adapter ? undefined : "no WebGPU adapter (install mesa-vulkan-drivers or a GPU driver)";
}

/** Runs `check` and prints its {@link CheckResult} line. */
async function report(check: Check): Promise<void> {
  let result: CheckResult = { name: check.name, ok: true };
  try {
    await check.fn();
  } catch (e) {
    result = { name: check.name, ok: false, error: (e as Error).stack ?? String(e) };
  }
  console.log(JSON.stringify(result));
}

if (import.meta.main) {
  await report(AUTO_CHECK);
  const skip = await noAdapter();
  if (skip) console.log(JSON.stringify({ skip }));
  for (const check of skip ? [] : WEBGPU_CHECKS) await report(check);
}
