/**
 * Adam as tfjs's `tf.train.adam` computes it, one native call per variable
 * instead of ~12 tfjs kernels. Moments live in JS Float32Arrays owned by the
 * state object.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { nativeSync } from "./ffi.ts";
import { valuesOf } from "./kernels.ts";

/** Adam's settings, its step count and first/second moments per variable. */
export interface NativeAdamState {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Steps taken so far (bias correction uses step + 1 next). */
  step: number;
  /** First and second moments, created on a variable's first update. */
  moments: Map<tf.Variable, { m: Float32Array; v: Float32Array }>;
}

/**
 * A fresh Adam state; defaults match `tf.train.adam` (β1 0.9, β2 0.999, ε 1e-7).
 *
 * @example
 * ```ts ignore
 * const adam = createNativeAdamState({ learningRate: 2.5e-4, beta1: 0.5 });
 * ```
 */
export function createNativeAdamState(
  opts: { learningRate: number; beta1?: number; beta2?: number; epsilon?: number },
): NativeAdamState {
  return {
    learningRate: opts.learningRate,
    beta1: opts.beta1 ?? 0.9,
    beta2: opts.beta2 ?? 0.999,
    epsilon: opts.epsilon ?? 1e-7,
    step: 0,
    moments: new Map(),
  };
}

/**
 * One Adam step: `vars[i]` moves by `grads[i]`. Each variable gets fresh
 * values by `assign` (its old data may be shared with other tensors, so it
 * is never written in place). Requires the `native` backend.
 */
export function nativeAdamUpdate(
  vars: tf.Variable[],
  grads: tf.Tensor[],
  state: NativeAdamState,
): void {
  if (vars.length !== grads.length) {
    throw new RangeError(
      `Cannot apply Adam: ${vars.length} variables but ${grads.length} gradients`,
    );
  }
  state.step++;
  const { beta1, beta2 } = state;
  const c1 = 1 - beta1 ** state.step;
  const c2 = 1 - beta2 ** state.step;
  const backend = tf.backend() as MathBackendCPU;
  const adam = nativeSync().symbols.gn_adam;
  for (let i = 0; i < vars.length; i++) {
    const v = vars[i];
    if (grads[i].size !== v.size) {
      throw new RangeError(
        `Cannot apply Adam to a variable of shape [${v.shape}]: gradient has shape [${
          grads[i].shape
        }]`,
      );
    }
    let mom = state.moments.get(v);
    if (!mom) {
      mom = { m: new Float32Array(v.size), v: new Float32Array(v.size) };
      state.moments.set(v, mom);
    }
    const values = valuesOf(backend, v).slice();
    adam(
      values,
      valuesOf(backend, grads[i]),
      mom.m,
      mom.v,
      v.size,
      state.learningRate,
      beta1,
      beta2,
      state.epsilon,
      c1,
      c2,
    );
    const next = tf.tensor(values, v.shape);
    v.assign(next);
    next.dispose();
  }
}
