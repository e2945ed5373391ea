/**
 * The run writer: creates `runs/<UTC stamp>_<name>/` and turns training
 * events into files. Files are written whole (temp file + rename), except
 * the two that grow with the run: metrics.jsonl gets one line appended per
 * epoch (the reader ignores a last line cut short by a crash) and glyphs.gif
 * one frame (valid after every write). Each epoch costs the same however
 * long the run is.
 * @module
 */
import type { BackendInfo } from "../backend/init.ts";
import type { Experiment } from "../config/schema.ts";
import type { EpochMetrics, TrainEvent, TrainSnapshot } from "../train/loop.ts";
import { toJson, writeFileAtomic, writeFileAtomicSync } from "../fs.ts";
import { appendGifFrame, type GifLayout, toRgba } from "../image/gif.ts";
import { type Manifest, newManifest } from "./manifest.ts";
import { upscale } from "../eval/image.ts";
import { encodePng, gridImage } from "../image/png.ts";
import { encodeSafetensors } from "./safetensors.ts";
import { summarize } from "./summary.ts";

/** File names inside a run folder (the contract in docs/ARCHITECTURE.md). */
export const RUN_FILES = {
  experiment: "experiment.yaml",
  config: "config.json",
  manifest: "manifest.json",
  metrics: "metrics.jsonl",
  summary: "metrics.json",
  log: "train.log",
  gif: "glyphs.gif",
  checkpoint: "checkpoints/last.safetensors",
} as const;

/** Makes a new, unique run folder under `root`; never reuses one. */
export async function createRunDir(root: string, name: string, now = new Date()): Promise<string> {
  await Deno.mkdir(root, { recursive: true });
  const stamp = now.toISOString().replace(/:/g, "-");
  for (let i = 1;; i++) {
    const dir = `${root}/${stamp}_${name}${i > 1 ? `-${i}` : ""}`;
    try {
      await Deno.mkdir(dir);
      return dir;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
    }
  }
}

/** Writes one run's folder from its events. */
export class RunWriter {
  readonly dir: string;
  readonly manifest: Manifest;
  readonly #metrics: EpochMetrics[] = [];
  /** Where glyphs.gif ends, so appending a frame need not read it. */
  #gif: GifLayout | undefined;

  private constructor(dir: string, manifest: Manifest) {
    this.dir = dir;
    this.manifest = manifest;
  }

  /** Creates the folder and writes experiment.yaml, config.json and a running manifest. */
  static async create(opts: {
    root: string;
    name: string;
    config: Experiment;
    source: string;
    file: string;
    backend: BackendInfo;
  }): Promise<RunWriter> {
    const dir = await createRunDir(opts.root, opts.name);
    const manifest = await newManifest({ ...opts, cwd: Deno.cwd() });
    const w = new RunWriter(dir, manifest);
    await Deno.mkdir(`${dir}/frames`);
    await Deno.mkdir(`${dir}/checkpoints`);
    await writeFileAtomic(`${dir}/${RUN_FILES.experiment}`, opts.source);
    await writeFileAtomic(
      `${dir}/${RUN_FILES.config}`,
      toJson({ $comment: "fully resolved experiment", ...opts.config }),
    );
    await w.writeManifest();
    return w;
  }

  /**
   * Re-opens an existing run folder to continue it: its frames stay in the
   * GIF; metrics.jsonl is rewritten once from `metrics` (as the reader read
   * them: today's keys, no torn last line) and appended to from then on.
   */
  static async reopen(
    dir: string,
    manifest: Manifest,
    metrics: EpochMetrics[],
  ): Promise<RunWriter> {
    const w = new RunWriter(dir, manifest);
    w.#metrics.push(...metrics);
    await writeFileAtomic(`${dir}/${RUN_FILES.metrics}`, metrics.map(jsonLine).join(""));
    manifest.status = "running";
    manifest.ended_at = null;
    manifest.error = null;
    manifest.resumed_from = [...(manifest.resumed_from ?? []), new Date().toISOString()];
    await w.writeManifest();
    return w;
  }

  /** Handles one training event. */
  async onEvent(e: TrainEvent, config: Experiment): Promise<void> {
    switch (e.type) {
      case "epoch":
        this.#metrics.push(e.metrics);
        this.manifest.epochs_done = e.metrics.epoch;
        // One whole line in one write; Deno keeps no buffer, so it is in the file on return.
        await Deno.writeTextFile(`${this.dir}/${RUN_FILES.metrics}`, jsonLine(e.metrics), {
          append: true,
        });
        await this.writeSummary(config);
        await this.writeManifest();
        break;
      case "frame":
        await this.writeFrame(e.epoch, e.images, e.shape, config.output.grid);
        break;
      case "checkpoint":
        await this.writeCheckpoint(e.snapshot);
        break;
    }
  }

  async writeFrame(
    epoch: number,
    images: Float32Array,
    shape: [number, number, number, number],
    cols: number,
  ) {
    const grid = gridImage(...enlarge(images, shape), { cols, pad: 2, background: 1 });
    const name = `epoch-${String(epoch).padStart(4, "0")}.png`;
    await writeFileAtomic(
      `${this.dir}/frames/${name}`,
      encodePng(grid.pixels, grid.width, grid.height, grid.channels),
    );
    const rgba = toRgba(grid.pixels, grid.width, grid.height, grid.channels);
    this.#gif = await appendGifFrame(`${this.dir}/${RUN_FILES.gif}`, { ...grid, rgba }, this.#gif);
  }

  async writeCheckpoint(s: TrainSnapshot) {
    const metadata: Record<string, string> = { format: "glyphnet-checkpoint-1" };
    for (const [k, v] of Object.entries(s.meta)) metadata[k] = String(v);
    await writeFileAtomic(
      `${this.dir}/${RUN_FILES.checkpoint}`,
      encodeSafetensors({ tensors: s.tensors, metadata }),
    );
  }

  async writeSummary(config: Experiment) {
    await writeFileAtomic(
      `${this.dir}/${RUN_FILES.summary}`,
      toJson(summarize(this.#metrics, config)),
    );
  }

  async writeManifest() {
    await writeFileAtomic(`${this.dir}/${RUN_FILES.manifest}`, toJson(this.manifest));
  }

  /** Marks the run ended and writes the manifest. */
  async finish(status: Manifest["status"], error?: string): Promise<void> {
    this.#end(status, error);
    await this.writeManifest();
  }

  /** Same as {@link finish}, synchronously (for a second Ctrl-C that exits at once). */
  finishSync(status: Manifest["status"], error?: string): void {
    this.#end(status, error);
    writeFileAtomicSync(`${this.dir}/${RUN_FILES.manifest}`, toJson(this.manifest));
  }

  #end(status: Manifest["status"], error?: string): void {
    this.manifest.status = status;
    this.manifest.ended_at = new Date().toISOString();
    this.manifest.error = error ?? null;
  }
}

function jsonLine(m: EpochMetrics): string {
  return JSON.stringify(m) + "\n";
}

/** Glyphs shown at least this many pixels wide in frames. */
const FRAME_GLYPH_PIXELS = 64;

/** Enlarges small glyphs (nearest neighbour, so pixels stay crisp) for frames. */
function enlarge(
  images: Float32Array,
  [n, h, w, c]: [number, number, number, number],
): [Float32Array, [number, number, number, number]] {
  const factor = Math.ceil(FRAME_GLYPH_PIXELS / h);
  if (factor <= 1 || h !== w) return [images, [n, h, w, c]];
  const big = h * factor, out = new Float32Array(n * big * big * c);
  for (let i = 0; i < n; i++) {
    out.set(
      upscale(images.subarray(i * h * w * c, (i + 1) * h * w * c), h, c, factor),
      i * big * big * c,
    );
  }
  return [out, [n, big, big, c]];
}
