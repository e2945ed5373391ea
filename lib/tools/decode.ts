/**
 * `deno task decode <run> <image.png>`: reads an image with the run's
 * trained D and says which message it carries, how sure D is, and how much
 * it looks like noise.
 * @module
 */
import { imageChannels } from "../config/schema.ts";
import { heldOutSeed } from "../eval/evaluate.ts";
import { type Decoded, decodeImage } from "../eval/codec.ts";
import { blackenFill, toModelImage } from "../eval/image.ts";
import { decodePng } from "../image/png.ts";
import { withNetworks } from "../run/networks.ts";
import { InputError } from "../errors.ts";

/** Options of {@linkcode decodeRun}. */
export interface DecodeRunOptions {
  /** Backend to run on (default auto). */
  backend?: string;
  /**
   * Channel level the image and its references are sent through before D
   * reads them (default: 0 when the run trained on randomized levels, which
   * include 0; else the checkpoint's level, the only one D saw lately).
   */
  level?: number;
  /**
   * Keep a uniform fill around the glyph as it is. By default, a region of
   * one colour joined to all four corners (what an image tool's rotation
   * uncovers, white in ImageMagick) is set to black, the channel's fill.
   */
  keepFill?: boolean;
}

/** Decodes the PNG at `image` (any size; gray, RGB or RGBA) with the run in `dir`. */
export async function decodeRun(
  dir: string,
  image: string,
  opts: DecodeRunOptions = {},
): Promise<Decoded> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(image);
  } catch (e) {
    throw new InputError(`Cannot read "${image}": ${(e as Error).message}`);
  }
  const picture = decodePng(bytes, image);
  if (!opts.keepFill) blackenFill(picture);
  return await withNetworks(dir, async ({ config, g, d, meta }) => {
    const pixels = toModelImage(picture, config.image.size, imageChannels(config.image));
    return await decodeImage(g, d, config, pixels, {
      level: opts.level ?? (config.channel.randomize ? 0 : meta.level),
      seed: heldOutSeed(config),
    });
  }, opts);
}

/** One line for the terminal: message, its probability, the noise score. */
export function formatDecoded(r: Decoded): string {
  const verdict = r.isNoise ? " (D calls it noise)" : "";
  return `${r.message}\tp=${r.probability.toFixed(3)}\tnoise=${r.noise.toFixed(3)}${verdict}`;
}
