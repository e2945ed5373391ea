/**
 * Training kernels that @tensorflow/tfjs-backend-wasm 4.22 lacks, built from
 * kernels it has, so G and D can train on `wasm`.
 *
 * `Conv2DBackpropFilter` (every conv's weight gradient) runs as one XNNPACK
 * `Conv2D`: with the batch as channels and the input channels as the batch,
 * the filter gradient is a correlation of the input with the upstream
 * gradient, dilated by the forward stride.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

type Info = tf.TensorInfo;
type Attrs = Record<string, unknown>;
type Backend = tf.KernelBackend & { disposeData(id: tf.DataId): void };

/** Kernels this module adds to `wasm`. */
export const WASM_KERNELS: readonly string[] = ["Conv2DBackpropFilter"];

/** Runs another `wasm` kernel directly, without the engine (no tape, no tensor wrappers). */
function run(name: string, inputs: Record<string, Info>, attrs: Attrs, backend: Backend): Info {
  const kernel = tf.getKernel(name, "wasm");
  if (!kernel) throw new Error(`wasm_kernels: the wasm backend has no ${name} kernel`);
  return kernel.kernelFunc({ inputs, attrs: attrs as tf.NamedAttrMap, backend }) as Info;
}

/**
 * dW[a,b,c,o] = Σ_{n,i,j} x[n, i·s + a − top, j·s + b − left, c] · dy[n,i,j,o],
 * computed as Conv2D(x' = x[c,h,w,n], f' = dy[i,j,n,o], dilation s) → [c,a,b,o].
 */
function conv2DBackpropFilter(
  { inputs, backend, attrs }: {
    inputs: tf.NamedTensorInfoMap;
    backend: tf.KernelBackend;
    attrs?: tf.NamedAttrMap;
  },
): Info {
  const be = backend as Backend;
  const { x, dy } = inputs as { x: Info; dy: Info };
  const a = attrs as unknown as {
    strides: number | [number, number];
    pad: "valid" | "same" | number | tf.backend_util.ExplicitPadding;
    dataFormat: "NHWC" | "NCHW";
    dimRoundingMode?: "floor" | "round" | "ceil";
    filterShape: [number, number, number, number];
  };
  if (a.dataFormat === "NCHW") {
    throw new Error("wasm Conv2DBackpropFilter supports only channels-last (NHWC) data");
  }
  const [kh, kw, cin, cout] = a.filterShape;
  const info = tf.backend_util.computeConv2DInfo(
    x.shape as [number, number, number, number],
    a.filterShape,
    a.strides,
    1,
    a.pad,
    a.dimRoundingMode,
  );
  const [, h, w] = x.shape;
  const [ho, wo] = [dy.shape[1], dy.shape[2]];
  const { strideHeight: sh, strideWidth: sw } = info;
  const top = info.padInfo.top, left = info.padInfo.left;
  // Padding after the image that makes the output exactly kh × kw; negative
  // means trailing rows/columns no output reads, which are sliced off.
  const bottom = kh + (ho - 1) * sh - h - top;
  const right = kw + (wo - 1) * sw - w - left;
  const temps: Info[] = [];
  let xt = run("Transpose", { x }, { perm: [3, 1, 2, 0] }, be);
  temps.push(xt);
  if (bottom < 0 || right < 0) {
    xt = run("Slice", { x: xt }, {
      begin: [0, 0, 0, 0],
      size: [cin, h + Math.min(bottom, 0), w + Math.min(right, 0), x.shape[0]],
    }, be);
    temps.push(xt);
  }
  const ft = run("Transpose", { x: dy }, { perm: [1, 2, 0, 3] }, be);
  temps.push(ft);
  const pad = [[0, 0], [top, Math.max(bottom, 0)], [left, Math.max(right, 0)], [0, 0]];
  const conv = run("Conv2D", { x: xt, filter: ft }, {
    strides: [1, 1],
    pad,
    dataFormat: "NHWC",
    dilations: [sh, sw],
  }, be);
  temps.push(conv);
  const [cc, ch, cw, co] = conv.shape;
  if (cc !== cin || ch !== kh || cw !== kw || co !== cout) {
    throw new Error(
      `wasm Conv2DBackpropFilter: got [${conv.shape}], expected [${cin},${kh},${kw},${cout}]`,
    );
  }
  const out = run("Transpose", { x: conv }, { perm: [1, 2, 0, 3] }, be);
  for (const t of temps) be.disposeData(t.dataId);
  return out;
}

/**
 * Registers the kernels in {@link WASM_KERNELS} for the `wasm` backend
 * (skipping any that tfjs already has) and returns the names it added.
 * Safe to call more than once.
 *
 * @example
 * ```ts ignore
 * import { registerWasmKernels } from "./wasm_kernels.ts";
 * registerWasmKernels(); // ["Conv2DBackpropFilter"] the first time, [] after
 * ```
 */
export function registerWasmKernels(): string[] {
  const added: string[] = [];
  if (!tf.getKernel("Conv2DBackpropFilter", "wasm")) {
    tf.registerKernel({
      kernelName: "Conv2DBackpropFilter",
      backendName: "wasm",
      kernelFunc: conv2DBackpropFilter as unknown as tf.KernelFunc,
    });
    added.push("Conv2DBackpropFilter");
  }
  return added;
}
