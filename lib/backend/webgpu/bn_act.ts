/**
 * Batch norm with batch statistics followed by swish or sigmoid, as four
 * WGSL shaders: forward = statistics + apply, backward = per-channel sums +
 * input gradient. Values as [rows, channels] (NHWC flattened), channels
 * last; the per-channel work runs one workgroup per channel.
 *
 * Same math as the composed tfjs block (lib/model/block.ts): with
 * x̂ = (y − mean)/√(var + ε), z = γ·x̂ + β and out = act(z),
 *   dz = dout · act′(z),  dγ = Σ dz·x̂,  dβ = Σ dz,
 *   dy = γ/√(var + ε) · (dz − dβ/N − x̂·dγ/N).
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { dispatch, MAX_WORKGROUPS } from "./dispatch.ts";

/** Activation after batch norm. */
export type BnActivation = "swish" | "sigmoid";

const WORKGROUP = 256;

const HEADER = /* wgsl */ `
struct Params { rows: u32, channels: u32, act: u32, eps: f32 }

fn sigm(z: f32) -> f32 {
  if (z >= 0.0) { return 1.0 / (1.0 + exp(-z)); }
  let e = exp(z);
  return e / (1.0 + e);
}
fn act(z: f32, kind: u32) -> f32 {
  let s = sigm(z);
  if (kind == 0u) { return z * s; }
  return s;
}
fn slope(z: f32, kind: u32) -> f32 {
  let s = sigm(z);
  if (kind == 0u) { return s + z * s * (1.0 - s); }
  return s * (1.0 - s);
}
`;

// Sums one value per thread across the workgroup; every thread gets the total.
const REDUCE = /* wgsl */ `
var<workgroup> part: array<f32, ${WORKGROUP}>;
fn total(x: f32, t: u32) -> f32 {
  part[t] = x;
  workgroupBarrier();
  for (var s = ${WORKGROUP / 2}u; s > 0u; s = s >> 1u) {
    if (t < s) { part[t] = part[t] + part[t + s]; }
    workgroupBarrier();
  }
  let r = part[0];
  workgroupBarrier();
  return r;
}
`;

/** Per channel: mean, variance (two passes), and saved = [mean; var; γ; β] for backward. */
const STATS = HEADER + REDUCE + /* wgsl */ `
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> gamma: array<f32>;
@group(0) @binding(2) var<storage, read> beta: array<f32>;
@group(0) @binding(3) var<storage, read_write> mean: array<f32>;
@group(0) @binding(4) var<storage, read_write> variance: array<f32>;
@group(0) @binding(5) var<storage, read_write> saved: array<f32>;
@group(0) @binding(6) var<uniform> u: Params;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let c = wg.x;
  let n = f32(u.rows);
  var s = 0.0;
  for (var r = t; r < u.rows; r = r + ${WORKGROUP}u) { s = s + y[r * u.channels + c]; }
  let m = total(s, t) / n;
  var q = 0.0;
  for (var r = t; r < u.rows; r = r + ${WORKGROUP}u) {
    let d = y[r * u.channels + c] - m;
    q = q + d * d;
  }
  let v = total(q, t) / n;
  if (t == 0u) {
    mean[c] = m;
    variance[c] = v;
    saved[c] = m;
    saved[u.channels + c] = v;
    saved[2u * u.channels + c] = gamma[c];
    saved[3u * u.channels + c] = beta[c];
  }
}
`;

// Grid-stride loop over all values: the grid is capped at MAX_WORKGROUPS.
const EACH = /* wgsl */ `
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let size = u.rows * u.channels;
  for (var i = gid.x; i < size; i = i + nw.x * ${WORKGROUP}u) {
    let c = i % u.channels;
    let inv = inverseSqrt(saved[u.channels + c] + u.eps);
    let xhat = (y[i] - saved[c]) * inv;
    let z = saved[2u * u.channels + c] * xhat + saved[3u * u.channels + c];
    BODY
  }
}
`;

/** out = act(γ·x̂ + β). */
const APPLY = HEADER + /* wgsl */ `
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> saved: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> u: Params;
` + EACH.replace("BODY", "out[i] = act(z, u.act);");

/** Per channel: dγ = Σ dz·x̂ and dβ = Σ dz. */
const GRAD_SUMS = HEADER + REDUCE + /* wgsl */ `
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> saved: array<f32>;
@group(0) @binding(3) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(4) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(5) var<uniform> u: Params;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let c = wg.x;
  let m = saved[c];
  let inv = inverseSqrt(saved[u.channels + c] + u.eps);
  let g = saved[2u * u.channels + c];
  let b = saved[3u * u.channels + c];
  var sg = 0.0;
  var sb = 0.0;
  for (var r = t; r < u.rows; r = r + ${WORKGROUP}u) {
    let i = r * u.channels + c;
    let xhat = (y[i] - m) * inv;
    let dz = dout[i] * slope(g * xhat + b, u.act);
    sg = sg + dz * xhat;
    sb = sb + dz;
  }
  let tg = total(sg, t);
  let tb = total(sb, t);
  if (t == 0u) {
    dgamma[c] = tg;
    dbeta[c] = tb;
  }
}
`;

/** dy = γ/√(var + ε) · (dz − dβ/N − x̂·dγ/N). */
const GRAD_INPUT = HEADER + /* wgsl */ `
@group(0) @binding(0) var<storage, read> y: array<f32>;
@group(0) @binding(1) var<storage, read> dout: array<f32>;
@group(0) @binding(2) var<storage, read> saved: array<f32>;
@group(0) @binding(3) var<storage, read> dgamma: array<f32>;
@group(0) @binding(4) var<storage, read> dbeta: array<f32>;
@group(0) @binding(5) var<storage, read_write> dy: array<f32>;
@group(0) @binding(6) var<uniform> u: Params;
` + EACH.replace(
  "BODY",
  `let dz = dout[i] * slope(z, u.act);
    let n = f32(u.rows);
    dy[i] = saved[2u * u.channels + c] * inv * (dz - dbeta[c] / n - xhat * dgamma[c] / n);`,
);

/** Rows and channels of a channels-last tensor. */
function layout(shape: number[]): { rows: number; channels: number } {
  const channels = shape[shape.length - 1];
  const size = shape.reduce((a, b) => a * b, 1);
  return { rows: size / channels, channels };
}

function params(shape: number[], activation: BnActivation, epsilon: number) {
  const { rows, channels } = layout(shape);
  return [
    { type: "uint32" as const, value: rows },
    { type: "uint32" as const, value: channels },
    { type: "uint32" as const, value: activation === "swish" ? 0 : 1 },
    { type: "float32" as const, value: epsilon },
  ];
}

function elementwiseGrid(shape: number[]): [number] {
  const size = shape.reduce((a, b) => a * b, 1);
  return [Math.max(1, Math.min(MAX_WORKGROUPS, Math.ceil(size / WORKGROUP)))];
}

/** What the forward pass returns: the output, the batch statistics and what backward reads. */
export interface BnActForward {
  out: tf.TensorInfo;
  mean: tf.TensorInfo;
  variance: tf.TensorInfo;
  /** [4, C]: mean, variance, γ and β as the forward pass used them. */
  saved: tf.TensorInfo;
}

/**
 * Forward: `y` [..., C] → act(batch-normalised y · γ + β), two dispatches.
 * `backend` is tfjs's webgpu backend; the results are new tensor infos on it.
 */
export function bnActForward(
  backend: tf.KernelBackend,
  inputs: { y: tf.TensorInfo; gamma: tf.TensorInfo; beta: tf.TensorInfo },
  attrs: { activation: BnActivation; epsilon: number },
): BnActForward {
  const { y, gamma, beta } = inputs;
  const { channels } = layout(y.shape);
  const uniforms = params(y.shape, attrs.activation, attrs.epsilon);
  const [mean, variance, saved] = dispatch(backend, {
    name: "glyphnet_bn_stats",
    code: STATS,
    inputs: [y, gamma, beta],
    outputs: [[channels], [channels], [4, channels]],
    uniforms,
    workgroups: [channels],
  });
  const [out] = dispatch(backend, {
    name: "glyphnet_bn_act",
    code: APPLY,
    inputs: [y, saved],
    outputs: [y.shape],
    uniforms,
    workgroups: elementwiseGrid(y.shape),
  });
  return { out, mean, variance, saved };
}

/**
 * Backward: gradients of `y`, γ and β from `dout`, two dispatches. `y` and
 * `saved` are the forward pass's input and saved statistics.
 */
export function bnActBackward(
  backend: tf.KernelBackend,
  inputs: { y: tf.TensorInfo; saved: tf.TensorInfo; dout: tf.TensorInfo },
  attrs: { activation: BnActivation; epsilon: number },
): { dy: tf.TensorInfo; dgamma: tf.TensorInfo; dbeta: tf.TensorInfo } {
  const { y, saved, dout } = inputs;
  const { channels } = layout(y.shape);
  const uniforms = params(y.shape, attrs.activation, attrs.epsilon);
  const [dgamma, dbeta] = dispatch(backend, {
    name: "glyphnet_bn_act_grad_sums",
    code: GRAD_SUMS,
    inputs: [y, dout, saved],
    outputs: [[channels], [channels]],
    uniforms,
    workgroups: [channels],
  });
  const [dy] = dispatch(backend, {
    name: "glyphnet_bn_act_grad_input",
    code: GRAD_INPUT,
    inputs: [y, dout, saved, dgamma, dbeta],
    outputs: [y.shape],
    uniforms,
    workgroups: elementwiseGrid(y.shape),
  });
  return { dy, dgamma, dbeta };
}
