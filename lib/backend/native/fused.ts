/**
 * The `native` backend's fused kernels (contract in lib/backend/fused_kernels.ts):
 * conv → batch norm (batch statistics) → swish/sigmoid as one C call forward
 * (`GlyphnetConvBnAct`, and `GlyphnetConvBnActAdd` for a residual block, its
 * input added in the same pass) and its batch-norm half backward (`GlyphnetBnActGrad`:
 * tfjs runs the conv gradients only for what it differentiates), Keras-form
 * Adam as one C call per variable, all in one kernel (`GlyphnetAdam`), the
 * running averages (`GlyphnetMovingAverages`), seeded normal draws, and
 * the channel's corner tables, resampling, 3×3 correlation and blur loops.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  ADAM,
  ADAM_INPUTS,
  type AdamAttrs,
  AFFINE_CORNERS,
  type AffineCornersAttrs,
  BLUR,
  type BlurAttrs,
  BN_ACT_GRAD,
  CONV_BN_ACT,
  CONV_BN_ACT_ADD,
  type ConvBnActAttrs,
  type Correlate3x3Attrs,
  CORRELATE_3X3,
  GATHER_WEIGHTED,
  inputGroups,
  MOVING_AVERAGE_INPUTS,
  MOVING_AVERAGES,
  type MovingAveragesAttrs,
  RANDOM_NORMAL,
  type RandomNormalAttrs,
  SCATTER_WEIGHTED,
  SQUASH,
  type SquashAttrs,
} from "../fused_kernels.ts";
import type { NativeBackend } from "./backend.ts";
import { nativeSync } from "./ffi.ts";
import { geometry, kernels, valuesOf } from "./c_args.ts";
import { awaitWrites } from "./queue.ts";

type KernelArgs = Parameters<tf.KernelFunc>[0];

/** The conv geometry of a block: for a transposed one, of the conv it transposes. */
function blockGeometry(xShape: number[], filterShape: number[], a: ConvBnActAttrs): Int32Array {
  const k = filterShape as [number, number, number, number];
  const [b, h, w] = xShape;
  const convIn: [number, number, number, number] = a.transpose
    ? [b, 2 * h, 2 * w, k[2]]
    : xShape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(convIn, k, a.transpose ? 2 : a.stride, 1, "same");
  const g = geometry(info);
  if (!g) throw new RangeError(`Cannot run a fused block on shape [${xShape}]: NHWC only`);
  if (
    a.transpose && (info.outHeight !== h || info.outWidth !== w || info.outChannels !== xShape[3])
  ) {
    throw new RangeError(
      `Cannot run a transposed block on [${xShape}] with filter [${filterShape}]: channels differ`,
    );
  }
  return g;
}

function outputShape(g: Int32Array, transpose: boolean): [number, number, number, number] {
  return transpose ? [g[0], g[1], g[2], g[3]] : [g[0], g[7], g[8], g[6]];
}

function check(rc: number, what: string, shape: number[]): void {
  if (rc !== 0) {
    throw new RangeError(`Cannot run ${what} on [${shape}]: out of memory`);
  }
}

/**
 * Inputs x, filter, bias, gamma, beta → [y, conv, mean, variance]; `conv` (the
 * convolution before the bias) is the saved state bnActGrad reads. With
 * `residual`, y gets x added (GlyphnetConvBnActAdd).
 */
function convBnAct(args: KernelArgs, residual = false): tf.TensorInfo[] {
  const backend = args.backend as NativeBackend;
  const { x, filter, bias, gamma, beta } = args.inputs as Record<string, tf.TensorInfo>;
  const a = args.attrs as unknown as ConvBnActAttrs;
  const g = blockGeometry(x.shape, filter.shape, a);
  const shape = outputShape(g, a.transpose);
  if (residual && !tf.util.arraysEqual(shape, x.shape)) {
    throw new RangeError(
      `Cannot add the input [${x.shape}] to a block's output [${shape}]: the shapes differ`,
    );
  }
  const size = tf.util.sizeFromShape(shape);
  const channels = shape[3];
  const y = backend.take(size);
  const conv = backend.take(size);
  const mean = new Float32Array(channels);
  const variance = new Float32Array(channels);
  const rc = kernels().gn_block_fwd(
    valuesOf(backend, x),
    valuesOf(backend, filter),
    valuesOf(backend, bias),
    valuesOf(backend, gamma),
    valuesOf(backend, beta),
    y,
    conv,
    mean,
    variance,
    g,
    a.transpose ? 1 : 0,
    a.activation === "swish" ? 0 : 1,
    a.epsilon,
    residual ? valuesOf(backend, x) : null,
  );
  check(rc, "the fused block forward", x.shape);
  return [
    backend.makeTensorInfo(shape, "float32", y),
    backend.makeTensorInfo(shape, "float32", conv),
    backend.makeTensorInfo([channels], "float32", mean),
    backend.makeTensorInfo([channels], "float32", variance),
  ];
}

/** Inputs gamma, beta, bias, conv, mean, variance, dy → [dz, dbias, dgamma, dbeta]. */
function bnActGrad(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as NativeBackend;
  const { gamma, beta, bias, conv, mean, variance, dy } = args.inputs as Record<
    string,
    tf.TensorInfo
  >;
  const a = args.attrs as unknown as ConvBnActAttrs;
  const channels = dy.shape[dy.shape.length - 1];
  const rows = tf.util.sizeFromShape(dy.shape) / channels;
  const dz = backend.take(rows * channels);
  const dbias = new Float32Array(channels);
  const dgamma = new Float32Array(channels);
  const dbeta = new Float32Array(channels);
  const rc = kernels().gn_bn_act_bwd(
    valuesOf(backend, dy),
    valuesOf(backend, conv),
    valuesOf(backend, mean),
    valuesOf(backend, bias),
    valuesOf(backend, variance),
    valuesOf(backend, gamma),
    valuesOf(backend, beta),
    BigInt(rows),
    channels,
    a.activation === "swish" ? 0 : 1,
    a.epsilon,
    dz,
    dgamma,
    dbeta,
    dbias,
  );
  check(rc, "the fused block batch-norm backward", dy.shape);
  return [
    backend.makeTensorInfo(dy.shape, "float32", dz),
    backend.makeTensorInfo([channels], "float32", dbias),
    backend.makeTensorInfo([channels], "float32", dgamma),
    backend.makeTensorInfo([channels], "float32", dbeta),
  ];
}

/** Inputs valueK, gradK, mK, vK → [value0', m0', v0', …], new buffers (inputs may be shared). */
function adam(args: KernelArgs): tf.TensorInfo[] {
  const groups = inputGroups(args.inputs as Record<string, tf.TensorInfo>, ADAM_INPUTS);
  const a = args.attrs as unknown as AdamAttrs;
  return groups.flatMap((g) => adamOne(args.backend as NativeBackend, g, a));
}

function adamOne(
  backend: NativeBackend,
  { value, grad, m, v }: Record<typeof ADAM_INPUTS[number], tf.TensorInfo>,
  a: AdamAttrs,
): tf.TensorInfo[] {
  const n = tf.util.sizeFromShape(value.shape);
  for (const t of [grad, m, v]) {
    if (tf.util.sizeFromShape(t.shape) !== n) {
      throw new RangeError(
        `Cannot apply Adam to a variable of shape [${value.shape}]: ` +
          `gradient [${grad.shape}], moments [${m.shape}] and [${v.shape}] must match it`,
      );
    }
  }
  const out = [backend.take(n), backend.take(n), backend.take(n)];
  kernels().gn_adam(
    valuesOf(backend, value),
    valuesOf(backend, grad),
    valuesOf(backend, m),
    valuesOf(backend, v),
    out[0],
    out[1],
    out[2],
    n,
    a.stepSize,
    a.beta1,
    a.beta2,
    a.epsilon,
  );
  return out.map((values) => backend.makeTensorInfo(value.shape, "float32", values));
}

/** Int32 values of a tensor (the resampling's corner indices). */
function int32Of(backend: NativeBackend, t: tf.TensorInfo): Int32Array {
  const values = backend.data.get(t.dataId).values;
  if (values instanceof Int32Array) return values;
  awaitWrites(values);
  return Int32Array.from(values as unknown as ArrayLike<number>);
}

/** GatherWeighted (`scatter` false) or its adjoint ScatterWeighted: one output like the image. */
function weighted(scatter: boolean) {
  return (args: KernelArgs): tf.TensorInfo => {
    const backend = args.backend as NativeBackend;
    const t = args.inputs as Record<string, tf.TensorInfo>;
    const x = scatter ? t.dy : t.x;
    const [b, h, w, c] = x.shape;
    const n = b * h * w;
    const count = tf.util.sizeFromShape(t.index.shape) / n;
    const out = backend.take(n * c);
    const call = scatter ? kernels().gn_scatter_weighted : kernels().gn_gather_weighted;
    call(
      valuesOf(backend, x),
      int32Of(backend, t.index),
      valuesOf(backend, t.weight),
      out,
      count,
      b,
      h * w,
      c,
    );
    return backend.makeTensorInfo(x.shape, "float32", out);
  };
}

/** Correlate3x3: per-sample 3×3 correlation of x, kernels in the attributes. */
function correlate3x3(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as NativeBackend;
  const { x } = args.inputs as Record<string, tf.TensorInfo>;
  const { kernel } = args.attrs as unknown as Correlate3x3Attrs;
  const [b, h, w, c] = x.shape;
  if (kernel.length !== 9 * b) {
    throw new RangeError(`Cannot correlate a batch of ${b}: got ${kernel.length} kernel values`);
  }
  const out = backend.take(b * h * w * c);
  kernels().gn_correlate3x3(
    valuesOf(backend, x),
    Float64Array.from(kernel),
    out,
    b,
    h,
    w,
    c,
  );
  return backend.makeTensorInfo(x.shape, "float32", out);
}

/** Blur: the separable blur of x, its taps in the attributes. */
function blur(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as NativeBackend;
  const { x } = args.inputs as Record<string, tf.TensorInfo>;
  const { taps } = args.attrs as unknown as BlurAttrs;
  if (taps.length % 2 !== 1) {
    throw new RangeError(`Cannot blur with ${taps.length} taps: the count must be odd`);
  }
  const [b, h, w, c] = x.shape;
  const out = backend.take(b * h * w * c);
  const rc = kernels().gn_blur(
    valuesOf(backend, x),
    Float32Array.from(taps),
    taps.length,
    out,
    b,
    h,
    w,
    c,
  );
  check(rc, "the channel's blur", x.shape);
  return backend.makeTensorInfo(x.shape, "float32", out);
}

/** Squash: the extras' per-sample hard sigmoid and inversion → [value, slope]. */
function squash(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as NativeBackend;
  const { x } = args.inputs as Record<string, tf.TensorInfo>;
  const { slope, invert } = args.attrs as unknown as SquashAttrs;
  const b = x.shape[0], n = tf.util.sizeFromShape(x.shape);
  if (slope.length !== b || invert.length !== b) {
    throw new RangeError(`Cannot squash a batch of ${b}: got ${slope.length} slopes`);
  }
  const params = Float64Array.from([...slope, ...invert.map(Number)]);
  const value = backend.take(n), grad = backend.take(n);
  kernels().gn_squash(valuesOf(backend, x), params, value, grad, b, BigInt(n / b));
  return [
    backend.makeTensorInfo(x.shape, "float32", value),
    backend.makeTensorInfo(x.shape, "float32", grad),
  ];
}

/** AffineCorners: the resampling's index and weight tables, 4 or 1 per pixel. */
function affineCorners(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as NativeBackend;
  const { maps, stages, shape } = args.attrs as unknown as AffineCornersAttrs;
  const [b, h, w] = shape;
  const n = b * h * w;
  if (maps.length !== 6 * b * stages) {
    throw new RangeError(`Cannot compute corners: ${maps.length} map values for ${stages} × ${b}`);
  }
  // Computed here, beside the queue: the tables depend on the maps alone.
  const index = backend.takeInt32Host(4 * n);
  const weight = backend.takeHost(4 * n);
  const fractional = nativeSync().symbols.gn_affine_corners(
    Float64Array.from(maps),
    stages,
    b,
    h,
    w,
    index,
    weight,
  );
  const k = fractional ? 4 : 1;
  return [
    backend.makeTensorInfo([k * n], "int32", k === 4 ? index : index.slice(0, n)),
    backend.makeTensorInfo([k * n], "float32", k === 4 ? weight : weight.slice(0, n)),
  ];
}

/** RandomNormal: seeded draws of the attributes' shape. */
function randomNormal(args: KernelArgs): tf.TensorInfo {
  const backend = args.backend as NativeBackend;
  const { shape, mean, stdDev, seed } = args.attrs as unknown as RandomNormalAttrs;
  const n = tf.util.sizeFromShape(shape);
  const out = backend.take(n);
  kernels().gn_random_normal(seed, out, BigInt(n), mean, stdDev);
  return backend.makeTensorInfo(shape, "float32", out);
}

/** MovingAverages: mK' = momentum·mK + (1−momentum)·xK for each pair, one C call each. */
function movingAverages(args: KernelArgs): tf.TensorInfo[] {
  const backend = args.backend as NativeBackend;
  const groups = inputGroups(args.inputs as Record<string, tf.TensorInfo>, MOVING_AVERAGE_INPUTS);
  const { momentum } = args.attrs as unknown as MovingAveragesAttrs;
  return groups.map((g, k) => {
    const [m, x] = [valuesOf(backend, g.m), valuesOf(backend, g.x)];
    if (m.length !== x.length) {
      throw new RangeError(
        `Cannot update running average ${k}: ${m.length} values, batch ${x.length}`,
      );
    }
    const next = backend.take(m.length);
    kernels().gn_moving_average(m, x, next, m.length, momentum, 1 - momentum);
    return backend.makeTensorInfo(g.m.shape, "float32", next);
  });
}

/** The fused kernels by their contract names. */
export const FUSED_KERNELS: Record<
  string,
  (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[]
> = {
  [CONV_BN_ACT]: (args) => convBnAct(args),
  [CONV_BN_ACT_ADD]: (args) => convBnAct(args, true),
  [BN_ACT_GRAD]: bnActGrad,
  [ADAM]: adam,
  [MOVING_AVERAGES]: movingAverages,
  [GATHER_WEIGHTED]: weighted(false),
  [SCATTER_WEIGHTED]: weighted(true),
  [CORRELATE_3X3]: correlate3x3,
  [BLUR]: blur,
  [SQUASH]: squash,
  [RANDOM_NORMAL]: randomNormal,
  [AFFINE_CORNERS]: affineCorners,
};
