/**
 * Chooses and starts a tfjs backend once per process, and describes what it
 * got (backend, device, threads) for the manifest and the progress line.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import "./_gradients.ts";
import "@tensorflow/tfjs-backend-cpu";
import type { BackendName } from "../config/schema.ts";
import { BackendError, type BackendInfo } from "./info.ts";
import { setThreads, startNative } from "./native.ts";
import { startTensorflow } from "./tensorflow.ts";
import { registerWasmKernels } from "./wasm_kernels.ts";
import { registerWebgpuKernels } from "./webgpu/kernels.ts";
import { resolveThreads, type ThreadChoice } from "./threads.ts";

// PROD silences tfjs's "install tfjs-node" banner and debug-only checks.
tf.env().set("PROD", true);

export { BackendError, type BackendInfo } from "./info.ts";

function cpuModel(): string {
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    const m = info.match(/^model name\s*:\s*(.+)$/m);
    if (m) return m[1].trim();
  } catch { /* not Linux */ }
  return `${Deno.build.arch} CPU`;
}

function webgpu(): GPU {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) throw new BackendError("Cannot start webgpu: this Deno has no navigator.gpu");
  return gpu;
}

async function startWebgpu(): Promise<BackendInfo> {
  const gpu = webgpu();
  const adapter = await gpu.requestAdapter({ powerPreference: "high-performance" }) ??
    await gpu.requestAdapter({ forceFallbackAdapter: true });
  if (!adapter) {
    throw new BackendError(
      "Cannot start webgpu: no GPU adapter found. Install a Vulkan driver " +
        "(or Mesa's llvmpipe: apt-get install mesa-vulkan-drivers libegl-mesa0) and retry",
    );
  }
  await import("@tensorflow/tfjs-backend-webgpu");
  registerWebgpuKernels();
  if (!(await tf.setBackend("webgpu"))) {
    throw new BackendError("Cannot start webgpu: tfjs could not initialise it on this adapter");
  }
  const info = adapter.info;
  return {
    name: "webgpu",
    device: info.description || `${info.vendor} ${info.architecture} ${info.device}`.trim(),
    threads: 1,
    fallback: info.isFallbackAdapter ?? false,
  };
}

/** For `auto`: webgpu only on a real GPU; a software adapter is slower than the CPU paths. */
async function startWebgpuHardware(): Promise<BackendInfo> {
  // Only asks for an adapter (~70 ms); tfjs's webgpu backend starts only on a real GPU.
  const adapter = await webgpu().requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) throw new BackendError("Cannot start webgpu: no GPU adapter found");
  if (adapter.info.isFallbackAdapter) {
    throw new BackendError(
      `Cannot start webgpu for auto: the only adapter is a software one (${adapter.info.description})`,
    );
  }
  return await startWebgpu();
}

async function startWasm(): Promise<BackendInfo> {
  const wasm = await import("@tensorflow/tfjs-backend-wasm");
  wasm.setThreadsCount(1);
  registerWasmKernels();
  if (!(await tf.setBackend("wasm"))) {
    throw new BackendError("Cannot start wasm: tfjs could not load its WebAssembly module");
  }
  return { name: "wasm", device: `${cpuModel()} (WebAssembly, XNNPACK)`, threads: 1 };
}

async function startCpu(): Promise<BackendInfo> {
  await tf.setBackend("cpu");
  return { name: "cpu", device: `${cpuModel()} (JavaScript)`, threads: 1 };
}

/** Options every starter takes. */
export interface StartOptions {
  /** Threads for backends that use several (native); the others use one. */
  threads?: ThreadChoice;
}

/** Starters by backend name; later modules add to it (native, tensorflow). */
export const starters: Record<string, (opts?: StartOptions) => Promise<BackendInfo>> = {
  tensorflow: () => startTensorflow(),
  native: (opts) => startNative(opts),
  cpu: startCpu,
  wasm: startWasm,
  webgpu: startWebgpu,
};

/**
 * Order `auto` tries, fastest first: libtensorflow (GPU or CPU), a real
 * GPU, then the CPU paths (native OpenBLAS, wasm XNNPACK, plain JS).
 */
export const autoOrder: string[] = ["tensorflow", "webgpu", "native", "wasm", "cpu"];

/** Stricter starters for `auto`, where a backend must also be worth choosing. */
const autoStarters: Record<string, (opts?: StartOptions) => Promise<BackendInfo>> = {
  webgpu: startWebgpuHardware,
};

/**
 * Steps between reads of the training losses on a started backend: a read
 * on a GPU waits for its queue to drain, so the loop reads every 10 steps
 * there (the reported values are the same); on the CPU backends every step.
 */
export function lossReadInterval(info: BackendInfo): number {
  return info.name === "webgpu" ? 10 : 1;
}

let current: BackendInfo | undefined;

/**
 * Starts the named backend (or the fastest that works, for `auto`) on
 * `threads` (a `training.threads` setting, default `auto`) and returns what
 * it got. Calling it again with the same name is free; a new thread count
 * is applied to the running backend.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { initBackend } from "./init.ts";
 * const info = await initBackend("cpu");
 * assert.equal(info.name, "cpu");
 * ```
 */
export async function initBackend(
  name: BackendName | string,
  opts: { threads?: "auto" | number } = {},
): Promise<BackendInfo> {
  const threads = resolveThreads(opts.threads);
  if (current && (name === "auto" || current.name === name)) return retune(current, threads);
  if (name === "auto") {
    const reasons: string[] = [];
    for (const candidate of autoOrder) {
      try {
        const info = await (autoStarters[candidate] ?? starters[candidate])({ threads });
        // The first clause of each error (what failed), not the install hints.
        const skipped = reasons
          .map((r) => r.split(";")[0].replace(/Cannot start \w+( for auto)?: /, ""))
          .join("; ");
        const why = skipped ? `; skipped ${skipped}` : "";
        current = { ...info, reason: `auto: ${info.name} is the fastest that started${why}` };
        return current;
      } catch (e) {
        reasons.push(`${candidate}: ${(e as Error).message}`);
      }
    }
    throw new BackendError(`Cannot start any backend:\n  ${reasons.join("\n  ")}`);
  }
  const start = starters[name];
  if (!start) {
    throw new BackendError(
      `Cannot start backend "${name}": unknown; choose one of ${Object.keys(starters).join(", ")}`,
    );
  }
  current = await start({ threads });
  return current;
}

/** The running backend on `threads` (native changes its team; the others keep one thread). */
function retune(info: BackendInfo, threads: ThreadChoice): BackendInfo {
  if (info.name !== "native" || info.threads === threads.threads) return info;
  const n = setThreads(threads.threads);
  current = {
    ...info,
    device: info.device.replace(/\d+ threads?\)$/, `${n} thread${n === 1 ? "" : "s"})`),
    threads: n,
    threads_from: threads.from,
  };
  return current;
}
