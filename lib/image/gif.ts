/**
 * Animated GIFs of the training frames, one palette per frame (gifenc).
 * {@link appendGifFrame} grows a GIF file one frame at a time without
 * re-encoding or holding the earlier frames, and the file is a valid GIF
 * after every write: the new frame goes after the old trailer byte first,
 * then a one-byte write turns that trailer into the frame's first byte.
 * @module
 */
// @ts-types="./gifenc.d.ts"
import gifenc from "gifenc";

// gifenc ships CommonJS whose named exports Deno cannot detect.
const { applyPalette, GIFEncoder, quantize } = gifenc;

/** One RGB(A) picture with values 0..255. */
export interface RgbaFrame {
  rgba: Uint8Array;
  width: number;
  height: number;
}

/** Delay of each frame; the last one is held 4× as long. */
const DELAY_MS = 150;
const TRAILER = 0x3b;

/** Encodes frames as a looping GIF, `delayMs` per frame (last one held 4×). */
export function encodeGif(frames: RgbaFrame[], delayMs = DELAY_MS): Uint8Array {
  const parts = frames.map((f, i) =>
    encodeFrame(f, { first: i === 0, delayMs: i === frames.length - 1 ? delayMs * 4 : delayMs })
  );
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0) + 1);
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  out[at] = TRAILER;
  return out;
}

/** One frame's bytes; the first also carries the header, screen, global palette and loop. */
function encodeFrame(f: RgbaFrame, opts: { first: boolean; delayMs: number }): Uint8Array {
  const gif = GIFEncoder({ auto: false });
  if (opts.first) gif.writeHeader();
  const palette = quantize(f.rgba, 256);
  gif.writeFrame(applyPalette(f.rgba, palette), f.width, f.height, {
    palette,
    delay: opts.delayMs,
    repeat: 0,
    first: opts.first,
  });
  return gif.bytes();
}

/** Where a GIF file's blocks are: its valid length and its last frame's delay field. */
export interface GifLayout {
  /** Bytes up to and including the trailer (anything after it is left over from a crash). */
  length: number;
  /** Offset of the last frame's delay (little-endian, 1/100 s); -1 without frames. */
  lastDelayAt: number;
  /** Number of frames (images). */
  frames: number;
}

/**
 * Walks a GIF's blocks (header, screen, extensions, images) to its trailer.
 * Throws when the file is not a GIF or ends before its trailer.
 */
export function gifLayout(bytes: Uint8Array): GifLayout {
  const text = new TextDecoder().decode(bytes.subarray(0, 6));
  if (text !== "GIF89a" && text !== "GIF87a") throw new RangeError("Cannot read GIF: no header");
  const table = (packed: number) => (packed & 0x80 ? 3 * 2 ** ((packed & 7) + 1) : 0);
  let at = 13 + table(bytes[10]);
  let lastDelayAt = -1, frames = 0;
  const skipSubBlocks = () => {
    while (at < bytes.length && bytes[at] !== 0) at += bytes[at] + 1;
    at++;
  };
  while (at < bytes.length) {
    const kind = bytes[at];
    if (kind === TRAILER) return { length: at + 1, lastDelayAt, frames };
    if (kind === 0x21) {
      if (bytes[at + 1] === 0xf9) lastDelayAt = at + 4;
      at += 2;
      skipSubBlocks();
    } else if (kind === 0x2c) {
      frames++;
      at += 10 + table(bytes[at + 9]) + 1; // descriptor, local palette, LZW code size
      skipSubBlocks();
    } else {
      break;
    }
  }
  throw new RangeError("Cannot read GIF: it ends before its trailer");
}

/**
 * Appends a frame to the GIF at `path` (creating it), held 4× as the last
 * frame while the one before gets the normal delay. Costs one frame's
 * encoding and a few small writes, however long the file is; `layout` is
 * what the previous call returned (without it, the file is scanned once).
 */
export async function appendGifFrame(
  path: string,
  frame: RgbaFrame,
  layout?: GifLayout,
): Promise<GifLayout> {
  const existing = layout ?? await readLayout(path);
  const first = existing === null;
  const bytes = encodeFrame(frame, { first, delayMs: DELAY_MS * 4 });
  const file = await Deno.open(path, { read: true, write: true, create: true });
  try {
    if (first) {
      await writeAt(file, 0, bytes.length + 1, [bytes, new Uint8Array([TRAILER])]);
      await file.truncate(bytes.length + 1);
      const whole = new Uint8Array(bytes.length + 1);
      whole.set(bytes);
      whole[bytes.length] = TRAILER;
      return gifLayout(whole);
    }
    const start = existing.length - 1; // where the trailer is
    // After the old trailer first: the file stays a valid GIF that ends at that trailer.
    await writeAt(file, start + 1, bytes.length, [bytes.subarray(1), new Uint8Array([TRAILER])]);
    await file.truncate(start + bytes.length + 1);
    // One byte turns the old trailer into the new frame's start.
    await writeAt(file, start, 1, [bytes.subarray(0, 1)]);
    if (existing.lastDelayAt >= 0) {
      await writeAt(file, existing.lastDelayAt, 2, [delayBytes(DELAY_MS)]);
    }
    // A later frame's chunk starts with its graphic control extension: delay at +4.
    return {
      length: start + bytes.length + 1,
      lastDelayAt: start + 4,
      frames: existing.frames + 1,
    };
  } finally {
    file.close();
  }
}

/** The file's layout; null when there is none yet (or a crash cut its first frame short). */
async function readLayout(path: string): Promise<GifLayout | null> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
  try {
    return gifLayout(bytes);
  } catch {
    return null; // start over: the frames are in frames/*.png too
  }
}

function delayBytes(ms: number): Uint8Array {
  const cs = Math.round(ms / 10);
  return new Uint8Array([cs & 0xff, cs >> 8]);
}

async function writeAt(file: Deno.FsFile, at: number, n: number, parts: Uint8Array[]) {
  await file.seek(at, Deno.SeekMode.Start);
  let written = 0;
  for (const p of parts) {
    for (let off = 0; off < p.length;) off += await file.write(p.subarray(off));
    written += p.length;
  }
  if (written !== n) throw new Error(`GIF write: wrote ${written} bytes, meant ${n}`);
}

/** Float pixels in [0, 1] (1 or 3 channels) as RGBA bytes. */
export function toRgba(
  pixels: Float32Array,
  width: number,
  height: number,
  channels: number,
): Uint8Array {
  const out = new Uint8Array(width * height * 4);
  for (let i = 0; i < width * height; i++) {
    for (let c = 0; c < 3; c++) {
      const v = pixels[i * channels + (channels === 3 ? c : 0)];
      out[i * 4 + c] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
    out[i * 4 + 3] = 255;
  }
  return out;
}
