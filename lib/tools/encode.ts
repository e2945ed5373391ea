/**
 * `deno task encode <run> <message>`: draws a message's glyph with the
 * run's trained G and writes it as a PNG.
 * @module
 */
import { imageChannels } from "../config/schema.ts";
import { heldOutSeed } from "../eval/evaluate.ts";
import { encodeMessage, messageLabel, parseMessage } from "../eval/codec.ts";
import { upscale } from "../eval/image.ts";
import { writeFileAtomic } from "../fs.ts";
import { withNetworks } from "../run/networks.ts";
import { encodePng } from "../image/png.ts";

/** Options of {@linkcode encodeRun}. */
export interface EncodeOptions {
  /** PNG path (default `glyph-<message>.png` in the working directory). */
  out?: string;
  /** Enlarge the glyph this many times, repeating pixels (default 1: the model's size). */
  scale?: number;
  /** Backend to run on (default auto). */
  backend?: string;
}

/** Writes the glyph of `message` (an index, a letter or a bit string); returns the path. */
export async function encodeRun(
  dir: string,
  message: string,
  opts: EncodeOptions = {},
): Promise<{ path: string; message: string }> {
  return await withNetworks(dir, async ({ config, g }) => {
    const row = parseMessage(config.message, message);
    const label = messageLabel(config.message, row);
    const glyph = await encodeMessage(g, config, row, { seed: heldOutSeed(config) });
    const size = config.image.size, channels = imageChannels(config.image);
    const scale = opts.scale ?? 1;
    const pixels = upscale(glyph, size, channels, scale);
    const path = opts.out ?? `glyph-${label}.png`;
    await writeFileAtomic(path, encodePng(pixels, size * scale, size * scale, channels));
    return { path, message: label };
  }, opts);
}
