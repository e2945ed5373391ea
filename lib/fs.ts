/**
 * Whole-or-nothing file writes: write a temp file beside the target, then
 * rename it over. A reader never sees half a file. A failed write leaves the
 * old file as it was, removes its temp file, and throws a {@link WriteError}
 * that names the file and why (e.g. ENOSPC).
 * @module
 */
import { OperationalError } from "./errors.ts";

/** A file could not be written; the message names it and says why. */
export class WriteError extends OperationalError {
  /** Always "WriteError". */
  override name = "WriteError";
  /** The OS error code (ENOSPC, EROFS, EACCES, ...) when there is one. */
  readonly code: string | undefined;

  constructor(path: string, cause: unknown) {
    super(`Cannot write "${path}": ${osReason(cause)}`, { cause });
    this.code = (cause as { code?: string }).code;
  }
}

/** Writes `data` to `path` atomically. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${Deno.pid}-${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw new WriteError(path, e);
  }
}

/**
 * Appends `text` to `path` (for files that only grow, such as metrics.jsonl:
 * a crash or a full disk can leave the last line torn, which readers ignore).
 */
export async function appendText(path: string, text: string): Promise<void> {
  try {
    await Deno.writeTextFile(path, text, { append: true });
  } catch (e) {
    throw new WriteError(path, e);
  }
}

/**
 * Checks that files can be made in `dir` (creating it if need be): creates,
 * writes, renames and removes a small temp file, so a read-only or full disk
 * shows before any work starts. Throws a {@link WriteError}.
 */
export async function probeWritable(dir: string): Promise<void> {
  const tmp = `${dir}/.probe-${Deno.pid}-${crypto.randomUUID().slice(0, 8)}`;
  let made = "";
  try {
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(`${tmp}.tmp`, "glyphnet can write here\n".repeat(64));
    made = `${tmp}.tmp`;
    await Deno.rename(made, tmp);
    made = tmp;
  } catch (e) {
    throw new WriteError(dir, e);
  } finally {
    if (made) await Deno.remove(made).catch(() => {});
    else await Deno.remove(`${tmp}.tmp`).catch(() => {});
  }
}

/** Why an OS call failed, in words and with its code: "no space left on device (ENOSPC)". */
export function osReason(e: unknown): string {
  const err = e as { code?: string; message?: string };
  const words = (err.message ?? String(e)).replace(/ \(os error \d+\).*$/s, "");
  const text = words.charAt(0).toLowerCase() + words.slice(1);
  return err.code ? `${text} (${err.code})` : text;
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
