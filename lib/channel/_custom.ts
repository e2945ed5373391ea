/**
 * Gradients the channel defines itself. tfjs-core's npm build registers no
 * gradients (its `register_all_gradients` module does not load under Deno),
 * and wasm lacks several backward kernels; so each op is one `customGrad`
 * node whose backward pass uses kernels every backend has. The ops inside a
 * custom node are not taped, so no registered gradient is ever needed.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/**
 * Applies `forward` to `x` as one differentiable node whose gradient is
 * `adjoint(dy)`: right for any map that is affine in `x` (the adjoint of
 * its linear part), like noise, blur, filtering and inversion.
 */
export function affineOp(
  x: tf.Tensor4D,
  forward: (x: tf.Tensor4D) => tf.Tensor,
  adjoint: (dy: tf.Tensor4D) => tf.Tensor,
): tf.Tensor4D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => ({
    value: forward(args[0] as tf.Tensor4D),
    gradFunc: (dy: tf.Tensor) => tf.tidy(() => adjoint(dy as tf.Tensor4D)),
  }));
  return op(x) as tf.Tensor4D;
}

/**
 * Applies `forward` to `x` as one differentiable node whose gradient is
 * `dy · slope`, where `forward` returns the value and its elementwise slope
 * (for elementwise maps such as the hard sigmoid).
 */
export function elementwiseOp(
  x: tf.Tensor4D,
  forward: (x: tf.Tensor4D) => { value: tf.Tensor4D; slope: tf.Tensor4D },
): tf.Tensor4D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const { value, slope } = forward(args[0] as tf.Tensor4D);
    (args[1] as tf.GradSaveFunc)([slope]);
    return { value, gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.mul(dy, saved[0]) };
  });
  return op(x) as tf.Tensor4D;
}

/**
 * True when the backend keeps tensors in host memory (cpu, native, wasm):
 * there a JS loop over the values beats tfjs' generic gather and chains of
 * small broadcasting kernels by 10–20×. GPU backends keep tensor ops.
 */
export function inHostMemory(): boolean {
  return !["webgpu", "webgl"].includes(tf.getBackend());
}
