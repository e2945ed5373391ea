/**
 * The benchmark's configs, FLOP count and one in-process measurement of
 * `trainStep` (bench.ts's `--json` form).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import process from "node:process";
import { type BackendInfo } from "../lib/backend/init.ts";
import { nativeSync } from "../lib/backend/native/ffi.ts";
import { type Experiment, experimentSchema } from "../lib/config/schema.ts";
import type { GeneratorSpec } from "../lib/model/generator.ts";
import { createTrainState, networkSpec, type TrainState } from "../lib/train/state.ts";
import { trainStep } from "../lib/train/step.ts";
import { instrumentKernels, type KernelTotals, profileRows } from "./_profile.ts";

/** The benchmark's model sizes (docs/ARCHITECTURE.md, "Backends: measured facts"). */
export const BENCH_CONFIGS = {
  tiny: {
    symbols: 26,
    size: 16,
    color: "grayscale",
    filters: 8,
    batch: 32,
    steps: 100,
    warmup: 20,
  },
  small: { symbols: 64, size: 32, color: "rgb", filters: 8, batch: 64, steps: 60, warmup: 10 },
  default: { symbols: 128, size: 64, color: "rgb", filters: 16, batch: 128, steps: 8, warmup: 3 },
} as const;

/** A config name of {@link BENCH_CONFIGS}. */
export type BenchConfigName = keyof typeof BENCH_CONFIGS;

/** Channel level the step runs at: every op active, none at its extreme. */
export const BENCH_LEVEL = 5;

/** The resolved experiment of a bench config (seed 1, all channel ops and extras). */
export function benchExperiment(name: BenchConfigName, batch?: number): Experiment {
  const c = BENCH_CONFIGS[name];
  return experimentSchema.parse({
    seed: 1,
    message: { type: "one-hot", size: c.symbols },
    image: { size: c.size, color: c.color },
    model: { filters: c.filters },
    training: { batch_size: batch ?? c.batch },
  });
}

/** Multiply-adds of one forward pass per sample: [G, D]. Convs and the dense layer only. */
export function forwardMacs(spec: GeneratorSpec): [number, number] {
  const r = Math.log2(spec.imageSize);
  const v = spec.messageLength;
  let f = spec.filters * 2 ** r;
  let g = v * f; // stem: 1×1 at 1×1
  for (let i = 1, s = 1; i <= r; i++, s *= 2) {
    g += s * s * 9 * f * (f / 2); // stride-2 transposed 3×3: every input pixel × 9 taps
    g += (2 * s) ** 2 * (f / 2) ** 2; // 1×1 at the doubled size
    f /= 2;
  }
  g += spec.imageSize ** 2 * 9 * f * spec.channels;
  let ch = 2 * spec.filters;
  let d = spec.imageSize ** 2 * 9 * spec.channels * ch;
  for (let i = 1, s = spec.imageSize / 2, out = ch; i <= r; i++, s /= 2, out *= 2) {
    d += s * s * 9 * ch * out + s * s * out * out;
    ch = out;
  }
  d += ch * (v + 1);
  return [g, d];
}

/**
 * FLOPs of one training step (2 per multiply-add), counting backward as 2×
 * forward (input and weight gradients): (a) G forward + D fwd+bwd;
 * (b) negative G forward on every other step + D fwd+bwd; (c) G fwd+bwd and
 * D fwd + input gradient only. Total = (4.5·G + 8·D) forward passes.
 */
export function stepFlops(config: Experiment): number {
  const [g, d] = forwardMacs(networkSpec(config));
  return 2 * config.training.batch_size * (4.5 * g + 8 * d);
}

/** What one in-process run reports (the `--json` line). */
export interface RunResult {
  config: BenchConfigName;
  backend: string;
  device: string;
  threads: number;
  fallback: boolean;
  batch: number;
  level: number;
  warmup: number;
  steps: number;
  step_seconds_median: number;
  step_seconds: number[];
  /** Process CPU time (all threads) per measured step: steadier than wall time on a busy machine. */
  cpu_seconds_per_step: number;
  /** The machine's 1-minute load average when the run ended (2 = both cores busy here). */
  loadavg: number;
  peak_rss_bytes: number;
  /** webgpu: most bytes tfjs's buffer manager held on the GPU after a step (also pooled ones). */
  peak_gpu_bytes?: number;
  gflop_per_step: number;
  gflops: number;
  /** Losses of the first step [d_real, d_fake, g], to compare backends. */
  first_losses: number[];
  deno: string;
  tfjs: string;
  /** With `--profile`: the kernels that took the most time per measured step. */
  profile?: ReturnType<typeof profileRows>;
}

/** Median of a non-empty list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The 1-minute load average (--allow-sys=loadavg), or NaN where it is not known. */
function loadavg(): number {
  try {
    return Deno.loadavg()[0];
  } catch {
    return NaN;
  }
}

/** Peak resident memory of this process: VmHWM on Linux, else the largest sample. */
function peakRss(sampled: number): number {
  try {
    const m = Deno.readTextFileSync("/proc/self/status").match(/^VmHWM:\s+(\d+) kB/m);
    if (m) return Math.max(Number(m[1]) * 1024, sampled);
  } catch { /* not Linux */ }
  return sampled;
}

/** GFLOP/s of OpenBLAS's own sgemm (2048², best of 3) on `threads` BLAS threads (native started). */
export function gemmCeiling(threads: number): number {
  return nativeSync().symbols.gn_sgemm_gflops(2048, 3, threads);
}

/** How fast two cores hand data to each other (lib/backend/native/probe.c). */
export interface CoreHandoff {
  /** One cache line's round trip between two cores. */
  core_round_trip_ns: number;
  /** GB/s reading 1 MiB the other core wrote, over reading 1 MiB one wrote oneself. */
  core_read_fraction: number;
}

/**
 * The native library's core-to-core probe (native started); undefined where it
 * could not measure (fewer than 2 CPUs, or other work holding the cores for 2 s).
 */
export function coreHandoff(): CoreHandoff | undefined {
  const out = new Float64Array(3);
  if (nativeSync().symbols.gn_core_probe(1 << 20, out) !== 0) return undefined;
  return { core_round_trip_ns: out[0], core_read_fraction: out[2] / out[1] };
}

/** One training step's wall time and its losses [d_real, d_fake, g]. */
export async function timeStep(
  state: TrainState,
): Promise<{ seconds: number; values: number[] }> {
  const t0 = performance.now();
  const losses = trainStep(state);
  // Reading the losses waits for the backend (webgpu queues work).
  const values = [
    (await losses.dReal.data())[0],
    (await losses.dFake.data())[0],
    (await losses.g.data())[0],
  ];
  tf.dispose([losses.dReal, losses.dFake, losses.g]);
  return { seconds: (performance.now() - t0) / 1000, values };
}

/**
 * Steps to measure: an even count. Training steps are of two kinds that take
 * turns (even steps show D a fresh G's glyphs, odd ones noise; on small the
 * kinds differ by up to 10 % at 1 thread and up to half at 2, on default by
 * 5–9 %), and the median of an odd count leans to the kind that has one more
 * (in `--interleave`, 5-step turns moved small's gain by up to a tenth).
 */
export function evenSteps(n: number): number {
  return n % 2 ? n + 1 : n;
}

/** Whether to stop measuring: the budget spent and ≥ 4 steps in, as many of each kind. */
export function budgetSpent(steps: number, seconds: number, budget: number): boolean {
  return steps >= 4 && steps % 2 === 0 && seconds > budget;
}

/**
 * Runs `warmup` + up to `steps` training steps of one config on the current
 * backend; stops early once `budgetSeconds` is spent (see {@link budgetSpent}).
 */
export async function measure(
  name: BenchConfigName,
  info: BackendInfo,
  opts: {
    steps: number;
    warmup: number;
    level: number;
    budgetSeconds: number;
    batch?: number;
    profile?: boolean;
  },
): Promise<RunResult> {
  const config = benchExperiment(name, opts.batch);
  const state = createTrainState(config, { level: opts.level });
  const times: number[] = [];
  let rss = Deno.memoryUsage().rss, first: number[] = [], gpuBytes: number | undefined;
  const began = performance.now();
  let cpu = 0;
  let totals: KernelTotals | undefined;
  for (let i = 0; i < opts.warmup + opts.steps; i++) {
    if (opts.profile && i === opts.warmup) totals = instrumentKernels(tf.getBackend());
    const c0 = process.cpuUsage();
    const { seconds, values } = await timeStep(state);
    if (i === 0) first = values;
    if (i >= opts.warmup) {
      times.push(seconds);
      const c = process.cpuUsage(c0);
      cpu += (c.user + c.system) / 1e6;
    }
    rss = Math.max(rss, Deno.memoryUsage().rss);
    const gpu = (tf.memory() as { numBytesAllocatedInGPU?: number }).numBytesAllocatedInGPU;
    if (gpu !== undefined) gpuBytes = Math.max(gpuBytes ?? 0, gpu);
    const spent = (performance.now() - began) / 1000;
    if (budgetSpent(times.length, spent, opts.budgetSeconds)) break;
  }
  const med = median(times);
  const flops = stepFlops(config);
  return {
    config: name,
    backend: info.name,
    device: info.device,
    threads: info.threads,
    fallback: info.fallback ?? false,
    batch: config.training.batch_size,
    level: opts.level,
    warmup: opts.warmup,
    steps: times.length,
    step_seconds_median: med,
    step_seconds: times,
    cpu_seconds_per_step: cpu / times.length,
    loadavg: loadavg(),
    peak_rss_bytes: peakRss(rss),
    peak_gpu_bytes: gpuBytes,
    gflop_per_step: flops / 1e9,
    gflops: flops / 1e9 / med,
    first_losses: first,
    deno: Deno.version.deno,
    tfjs: tf.version_core,
    ...(totals ? { profile: profileRows(totals, times.length) } : {}),
  };
}
