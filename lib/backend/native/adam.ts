/**
 * Adam in one native call per variable instead of ~12 tfjs kernels, in two
 * forms: `nativeAdamApply` updates moments the caller keeps as tf.Variables
 * (lib/train/adam.ts's Keras form), `nativeAdamUpdate` keeps them itself
 * (tf.train.adam's form). Variables get fresh values by `assign`: their old
 * data may be shared with clones (checkpoints), so nothing is written in place.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { NativeBackend } from "./backend.ts";
import { nativeSync } from "./ffi.ts";
import { valuesOf } from "./kernels.ts";

/** One Adam step's constants: w −= stepSize · m / (√v + epsilon). */
export interface AdamStep {
  /** Keras: lr·√(1−β2ᵗ)/(1−β1ᵗ). */
  stepSize: number;
  beta1: number;
  beta2: number;
  /** Added to √v (Keras's ε; tfjs's ε·√(1−β2ᵗ)). */
  epsilon: number;
}

/** A pooled copy of a tensor's values. */
function copyOf(backend: NativeBackend, t: tf.Tensor): Float32Array {
  const copy = backend.take(t.size);
  copy.set(valuesOf(backend, t));
  return copy;
}

function replace(v: tf.Variable, values: Float32Array): void {
  const next = tf.tensor(values, v.shape);
  v.assign(next);
  next.dispose();
}

/**
 * Keras-form Adam on one variable `w` with gradient `g` and moments `m`,
 * `v` (variables of w's shape, updated too). Requires the `native` backend.
 *
 * @example
 * ```ts ignore
 * const lrT = lr * Math.sqrt(1 - b2 ** t) / (1 - b1 ** t);
 * nativeAdamApply(w, g, m, v, { stepSize: lrT, beta1: b1, beta2: b2, epsilon });
 * ```
 */
export function nativeAdamApply(
  w: tf.Variable,
  g: tf.Tensor,
  moments: { m: tf.Variable; v: tf.Variable },
  step: AdamStep,
): void {
  if (g.size !== w.size || moments.m.size !== w.size || moments.v.size !== w.size) {
    throw new RangeError(
      `Cannot apply Adam to a variable of shape [${w.shape}]: gradient [${g.shape}], ` +
        `moments [${moments.m.shape}] and [${moments.v.shape}] must match it`,
    );
  }
  const backend = tf.backend() as NativeBackend;
  const value = copyOf(backend, w);
  const m = copyOf(backend, moments.m);
  const v = copyOf(backend, moments.v);
  nativeSync().symbols.gn_adam(
    value,
    valuesOf(backend, g),
    m,
    v,
    w.size,
    step.stepSize,
    step.beta1,
    step.beta2,
    step.epsilon,
  );
  replace(w, value);
  replace(moments.m, m);
  replace(moments.v, v);
}

/** Adam's settings, its step count and first/second moments per variable. */
export interface NativeAdamState {
  learningRate: number;
  beta1: number;
  beta2: number;
  epsilon: number;
  /** Steps taken so far. */
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
 * One `tf.train.adam` step: `vars[i]` moves by `grads[i]`, moments kept in
 * `state`. Requires the `native` backend.
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
  const c2 = Math.sqrt(1 - beta2 ** state.step);
  const stepSize = state.learningRate * c2 / (1 - beta1 ** state.step);
  const backend = tf.backend() as NativeBackend;
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
    const values = copyOf(backend, v);
    adam(
      values,
      valuesOf(backend, grads[i]),
      mom.m,
      mom.v,
      v.size,
      stepSize,
      beta1,
      beta2,
      state.epsilon * c2,
    );
    replace(v, values);
  }
}
