/**
 * Batch norm with batch statistics followed by swish or sigmoid, as four
 * WGSL shaders around the convolution of a conv → BN → activation block:
 * forward = statistics + apply, backward = per-channel sums + gradient of
 * the convolution's output. Values as [rows, channels] (NHWC flattened);
 * the per-channel sums run one workgroup per channel.
 *
 * With z the convolution's output plus bias, x̂ = (z − mean)/√(var + ε),
 * u = γ·x̂ + β and y = act(u):
 *   du = dy · act′(u),  dγ = Σ du·x̂,  dβ = Σ du,
 *   dz = γ/√(var + ε) · (du − dβ/N − x̂·dγ/N),
 *   dbias = Σ dz = −γ/√(var + ε) · dγ · mean(x̂)  (zero up to rounding).
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { dispatch, MAX_WORKGROUPS } from "./dispatch.ts";

/** Activation after batch norm. */
export type BnActivation = "swish" | "sigmoid";

const WORKGROUP = 256;

const HEADER = /* wgsl */ `
struct Params { rows: u32, channels: u32, act: u32, eps: f32 }

fn sigm(u: f32) -> f32 {
  if (u >= 0.0) { return 1.0 / (1.0 + exp(-u)); }
  let e = exp(u);
  return e / (1.0 + e);
}
fn act(u: f32, kind: u32) -> f32 {
  let s = sigm(u);
  if (kind == 0u) { return u * s; }
  return s;
}
fn slope(u: f32, kind: u32) -> f32 {
  let s = sigm(u);
  if (kind == 0u) { return s + u * s * (1.0 - s); }
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

/** Per channel: mean and variance of z + bias (two passes over the values). */
const STATS = HEADER + REDUCE + /* wgsl */ `
@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read_write> mean: array<f32>;
@group(0) @binding(3) var<storage, read_write> variance: array<f32>;
@group(0) @binding(4) var<uniform> u: Params;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let c = wg.x;
  let n = f32(u.rows);
  var s = 0.0;
  for (var r = t; r < u.rows; r = r + ${WORKGROUP}u) { s = s + z[r * u.channels + c]; }
  let m = total(s, t) / n;
  var q = 0.0;
  for (var r = t; r < u.rows; r = r + ${WORKGROUP}u) {
    let d = z[r * u.channels + c] - m;
    q = q + d * d;
  }
  let v = total(q, t) / n;
  if (t == 0u) {
    mean[c] = m + bias[c];
    variance[c] = v;
  }
}
`;

// Grid-stride loop over every value: the grid is capped at MAX_WORKGROUPS.
function eachValue(body: string): string {
  return /* wgsl */ `
@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nw: vec3<u32>) {
  let size = u.rows * u.channels;
  for (var i = gid.x; i < size; i = i + nw.x * ${WORKGROUP}u) {
    let c = i % u.channels;
    let inv = inverseSqrt(variance[c] + u.eps);
    ${body}
  }
}
`;
}

/** y = act(γ·x̂ + β) and x̂ itself. */
const APPLY = HEADER + /* wgsl */ `
@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read> bias: array<f32>;
@group(0) @binding(2) var<storage, read> mean: array<f32>;
@group(0) @binding(3) var<storage, read> variance: array<f32>;
@group(0) @binding(4) var<storage, read> gamma: array<f32>;
@group(0) @binding(5) var<storage, read> beta: array<f32>;
@group(0) @binding(6) var<storage, read_write> y: array<f32>;
@group(0) @binding(7) var<storage, read_write> xhat: array<f32>;
@group(0) @binding(8) var<uniform> u: Params;
` + eachValue(`let h = (z[i] + bias[c] - mean[c]) * inv;
    xhat[i] = h;
    y[i] = act(gamma[c] * h + beta[c], u.act);`);

/** Per channel: dγ = Σ du·x̂, dβ = Σ du and dbias. */
const GRAD_SUMS = HEADER + REDUCE + /* wgsl */ `
@group(0) @binding(0) var<storage, read> xhat: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read> variance: array<f32>;
@group(0) @binding(5) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(7) var<storage, read_write> dbias: array<f32>;
@group(0) @binding(8) var<uniform> u: Params;

@compute @workgroup_size(${WORKGROUP})
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
  let c = wg.x;
  let g = gamma[c];
  let b = beta[c];
  var sg = 0.0;
  var sb = 0.0;
  var sh = 0.0;
  for (var r = t; r < u.rows; r = r + ${WORKGROUP}u) {
    let i = r * u.channels + c;
    let h = xhat[i];
    let du = dy[i] * slope(g * h + b, u.act);
    sg = sg + du * h;
    sb = sb + du;
    sh = sh + h;
  }
  let tg = total(sg, t);
  let tb = total(sb, t);
  let th = total(sh, t);
  if (t == 0u) {
    dgamma[c] = tg;
    dbeta[c] = tb;
    dbias[c] = -g * inverseSqrt(variance[c] + u.eps) * tg * th / f32(u.rows);
  }
}
`;

/** dz = γ/√(var + ε) · (du − dβ/N − x̂·dγ/N). */
const GRAD_INPUT = HEADER + /* wgsl */ `
@group(0) @binding(0) var<storage, read> xhat: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read> variance: array<f32>;
@group(0) @binding(5) var<storage, read> dgamma: array<f32>;
@group(0) @binding(6) var<storage, read> dbeta: array<f32>;
@group(0) @binding(7) var<storage, read_write> dz: array<f32>;
@group(0) @binding(8) var<uniform> u: Params;
` + eachValue(`let h = xhat[i];
    let du = dy[i] * slope(gamma[c] * h + beta[c], u.act);
    let n = f32(u.rows);
    dz[i] = gamma[c] * inv * (du - dbeta[c] / n - h * dgamma[c] / n);`);

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

/** Batch norm's activation and ε. */
export interface BnAttrs {
  activation: BnActivation;
  epsilon: number;
}

/**
 * Forward, two dispatches: from the convolution's output `z` (bias not yet
 * added) to [y, x̂, mean, variance] of GlyphnetConvBnAct. `backend` is
 * tfjs's webgpu backend; the results are new tensor infos on it.
 */
export function batchNormForward(
  backend: tf.KernelBackend,
  inputs: { z: tf.TensorInfo; bias: tf.TensorInfo; gamma: tf.TensorInfo; beta: tf.TensorInfo },
  attrs: BnAttrs,
): tf.TensorInfo[] {
  const { z, bias, gamma, beta } = inputs;
  const { channels } = layout(z.shape);
  const uniforms = params(z.shape, attrs.activation, attrs.epsilon);
  const [mean, variance] = dispatch(backend, {
    name: "glyphnet_bn_stats",
    code: STATS,
    inputs: [z, bias],
    outputs: [[channels], [channels]],
    uniforms,
    workgroups: [channels],
  });
  const [y, xhat] = dispatch(backend, {
    name: "glyphnet_bn_apply",
    code: APPLY,
    inputs: [z, bias, mean, variance, gamma, beta],
    outputs: [z.shape, z.shape],
    uniforms,
    workgroups: elementwiseGrid(z.shape),
  });
  return [y, xhat, mean, variance];
}

/**
 * Backward, two dispatches: from `dy` (the gradient of y) and the forward's
 * x̂ and variance to [dz, dbias, dγ, dβ], dz being the gradient of the
 * convolution's output.
 */
export function batchNormBackward(
  backend: tf.KernelBackend,
  inputs: {
    xhat: tf.TensorInfo;
    dy: tf.TensorInfo;
    gamma: tf.TensorInfo;
    beta: tf.TensorInfo;
    variance: tf.TensorInfo;
  },
  attrs: BnAttrs,
): tf.TensorInfo[] {
  const { xhat, dy, gamma, beta, variance } = inputs;
  const { channels } = layout(xhat.shape);
  const uniforms = params(xhat.shape, attrs.activation, attrs.epsilon);
  const [dgamma, dbeta, dbias] = dispatch(backend, {
    name: "glyphnet_bn_grad_sums",
    code: GRAD_SUMS,
    inputs: [xhat, dy, gamma, beta, variance],
    outputs: [[channels], [channels], [channels]],
    uniforms,
    workgroups: [channels],
  });
  const [dz] = dispatch(backend, {
    name: "glyphnet_bn_grad_input",
    code: GRAD_INPUT,
    inputs: [xhat, dy, gamma, beta, variance, dgamma, dbeta],
    outputs: [xhat.shape],
    uniforms,
    workgroups: elementwiseGrid(xhat.shape),
  });
  return [dz, dbias, dgamma, dbeta];
}
