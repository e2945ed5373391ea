/**
 * Runs one hand-written WGSL compute shader inside tfjs's webgpu backend:
 * several float32 inputs, several fresh float32 outputs, a few scalar
 * uniforms, recorded into the backend's own command encoder so it is
 * ordered with tfjs's kernels and submitted with them (nothing is read back).
 *
 * tfjs's `runWebGPUProgram` gives a shader one output; the fused kernels need
 * several (BN's output with its statistics, Adam's weights and both moments).
 * This module uses the backend's internals of @tensorflow/tfjs-backend-webgpu
 * 4.22 (the version deno.lock pins): `tensorMap`, `uploadToGPU`,
 * `makeUniforms`, the command encoder and compute pass, and the set of
 * buffers the queue owns (so a disposal waits for the submit).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";

/** The parts of tfjs's WebGPUBackend 4.22 this module drives. */
interface WebGpuInternals {
  device: GPUDevice;
  tensorMap: { get(dataId: tf.DataId): { resource?: unknown; dtype: string } };
  uploadToGPU(dataId: tf.DataId): void;
  makeTensorInfo(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  makeUniforms(u: { type: string; data: number[] }[]): GPUBufferBinding;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  commandEncoder: GPUCommandEncoder;
  computePassEncoder: GPUComputePassEncoder | null;
  commandQueueOwnedIds: WeakSet<tf.DataId>;
  dispatchCountInPass: number;
}

/** One shader run. */
export interface Dispatch {
  /** Names the compiled pipeline in the cache: one name per WGSL text. */
  name: string;
  /** WGSL with bindings 0..n-1 for `inputs` (read), then `outputs` (read_write), then uniforms. */
  code: string;
  inputs: tf.TensorInfo[];
  /** Shapes of the float32 outputs, created fresh. */
  outputs: number[][];
  /** Scalars of the uniform struct, in order (`f32`, `i32` or `u32` members). */
  uniforms: { type: "float32" | "int32" | "uint32"; value: number }[];
  /** Workgroups in x (and y). */
  workgroups: [number, number?];
}

/** Largest workgroup count in one dimension that every WebGPU device allows. */
export const MAX_WORKGROUPS = 65535;

const pipelines = new WeakMap<GPUDevice, Map<string, GPUComputePipeline>>();

function pipeline(device: GPUDevice, name: string, code: string): GPUComputePipeline {
  let cache = pipelines.get(device);
  if (!cache) pipelines.set(device, cache = new Map());
  let p = cache.get(name);
  if (!p) {
    const module = device.createShaderModule({ label: name, code });
    p = device.createComputePipeline({
      label: name,
      layout: "auto",
      compute: { module, entryPoint: "main" },
    });
    cache.set(name, p);
  }
  return p;
}

function bufferOf(b: WebGpuInternals, t: tf.TensorInfo): GPUBuffer {
  if (t.dtype !== "float32") {
    throw new TypeError(`Cannot run a fused webgpu kernel on a ${t.dtype} tensor: float32 only`);
  }
  b.uploadToGPU(t.dataId);
  const resource = b.tensorMap.get(t.dataId).resource;
  if (!(resource instanceof GPUBuffer)) {
    throw new TypeError("Cannot run a fused webgpu kernel on a tensor held in a texture");
  }
  return resource;
}

/**
 * Records `d` on `backend` (tfjs's webgpu backend) and returns the outputs'
 * tensor infos; the caller makes tensors of them or returns them from a kernel.
 */
export function dispatch(backend: tf.KernelBackend, d: Dispatch): tf.TensorInfo[] {
  const b = backend as unknown as WebGpuInternals;
  const inputs = d.inputs.map((t) => bufferOf(b, t));
  const outputs = d.outputs.map((shape) => b.makeTensorInfo(shape, "float32"));
  const outBuffers = outputs.map((t) => bufferOf(b, t));
  const uniforms = b.makeUniforms(d.uniforms.map((u) => ({ type: u.type, data: [u.value] })));
  const entries: GPUBindGroupEntry[] = [...inputs, ...outBuffers].map((buffer, i) => ({
    binding: i,
    resource: { buffer },
  }));
  entries.push({ binding: entries.length, resource: uniforms });
  const p = pipeline(b.device, d.name, d.code);
  const group = b.device.createBindGroup({ layout: p.getBindGroupLayout(0), entries });
  // Disposing any of these before the submit must wait for it.
  for (const t of [...d.inputs, ...outputs]) b.commandQueueOwnedIds.add(t.dataId);
  b.ensureCommandEncoderReady();
  if (!b.computePassEncoder) b.computePassEncoder = b.commandEncoder.beginComputePass({});
  b.computePassEncoder.setPipeline(p);
  b.computePassEncoder.setBindGroup(0, group);
  b.computePassEncoder.dispatchWorkgroups(d.workgroups[0], d.workgroups[1] ?? 1);
  // Submit every so many dispatches, as tfjs's own kernels do.
  if (++b.dispatchCountInPass >= tf.env().getNumber("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE")) {
    b.endComputePassEncoder();
    b.submitQueue();
  }
  return outputs;
}

/** True when `backend` is a tfjs webgpu backend whose internals this module knows. */
export function canDispatch(backend: tf.KernelBackend): boolean {
  const b = backend as unknown as Partial<WebGpuInternals>;
  return typeof b.makeUniforms === "function" && typeof b.uploadToGPU === "function" &&
    b.commandQueueOwnedIds instanceof WeakSet && "device" in b;
}
