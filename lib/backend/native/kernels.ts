/**
 * The `native` tfjs backend: tfjs's `cpu` backend (same Float32Array
 * storage, all of its kernels) with convolutions and matmul replaced by
 * OpenBLAS sgemm calls through FFI, and glyphnet's fused kernels
 * (lib/backend/fused_kernels.ts) added. Shapes the native code does not
 * cover (NCHW, dilation, grouped batch broadcasting) fall through to cpu's
 * kernel.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { NativeBackend } from "./backend.ts";
import { geometry, kernels, valuesOf } from "./c_args.ts";
import { awaitWrites } from "./queue.ts";
import { FUSED_KERNELS } from "./fused.ts";
import { CONV_INPUT_GRAD_ADD } from "../fused_kernels.ts";

/** The tfjs backend name. */
export const NATIVE = "native";

type KernelArgs = Parameters<tf.KernelFunc>[0];

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

type ConvAttrs = Parameters<typeof convInfo>[2] & {
  inputShape?: number[];
  filterShape?: number[];
};

/**
 * One of the convolution passes: which tensor inputs the C call takes (in
 * its order), the conv's input and filter shapes, the output shape, and the
 * C function. A third input is a tensor of the output's shape added to it.
 */
interface ConvPass {
  inputs: [string, string] | [string, string, string];
  inShape(t: Record<string, tf.TensorInfo>, a: ConvAttrs): number[];
  filterShape(t: Record<string, tf.TensorInfo>, a: ConvAttrs): number[];
  outShape(info: tf.backend_util.Conv2DInfo): number[];
  symbol: "gn_conv2d" | "gn_conv2d_bwd_input" | "gn_conv2d_bwd_filter" | "gn_conv2d_bwd_input_add";
}

/** A kernel for one convolution pass; shapes the C code does not cover fall back to cpu's. */
function convKernel(name: string, pass: ConvPass) {
  return (args: KernelArgs, fallback: tf.KernelFunc): tf.TensorInfo => {
    const backend = args.backend as NativeBackend;
    const t = args.inputs as Record<string, tf.TensorInfo>;
    const a = args.attrs as unknown as ConvAttrs;
    const tensors = pass.inputs.map((k) => t[k]);
    const info = convInfo(pass.inShape(t, a), pass.filterShape(t, a), a);
    const g = geometry(info);
    if (!g || tensors.some((x) => x.dtype !== "float32")) return fallback(args) as tf.TensorInfo;
    const shape = pass.outShape(info);
    const add = tensors[2];
    if (add && !tf.util.arraysEqual(add.shape, shape)) {
      throw new RangeError(
        `Cannot add [${add.shape}] to ${name}'s output [${shape}]: shapes differ`,
      );
    }
    const out = backend.take(tf.util.sizeFromShape(shape));
    const [first, second] = tensors.map((x) => valuesOf(backend, x));
    const rc = add
      ? kernels().gn_conv2d_bwd_input_add(first, second, valuesOf(backend, add), out, g)
      : kernels()[pass.symbol as Exclude<ConvPass["symbol"], "gn_conv2d_bwd_input_add">](
        first,
        second,
        out,
        g,
      );
    check(rc, name);
    return backend.makeTensorInfo(shape, "float32", out);
  };
}

const conv2D = convKernel("Conv2D", {
  inputs: ["x", "filter"],
  inShape: (t) => t.x.shape,
  filterShape: (t) => t.filter.shape,
  outShape: (info) => info.outShape,
  symbol: "gn_conv2d",
});

const conv2DBackpropInput = convKernel("Conv2DBackpropInput", {
  inputs: ["dy", "filter"],
  inShape: (_, a) => a.inputShape!,
  filterShape: (t) => t.filter.shape,
  outShape: (info) => info.inShape,
  symbol: "gn_conv2d_bwd_input",
});

/** Conv2DBackpropInput's dx plus `add` (fused_kernels.ts, GlyphnetConvInputGradAdd). */
const convInputGradAdd = convKernel(CONV_INPUT_GRAD_ADD, {
  inputs: ["dy", "filter", "add"],
  inShape: (_, a) => a.inputShape!,
  filterShape: (t) => t.filter.shape,
  outShape: (info) => info.inShape,
  symbol: "gn_conv2d_bwd_input_add",
});

const conv2DBackpropFilter = convKernel("Conv2DBackpropFilter", {
  inputs: ["x", "dy"],
  inShape: (t) => t.x.shape,
  filterShape: (_, a) => a.filterShape!,
  outShape: (info) => [info.filterHeight, info.filterWidth, info.inChannels, info.outChannels],
  symbol: "gn_conv2d_bwd_filter",
});

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
  kernels().gn_matmul(
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

/**
 * Broadcast geometry for gn_binary_bcast: [rank, out shape, a strides, b
 * strides]. Axes of size 1 are dropped and neighbours that both operands
 * walk alike are merged, so the C loop's rows are long: a per-sample
 * [B, 1, 1, 1] factor on [B, H, W, 3] is [B, H·W·3] by [B, 1], not B·H·W
 * rows of 3 (on default's images 2.7 ms a call before, 0.4 after).
 */
export function broadcastGeometry(a: number[], b: number[], out: number[]): Int32Array {
  const rank = out.length;
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
  const sa = strides(a), sb = strides(b);
  const axes: [number, number, number][] = [];
  for (let k = 0; k < rank; k++) {
    if (out[k] === 1) continue;
    const last = axes.at(-1);
    const joins = (outer: number, inner: number) => outer === inner * out[k];
    if (last && joins(last[1], sa[k]) && joins(last[2], sb[k])) {
      last[0] *= out[k];
      last[1] = sa[k];
      last[2] = sb[k];
    } else axes.push([out[k], sa[k], sb[k]]);
  }
  if (!axes.length) axes.push([1, 0, 0]);
  return Int32Array.from([
    axes.length,
    ...axes.map((x) => x[0]),
    ...axes.map((x) => x[1]),
    ...axes.map((x) => x[2]),
  ]);
}

/**
 * Add, Sub, Multiply and RealDiv natively (cpu's loop computes an index modulo per
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
    const symbols = kernels();
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
  kernels().gn_transpose(valuesOf(backend, x), out, d);
  return backend.makeTensorInfo(perm.map((p) => x.shape[p]), "float32", out);
}

/**
 * Exp, Neg, Sigmoid and Log natively: cpu's JavaScript loops took 9–20 ns a value
 * (the loss's [B, V+1] logits: 40–230 µs a call; the noise images' sigmoid,
 * 1.5 M values: 16–90 ms).
 */
function unary(op: number) {
  return (args: KernelArgs, fallback: tf.KernelFunc): tf.TensorInfo => {
    const backend = args.backend as NativeBackend;
    const { x } = args.inputs as { x: tf.TensorInfo };
    const n = tf.util.sizeFromShape(x.shape);
    if (x.dtype !== "float32" || n === 0) return fallback(args) as tf.TensorInfo;
    const out = backend.take(n);
    kernels().gn_unary(op, valuesOf(backend, x), out, BigInt(n));
    return backend.makeTensorInfo(x.shape, "float32", out);
  };
}

/**
 * Sum and Max over axes natively: the reduced axes are moved last (by the
 * native transpose, as cpu's kernel moves them) and each row is reduced in
 * order, in double for sums, as cpu's kernel does, which transposed in
 * JavaScript (85 µs for the loss's [64, 65] over axis 0).
 */
function reduce(op: number) {
  return (args: KernelArgs, fallback: tf.KernelFunc): tf.TensorInfo => {
    const backend = args.backend as NativeBackend;
    const { x } = args.inputs as { x: tf.TensorInfo };
    // Sum names its axes `axis`, Max `reductionIndices`.
    const a = args.attrs as unknown as tf.SumAttrs & tf.MaxAttrs;
    const axis = op === 0 ? a.axis : a.reductionIndices, keepDims = a.keepDims;
    const n = tf.util.sizeFromShape(x.shape);
    if (x.dtype !== "float32" || n === 0 || x.shape.length > 8) {
      return fallback(args) as tf.TensorInfo;
    }
    const axes = tf.util.parseAxisParam(axis, x.shape).sort((p, q) => p - q);
    const kept = x.shape.map((_, i) => i).filter((i) => !axes.includes(i));
    const perm = [...kept, ...axes];
    const len = axes.reduce((p, a) => p * x.shape[a], 1);
    const out = backend.take(n / len);
    const d = Int32Array.from([x.shape.length, ...x.shape, ...perm]);
    const rc = kernels().gn_reduce(op, valuesOf(backend, x), out, d, BigInt(len));
    check(rc, op === 0 ? "Sum" : "Max");
    const shape = keepDims
      ? x.shape.map((d, i) => (axes.includes(i) ? 1 : d))
      : kept.map((i) => x.shape[i]);
    return backend.makeTensorInfo(shape, "float32", out);
  };
}

/** cpu's kernels that only pass a tensor's data on (no values read): they need not wait. */
const PASS_THROUGH: ReadonlySet<string> = new Set(["Identity", "Reshape"]);

/** Whether cpu's Cast reads the values (else it shares them, as to a wider type). */
function castReads({ inputs, attrs }: KernelArgs): boolean {
  const from = (inputs.x as tf.TensorInfo).dtype, to = (attrs as { dtype: tf.DataType }).dtype;
  return from === "complex64" || to === "complex64" || tf.util.hasEncodingLoss(from, to);
}

/**
 * cpu's kernel in JavaScript, after the queued kernels that write its inputs
 * (lib/backend/native/queue.ts); its outputs are new arrays, which no task sees.
 */
function hostKernel(name: string, kernel: tf.KernelFunc): tf.KernelFunc {
  if (PASS_THROUGH.has(name)) return kernel;
  const reads = name === "Cast" ? castReads : () => true;
  return (args) => {
    if (!reads(args)) return kernel(args);
    const backend = args.backend as NativeBackend;
    for (const t of Object.values(args.inputs)) {
      if (t) awaitWrites(backend.data.get((t as tf.TensorInfo).dataId)?.values);
    }
    return kernel(args);
  };
}

const OVERRIDES: Record<string, (args: KernelArgs, fallback: tf.KernelFunc) => tf.TensorInfo> = {
  Conv2D: conv2D,
  Conv2DBackpropInput: conv2DBackpropInput,
  Conv2DBackpropFilter: conv2DBackpropFilter,
  BatchMatMul: batchMatMul,
  Add: binary(0),
  Sub: binary(1),
  Multiply: binary(2),
  RealDiv: binary(3),
  Transpose: transpose,
  Exp: unary(0),
  Neg: unary(1),
  Sigmoid: unary(2),
  Log: unary(3),
  Sum: reduce(0),
  Max: reduce(1),
};

/** Kernels of glyphnet's contract computed here, not in fused.ts; cpu has no fallback for them. */
const OWN: Record<string, (args: KernelArgs, fallback: tf.KernelFunc) => tf.TensorInfo> = {
  [CONV_INPUT_GRAD_ADD]: convInputGradAdd,
};

/** What an OWN kernel does with a shape the C code does not cover. */
function noFallback(name: string): tf.KernelFunc {
  return () => {
    throw new RangeError(`Cannot run ${name} on native: only NHWC float32 convolutions`);
  };
}

/** Kernel names the native backend computes itself (the rest are cpu's). */
export const NATIVE_KERNELS: readonly string[] = [
  ...Object.keys(OVERRIDES),
  ...Object.keys(OWN),
  ...Object.keys(FUSED_KERNELS),
];

/**
 * Registers the `native` backend and its kernels with tfjs, once. The
 * library must be loaded (`startNative`) before any kernel runs.
 */
export function registerNativeBackend(): void {
  if (tf.findBackendFactory(NATIVE)) return;
  tf.registerBackend(NATIVE, () => new NativeBackend(), 1);
  for (const config of tf.getKernelsForBackend("cpu")) {
    const override = OVERRIDES[config.kernelName];
    const cpu = hostKernel(config.kernelName, config.kernelFunc);
    const kernelFunc: tf.KernelFunc = override ? (args) => override(args, cpu) : cpu;
    tf.registerKernel({ ...config, backendName: NATIVE, kernelFunc });
  }
  for (const [kernelName, kernel] of Object.entries(OWN)) {
    const kernelFunc: tf.KernelFunc = (args) => kernel(args, noFallback(kernelName));
    tf.registerKernel({ kernelName, backendName: NATIVE, kernelFunc });
  }
  for (const [kernelName, kernel] of Object.entries(FUSED_KERNELS)) {
    const kernelFunc = kernel as unknown as tf.KernelFunc;
    tf.registerKernel({ kernelName, backendName: NATIVE, kernelFunc });
  }
}
