/**
 * Starter for the `native` backend: tfjs's cpu backend with convolutions,
 * matmul, elementwise ops and glyphnet's fused kernels (the conv→BN→activation
 * block and Adam, lib/backend/fused_kernels.ts) computed in C on OpenBLAS through
 * Deno FFI (needs `--allow-ffi`, `--allow-run` and `--allow-write` the first
 * time, to compile into `build/`). Threads: `training.threads` (lib/backend/threads.ts).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
// tfjs's gradients: native.ts is also used without init.ts, which imports them too.
import "./_gradients.ts";
import { BackendError, type BackendInfo } from "./info.ts";
import { NativeBuildError } from "./native/build.ts";
import {
  type NativeLib,
  nativeSync,
  setNativeThreads,
  startNative as loadAndStart,
} from "./native/ffi.ts";
import { NATIVE, registerNativeBackend } from "./native/kernels.ts";
import { NativeBackend } from "./native/backend.ts";
import { setQueue } from "./native/queue.ts";
import { resolveThreads, type ThreadChoice } from "./threads.ts";

/**
 * A float32 array of `n` values to wrap with `tf.tensor` as a tensor's
 * data. On the native backend it comes from the pool of disposed tensors'
 * buffers (and goes back when its tensor is disposed), saving the page
 * faults of a fresh array (~1.5 ms per MiB on these machines); elsewhere it
 * is a fresh array. Only zeroed when `zero` is set: write every value.
 *
 * @example
 * ```ts ignore
 * const out = takeBuffer(b * h * w * c);
 * for (let i = 0; i < out.length; i++) out[i] = src[i] * 2;
 * return tf.tensor(out, [b, h, w, c]);
 * ```
 */
export function takeBuffer(n: number, opts: { zero?: boolean } = {}): Float32Array {
  const backend = tf.backend();
  if (!(backend instanceof NativeBackend)) return new Float32Array(n);
  const out = backend.takeHost(n);
  if (opts.zero) out.fill(0);
  return out;
}

/**
 * Runs native kernels on `n` threads; from 2, queued on a worker thread
 * while JavaScript builds the step (lib/backend/native/queue.ts), else
 * called in turn. Returns the threads in effect (fewer when the system would
 * not start more).
 */
export function setThreads(n: number): number {
  const threads = setNativeThreads(n);
  setQueue(nativeSync(), n >= 2);
  return threads;
}

/**
 * "OpenBLAS 0.3.21, Cooperlake kernels": the kernels decide the GEMM speed,
 * and one set by OPENBLAS_CORETYPE (some machine images pin it) is named as such.
 */
function blasName(lib: NativeLib): string {
  const blas = lib.blas.split(/\s+/).slice(0, 2).join(" ");
  if (!lib.core) return blas;
  return `${blas}, ${lib.core} kernels${lib.coreForced ? " from OPENBLAS_CORETYPE" : ""}`;
}

/** The CPU's model name: from CPUID (x86), else /proc/cpuinfo where readable, else the architecture. */
function cpuName(lib: NativeLib): string {
  if (lib.cpu) return lib.cpu;
  try {
    const m = Deno.readTextFileSync("/proc/cpuinfo").match(/^model name\s*:\s*(.+)$/m);
    if (m) return m[1].trim();
  } catch { /* not Linux */ }
  return `${Deno.build.arch} CPU`;
}

/**
 * Builds and loads the native library, registers the `native` tfjs backend
 * and makes it current, computing on `threads` threads (default: `auto`, see
 * lib/backend/threads.ts). Throws {@link BackendError} saying what to
 * install when the compiler or OpenBLAS is missing.
 *
 * @example
 * ```ts ignore
 * const info = await startNative({ threads: { threads: 2, from: "training.threads" } });
 * console.log(info.device); // "AMD EPYC (OpenBLAS 0.3.21, Cooperlake kernels, 2 threads)"
 * ```
 */
export async function startNative(
  opts: { threads?: ThreadChoice } = {},
): Promise<BackendInfo> {
  let lib: NativeLib;
  try {
    lib = await loadAndStart();
  } catch (e) {
    if (e instanceof NativeBuildError || e instanceof RangeError) {
      throw new BackendError(e.message);
    }
    if (e instanceof Deno.errors.NotCapable || e instanceof Deno.errors.PermissionDenied) {
      throw new BackendError(
        `Cannot start native: ${
          (e as Error).message
        }; run with --allow-ffi --allow-run --allow-write`,
      );
    }
    throw new BackendError(
      `Cannot start native: loading its library failed: ${(e as Error).message}`,
    );
  }
  const choice = opts.threads ?? resolveThreads();
  const threads = setThreads(choice.threads);
  registerNativeBackend();
  if (!(await tf.setBackend(NATIVE))) {
    throw new BackendError("Cannot start native: tfjs could not initialise the backend");
  }
  return {
    name: NATIVE,
    device: `${cpuName(lib)} (${blasName(lib)}, ${threads} thread${threads === 1 ? "" : "s"})`,
    threads,
    threads_from: threads === choice.threads
      ? choice.from
      : `${choice.from}; only ${threads} could start`,
  };
}
