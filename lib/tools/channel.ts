/**
 * `deno task channel`: what each difficulty level does, as a PNG sheet,
 * for an experiment file (random smooth images) or a run folder (its G's
 * glyphs of fixed messages).
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/init.ts";
import { loadExperiment } from "../config/load.ts";
import { renderChannelSheet } from "../channel/preview.ts";
import { generate } from "../model/generator.ts";
import { writeFileAtomic } from "../fs.ts";
import { withNetworks } from "../run/networks.ts";
import { fixedMessages, messageTensor } from "../model/messages.ts";
import { InputError } from "../errors.ts";

/** Options of {@link channelPreview}. */
export interface ChannelPreviewOptions {
  /** Output PNG (default: channel.png in the run folder, else `<experiment stem>-channel.png`). */
  out?: string;
  /** Columns (sample glyphs). */
  samples?: number;
  /** Backend to render on (default cpu: a sheet is small). */
  backend?: string;
  /** `--set` overrides for an experiment file. */
  set?: string[];
}

/** Renders the sheet for `target` and writes it; returns the PNG's path. */
export async function channelPreview(
  target: string,
  opts: ChannelPreviewOptions = {},
): Promise<string> {
  const samples = opts.samples ?? 6;
  const info = await Deno.stat(target).catch(() => null);
  if (!info) throw new InputError(`Cannot preview the channel: "${target}" does not exist`);
  const backend = opts.backend ?? "cpu";
  let sheet;
  let out = opts.out;
  if (info.isDirectory) {
    sheet = await withNetworks(target, async ({ config, g }) => {
      const glyphs = tf.tidy(() =>
        generate(g, messageTensor(fixedMessages(config.message, samples)))
      );
      try {
        return await renderChannelSheet(config, { glyphs, samples });
      } finally {
        glyphs.dispose();
      }
    }, { backend });
    out ??= `${target.replace(/\/+$/, "")}/channel.png`;
  } else {
    await initBackend(backend);
    const { config } = await loadExperiment(target, { set: opts.set });
    sheet = await renderChannelSheet(config, { samples });
    out ??= target.replace(/\.(ya?ml)$/i, "") + "-channel.png";
  }
  await writeFileAtomic(out, sheet.data);
  return out;
}
