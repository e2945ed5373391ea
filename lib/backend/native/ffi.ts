/**
 * Loads the native library through Deno FFI (building it first when needed)
 * and sets its BLAS threads. Buffers pass as `"buffer"`: Float32Arrays go to
 * C without a copy.
 * @module
 */
import { buildNative } from "./build.ts";

const SYMBOLS = {
  gn_set_threads: { parameters: ["i32"], result: "void" },
  gn_get_threads: { parameters: [], result: "i32" },
  gn_blas_config: { parameters: [], result: "pointer" },
  gn_arena_bytes: { parameters: [], result: "f64" },
  gn_conv2d: { parameters: ["buffer", "buffer", "buffer", "buffer"], result: "i32" },
  gn_conv2d_bwd_input: { parameters: ["buffer", "buffer", "buffer", "buffer"], result: "i32" },
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
    ],
    result: "i32",
  },
  gn_block_bwd: {
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
      "buffer",
      "buffer",
      "buffer",
      "i32",
      "i32",
      "f32",
    ],
    result: "i32",
  },
  gn_adam: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "i32", "f32", "f32", "f32", "f32"],
    result: "void",
  },
  gn_binary: {
    parameters: ["i32", "buffer", "i32", "buffer", "i32", "buffer", "i32"],
    result: "void",
  },
  gn_binary_bcast: { parameters: ["i32", "buffer", "buffer", "buffer", "buffer"], result: "void" },
  gn_transpose: { parameters: ["buffer", "buffer", "buffer"], result: "void" },
} as const satisfies Deno.ForeignLibraryInterface;

/** The loaded library's functions (each documented in conv.c, block.c, elementwise.c). */
export type NativeSymbols = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/** The loaded library and what it runs on. */
export interface NativeLib {
  symbols: NativeSymbols;
  /** BLAS build description, e.g. "OpenBLAS 0.3.21 ... Zen MAX_THREADS=64". */
  blas: string;
  /** BLAS threads set for this process. */
  threads: number;
  /** Path of the shared library. */
  path: string;
}

// The one module-level state: the library, loaded once per process and
// then used synchronously by every kernel.
let lib: NativeLib | undefined;

/** Threads from `GLYPHNET_THREADS` (default 1), checked. */
export function requestedThreads(): number {
  const raw = Deno.env.get("GLYPHNET_THREADS") ?? "1";
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`Cannot use GLYPHNET_THREADS="${raw}": it must be a whole number ≥ 1`);
  }
  return n;
}

async function open(): Promise<NativeLib> {
  const threads = requestedThreads();
  // OpenBLAS reads these when it loads: start no more threads than asked,
  // and let idle ones sleep quickly instead of spinning (docs/ARCHITECTURE.md, "Backends").
  if (!Deno.env.get("OPENBLAS_NUM_THREADS")) Deno.env.set("OPENBLAS_NUM_THREADS", String(threads));
  if (!Deno.env.get("OPENBLAS_THREAD_TIMEOUT")) Deno.env.set("OPENBLAS_THREAD_TIMEOUT", "4");
  const path = await buildNative();
  const { symbols } = Deno.dlopen(path, SYMBOLS);
  symbols.gn_set_threads(threads);
  const ptr = symbols.gn_blas_config();
  const blas = ptr ? Deno.UnsafePointerView.getCString(ptr).trim() : "unknown BLAS";
  return { symbols, blas, threads: symbols.gn_get_threads(), path };
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
