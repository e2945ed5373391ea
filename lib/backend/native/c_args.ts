/**
 * What the C calls take: a tensor's float32 values (shared, not copied) and
 * a convolution's geometry array (glyphnet.h).
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import type { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { nativeSync } from "./ffi.ts";
import { awaitWrites, type KernelCalls, kernelCalls } from "./queue.ts";

/** The kernels' C functions: queued while the kernel queue is on (queue.ts). */
export function kernels(): KernelCalls {
  return kernelCalls(nativeSync());
}

/**
 * Float32 values of a tensor on the native backend: shared, not copied,
 * unless cpu stored them in another array type (its int32→float32 cast
 * keeps the Int32Array), which is copied.
 */
export function valuesOf(backend: MathBackendCPU, t: tf.TensorInfo): Float32Array {
  const values = backend.data.get(t.dataId).values;
  if (values instanceof Float32Array) return values;
  if (t.dtype === "float32" && ArrayBuffer.isView(values)) {
    awaitWrites(values);
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
