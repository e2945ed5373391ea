/**
 * The fused kernels of lib/backend/fused_kernels.ts for tfjs's `webgpu`
 * backend: GlyphnetConvBnAct and its gradient run tfjs's own webgpu
 * convolution kernels with batch norm + activation as three WGSL dispatches
 * each way (instead of ~15 forward and ~80 backward tfjs kernels), and
 * GlyphnetAdam is one WGSL dispatch per variable (instead of ~12), all in one kernel call.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import {
  ADAM,
  ADAM_INPUTS,
  type AdamAttrs,
  CONV_BN_ACT,
  CONV_BN_ACT_GRAD,
  type ConvBnActAttrs,
  inputGroups,
} from "../fused_kernels.ts";
import { adamStep } from "./adam.ts";
import { batchNormBackward, batchNormForward } from "./batch_norm.ts";
import { canDispatch } from "./dispatch.ts";

/** The webgpu backend this module registers for. */
const WEBGPU = "webgpu";

type Args = {
  inputs: tf.NamedTensorInfoMap;
  backend: tf.KernelBackend;
  attrs?: tf.NamedAttrMap;
};

/** Runs tfjs's own webgpu kernel `name` (a convolution) on `backend`. */
function run(
  name: string,
  backend: tf.KernelBackend,
  inputs: Record<string, tf.TensorInfo>,
  attrs: tf.NamedAttrMap,
): tf.TensorInfo {
  const kernel = tf.getKernel(name, WEBGPU);
  if (!kernel) throw new TypeError(`Cannot run the fused block on webgpu: no ${name} kernel`);
  return kernel.kernelFunc({ inputs, backend, attrs }) as tf.TensorInfo;
}

function release(backend: tf.KernelBackend, ...infos: tf.TensorInfo[]): void {
  for (const t of infos) backend.disposeData(t.dataId);
}

function convBnAct({ inputs, backend, attrs }: Args): tf.TensorInfo[] {
  const { x, filter, bias, gamma, beta } = inputs as Record<string, tf.TensorInfo>;
  const a = attrs as unknown as ConvBnActAttrs;
  const z = a.transpose
    ? run("Conv2DBackpropInput", backend, { dy: x, filter }, {
      inputShape: [x.shape[0], 2 * x.shape[1], 2 * x.shape[2], filter.shape[2]],
      strides: 2,
      pad: "same",
      dataFormat: "NHWC",
    })
    : run("Conv2D", backend, { x, filter }, {
      strides: a.stride,
      pad: "same",
      dataFormat: "NHWC",
      dilations: 1,
    });
  const out = batchNormForward(backend, { z, bias, gamma, beta }, a);
  release(backend, z);
  return out;
}

function convBnActGrad({ inputs, backend, attrs }: Args): tf.TensorInfo[] {
  const { x, filter, gamma, beta, xhat, variance, dy } = inputs as Record<string, tf.TensorInfo>;
  const a = attrs as unknown as ConvBnActAttrs;
  const [dz, dbias, dgamma, dbeta] = batchNormBackward(
    backend,
    { xhat, dy, gamma, beta, variance },
    a,
  );
  const common = { pad: "same", dataFormat: "NHWC" };
  // A transposed convolution's gradients are the convolution and its filter gradient, swapped.
  const dx = a.transpose
    ? run("Conv2D", backend, { x: dz, filter }, { ...common, strides: 2, dilations: 1 })
    : run("Conv2DBackpropInput", backend, { dy: dz, filter }, {
      ...common,
      strides: a.stride,
      inputShape: x.shape,
    });
  const dfilter = a.transpose
    ? run("Conv2DBackpropFilter", backend, { x: dz, dy: x }, {
      ...common,
      strides: 2,
      filterShape: filter.shape,
    })
    : run("Conv2DBackpropFilter", backend, { x, dy: dz }, {
      ...common,
      strides: a.stride,
      filterShape: filter.shape,
    });
  release(backend, dz);
  return [dx, dfilter, dbias, dgamma, dbeta];
}

/** One dispatch per variable (valueK, gradK, mK, vK), outputs in order of K. */
function adam({ inputs, backend, attrs }: Args): tf.TensorInfo[] {
  const groups = inputGroups(inputs as Record<string, tf.TensorInfo>, ADAM_INPUTS);
  return groups.flatMap(({ value, grad, m, v }) =>
    adamStep(backend, { w: value, g: grad, m, v }, attrs as unknown as AdamAttrs)
  );
}

/** The kernels this module registers for webgpu. */
export const WEBGPU_KERNELS = [CONV_BN_ACT, CONV_BN_ACT_GRAD, ADAM];

/**
 * Registers the fused kernels for tfjs's webgpu backend; returns the names
 * it added (none when they are there already).
 */
export function registerWebgpuKernels(): string[] {
  const funcs: Record<string, (a: Args) => tf.TensorInfo[]> = {
    [CONV_BN_ACT]: convBnAct,
    [CONV_BN_ACT_GRAD]: convBnActGrad,
    [ADAM]: adam,
  };
  const added: string[] = [];
  for (const [kernelName, kernelFunc] of Object.entries(funcs)) {
    if (tf.getKernel(kernelName, WEBGPU)) continue;
    tf.registerKernel({
      kernelName,
      backendName: WEBGPU,
      kernelFunc: kernelFunc as tf.KernelFunc,
      // The kernels drive the backend's internals (dispatch.ts): check them once, at start.
      setupFunc: (backend) => {
        if (!canDispatch(backend as tf.KernelBackend)) {
          throw new TypeError(
            `Cannot use ${kernelName} on webgpu: the backend is not tfjs-backend-webgpu 4.22`,
          );
        }
      },
    });
    added.push(kernelName);
  }
  return added;
}
