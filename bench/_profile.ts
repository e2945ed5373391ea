/**
 * `deno task bench --profile`: every kernel of the active backend wrapped to
 * add up its wall time and calls, so a step's time splits into kernels (and
 * what is left: JavaScript between kernels, the tape, allocation).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { nativeSync } from "../lib/backend/native/ffi.ts";
import { NATIVE } from "../lib/backend/native/kernels.ts";
import { setQueue } from "../lib/backend/native/queue.ts";

/** Time and calls per kernel name, summed over the steps profiled. */
export type KernelTotals = Map<string, { ms: number; calls: number }>;

/** One row of a profile: a kernel's milliseconds and calls per step. */
export interface ProfileRow {
  kernel: string;
  ms_per_step: number;
  calls_per_step: number;
}

/**
 * Wraps every kernel registered for `backend` so its calls are timed into
 * the returned map. On native this turns the kernel queue off: a queued
 * kernel returns before it computes, so its time would be the queuing.
 */
export function instrumentKernels(backend: string): KernelTotals {
  if (backend === NATIVE) setQueue(nativeSync(), false);
  const totals: KernelTotals = new Map();
  for (const config of tf.getKernelsForBackend(backend)) {
    const inner = config.kernelFunc;
    const name = config.kernelName;
    const kernelFunc: tf.KernelFunc = (args) => {
      const t0 = performance.now();
      const out = inner(args);
      const e = totals.get(name) ?? { ms: 0, calls: 0 };
      e.ms += performance.now() - t0;
      e.calls++;
      totals.set(name, e);
      return out;
    };
    tf.unregisterKernel(name, backend);
    tf.registerKernel({ ...config, kernelFunc });
  }
  return totals;
}

/** The `top` kernels by time per step, and the time all kernels took per step. */
export function profileRows(
  totals: KernelTotals,
  steps: number,
  top = 25,
): { rows: ProfileRow[]; kernel_ms_per_step: number; kernel_calls_per_step: number } {
  const all = [...totals].map(([kernel, { ms, calls }]) => ({
    kernel,
    ms_per_step: ms / steps,
    calls_per_step: calls / steps,
  })).sort((a, b) => b.ms_per_step - a.ms_per_step);
  return {
    rows: all.slice(0, top),
    kernel_ms_per_step: all.reduce((s, r) => s + r.ms_per_step, 0),
    kernel_calls_per_step: all.reduce((s, r) => s + r.calls_per_step, 0),
  };
}
