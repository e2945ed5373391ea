/**
 * The `native` tfjs backend: tfjs's `cpu` backend (same Float32Array
 * storage, all of its kernels) with convolutions and matmul replaced by
 * OpenBLAS sgemm calls through FFI. Shapes the native code does not cover
 * (NCHW, dilation, grouped batch broadcasting) fall through to cpu's kernel.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { NativeBackend } from "./backend.ts";
import { nativeSync } from "./ffi.ts";

/** The tfjs backend name. */
export const NATIVE = "native";

type KernelArgs = Parameters<tf.KernelFunc>[0];

/**
 * Float32 values of a tensor on the native backend: shared, not copied,
 * unless cpu stored them in another array type (its int32→float32 cast
 * keeps the Int32Array), which is copied.
 */
export function valuesOf(backend: MathBackendCPU, t: tf.TensorInfo): Float32Array {
  const values = backend.data.get(t.dataId).values;
  if (values instanceof Float32Array) return values;
  if (t.dtype === "float32" && ArrayBuffer.isView(values)) {
    return Float32Array.from(values as unknown as ArrayLike<number>);
  }
  throw new TypeError(`Cannot run a native kernel on a ${t.dtype} tensor: float32 only`);
}

/**
 * Geometry array for the C kernels (glyphnet.h) from a tfjs conv info, or undefined when the
 * native code does not cover it (NCHW or dilation).
 */
export function geometry(info: tf.backend_util.Conv2DInfo): Int32Array | undefined {
  if (info.dataFormat !== "channelsLast" || info.dilationHeight !== 1 || info.dilationWidth !== 1) {
    return undefined;
  }
  return Int32Array.from([
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.filterHeight,
    info.filterWidth,
    info.outChannels,
    info.outHeight,
    info.outWidth,
    info.strideHeight,
    info.strideWidth,
    info.padInfo.top,
    info.padInfo.left,
  ]);
}

function check(rc: number, what: string): void {
  if (rc !== 0) throw new RangeError(`Cannot run native ${what}: out of memory for its scratch`);
}

/** tfjs's geometry of a 2-D convolution of `inShape` by `filterShape`. */
function convInfo(
  inShape: number[],
  filterShape: number[],
  a: {
    strides: [number, number] | number;
    dilations?: [number, number] | number;
    pad: tf.Conv2DAttrs["pad"];
    dimRoundingMode?: tf.Conv2DAttrs["dimRoundingMode"];
    dataFormat: "NHWC" | "NCHW";
  },
): tf.backend_util.Conv2DInfo {
  return tf.backend_util.computeConv2DInfo(
    inShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    a.strides,
    a.dilations ?? 1,
    a.pad,
    a.dimRoundingMode,
    false,
    tf.backend_util.convertConv2DDataFormat(a.dataFormat),
  );
}

function conv2D(args: KernelArgs, fallback: tf.KernelFunc): tf.TensorInfo {
  const backend = args.backend as NativeBackend;
  const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
  const a = args.attrs as unknown as tf.Conv2DAttrs;
  const info = convInfo(x.shape, filter.shape, a);
  const g = geometry(info);
  if (!g || x.dtype !== "float32") return fallback(args) as tf.TensorInfo;
  const y = backend.take(tf.util.sizeFromShape(info.outShape));
  check(
    nativeSync().symbols.gn_conv2d(valuesOf(backend, x), valuesOf(backend, filter), y, g),
    "Conv2D",
  );
  return backend.makeTensorInfo(info.outShape, "float32", y);
}

function conv2DBackpropInput(args: KernelArgs, fallback: tf.KernelFunc): tf.TensorInfo {
  const backend = args.backend as NativeBackend;
  const { dy, filter } = args.inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
  const a = args.attrs as unknown as tf.Conv2DBackpropInputAttrs;
  const info = convInfo(a.inputShape, filter.shape, a);
  const g = geometry(info);
  if (!g || dy.dtype !== "float32") return fallback(args) as tf.TensorInfo;
  const dx = backend.take(tf.util.sizeFromShape(info.inShape));
  const rc = nativeSync().symbols.gn_conv2d_bwd_input(
    valuesOf(backend, dy),
    valuesOf(backend, filter),
    dx,
    g,
  );
  check(rc, "Conv2DBackpropInput");
  return backend.makeTensorInfo(info.inShape, "float32", dx);
}

function conv2DBackpropFilter(args: KernelArgs, fallback: tf.KernelFunc): tf.TensorInfo {
  const backend = args.backend as NativeBackend;
  const { x, dy } = args.inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
  const a = args.attrs as unknown as tf.Conv2DBackpropFilterAttrs;
  const info = convInfo(x.shape, a.filterShape, a);
  const g = geometry(info);
  if (!g || x.dtype !== "float32") return fallback(args) as tf.TensorInfo;
  const dw = backend.take(tf.util.sizeFromShape(a.filterShape));
  const rc = nativeSync().symbols.gn_conv2d_bwd_filter(
    valuesOf(backend, x),
    valuesOf(backend, dy),
    dw,
    g,
  );
  check(rc, "Conv2DBackpropFilter");
  return backend.makeTensorInfo(a.filterShape, "float32", dw);
}

function batchMatMul(args: KernelArgs, fallback: tf.KernelFunc): tf.TensorInfo {
  const backend = args.backend as NativeBackend;
  const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
  const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
  const ra = a.shape.length, rb = b.shape.length;
  if (a.dtype !== "float32" || b.dtype !== "float32" || ra !== rb || ra < 2) {
    return fallback(args) as tf.TensorInfo;
  }
  const batchA = tf.util.sizeFromShape(a.shape.slice(0, -2));
  const batchB = tf.util.sizeFromShape(b.shape.slice(0, -2));
  const sameBatch = a.shape.slice(0, -2).every((d, i) => d === b.shape[i]);
  if (!sameBatch && batchA !== 1 && batchB !== 1) return fallback(args) as tf.TensorInfo;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  const batch = Math.max(batchA, batchB);
  const outShape = [...(batchA >= batchB ? a.shape : b.shape).slice(0, -2), m, n];
  const c = backend.take(batch * m * n);
  nativeSync().symbols.gn_matmul(
    valuesOf(backend, a),
    valuesOf(backend, b),
    c,
    batch,
    m,
    n,
    k,
    transposeA ? 1 : 0,
    transposeB ? 1 : 0,
    batchA === 1 ? 0 : m * k,
    batchB === 1 ? 0 : k * n,
  );
  return backend.makeTensorInfo(outShape, "float32", c);
}

/** Broadcast geometry for gn_binary_bcast: [rank, out shape, a strides, b strides]. */
function broadcastGeometry(a: number[], b: number[], out: number[]): Int32Array {
  const rank = Math.max(out.length, 1);
  const strides = (shape: number[]) => {
    const padded = [...new Array(rank - shape.length).fill(1), ...shape];
    const s = new Array(rank).fill(0);
    let stride = 1;
    for (let k = rank - 1; k >= 0; k--) {
      s[k] = padded[k] === 1 ? 0 : stride;
      stride *= padded[k];
    }
    return s;
  };
  const shape = out.length ? out : [1];
  return Int32Array.from([rank, ...shape, ...strides(a), ...strides(b)]);
}

/**
 * Add, Sub and Multiply natively (cpu's loop computes an index modulo per
 * element, and was the step's top kernel): one flat loop when one shape is
 * a suffix of the other (same shape, per-channel vector, scalar), else a
 * general broadcast (e.g. a per-sample [B, 1, 1, 1] factor).
 */
function binary(op: number) {
  return (args: KernelArgs, fallback: tf.KernelFunc): tf.TensorInfo => {
    const backend = args.backend as NativeBackend;
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    if (a.dtype !== "float32" || b.dtype !== "float32") return fallback(args) as tf.TensorInfo;
    const outShape = tf.backend_util.assertAndGetBroadcastShape(a.shape, b.shape);
    const n = tf.util.sizeFromShape(outShape);
    if (n === 0 || outShape.length > 8) return fallback(args) as tf.TensorInfo;
    const na = tf.util.sizeFromShape(a.shape), nb = tf.util.sizeFromShape(b.shape);
    const isSuffix = (s: number[]) =>
      s.every((d, i) => d === outShape[outShape.length - s.length + i]);
    const out = backend.take(n);
    const symbols = nativeSync().symbols;
    const av = valuesOf(backend, a), bv = valuesOf(backend, b);
    if ((na === n || isSuffix(a.shape)) && (nb === n || isSuffix(b.shape))) {
      symbols.gn_binary(op, av, na, bv, nb, out, n);
    } else {
      symbols.gn_binary_bcast(op, av, bv, out, broadcastGeometry(a.shape, b.shape, outShape));
    }
    return backend.makeTensorInfo(outShape, "float32", out);
  };
}

/** Transpose natively: cpu's kernel computes every index through arrays, 10 ms for 200k values. */
function transpose(args: KernelArgs, fallback: tf.KernelFunc): tf.TensorInfo {
  const backend = args.backend as NativeBackend;
  const { x } = args.inputs as { x: tf.TensorInfo };
  const { perm } = args.attrs as unknown as tf.TransposeAttrs;
  const n = tf.util.sizeFromShape(x.shape);
  if (x.dtype !== "float32" || x.shape.length > 8 || x.shape.length === 0 || n === 0) {
    return fallback(args) as tf.TensorInfo;
  }
  const out = backend.take(n);
  const d = Int32Array.from([x.shape.length, ...x.shape, ...perm]);
  nativeSync().symbols.gn_transpose(valuesOf(backend, x), out, d);
  return backend.makeTensorInfo(perm.map((p) => x.shape[p]), "float32", out);
}

const OVERRIDES: Record<string, (args: KernelArgs, fallback: tf.KernelFunc) => tf.TensorInfo> = {
  Conv2D: conv2D,
  Conv2DBackpropInput: conv2DBackpropInput,
  Conv2DBackpropFilter: conv2DBackpropFilter,
  BatchMatMul: batchMatMul,
  Add: binary(0),
  Sub: binary(1),
  Multiply: binary(2),
  Transpose: transpose,
};

/** Kernel names the native backend computes itself (the rest are cpu's). */
export const NATIVE_KERNELS: readonly string[] = Object.keys(OVERRIDES);

/**
 * Registers the `native` backend and its kernels with tfjs, once. The
 * library must be loaded (`startNative`) before any kernel runs.
 */
export function registerNativeBackend(): void {
  if (tf.findBackendFactory(NATIVE)) return;
  tf.registerBackend(NATIVE, () => new NativeBackend(), 1);
  for (const config of tf.getKernelsForBackend("cpu")) {
    const override = OVERRIDES[config.kernelName];
    const kernelFunc: tf.KernelFunc = override
      ? (args) => override(args, config.kernelFunc)
      : config.kernelFunc;
    tf.registerKernel({ ...config, backendName: NATIVE, kernelFunc });
  }
}
