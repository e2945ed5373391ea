/**
 * What G and D have in common: named variables, counting and
 * (de)serialising them for checkpoints.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { Variable } from "../tensors.ts";

/** A network's variables by name, in creation order. */
export interface Network {
  /** Which network. */
  kind: "generator" | "discriminator";
  /** Every variable by its checkpoint name, e.g. `G/stem/kernel`. */
  variables: Map<string, Variable>;
}

/** Trainable variables only (what the optimizer updates). */
export function trainableVariables(net: Network): tf.Variable[] {
  return [...net.variables.values()].filter((v) => v.trainable);
}

/**
 * Parameter count as tf.keras's `count_params()` gives it: trainable and not.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import "@tensorflow/tfjs-backend-cpu";
 * import { Rng } from "../rng.ts";
 * import { buildGenerator } from "./generator.ts";
 * import { countParams } from "./network.ts";
 * const g = buildGenerator({ messageLength: 2, imageSize: 4, channels: 1, filters: 1 }, new Rng(1));
 * assert.ok(countParams(g, { trainableOnly: true }) < countParams(g));
 * ```
 */
export function countParams(net: Network, opts: { trainableOnly?: boolean } = {}): number {
  let n = 0;
  for (const v of net.variables.values()) {
    if (!opts.trainableOnly || v.trainable) n += v.size;
  }
  return n;
}

/** Frees every variable of a network. */
export function disposeNetwork(net: Network): void {
  for (const v of net.variables.values()) v.dispose();
  net.variables.clear();
}

/** Registers variables under their names; refuses duplicates (a builder bug). */
export function addVariables(net: Network, vars: [string, tf.Variable][]): void {
  for (const [name, v] of vars) {
    if (net.variables.has(name)) throw new Error(`Duplicate variable name ${name}`);
    net.variables.set(name, v);
  }
}

/** The number of doublings between a 1×1 map and an image of `size` pixels. */
export function resolutionSteps(size: number): number {
  const r = Math.log2(size);
  if (!Number.isInteger(r) || r < 1) {
    throw new RangeError(
      `Cannot build a network for ${size}-pixel images: size must be a power of two ≥ 2`,
    );
  }
  return r;
}
