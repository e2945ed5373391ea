/**
 * Whole-or-nothing file writes: write a temp file beside the target, then
 * rename it over. A reader never sees half a file.
 * @module
 */

/** Writes `data` to `path` atomically. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${Deno.pid}-${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    if (DRILL_PAUSE_MS > 0) await writeInHalves(tmp, path, data, { create: true });
    else if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
    if (DRILL_PAUSE_MS > 0) console.error(`drill: wrote ${path}`);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
  }
}

/**
 * Appends `text` to `path` (for files that only grow, such as metrics.jsonl:
 * a crash can leave the last line torn, which readers ignore).
 */
export async function appendText(path: string, text: string): Promise<void> {
  if (DRILL_PAUSE_MS > 0) {
    await writeInHalves(path, path, text, { append: true, create: true });
    console.error(`drill: wrote ${path}`);
  } else await Deno.writeTextFile(path, text, { append: true });
}

/**
 * Crash drills only (tests/drill_kill_test.ts): with GLYPHNET_DRILL_WRITE_PAUSE_MS
 * set and readable, every write above says "drill: writing <path>" on stderr,
 * writes half its bytes, pauses, writes the rest and pauses again (so a
 * kill -9 can land inside it), then says "drill: wrote <path>". Never set in normal runs (the tasks do not even
 * allow reading it).
 */
const DRILL_PAUSE_MS = readDrillPause();

function readDrillPause(): number {
  const variable = "GLYPHNET_DRILL_WRITE_PAUSE_MS";
  if (Deno.permissions.querySync({ name: "env", variable }).state !== "granted") return 0;
  return Number(Deno.env.get(variable)) || 0;
}

async function writeInHalves(
  file: string,
  target: string,
  data: Uint8Array | string,
  mode: Deno.OpenOptions,
): Promise<void> {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  const pause = () => new Promise((resolve) => setTimeout(resolve, DRILL_PAUSE_MS));
  console.error(`drill: writing ${target}`);
  const f = await Deno.open(file, { write: true, truncate: !mode.append, ...mode });
  try {
    const half = bytes.length >> 1;
    for (const part of [bytes.subarray(0, half), bytes.subarray(half)]) {
      for (let at = 0; at < part.length;) at += await f.write(part.subarray(at));
      await pause();
    }
  } finally {
    f.close();
  }
}

/** Synchronous twin, for signal handlers that must finish before exit. */
export function writeFileAtomicSync(path: string, data: string): void {
  const tmp = `${path}.${Deno.pid}-sync.tmp`;
  Deno.writeTextFileSync(tmp, data);
  Deno.renameSync(tmp, path);
}

/** JSON with two-space indent and a final newline. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2) + "\n";
}

/**
 * The drill hook for files written in place (glyphs.gif): call it with
 * "start" before the first write, "middle" between writes and "end" after
 * the last. A no-op outside drills.
 */
export async function drillMark(path: string, stage: "start" | "middle" | "end"): Promise<void> {
  if (DRILL_PAUSE_MS <= 0) return;
  if (stage === "start") console.error(`drill: writing ${path}`);
  else await new Promise((resolve) => setTimeout(resolve, DRILL_PAUSE_MS));
  if (stage === "end") console.error(`drill: wrote ${path}`);
}
