/**
 * Starter for the `tensorflow` backend: TensorFlow's C library through
 * @tensorflow/tfjs-node-gpu (CUDA) or @tensorflow/tfjs-node (CPU).
 *
 * Neither package is a dependency of glyphnet: their install script
 * downloads libtensorflow (hundreds of MB) from a host that offline
 * machines cannot reach, so they are loaded only when a user installed one
 * into the project's node_modules. Node-API addons load in Deno with
 * `--allow-ffi`.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { createRequire } from "node:module";
import { join } from "node:path";
import { BackendError, type BackendInfo } from "./info.ts";

/** Packages tried in order: the GPU build first. */
export const TENSORFLOW_PACKAGES: readonly string[] = [
  "@tensorflow/tfjs-node-gpu",
  "@tensorflow/tfjs-node",
];

/** What a user runs to get the backend; part of every error. */
export const TENSORFLOW_INSTALL_HINT =
  "install it with `deno add npm:@tensorflow/tfjs-node-gpu@4.22.0 && " +
  "deno install --allow-scripts=npm:@tensorflow/tfjs-node-gpu` (needs internet, " +
  "CUDA 11.2 and cuDNN 8.1; use tfjs-node for the CPU build) and run Deno with --allow-ffi";

/** Options of {@link startTensorflow}. */
export interface TensorflowOptions {
  /** Folder whose node_modules is searched (default: the working directory). */
  root?: string;
  /** Packages to try, in order (default {@link TENSORFLOW_PACKAGES}). */
  packages?: readonly string[];
}

/** The first package of `packages` that resolves from `root`, or undefined. */
export function findTensorflowPackage(opts: TensorflowOptions = {}): string | undefined {
  const require = createRequire(join(opts.root ?? Deno.cwd(), "glyphnet.js"));
  for (const name of opts.packages ?? TENSORFLOW_PACKAGES) {
    try {
      require.resolve(name);
      return name;
    } catch { /* not installed */ }
  }
  return undefined;
}

/**
 * Loads tfjs-node-gpu (else tfjs-node) from `root`'s node_modules, makes
 * `tensorflow` the tfjs backend and describes it. Throws
 * {@link BackendError} saying what to install when neither is installed or
 * loading fails (no libtensorflow, no --allow-ffi, wrong CUDA).
 *
 * @example
 * ```ts ignore
 * const info = await startTensorflow();
 * console.log(info.device); // "libtensorflow via @tensorflow/tfjs-node-gpu (CUDA)"
 * ```
 */
export async function startTensorflow(opts: TensorflowOptions = {}): Promise<BackendInfo> {
  const name = findTensorflowPackage(opts);
  if (!name) {
    throw new BackendError(
      `Cannot start tensorflow: neither ${TENSORFLOW_PACKAGES.join(" nor ")} is installed; ` +
        TENSORFLOW_INSTALL_HINT,
    );
  }
  if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
    throw new BackendError(
      `Cannot start tensorflow: ${name} is a Node-API addon and Deno needs --allow-ffi to load it`,
    );
  }
  try {
    createRequire(join(opts.root ?? Deno.cwd(), "glyphnet.js"))(name);
  } catch (e) {
    throw new BackendError(
      `Cannot start tensorflow: loading ${name} failed (${firstLine(e)}); ` +
        `its libtensorflow may be missing: ${TENSORFLOW_INSTALL_HINT}`,
    );
  }
  if (!tf.findBackendFactory("tensorflow") || !(await tf.setBackend("tensorflow"))) {
    throw new BackendError(
      `Cannot start tensorflow: ${name} loaded but registered no working "tensorflow" backend ` +
        "(is it version 4.22, like @tensorflow/tfjs-core?)",
    );
  }
  const gpu = name.endsWith("-gpu");
  return {
    name: "tensorflow",
    device: `libtensorflow via ${name} (${gpu ? "CUDA, or CPU when no GPU is visible" : "CPU"})`,
    // libtensorflow sizes its own thread pools to the machine.
    threads: navigator.hardwareConcurrency,
  };
}

function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split("\n")[0];
}
