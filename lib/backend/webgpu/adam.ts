/**
 * Keras-form Adam for one variable as one WGSL dispatch: reads w, g, m, v
 * and writes fresh w, m, v (nothing in place: a variable's old buffer may
 * be shared with a clone).
 *   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  w ← w − step·m/(√v + ε)
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { dispatch, MAX_WORKGROUPS } from "./dispatch.ts";

const WORKGROUP = 256;

const ADAM = /* wgsl */ `
struct Params { size: u32, step: f32, beta1: f32, beta2: f32, eps: f32 }
@group(0) @binding(0) var<storage, read> w: array<f32>;
@group(0) @binding(1) var<storage, read> g: array<f32>;
@group(0) @binding(2) var<storage, read> m: array<f32>;
@group(0) @binding(3) var<storage, read> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> w2: array<f32>;
@group(0) @binding(5) var<storage, read_write> m2: array<f32>;
@group(0) @binding(6) var<storage, read_write> v2: array<f32>;
@group(0) @binding(7) var<uniform> u: Params;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  for (var i = gid.x; i < u.size; i = i + nw.x * ${WORKGROUP}u) {
    let gi = g[i];
    let mi = u.beta1 * m[i] + (1.0 - u.beta1) * gi;
    let vi = u.beta2 * v[i] + (1.0 - u.beta2) * gi * gi;
    m2[i] = mi;
    v2[i] = vi;
    w2[i] = w[i] - u.step * mi / (sqrt(vi) + u.eps);
  }
}
`;

/** One Adam step's constants: w −= stepSize · m / (√v + epsilon). */
export interface AdamConstants {
  /** Keras: lr·√(1−β2ᵗ)/(1−β1ᵗ). */
  stepSize: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

/** New [w, m, v] after one step, as tensor infos on `backend` (tfjs's webgpu backend). */
export function adamStep(
  backend: tf.KernelBackend,
  inputs: { w: tf.TensorInfo; g: tf.TensorInfo; m: tf.TensorInfo; v: tf.TensorInfo },
  attrs: AdamConstants,
): tf.TensorInfo[] {
  const { w, g, m, v } = inputs;
  const size = w.shape.reduce((a, b) => a * b, 1);
  for (const [name, t] of Object.entries({ g, m, v })) {
    if (t.shape.reduce((a, b) => a * b, 1) !== size) {
      throw new RangeError(
        `Cannot apply Adam to a variable of shape [${w.shape}]: ${name} has shape [${t.shape}]`,
      );
    }
  }
  return dispatch(backend, {
    name: "glyphnet_adam",
    code: ADAM,
    inputs: [w, g, m, v],
    outputs: [w.shape, w.shape, w.shape],
    uniforms: [
      { type: "uint32", value: size },
      { type: "float32", value: attrs.stepSize },
      { type: "float32", value: attrs.beta1 },
      { type: "float32", value: attrs.beta2 },
      { type: "float32", value: attrs.epsilon },
    ],
    workgroups: [Math.max(1, Math.min(MAX_WORKGROUPS, Math.ceil(size / WORKGROUP)))],
  });
}
