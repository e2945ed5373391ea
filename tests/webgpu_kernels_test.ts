/**
 * The fused WGSL kernels (lib/backend/webgpu) against tfjs's cpu reference:
 * values and gradients within 1e-4, on whatever WebGPU adapter exists (here
 * Mesa's software one). Small shapes: the software adapter is slow.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend/init.ts";
import {
  ADAM,
  adamKernelStep,
  BN_ACT,
  BN_ACT_GRAD,
  bnAct,
  hasKernel,
  WEBGPU_KERNELS,
} from "../lib/backend/webgpu/kernels.ts";
import { BN_EPSILON, bnActReference } from "../lib/model/block.ts";
import { Adam } from "../lib/train/adam.ts";
import { Rng } from "../lib/rng.ts";

/** Why the tests cannot run here, or undefined when a WebGPU adapter exists. */
async function noAdapter(): Promise<string | undefined> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return "this Deno has no navigator.gpu";
  const adapter = await gpu.requestAdapter() ??
    await gpu.requestAdapter({ forceFallbackAdapter: true });
  return adapter ? undefined : "no WebGPU adapter (install mesa-vulkan-drivers or a GPU driver)";
}
const skip = await noAdapter();
if (skip) console.log(`webgpu kernel tests skipped: ${skip}`);

const TOLERANCE = 1e-4;

function random(shape: number[], rng: Rng, lo = -1, hi = 1): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  return Float32Array.from({ length: n }, () => rng.uniform(lo, hi));
}

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

interface BnCase {
  shape: number[];
  activation: "swish" | "sigmoid";
}

/** Forward values, statistics and gradients (of Σ out·w) of batch norm + activation. */
async function bnActOn(backend: string, c: BnCase, fused: boolean): Promise<Float32Array[]> {
  await initBackend(backend);
  const rng = new Rng(c.shape.reduce((a, b) => a * b, 1));
  const channels = c.shape[c.shape.length - 1];
  const y = tf.tensor(random(c.shape, rng, -2, 3), c.shape);
  const gamma = tf.tensor1d(random([channels], rng, 0.5, 1.5));
  const beta = tf.tensor1d(random([channels], rng, -0.5, 0.5));
  const w = tf.tensor(random(c.shape, rng), c.shape);
  const before = tf.memory().numTensors;
  const stats: tf.Tensor[] = [];
  const f = (yt: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
    const r = fused
      ? bnAct(yt, g as tf.Tensor1D, b as tf.Tensor1D, {
        activation: c.activation,
        epsilon: BN_EPSILON,
      })
      : bnActReference(yt, {
        gamma: g as tf.Tensor1D,
        beta: b as tf.Tensor1D,
        activation: c.activation,
        keepStats: true,
      });
    stats.push(r.mean, r.variance, tf.keep(r.out.clone()));
    return tf.sum(tf.mul(r.out, w));
  };
  const { value, grads } = tf.valueAndGrads(f)([y, gamma, beta]);
  const out = [];
  for (const t of [stats[2], stats[0], stats[1], ...grads]) {
    out.push(await t.data() as Float32Array);
  }
  tf.dispose([value, ...grads, ...stats]);
  assert.equal(tf.memory().numTensors, before, `${backend}: no tensor leaks`);
  tf.dispose([y, gamma, beta, w]);
  return out;
}

const NAMES = ["out", "mean", "variance", "dy", "dgamma", "dbeta"];

Deno.test({
  name: "registerWebgpuKernels() registers the fused kernels when webgpu starts",
  ignore: skip !== undefined,
  fn: async () => {
    await initBackend("webgpu");
    for (const name of WEBGPU_KERNELS) assert.ok(hasKernel(name), name);
    await initBackend("cpu");
    assert.ok(!hasKernel(BN_ACT) && !hasKernel(BN_ACT_GRAD) && !hasKernel(ADAM), "cpu has none");
  },
});

Deno.test({
  name: "bnAct() matches the composed cpu reference: values, statistics, gradients",
  ignore: skip !== undefined,
  fn: async () => {
    const cases: BnCase[] = [
      { shape: [2, 3, 3, 4], activation: "swish" },
      // 300 rows: more than one workgroup's 256 threads per channel.
      { shape: [3, 10, 10, 5], activation: "sigmoid" },
      { shape: [7, 1, 1, 3], activation: "swish" },
    ];
    for (const c of cases) {
      const expected = await bnActOn("cpu", c, false);
      const fused = await bnActOn("webgpu", c, true);
      for (let i = 0; i < NAMES.length; i++) {
        const what = `[${c.shape}] ${c.activation} ${NAMES[i]}`;
        assertClose(fused[i], expected[i], `${what} (fused webgpu vs cpu)`);
      }
    }
  },
});

/** [w, m, v] after two Adam steps on `backend`, with the kernel or composed. */
async function adamOn(backend: string, shape: number[], fused: boolean): Promise<Float32Array[]> {
  await initBackend(backend);
  const rng = new Rng(5);
  const w = tf.variable(tf.tensor(random(shape, rng), shape));
  const m = tf.variable(tf.tensor(random(shape, rng, -0.1, 0.1), shape));
  const v = tf.variable(tf.tensor(random(shape, rng, 0, 0.1), shape));
  const before = tf.memory().numTensors;
  const step = { stepSize: 0.05, beta1: 0.5, beta2: 0.999, epsilon: 1e-7 };
  for (let i = 0; i < 2; i++) {
    const g = tf.tensor(random(shape, rng), shape);
    if (fused) adamKernelStep(w, g, { m, v }, step);
    else {
      tf.tidy(() => {
        m.assign(tf.add(tf.mul(m, step.beta1), tf.mul(g, 1 - step.beta1)));
        v.assign(tf.add(tf.mul(v, step.beta2), tf.mul(tf.square(g), 1 - step.beta2)));
        w.assign(tf.sub(w, tf.div(tf.mul(m, step.stepSize), tf.add(tf.sqrt(v), step.epsilon))));
      });
    }
    g.dispose();
  }
  assert.equal(tf.memory().numTensors, before, `${backend}: no tensor leaks`);
  const out = [await w.data(), await m.data(), await v.data()] as Float32Array[];
  tf.dispose([w, m, v]);
  return out;
}

Deno.test({
  name: "adamKernelStep() matches composed Adam on cpu",
  ignore: skip !== undefined,
  fn: async () => {
    for (const shape of [[3, 3, 2, 5], [7]]) {
      const expected = await adamOn("cpu", shape, false);
      const fused = await adamOn("webgpu", shape, true);
      for (let i = 0; i < 3; i++) assertClose(fused[i], expected[i], `[${shape}] ${"wmv"[i]}`);
    }
  },
});

Deno.test({
  name: "Adam.apply() uses the kernel on webgpu and matches cpu",
  ignore: skip !== undefined,
  fn: async () => {
    const run = async (backend: string) => {
      await initBackend(backend);
      const rng = new Rng(9);
      const vars = new Map([["a", tf.variable(tf.tensor(random([4, 3], rng), [4, 3]))]]);
      const opt = new Adam(vars, { learning_rate: 0.01, beta1: 0.5, beta2: 0.999, epsilon: 1e-7 });
      for (let i = 0; i < 3; i++) {
        const g = tf.tensor(random([4, 3], rng), [4, 3]);
        opt.apply(vars, new Map([["a", g]]));
        g.dispose();
      }
      const out = [
        await vars.get("a")!.data(),
        ...await Promise.all(
          [...opt.stateTensors().values()].map((t) => t.data()),
        ),
      ] as Float32Array[];
      opt.dispose();
      vars.get("a")!.dispose();
      return out;
    };
    const expected = await run("cpu");
    const actual = await run("webgpu");
    for (let i = 0; i < 3; i++) assertClose(actual[i], expected[i], ["w", "m", "v"][i]);
  },
});
