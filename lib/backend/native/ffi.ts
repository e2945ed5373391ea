/**
 * Loads the native library through Deno FFI (building it first when needed)
 * and sets its threads. Buffers pass as `"buffer"`: Float32Arrays go to
 * C without a copy.
 * @module
 */
import { buildNative } from "./build.ts";

const SYMBOLS = {
  gn_set_threads: { parameters: ["i32"], result: "void" },
  gn_get_threads: { parameters: [], result: "i32" },
  gn_blas_config_copy: { parameters: ["buffer", "i32"], result: "i32" },
  gn_blas_core_copy: { parameters: ["buffer", "i32"], result: "i32" },
  gn_cpu_name_copy: { parameters: ["buffer", "i32"], result: "i32" },
  gn_arena_bytes: { parameters: [], result: "f64" },
  gn_set_min_work: { parameters: ["f64"], result: "void" },
  gn_set_runners: { parameters: ["i32"], result: "void" },
  gn_sgemm_gflops: { parameters: ["i32", "i32", "i32"], result: "f64" },
  gn_core_probe: { parameters: ["i32", "buffer"], result: "i32" },
  gn_conv2d: { parameters: ["buffer", "buffer", "buffer", "buffer"], result: "i32" },
  gn_conv2d_bwd_input: { parameters: ["buffer", "buffer", "buffer", "buffer"], result: "i32" },
  gn_conv2d_bwd_input_add: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  gn_conv2d_bwd_filter: { parameters: ["buffer", "buffer", "buffer", "buffer"], result: "i32" },
  gn_matmul: {
    parameters: [
      "buffer",
      "buffer",
      "buffer",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
      "i32",
    ],
    result: "void",
  },
  gn_block_fwd: {
    parameters: [
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "i32",
      "i32",
      "f32",
      "buffer",
    ],
    result: "i32",
  },
  gn_bn_act_bwd: {
    parameters: [
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "usize",
      "i32",
      "i32",
      "f32",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
    ],
    result: "i32",
  },
  gn_unary: { parameters: ["i32", "buffer", "buffer", "usize"], result: "void" },
  gn_reduce: { parameters: ["i32", "buffer", "buffer", "buffer", "usize"], result: "i32" },
  gn_random_normal: {
    parameters: ["f64", "buffer", "usize", "f32", "f32"],
    result: "void",
  },
  gn_adam: {
    parameters: [
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "buffer",
      "i32",
      "f32",
      "f32",
      "f32",
      "f32",
    ],
    result: "void",
  },
  gn_binary: {
    parameters: ["i32", "buffer", "i32", "buffer", "i32", "buffer", "i32"],
    result: "void",
  },
  gn_binary_bcast: { parameters: ["i32", "buffer", "buffer", "buffer", "buffer"], result: "void" },
  gn_transpose: { parameters: ["buffer", "buffer", "buffer"], result: "void" },
  gn_gather_weighted: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "i32", "i32", "i32", "i32"],
    result: "void",
  },
  gn_scatter_weighted: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "i32", "i32", "i32", "i32"],
    result: "void",
  },
  gn_affine_corners: {
    parameters: ["buffer", "i32", "i32", "i32", "i32", "buffer", "buffer"],
    result: "i32",
  },
  gn_correlate3x3: {
    parameters: ["buffer", "buffer", "buffer", "i32", "i32", "i32", "i32"],
    result: "void",
  },
  gn_blur: {
    parameters: ["buffer", "buffer", "i32", "buffer", "i32", "i32", "i32", "i32"],
    result: "i32",
  },
  gn_squash: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "i32", "usize"],
    result: "void",
  },
  gn_moving_average: {
    parameters: ["buffer", "buffer", "buffer", "i32", "f32", "f32"],
    result: "void",
  },
  gn_q_start: { parameters: [], result: "f64" },
  gn_q_done: { parameters: [], result: "f64" },
  gn_q_wait: { parameters: ["f64"], result: "i32" },
  gn_q_error_copy: { parameters: ["buffer", "i32"], result: "i32" },
} as const satisfies Deno.ForeignLibraryInterface;

/** Kernels queue.c can queue: gnq_X takes gn_X's arguments and returns nothing. */
export const QUEUED_KERNELS = [
  "gn_conv2d",
  "gn_conv2d_bwd_input",
  "gn_conv2d_bwd_input_add",
  "gn_conv2d_bwd_filter",
  "gn_matmul",
  "gn_block_fwd",
  "gn_bn_act_bwd",
  "gn_unary",
  "gn_reduce",
  "gn_random_normal",
  "gn_adam",
  "gn_moving_average",
  "gn_binary",
  "gn_binary_bcast",
  "gn_transpose",
  "gn_gather_weighted",
  "gn_scatter_weighted",
  "gn_correlate3x3",
  "gn_blur",
  "gn_squash",
] as const;

/** A kernel name of {@link QUEUED_KERNELS}. */
export type QueuedKernel = typeof QUEUED_KERNELS[number];

type QueuedName<K extends string> = K extends `gn_${infer R}` ? `gnq_${R}` : never;

type QueuedSymbols = {
  [K in QueuedKernel as QueuedName<K>]: {
    parameters: typeof SYMBOLS[K]["parameters"];
    result: "void";
  };
};

/** The name of gn_X's queued form, gnq_X. */
export function queuedName<K extends QueuedKernel>(kernel: K): QueuedName<K> {
  return kernel.replace(/^gn_/, "gnq_") as QueuedName<K>;
}

const ALL_SYMBOLS = {
  ...SYMBOLS,
  ...Object.fromEntries(
    QUEUED_KERNELS.map((k) => [queuedName(k), { ...SYMBOLS[k], result: "void" }]),
  ) as QueuedSymbols,
};

/** The loaded library's functions (each documented in pool.c, runners.c, conv.c, thin.c, thin16.c, wide.c, regions.c, block.c, elementwise.c, channel.c, queue.c). */
export type NativeSymbols = Deno.DynamicLibrary<typeof ALL_SYMBOLS>["symbols"];

/** The loaded library and what it runs on. */
export interface NativeLib {
  symbols: NativeSymbols;
  /** BLAS build description, e.g. "OpenBLAS 0.3.21 ... Zen MAX_THREADS=64". */
  blas: string;
  /** The CPU's model name from CPUID, e.g. "AMD EPYC 9B45"; "" where it does not say. */
  cpu: string;
  /** The kernels OpenBLAS runs, e.g. "Haswell", "Cooperlake"; "" when unknown. */
  core: string;
  /** Whether OPENBLAS_CORETYPE chose {@link core} rather than OpenBLAS's look at the CPU. */
  coreForced: boolean;
  /** Threads the kernels use (setNativeThreads). */
  threads: number;
  /** Path of the shared library. */
  path: string;
}

// The one module-level state: the library, loaded once per process and
// then used synchronously by every kernel.
let lib: NativeLib | undefined;

async function open(): Promise<NativeLib> {
  // Read when OpenBLAS loads: it starts no threads of its own (kernels call
  // it from inside their parts, one thread each).
  Deno.env.set("OPENBLAS_NUM_THREADS", "1");
  // OpenBLAS's own threads (the GEMM ceiling probe only) sleep soon after.
  if (!Deno.env.get("OPENBLAS_THREAD_TIMEOUT")) Deno.env.set("OPENBLAS_THREAD_TIMEOUT", "4");
  const path = await buildNative();
  const { symbols } = Deno.dlopen(path, ALL_SYMBOLS);
  symbols.gn_set_threads(1);
  const blas = readText(symbols.gn_blas_config_copy) || "unknown BLAS";
  let coreForced = false;
  const core = readText((out, cap) => {
    const n = symbols.gn_blas_core_copy(out, cap);
    coreForced = n < 0;
    return Math.abs(n);
  });
  const cpu = readText(symbols.gn_cpu_name_copy).replace(/\s+/g, " ");
  return { symbols, blas, cpu, core, coreForced, threads: 1, path };
}

/** Text a C function copies into our buffer: reading a C pointer needs unscoped --allow-ffi. */
function readText(copy: (out: Uint8Array, cap: number) => number): string {
  const text = new Uint8Array(512);
  const length = copy(text, text.length);
  return new TextDecoder().decode(text.subarray(0, length)).trim();
}

/**
 * Sets the threads every native kernel uses and returns the count in effect
 * (fewer when the system would not start more).
 */
export function setNativeThreads(n: number): number {
  const l = nativeSync();
  l.symbols.gn_set_threads(n);
  l.threads = l.symbols.gn_get_threads();
  return l.threads;
}

/** Builds (if needed) and loads the native library once; later calls return it. */
export async function startNative(): Promise<NativeLib> {
  lib ??= await open();
  return lib;
}

/** The library once {@link startNative} has resolved; throws before that. */
export function nativeSync(): NativeLib {
  if (!lib) throw new Error("Cannot run a native kernel: the native backend is not started");
  return lib;
}
