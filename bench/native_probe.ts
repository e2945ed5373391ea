/**
 * Times the native backend against tfjs's cpu and wasm:
 * (1) one conv→BN→swish block, forward + backward;
 * (2) a GlyphNet step without the channel: D on glyphs, D on negatives, G
 *     through D, each with gradients and an Adam update.
 * Median of `--n` runs after `--warmup`. Each backend × config runs in its
 * own process (backends and memory do not mix).
 *
 *   deno run -A bench/native_probe.ts [--configs tiny,small,default]
 *     [--backends native,wasm,cpu] [--n 5] [--warmup 2] [--skip-block] [--profile]
 * `--profile` adds each kernel's (and each native call's) time per step.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "node:util";
import { starters } from "../lib/backend/init.ts";
import { createNativeAdamState, nativeAdamUpdate } from "../lib/backend/native.ts";
import { nativeSync } from "../lib/backend/native/ffi.ts";
import { type BatchStats, convBnAct, makeBlockParams } from "../lib/model/block.ts";
import { buildGenerator, generate, type GeneratorSpec } from "../lib/model/generator.ts";
import { buildDiscriminator, discriminate } from "../lib/model/discriminator.ts";
import { type Network, trainableVariables } from "../lib/model/network.ts";
import { Rng } from "../lib/rng.ts";

const CONFIGS: Record<string, { spec: GeneratorSpec; batch: number }> = {
  tiny: { spec: { messageLength: 26, imageSize: 16, channels: 1, filters: 8 }, batch: 32 },
  small: { spec: { messageLength: 64, imageSize: 32, channels: 3, filters: 8 }, batch: 64 },
  default: { spec: { messageLength: 128, imageSize: 64, channels: 3, filters: 16 }, batch: 128 },
};

/** Wraps every kernel of `backend` (and native calls) to add up their times. */
function instrument(backend: string): Map<string, { ms: number; calls: number }> {
  const totals = new Map<string, { ms: number; calls: number }>();
  const timed = <A extends unknown[], R>(name: string, f: (...a: A) => R) => (...a: A): R => {
    const t0 = performance.now();
    const r = f(...a);
    const e = totals.get(name) ?? { ms: 0, calls: 0 };
    e.ms += performance.now() - t0;
    e.calls++;
    totals.set(name, e);
    return r;
  };
  for (const config of tf.getKernelsForBackend(backend)) {
    tf.unregisterKernel(config.kernelName, backend);
    tf.registerKernel({ ...config, kernelFunc: timed(config.kernelName, config.kernelFunc) });
  }
  if (backend === "native") {
    const symbols = nativeSync().symbols as unknown as Record<string, (...a: unknown[]) => unknown>;
    for (const name of ["gn_block_fwd", "gn_block_bwd", "gn_adam"]) {
      symbols[name] = timed(`C ${name}`, symbols[name]);
    }
  }
  return totals;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

function timeIt(fn: () => void, n: number, warmup: number): number {
  for (let i = 0; i < warmup; i++) fn();
  const times: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    fn();
    times.push(performance.now() - t0);
  }
  return median(times) / 1000;
}

/** Block [64, 32, 32, 16] → 16, 3×3 stride 1, swish: the block of docs/ARCHITECTURE.md's BN figures. */
function benchBlock(): () => void {
  const rng = new Rng(1);
  const p = makeBlockParams("bench", { size: 3, inChannels: 16, outChannels: 16 }, rng);
  const x = tf.randomNormal([64, 32, 32, 16]) as tf.Tensor4D;
  const r = tf.randomNormal([64, 32, 32, 16]);
  const vars = [p.kernel, p.bias, p.gamma, p.beta];
  return () => {
    tf.tidy(() => {
      const { grads } = tf.variableGrads(
        () => tf.sum(tf.mul(convBnAct(x, p, { size: 3, stride: 1, activation: "swish" }), r)),
        vars,
      );
      for (const g of Object.values(grads)) g.dataSync();
    });
  };
}

interface Optimizer {
  apply(net: Network, grads: tf.NamedTensorMap): void;
}

function makeOptimizer(native: boolean): Optimizer {
  const states = new Map<Network, ReturnType<typeof createNativeAdamState>>();
  const tfOpts = new Map<Network, tf.AdamOptimizer>();
  return {
    apply(net, grads) {
      const vars = trainableVariables(net);
      if (native) {
        if (!states.has(net)) {
          states.set(net, createNativeAdamState({ learningRate: 2.5e-4, beta1: 0.5 }));
        }
        nativeAdamUpdate(vars, vars.map((v) => grads[v.name]), states.get(net)!);
      } else {
        if (!tfOpts.has(net)) tfOpts.set(net, tf.train.adam(2.5e-4, 0.5));
        tfOpts.get(net)!.applyGradients(vars.map((v) => ({ name: v.name, tensor: grads[v.name] })));
      }
    },
  };
}

/** One step without the channel, like lib/train/step.ts, as a function to call. */
export function makeStep(config: string, native: boolean): () => void {
  const { spec, batch } = CONFIGS[config];
  const g = buildGenerator(spec, new Rng(1));
  const randomG = buildGenerator(spec, new Rng(2));
  const d = buildDiscriminator(spec, new Rng(3));
  const opt = makeOptimizer(native);
  const v = spec.messageLength;
  const onehot = (seed: number) =>
    tf.cast(tf.oneHot(tf.randomUniform([batch], 0, v, "int32", seed) as tf.Tensor1D, v), "float32")
      .clone() as tf.Tensor2D;
  const minimize = (net: Network, f: (stats: BatchStats[]) => tf.Scalar) => {
    const stats: BatchStats[] = [];
    const { value, grads } = tf.variableGrads(() => f(stats), trainableVariables(net));
    opt.apply(net, grads);
    tf.dispose([value, ...Object.values(grads), ...stats.flatMap((s) => [s.mean, s.variance])]);
  };
  let seed = 0;
  const step = () => {
    tf.tidy(() => {
      const real = onehot(seed++);
      const labels = tf.concat([real, tf.zeros([batch, 1])], 1);
      const noise = tf.concat([tf.zeros([batch, v]), tf.ones([batch, 1])], 1);
      const glyphs = generate(g, real);
      minimize(
        d,
        (s) => tf.losses.softmaxCrossEntropy(labels, discriminate(d, glyphs, s)) as tf.Scalar,
      );
      const negatives = generate(randomG, onehot(seed++));
      minimize(
        d,
        (s) => tf.losses.softmaxCrossEntropy(noise, discriminate(d, negatives, s)) as tf.Scalar,
      );
      minimize(
        g,
        (s) =>
          tf.losses.softmaxCrossEntropy(labels, discriminate(d, generate(g, real, s))) as tf.Scalar,
      );
    });
  };
  return step;
}

async function child(
  backend: string,
  config: string,
  opts: { n: number; warmup: number; block: boolean; profile: boolean },
) {
  const info = await starters[backend]();
  const out: Record<string, unknown> = { backend, device: info.device, config };
  if (opts.block) out.block_s = timeIt(benchBlock(), opts.n, opts.warmup);
  if (config) {
    try {
      const step = makeStep(config, backend === "native");
      out.step_s = timeIt(step, opts.n, opts.warmup);
      if (opts.profile) {
        const totals = instrument(backend);
        timeIt(step, opts.n, 0);
        const rows = [...totals].sort((a, b) => b[1].ms - a[1].ms).slice(0, 15);
        out.profile_ms_per_step = Object.fromEntries(
          rows.map(([k, v]) => [k, `${(v.ms / opts.n).toFixed(2)} ms, ${v.calls / opts.n} calls`]),
        );
      }
    } catch (e) {
      out.step_error = (e as Error).message.split("\n")[0];
    }
  }
  console.log(JSON.stringify(out, null, opts.profile ? 1 : undefined));
}

async function main() {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      configs: { type: "string", default: "tiny,small,default" },
      backends: { type: "string", default: "native,wasm,cpu" },
      n: { type: "string", default: "5" },
      warmup: { type: "string", default: "2" },
      "skip-block": { type: "boolean", default: false },
      child: { type: "string" },
      config: { type: "string", default: "" },
      block: { type: "boolean", default: false },
      profile: { type: "boolean", default: false },
    },
  });
  const n = Number(values.n), warmup = Number(values.warmup);
  if (values.child) {
    const opts = { n, warmup, block: values.block, profile: values.profile };
    return await child(values.child, values.config, opts);
  }
  for (const backend of values.backends.split(",")) {
    const configs = values.configs.split(",").filter(Boolean);
    for (const [i, config] of configs.entries()) {
      const args = ["run", "-A", "--v8-flags=--max-old-space-size=16384", import.meta.filename!];
      args.push(
        "--child",
        backend,
        "--config",
        config,
        "--n",
        String(n),
        "--warmup",
        String(warmup),
      );
      if (i === 0 && !values["skip-block"]) args.push("--block");
      if (values.profile) args.push("--profile");
      const res = await new Deno.Command(Deno.execPath(), { args, stderr: "piped" }).output();
      const text = new TextDecoder().decode(res.stdout).trim();
      console.log(
        text ||
          `{"backend":"${backend}","config":"${config}","error":"exit ${res.code}: ${
            new TextDecoder().decode(res.stderr).trim().split("\n").slice(-2).join(" ")
          }"}`,
      );
    }
  }
}

if (import.meta.main) await main();
