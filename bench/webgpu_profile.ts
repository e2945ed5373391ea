/**
 * Where a training step's time goes on the current backend (webgpu by
 * default): kernels per step by name, GPU→CPU reads inside the step, and
 * submits to the GPU queue.
 *
 *   deno run -A bench/webgpu_profile.ts [--config tiny] [--backend webgpu] [--steps 3]
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { parseArgs } from "node:util";
import { initBackend } from "../lib/backend/init.ts";
import { createTrainState } from "../lib/train/state.ts";
import { trainStep } from "../lib/train/step.ts";
import { BENCH_CONFIGS, BENCH_LEVEL, type BenchConfigName, benchExperiment } from "./_measure.ts";

interface Counting {
  read?: (dataId: object) => Promise<unknown>;
  readSync?: (dataId: object) => unknown;
  submitQueue?: () => void;
}

/** Wraps a backend method to count its calls; returns the counter. */
function count(backend: Counting, method: keyof Counting): { n: number } {
  const counter = { n: 0 };
  const original = backend[method] as ((...a: unknown[]) => unknown) | undefined;
  if (!original) return counter;
  (backend as Record<string, unknown>)[method] = function (this: unknown, ...a: unknown[]) {
    counter.n++;
    return original.apply(this, a);
  };
  return counter;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      config: { type: "string", default: "tiny" },
      backend: { type: "string", default: "webgpu" },
      steps: { type: "string", default: "3" },
    },
  });
  const name = values.config as BenchConfigName;
  if (!(name in BENCH_CONFIGS)) throw new RangeError(`Cannot profile config "${name}"`);
  const info = await initBackend(values.backend);
  const state = createTrainState(benchExperiment(name), { level: BENCH_LEVEL });
  const backend = tf.backend() as unknown as Counting;
  const reads = count(backend, "read"), syncReads = count(backend, "readSync");
  const submits = count(backend, "submitQueue");
  const steps = Number(values.steps);
  // A warm-up step compiles the shaders.
  tf.dispose(Object.values(trainStep(state)));
  // Kernel names from one profiled step (profiling ends a compute pass per kernel: not timed).
  const profile = await tf.profile(() => Object.values(trainStep(state)));
  tf.dispose(profile.result as tf.Tensor[]);
  const byName = new Map<string, number>();
  for (const k of profile.kernels) byName.set(k.name, (byName.get(k.name) ?? 0) + 1);
  const top = [...byName].sort((a, b) => b[1] - a[1]).slice(0, 25);
  const times: number[] = [];
  for (let i = 0; i < steps; i++) {
    reads.n = syncReads.n = submits.n = 0;
    const t0 = performance.now();
    const losses = Object.values(trainStep(state));
    const inStep = { reads: reads.n, syncReads: syncReads.n, submits: submits.n };
    const enqueue = performance.now() - t0;
    await Promise.all(losses.map((l) => l.data()));
    times.push(performance.now() - t0);
    tf.dispose(losses);
    console.error(
      `step ${i + 1}: ${times[i].toFixed(0)} ms (${enqueue.toFixed(0)} ms to enqueue), ` +
        `${inStep.reads} + ${inStep.syncReads} reads and ${inStep.submits} submits inside the step`,
    );
  }
  console.log(JSON.stringify({
    config: name,
    backend: info.name,
    device: info.device,
    kernels_per_step: profile.kernels.length,
    step_ms: times.map(Math.round),
    top_kernels: Object.fromEntries(top),
  }));
}

if (import.meta.main) await main();
