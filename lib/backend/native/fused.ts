/**
 * conv → batch norm (batch statistics) → swish/sigmoid as one native call
 * forward and one backward, for the `native` backend. Numerically the same
 * block as the composed tfjs path in lib/model/block.ts.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { BatchStats, BlockOptions, BlockParams } from "../../model/block.ts";
import type { NativeBackend } from "./backend.ts";
import { nativeSync } from "./ffi.ts";
import { geometry, valuesOf } from "./kernels.ts";

/** Batch norm's epsilon; equal to block.ts's BN_EPSILON (not imported: no cycle). */
const EPSILON = 1e-3;

/** The conv geometry of a block: for a transposed one, of the conv it transposes. */
function blockGeometry(xShape: number[], kernelShape: number[], o: BlockOptions): Int32Array {
  const k = kernelShape as [number, number, number, number];
  const [b, h, w] = xShape;
  const convIn: [number, number, number, number] = o.transpose
    ? [b, 2 * h, 2 * w, k[2]]
    : xShape as [number, number, number, number];
  const info = tf.backend_util.computeConv2DInfo(convIn, k, o.transpose ? 2 : o.stride, 1, "same");
  const g = geometry(info);
  if (!g) throw new RangeError(`Cannot run a fused block on shape [${xShape}]: NHWC only`);
  if (
    o.transpose && (info.outHeight !== h || info.outWidth !== w || info.outChannels !== xShape[3])
  ) {
    throw new RangeError(
      `Cannot run a transposed block on [${xShape}] with kernel [${kernelShape}]: channels differ`,
    );
  }
  return g;
}

function outputShape(g: Int32Array, transpose: boolean): [number, number, number, number] {
  return transpose ? [g[0], g[1], g[2], g[3]] : [g[0], g[7], g[8], g[6]];
}

function check(rc: number, what: string, shape: number[]): void {
  if (rc !== 0) {
    throw new RangeError(`Cannot run the fused block ${what} on [${shape}]: out of memory`);
  }
}

/**
 * Same contract as `convBnAct` in lib/model/block.ts, computed natively:
 * input [B, H, W, in] → [B, H/stride, W/stride, out] (or [B, 2H, 2W, out]
 * when `transpose`). Pushes the batch mean and variance to `stats` (kept)
 * when given. Requires the `native` backend to be active.
 */
export function fusedConvBnAct(
  x: tf.Tensor4D,
  p: BlockParams,
  o: BlockOptions,
  stats?: BatchStats[],
): tf.Tensor4D {
  const g = blockGeometry(x.shape, p.kernel.shape, o);
  const shape = outputShape(g, o.transpose ?? false);
  const channels = shape[3];
  const mean = new Float32Array(channels);
  const variance = new Float32Array(channels);
  const transpose = o.transpose ? 1 : 0;
  const act = o.activation === "swish" ? 0 : 1;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xt, kernel, bias, gamma, beta] = args as tf.Tensor[];
    const save = args[5] as tf.GradSaveFunc;
    const backend = tf.backend() as NativeBackend;
    const size = tf.util.sizeFromShape(shape);
    const y = backend.take(size);
    const xhat = backend.take(size);
    const rc = nativeSync().symbols.gn_block_fwd(
      valuesOf(backend, xt),
      valuesOf(backend, kernel),
      valuesOf(backend, bias),
      valuesOf(backend, gamma),
      valuesOf(backend, beta),
      y,
      xhat,
      mean,
      variance,
      g,
      transpose,
      act,
      EPSILON,
    );
    check(rc, "forward", x.shape);
    // The forward runs in a tidy: save() keeps clones of what backward needs.
    save([xt, kernel, gamma, beta, tf.tensor(xhat, shape), tf.tensor1d(variance.slice())]);
    return { value: tf.tensor4d(y, shape), gradFunc: backward };
  });

  function backward(dy: tf.Tensor, saved: tf.Tensor[]): tf.Tensor[] {
    const [xt, kernel, gamma, beta, xhat, savedVar] = saved;
    const backend = tf.backend() as NativeBackend;
    const dx = backend.take(xt.size);
    const dw = backend.take(kernel.size);
    const dbias = new Float32Array(channels);
    const dgamma = new Float32Array(channels);
    const dbeta = new Float32Array(channels);
    const rc = nativeSync().symbols.gn_block_bwd(
      valuesOf(backend, xt),
      valuesOf(backend, kernel),
      valuesOf(backend, gamma),
      valuesOf(backend, beta),
      valuesOf(backend, xhat),
      valuesOf(backend, savedVar),
      valuesOf(backend, dy),
      dx,
      dw,
      dbias,
      dgamma,
      dbeta,
      g,
      transpose,
      act,
      EPSILON,
    );
    check(rc, "backward", xt.shape);
    return [
      tf.tensor(dx, xt.shape),
      tf.tensor(dw, kernel.shape),
      tf.tensor1d(dbias),
      tf.tensor1d(dgamma),
      tf.tensor1d(dbeta),
    ];
  }

  // Native code reads float32 only; a one-hot int32 message is cast here.
  const input = x.dtype === "float32" ? x : tf.cast(x, "float32");
  const out = op(input, p.kernel, p.bias, p.gamma, p.beta) as tf.Tensor4D;
  if (input !== x) input.dispose();
  if (stats) {
    stats.push({
      params: p,
      mean: tf.keep(tf.tensor1d(mean)),
      variance: tf.keep(tf.tensor1d(variance)),
    });
  }
  return out;
}
