/**
 * Batch norm with batch statistics followed by swish or sigmoid, as WGSL
 * shaders around the convolution of a conv → BN → activation block. Values
 * as [rows, channels] (NHWC flattened). Per-channel sums take two
 * dispatches: partial sums over spans of rows (adjacent threads read
 * adjacent channels, so loads coalesce, and the rows spread over up to 2048
 * workgroups), then one short sum per channel. Forward: partial statistics
 * + statistics + apply; backward: partial sums + sums + input gradient.
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
/** Per-channel sums: workgroups of 32 channels × 8 row lanes (adjacent threads, adjacent channels). */
const LANES_C = 32;
const LANES_R = 8;

const HEADER = /* wgsl */ `
struct Params { rows: u32, channels: u32, act: u32, eps: f32, span: u32, parts: u32 }

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

/**
 * Per-channel partial sums over one span of rows (workgroup y = part):
 * Σ d and Σ d² of d = z − z[row 0] (shifted, so the variance keeps its
 * precision), written to part-major [parts, C] buffers.
 */
const STATS_PARTS = HEADER + /* wgsl */ `
@group(0) @binding(0) var<storage, read> z: array<f32>;
@group(0) @binding(1) var<storage, read_write> ps: array<f32>;
@group(0) @binding(2) var<storage, read_write> pq: array<f32>;
@group(0) @binding(3) var<uniform> u: Params;
var<workgroup> ts: array<f32, ${WORKGROUP}>;
var<workgroup> tq: array<f32, ${WORKGROUP}>;

@compute @workgroup_size(${LANES_C}, ${LANES_R}, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = wg.x * ${LANES_C}u + lid.x;
  let start = wg.y * u.span;
  let end = min(start + u.span, u.rows);
  var s = 0.0;
  var q = 0.0;
  if (c < u.channels) {
    let shift = z[c];
    for (var r = start + lid.y; r < end; r = r + ${LANES_R}u) {
      let d = z[r * u.channels + c] - shift;
      s = s + d;
      q = q + d * d;
    }
  }
  let t = lid.y * ${LANES_C}u + lid.x;
  ts[t] = s;
  tq[t] = q;
  workgroupBarrier();
  for (var k = ${LANES_R / 2}u; k > 0u; k = k >> 1u) {
    if (lid.y < k) {
      ts[t] = ts[t] + ts[t + k * ${LANES_C}u];
      tq[t] = tq[t] + tq[t + k * ${LANES_C}u];
    }
    workgroupBarrier();
  }
  if (lid.y == 0u && c < u.channels) {
    ps[wg.y * u.channels + c] = ts[t];
    pq[wg.y * u.channels + c] = tq[t];
  }
}
`;

/** Per channel: mean (of z + bias) and biased variance from the partial sums. */
const STATS = HEADER + /* wgsl */ `
@group(0) @binding(0) var<storage, read> ps: array<f32>;
@group(0) @binding(1) var<storage, read> pq: array<f32>;
@group(0) @binding(2) var<storage, read> z: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> mean: array<f32>;
@group(0) @binding(5) var<storage, read_write> variance: array<f32>;
@group(0) @binding(6) var<uniform> u: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= u.channels) { return; }
  var s = 0.0;
  var q = 0.0;
  for (var p = 0u; p < u.parts; p = p + 1u) {
    s = s + ps[p * u.channels + c];
    q = q + pq[p * u.channels + c];
  }
  let n = f32(u.rows);
  let m = s / n;
  mean[c] = z[c] + m + bias[c];
  variance[c] = max(q / n - m * m, 0.0);
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

/** Per-channel partial sums over one span of rows: Σ du·x̂, Σ du and Σ x̂. */
const GRAD_PARTS = HEADER + /* wgsl */ `
@group(0) @binding(0) var<storage, read> xhat: array<f32>;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> pg: array<f32>;
@group(0) @binding(5) var<storage, read_write> pb: array<f32>;
@group(0) @binding(6) var<storage, read_write> ph: array<f32>;
@group(0) @binding(7) var<uniform> u: Params;
var<workgroup> tg: array<f32, ${WORKGROUP}>;
var<workgroup> tb: array<f32, ${WORKGROUP}>;
var<workgroup> th: array<f32, ${WORKGROUP}>;

@compute @workgroup_size(${LANES_C}, ${LANES_R}, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
  let c = wg.x * ${LANES_C}u + lid.x;
  let start = wg.y * u.span;
  let end = min(start + u.span, u.rows);
  var sg = 0.0;
  var sb = 0.0;
  var sh = 0.0;
  if (c < u.channels) {
    let g = gamma[c];
    let b = beta[c];
    for (var r = start + lid.y; r < end; r = r + ${LANES_R}u) {
      let i = r * u.channels + c;
      let h = xhat[i];
      let du = dy[i] * slope(g * h + b, u.act);
      sg = sg + du * h;
      sb = sb + du;
      sh = sh + h;
    }
  }
  let t = lid.y * ${LANES_C}u + lid.x;
  tg[t] = sg;
  tb[t] = sb;
  th[t] = sh;
  workgroupBarrier();
  for (var k = ${LANES_R / 2}u; k > 0u; k = k >> 1u) {
    if (lid.y < k) {
      tg[t] = tg[t] + tg[t + k * ${LANES_C}u];
      tb[t] = tb[t] + tb[t + k * ${LANES_C}u];
      th[t] = th[t] + th[t + k * ${LANES_C}u];
    }
    workgroupBarrier();
  }
  if (lid.y == 0u && c < u.channels) {
    pg[wg.y * u.channels + c] = tg[t];
    pb[wg.y * u.channels + c] = tb[t];
    ph[wg.y * u.channels + c] = th[t];
  }
}
`;

/** Per channel: dγ = Σ du·x̂, dβ = Σ du and dbias = −γ/√(var + ε) · dγ · mean(x̂). */
const GRAD_SUMS = HEADER + /* wgsl */ `
@group(0) @binding(0) var<storage, read> pg: array<f32>;
@group(0) @binding(1) var<storage, read> pb: array<f32>;
@group(0) @binding(2) var<storage, read> ph: array<f32>;
@group(0) @binding(3) var<storage, read> gamma: array<f32>;
@group(0) @binding(4) var<storage, read> variance: array<f32>;
@group(0) @binding(5) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(6) var<storage, read_write> dbeta: array<f32>;
@group(0) @binding(7) var<storage, read_write> dbias: array<f32>;
@group(0) @binding(8) var<uniform> u: Params;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let c = gid.x;
  if (c >= u.channels) { return; }
  var sg = 0.0;
  var sb = 0.0;
  var sh = 0.0;
  for (var p = 0u; p < u.parts; p = p + 1u) {
    sg = sg + pg[p * u.channels + c];
    sb = sb + pb[p * u.channels + c];
    sh = sh + ph[p * u.channels + c];
  }
  dgamma[c] = sg;
  dbeta[c] = sb;
  dbias[c] = -gamma[c] * inverseSqrt(variance[c] + u.eps) * sg * sh / f32(u.rows);
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

/**
 * Rows per part of the per-channel sums: at least 64, and few enough parts
 * (≤ 2048) that the final sum per channel stays short.
 */
function span(rows: number): number {
  return Math.max(64, Math.ceil(rows / 2048));
}

function params(shape: number[], activation: BnActivation, epsilon: number) {
  const { rows, channels } = layout(shape);
  return [
    { type: "uint32" as const, value: rows },
    { type: "uint32" as const, value: channels },
    { type: "uint32" as const, value: activation === "swish" ? 0 : 1 },
    { type: "float32" as const, value: epsilon },
    { type: "uint32" as const, value: span(rows) },
    { type: "uint32" as const, value: Math.ceil(rows / span(rows)) },
  ];
}

/** Workgroups of the partial sums: [channel tiles, parts]. */
function partsGrid(shape: number[]): [number, number] {
  const { rows, channels } = layout(shape);
  return [Math.ceil(channels / LANES_C), Math.ceil(rows / span(rows))];
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
  const parts = partsGrid(z.shape);
  const [ps, pq] = dispatch(backend, {
    name: "glyphnet_bn_stats_parts",
    code: STATS_PARTS,
    inputs: [z],
    outputs: [[parts[1], channels], [parts[1], channels]],
    uniforms,
    workgroups: parts,
  });
  const [mean, variance] = dispatch(backend, {
    name: "glyphnet_bn_stats",
    code: STATS,
    inputs: [ps, pq, z, bias],
    outputs: [[channels], [channels]],
    uniforms,
    workgroups: [Math.ceil(channels / 64)],
  });
  backend.disposeData(ps.dataId);
  backend.disposeData(pq.dataId);
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
  const parts = partsGrid(xhat.shape);
  const sums = dispatch(backend, {
    name: "glyphnet_bn_grad_parts",
    code: GRAD_PARTS,
    inputs: [xhat, dy, gamma, beta],
    outputs: [0, 1, 2].map(() => [parts[1], channels]),
    uniforms,
    workgroups: parts,
  });
  const [dgamma, dbeta, dbias] = dispatch(backend, {
    name: "glyphnet_bn_grad_sums",
    code: GRAD_SUMS,
    inputs: [...sums, gamma, variance],
    outputs: [[channels], [channels], [channels]],
    uniforms,
    workgroups: [Math.ceil(channels / 64)],
  });
  for (const t of sums) backend.disposeData(t.dataId);
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
