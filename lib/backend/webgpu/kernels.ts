/**
 * The fused WGSL kernels as registered tfjs kernels for the `webgpu`
 * backend, and the ops that call them. The model asks tfjs whether the
 * active backend has a kernel (`hasKernel`) and otherwise composes the same
 * math from tfjs ops; it never compares backend names.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { adamStep } from "./adam.ts";
import { bnActBackward, bnActForward, type BnActivation } from "./bn_act.ts";
import { canDispatch } from "./dispatch.ts";

/** Batch norm (batch statistics) + activation: y, gamma, beta → out, mean, variance, saved. */
export const BN_ACT = "GlyphnetBnAct";
/** Its gradient: y, saved, dout → dy, dgamma, dbeta. */
export const BN_ACT_GRAD = "GlyphnetBnActGrad";
/** Keras-form Adam on one variable: w, g, m, v → new w, m, v. */
export const ADAM = "GlyphnetAdam";

/** Attributes of {@link BN_ACT} and {@link BN_ACT_GRAD}. */
export interface BnActAttrs {
  activation: BnActivation;
  epsilon: number;
  [key: string]: string | number;
}

function bnActKernel(
  { inputs, backend, attrs }: {
    inputs: tf.NamedTensorInfoMap;
    backend: tf.KernelBackend;
    attrs?: tf.NamedAttrMap;
  },
): tf.TensorInfo[] {
  const a = attrs as unknown as BnActAttrs;
  const { y, gamma, beta } = inputs as Record<string, tf.TensorInfo>;
  const r = bnActForward(backend, { y, gamma, beta }, a);
  return [r.out, r.mean, r.variance, r.saved];
}

function bnActGradKernel(
  { inputs, backend, attrs }: {
    inputs: tf.NamedTensorInfoMap;
    backend: tf.KernelBackend;
    attrs?: tf.NamedAttrMap;
  },
): tf.TensorInfo[] {
  const a = attrs as unknown as BnActAttrs;
  const { y, saved, dout } = inputs as Record<string, tf.TensorInfo>;
  const r = bnActBackward(backend, { y, saved, dout }, a);
  return [r.dy, r.dgamma, r.dbeta];
}

function adamKernel(
  { inputs, backend, attrs }: {
    inputs: tf.NamedTensorInfoMap;
    backend: tf.KernelBackend;
    attrs?: tf.NamedAttrMap;
  },
): tf.TensorInfo[] {
  const { w, g, m, v } = inputs as Record<string, tf.TensorInfo>;
  const a = attrs as { stepSize: number; beta1: number; beta2: number; epsilon: number };
  return adamStep(backend, { w, g, m, v }, a);
}

/** The kernels this module adds to a backend. */
export const WEBGPU_KERNELS = [BN_ACT, BN_ACT_GRAD, ADAM];

/**
 * Registers the fused kernels for `backendName` (tfjs's webgpu backend);
 * returns the names it added (none when they are there already).
 */
export function registerWebgpuKernels(backendName = "webgpu"): string[] {
  const funcs: Record<string, tf.KernelFunc> = {
    [BN_ACT]: bnActKernel as tf.KernelFunc,
    [BN_ACT_GRAD]: bnActGradKernel as tf.KernelFunc,
    [ADAM]: adamKernel as tf.KernelFunc,
  };
  const added: string[] = [];
  for (const [kernelName, kernelFunc] of Object.entries(funcs)) {
    if (tf.getKernel(kernelName, backendName)) continue;
    tf.registerKernel({
      kernelName,
      backendName,
      kernelFunc,
      // The kernels drive backend internals; check them once, when the backend starts.
      setupFunc: (backend) => {
        if (!canDispatch(backend as tf.KernelBackend)) {
          throw new TypeError(
            `Cannot use ${kernelName} on ${backendName}: its backend is not tfjs-backend-webgpu 4.22`,
          );
        }
      },
    });
    added.push(kernelName);
  }
  return added;
}

/** True when the active backend has kernel `name`. */
export function hasKernel(name: string): boolean {
  return tf.getKernel(name, tf.getBackend()) !== undefined;
}

/** The output and batch statistics of {@link bnAct}. */
export interface BnActResult<T extends tf.Tensor> {
  out: T;
  /** Kept (outside any tidy): the caller disposes them. */
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/**
 * act(batch norm of `y` over all but the last axis · γ + β) through the
 * {@link BN_ACT} kernel, differentiable in y, γ and β through
 * {@link BN_ACT_GRAD}. Needs a backend that has both kernels.
 */
export function bnAct<T extends tf.Tensor>(
  y: T,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  attrs: { activation: BnActivation; epsilon: number },
): BnActResult<T> {
  let mean!: tf.Tensor1D, variance!: tf.Tensor1D;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [yt, g, b] = args as tf.Tensor[];
    const save = args[3] as tf.GradSaveFunc;
    const [out, m, v, saved] = tf.engine().runKernel(
      BN_ACT,
      { y: yt, gamma: g, beta: b },
      { ...attrs },
    ) as tf.Tensor[];
    mean = tf.keep(m) as tf.Tensor1D;
    variance = tf.keep(v) as tf.Tensor1D;
    save([yt, saved]);
    return {
      value: out,
      gradFunc: (dout: tf.Tensor, s: tf.Tensor[]) =>
        tf.engine().runKernel(BN_ACT_GRAD, { y: s[0], saved: s[1], dout }, {
          ...attrs,
        }) as tf.Tensor[],
    };
  });
  const out = op(y, gamma, beta) as T;
  return { out, mean, variance };
}

/**
 * One Adam step on `w` with gradient `g` and moments `m`, `v` (all
 * variables are given fresh values) through the {@link ADAM} kernel.
 */
export function adamKernelStep(
  w: tf.Variable,
  g: tf.Tensor,
  moments: { m: tf.Variable; v: tf.Variable },
  step: { stepSize: number; beta1: number; beta2: number; epsilon: number },
): void {
  const next = tf.engine().runKernel(
    ADAM,
    { w, g, m: moments.m, v: moments.v },
    { ...step },
  ) as tf.Tensor[];
  w.assign(next[0]);
  moments.m.assign(next[1]);
  moments.v.assign(next[2]);
  tf.dispose(next);
}
