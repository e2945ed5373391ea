/**
 * Prints what WebGPU adapter this Deno gets, as one JSON line: the
 * high-performance adapter's info and limits, or why there is none.
 *
 *   deno run -A bench/gpu_probe.ts
 * @module
 */

interface Probe {
  available: boolean;
  fallback?: boolean;
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  max_buffer_bytes?: number;
  max_storage_binding_bytes?: number;
  reason?: string;
}

/** The adapter Deno's WebGPU offers (what tfjs's webgpu backend will use). */
export async function probeAdapter(): Promise<Probe> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  if (!gpu) return { available: false, reason: "this Deno has no navigator.gpu" };
  let adapter: GPUAdapter | null;
  try {
    adapter = await gpu.requestAdapter({ powerPreference: "high-performance" });
  } catch (e) {
    return { available: false, reason: `requestAdapter failed: ${(e as Error).message}` };
  }
  if (!adapter) {
    return {
      available: false,
      reason: "no adapter (Vulkan loader libvulkan.so.1 or a Vulkan driver/ICD missing)",
    };
  }
  const info = adapter.info;
  return {
    available: true,
    fallback: info.isFallbackAdapter ?? false,
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    max_buffer_bytes: adapter.limits.maxBufferSize,
    max_storage_binding_bytes: adapter.limits.maxStorageBufferBindingSize,
  };
}

if (import.meta.main) console.log(JSON.stringify(await probeAdapter()));
