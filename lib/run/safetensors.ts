/**
 * Checkpoints in the safetensors format (8-byte little-endian header length,
 * JSON header, raw little-endian float32 data), so Python tools can read
 * them too.
 * @module
 */

/** Named float32 tensors with string metadata. */
export interface TensorFile {
  tensors: Map<string, { shape: number[]; data: Float32Array }>;
  metadata: Record<string, string>;
}

/** Serialises tensors and metadata. */
export function encodeSafetensors(file: TensorFile): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: file.metadata };
  let offset = 0;
  for (const [name, t] of file.tensors) {
    const bytes = t.data.length * 4;
    header[name] = { dtype: "F32", shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8); // align data to 8 bytes
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  let at = 8 + head.length;
  for (const t of file.tensors.values()) {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    at += t.data.byteLength;
  }
  return out;
}

/** Parses a safetensors file; float32 tensors only. Checks every offset and shape against the file. */
export function decodeSafetensors(bytes: Uint8Array, name = "checkpoint"): TensorFile {
  const fail = (why: string) => new SyntaxError(`Cannot read ${name}: ${why}`);
  if (bytes.length < 8) throw fail("the file is too short to be a safetensors file");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = Number(view.getBigUint64(0, true));
  if (len > bytes.length - 8) throw fail("the header is longer than the file (truncated?)");
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + len)));
  } catch {
    throw fail("the header is not JSON");
  }
  if (!isRecord(header)) throw fail("the header is not a JSON object");
  const base = 8 + len;
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  let metadata: Record<string, string> = {};
  for (const [key, entry] of Object.entries(header)) {
    if (key === "__metadata__") {
      if (!isRecord(entry) || !Object.values(entry).every((v) => typeof v === "string")) {
        throw fail("__metadata__ is not a map of strings");
      }
      metadata = entry as Record<string, string>;
      continue;
    }
    if (!isRecord(entry)) throw fail(`tensor "${key}" has no dtype, shape and offsets`);
    if (entry.dtype !== "F32") {
      throw fail(`tensor "${key}" is ${String(entry.dtype)}, only F32 is supported`);
    }
    const { shape, data_offsets: offsets } = entry;
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw fail(`tensor "${key}" has a shape that is not a list of whole numbers ≥ 0`);
    }
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount)) {
      throw fail(`tensor "${key}" has data_offsets that are not two whole numbers ≥ 0`);
    }
    const [start, end] = offsets as number[];
    const count = (shape as number[]).reduce((a, b) => a * b, 1);
    if (end < start || end - start !== count * 4 || base + end > bytes.length) {
      throw fail(`tensor "${key}" does not fit its shape or the file (truncated?)`);
    }
    const data = new Float32Array(count);
    new Uint8Array(data.buffer).set(bytes.subarray(base + start, base + end));
    tensors.set(key, { shape: shape as number[], data });
  }
  return { tensors, metadata };
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isCount(v: unknown): boolean {
  return Number.isSafeInteger(v) && (v as number) >= 0;
}
