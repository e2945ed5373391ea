/**
 * A run at a glance, read from its small files only (manifest.json,
 * metrics.json, config.json) and tolerant of older formats: what `runs`,
 * `diff` and sweep summaries need, fast for thousands of folders.
 * @module
 */
import { type LiveStatus, liveStatus } from "./liveness.ts";
import type { Manifest } from "./manifest.ts";
import type { RunSummary } from "./summary.ts";

/**
 * The small files' names: the same as `RUN_FILES` in writer.ts (a test checks), kept here because
 * importing the writer would load tfjs and make a listing start seconds slower.
 */
export const BRIEF_FILES = {
  manifest: "manifest.json",
  summary: "metrics.json",
  config: "config.json",
} as const;

/** A run's small files, parsed but not validated (older runs may lack fields). */
export interface RunBrief {
  dir: string;
  /** The manifest's status, or `interrupted (stale)` for a dead running run. */
  status: LiveStatus;
  manifest: Partial<Manifest> & Record<string, unknown>;
  /** metrics.json, or null before the first epoch ended. */
  summary: (Partial<RunSummary> & Record<string, unknown>) | null;
  /** config.json as written (null when absent). */
  config: Record<string, unknown> | null;
}

/** Reads a run's brief; null when the folder is not a run (no readable manifest). */
export async function readRunBrief(
  dir: string,
  opts: { config?: boolean; now?: number } = {},
): Promise<RunBrief | null> {
  dir = dir.replace(/\/+$/, "");
  const manifest = await readObject(`${dir}/${BRIEF_FILES.manifest}`);
  if (!manifest || typeof manifest.status !== "string") return null;
  const [summary, config] = await Promise.all([
    readObject(`${dir}/${BRIEF_FILES.summary}`),
    opts.config === false ? null : readObject(`${dir}/${BRIEF_FILES.config}`),
  ]);
  if (config) delete config.$comment;
  const status = liveStatus(manifest as Pick<Manifest, "status">, { dir, now: opts.now });
  return { dir, status, manifest, summary, config };
}

async function readObject(path: string): Promise<Record<string, unknown> | null> {
  try {
    const v = JSON.parse(await Deno.readTextFile(path));
    return v && typeof v === "object" && !Array.isArray(v) ? v : null;
  } catch {
    return null;
  }
}
