/**
 * A frame as a run folder keeps it: the header line (epoch, level,
 * held-out accuracy), the clean glyphs and the channel's view, labelled.
 * @module
 */
import { frameSvg } from "../image/compose.ts";
import { type Raster, rasterizeSvg } from "../image/raster.ts";
import type { FrameEvent } from "../train/frame.ts";
import type { EpochMetrics } from "../train/loop.ts";

/** The frame's header line. */
export function frameHeader(e: FrameEvent, m?: EpochMetrics): string {
  const parts = [`epoch ${e.epoch}`, `level ${e.level}`];
  const acc = m?.epoch === e.epoch ? m.eval?.accuracy : undefined;
  if (acc !== undefined) {
    const at = m!.level === e.level ? "" : ` at level ${m!.level}`;
    parts.push(`held-out accuracy ${(acc * 100).toFixed(1)} %${at}`);
  }
  return parts.join(" · ");
}

/** Renders the labelled frame of a frame event; `m` is the epoch's metrics when known. */
export async function renderFrame(e: FrameEvent, m?: EpochMetrics): Promise<Raster> {
  const svg = frameSvg({
    header: frameHeader(e, m),
    labels: e.labels,
    panels: [
      { title: "G's glyphs", images: e.images, shape: e.shape },
      {
        title: `as D receives them (channel at level ${e.level})`,
        images: e.channel,
        shape: e.shape,
      },
    ],
  });
  return await rasterizeSvg(svg);
}
