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
import {
  appendText,
  holdLock,
  hostName,
  toJson,
  writeFileAtomic,
  writeFileAtomicSync,
} from "../fs.ts";
import { RUNNING_LOCK } from "./liveness.ts";
import { appendGifFrame, type GifLayout } from "../image/gif.ts";
import { type Manifest, newManifest } from "./manifest.ts";
import { renderFrame } from "./frame.ts";
import type { FrameEvent } from "../train/frame.ts";
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
    sweep?: { name: string; point: string };
  }): Promise<RunWriter> {
    const dir = await createRunDir(opts.root, opts.name);
    const manifest = await newManifest({ ...opts, cwd: Deno.cwd() });
    const w = new RunWriter(dir, manifest);
    await Deno.mkdir(`${dir}/frames`);
    await Deno.mkdir(`${dir}/checkpoints`);
    await writeFileAtomic(`${dir}/${RUN_FILES.experiment}`, opts.source);
    await w.writeConfig(opts.config);
    await w.#startHeartbeat();
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
    manifest.signal = null;
    manifest.resumed_from = [...(manifest.resumed_from ?? []), new Date().toISOString()];
    manifest.pid = Deno.pid;
    manifest.host = { ...manifest.host, name: hostName() };
    await w.#startHeartbeat();
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
        await appendText(`${this.dir}/${RUN_FILES.metrics}`, jsonLine(e.metrics));
        await this.writeSummary(config);
        await this.writeManifest();
        break;
      case "frame":
        await this.writeFrame(e);
        break;
      case "checkpoint":
        await this.writeCheckpoint(e.snapshot);
        break;
    }
  }

  /** Writes the labelled frame and appends it to glyphs.gif. */
  async writeFrame(e: FrameEvent) {
    const frame = await renderFrame(e, this.#metrics.at(-1));
    const name = `epoch-${String(e.epoch).padStart(4, "0")}.png`;
    await writeFileAtomic(`${this.dir}/frames/${name}`, frame.png);
    this.#gif = await appendGifFrame(`${this.dir}/${RUN_FILES.gif}`, frame, this.#gif);
  }

  async writeCheckpoint(s: TrainSnapshot) {
    const metadata: Record<string, string> = { format: "glyphnet-checkpoint-1" };
    for (const [k, v] of Object.entries(s.meta)) metadata[k] = String(v);
    await writeFileAtomic(
      `${this.dir}/${RUN_FILES.checkpoint}`,
      encodeSafetensors({ tensors: s.tensors, metadata }),
    );
  }

  /** config.json: the resolved experiment in effect (rewritten when a resume changes it). */
  async writeConfig(config: Experiment) {
    await writeFileAtomic(
      `${this.dir}/${RUN_FILES.config}`,
      toJson({ $comment: "fully resolved experiment", ...config }),
    );
  }

  async writeSummary(config: Experiment) {
    await writeFileAtomic(
      `${this.dir}/${RUN_FILES.summary}`,
      toJson(summarize(this.#metrics, config)),
    );
  }

  /** Writes the manifest; writes are queued so a heartbeat never lands after the end. */
  writeManifest(): Promise<void> {
    if (this.manifest.status === "running") this.manifest.heartbeat = new Date().toISOString();
    const text = toJson(this.manifest);
    const write = () => writeFileAtomic(`${this.dir}/${RUN_FILES.manifest}`, text);
    this.#manifestWrites = this.#manifestWrites.then(write, write);
    return this.#manifestWrites;
  }

  #manifestWrites: Promise<void> = Promise.resolve();
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #lock: Deno.FsFile | null = null;

  /**
   * Locks running.lock and refreshes the manifest's heartbeat while the run
   * lives, so readers can tell a dead one (see liveness.ts).
   */
  async #startHeartbeat(): Promise<void> {
    this.#lock = await holdLock(`${this.dir}/${RUNNING_LOCK}`).catch(() => null);
    const timer = setInterval(() => {
      if (this.manifest.status === "running") this.writeManifest().catch(() => {});
    }, HEARTBEAT_MS);
    Deno.unrefTimer(timer);
    this.#heartbeat = timer;
  }

  /** Marks the run ended (why: an error, or the signal that stopped it) and writes the manifest. */
  async finish(status: Manifest["status"], why: Ending = {}): Promise<void> {
    this.#end(status, why);
    await this.writeManifest();
  }

  /** Same as {@link finish}, synchronously (for a second Ctrl-C that exits at once). */
  finishSync(status: Manifest["status"], why: Ending = {}): void {
    this.#end(status, why);
    writeFileAtomicSync(`${this.dir}/${RUN_FILES.manifest}`, toJson(this.manifest));
  }

  #end(status: Manifest["status"], why: Ending): void {
    clearInterval(this.#heartbeat);
    if (this.#lock) {
      try {
        Deno.removeSync(`${this.dir}/${RUNNING_LOCK}`);
        this.#lock.close();
      } catch { /* gone already */ }
      this.#lock = null;
    }
    this.manifest.status = status;
    this.manifest.ended_at = new Date().toISOString();
    this.manifest.error = why.error ?? null;
    this.manifest.signal = why.signal ?? null;
  }
}

/** Why a run ended, for the manifest. */
interface Ending {
  /** The failure's message. */
  error?: string;
  /** The OS signal that interrupted it. */
  signal?: string | null;
}

function jsonLine(m: EpochMetrics): string {
  return JSON.stringify(m) + "\n";
}

/** How often a running run refreshes its manifest's heartbeat (readers allow several minutes). */
const HEARTBEAT_MS = 30_000;
