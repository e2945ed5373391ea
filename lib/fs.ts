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

/** Who holds a claim or runs a run: enough to tell, later, whether it is still alive. */
export interface Owner {
  pid: number;
  host: string;
  /** ISO time, refreshed while the owner works. */
  heartbeat: string;
}

/** An owner on another host is taken for gone when its heartbeat is older than this. */
export const STALE_AFTER_MS = 5 * 60_000;

/** This machine's name ("" without the permission to ask: --allow-sys=hostname). */
export function hostName(): string {
  try {
    return Deno.hostname();
  } catch {
    return "";
  }
}

/** This process as an owner, with a fresh heartbeat. */
export function selfOwner(): Owner {
  return { pid: Deno.pid, host: hostName(), heartbeat: new Date().toISOString() };
}

/**
 * Whether the owner is gone. On this host, the lock file `lock` (held by a
 * live owner with {@link holdLock}) answers: the kernel drops a lock when its
 * process dies, however it died. Elsewhere, or without a lock file, the
 * heartbeat decides: older than {@link STALE_AFTER_MS} means gone.
 */
export function ownerGone(
  owner: Partial<Owner>,
  opts: { lock?: string; now?: number } = {},
): boolean {
  const here = hostName();
  if (opts.lock && here && owner.host === here) {
    const held = lockHeld(opts.lock);
    if (held !== undefined) return !held;
  }
  const beat = Date.parse(owner.heartbeat ?? "");
  return !Number.isFinite(beat) || (opts.now ?? Date.now()) - beat > STALE_AFTER_MS;
}

/**
 * Takes an exclusive lock on `path` (created if missing) and keeps it while
 * the returned file stays open, i.e. until {@link FsFile.close} or the
 * process ends. Null where the filesystem has no locks.
 */
export async function holdLock(path: string): Promise<Deno.FsFile | null> {
  const file = await Deno.open(path, { read: true, write: true, create: true });
  try {
    if (await file.tryLock(true)) return file;
  } catch { /* no locks here */ }
  file.close();
  return null;
}

/** Whether a live process holds the lock on `path`; undefined when there is no such file. */
export function lockHeld(path: string): boolean | undefined {
  let file: Deno.FsFile;
  try {
    file = Deno.openSync(path, { read: true });
  } catch {
    return undefined;
  }
  try {
    return !file.tryLockSync(false);
  } catch {
    return undefined;
  } finally {
    file.close();
  }
}

/** A claim file's content. */
export interface Claim {
  pid: number;
  host: string;
  started: string;
  /** A random token: tells this claim from a later one at the same path. */
  token: string;
}

/** A claim this process holds: its content and the open, locked file. */
export interface HeldClaim {
  claim: Claim;
  file: Deno.FsFile | null;
}

/** Reads a claim file; null when absent or unreadable. */
export async function readClaim(path: string): Promise<Claim | null> {
  try {
    const c = JSON.parse(await Deno.readTextFile(path));
    return c && typeof c === "object" ? c as Claim : null;
  } catch {
    return null;
  }
}

/**
 * Whether the owner of the claim at `path` is gone: on this host its lock on
 * the file is gone; elsewhere the file's modification time (the heartbeat,
 * see {@link touchClaim}) is older than {@link STALE_AFTER_MS}.
 */
export async function claimGone(path: string, c: Claim | null): Promise<boolean> {
  let mtime: number;
  try {
    mtime = (await Deno.stat(path)).mtime?.getTime() ?? NaN;
  } catch {
    return true;
  }
  const heartbeat = Number.isFinite(mtime) ? new Date(mtime).toISOString() : undefined;
  return ownerGone({ host: c?.host, heartbeat }, { lock: path });
}

/**
 * Claims `path` for this process: creates it exclusively, or takes it over
 * when its owner is gone (see {@link claimGone}) and `canTakeOver` agrees.
 * Returns the held claim, or null when a live owner holds it.
 *
 * Safe on NFS: the claim is written to a unique file, locked, and hard-linked
 * to `path`; the unique file's link count (2) says whether the link worked
 * even when the server's reply was lost.
 *
 * @example
 * ```ts
 * import { claim, release } from "./fs.ts";
 * const dir = await Deno.makeTempDir();
 * const mine = await claim(`${dir}/point.claim`);
 * console.assert(mine !== null && (await claim(`${dir}/point.claim`)) === null);
 * await release(`${dir}/point.claim`, mine!);
 * ```
 */
export async function claim(
  path: string,
  opts: { canTakeOver?: (old: Claim | null) => boolean | Promise<boolean> } = {},
): Promise<HeldClaim | null> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const mine = await createLocked(path);
    if (mine) return mine;
    const old = await readClaim(path);
    if (!(await claimGone(path, old))) return null;
    if (opts.canTakeOver && !(await opts.canTakeOver(old))) return null;
    // Move the dead claim aside; of several takers only one rename succeeds.
    const aside = `${path}.${crypto.randomUUID().slice(0, 8)}.stale`;
    try {
      await Deno.rename(path, aside);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue;
      throw e;
    }
    const moved = await readClaim(aside);
    if (old && moved && moved.token !== old.token) {
      // Someone else took it over in between: give theirs back.
      await Deno.link(aside, path).catch(() => {});
      await Deno.remove(aside).catch(() => {});
      return null;
    }
    await Deno.remove(aside).catch(() => {});
  }
  return null;
}

/** Creates `path` locked by this process if it does not exist yet. */
async function createLocked(path: string): Promise<HeldClaim | null> {
  const claim: Claim = {
    pid: Deno.pid,
    host: hostName(),
    started: new Date().toISOString(),
    token: crypto.randomUUID(),
  };
  const unique = `${path}.${claim.host || "host"}-${Deno.pid}-${claim.token.slice(0, 8)}.tmp`;
  await Deno.writeTextFile(unique, toJson(claim));
  // Locked before it is visible: no one ever sees an unlocked live claim.
  const file = await holdLock(unique);
  let made = false;
  try {
    try {
      await Deno.link(unique, path);
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) return null;
      if (e instanceof Deno.errors.NotSupported || e instanceof Deno.errors.PermissionDenied) {
        made = await createNew(path, toJson(claim));
        return made ? { claim, file: await holdLock(path) } : null;
      }
      // NFS may report an error although the link was made: the count tells.
    }
    made = (await Deno.stat(unique)).nlink === 2;
    return made ? { claim, file } : null;
  } finally {
    if (!made) file?.close();
    await Deno.remove(unique).catch(() => {});
  }
}

async function createNew(path: string, data: string): Promise<boolean> {
  try {
    const file = await Deno.open(path, { write: true, createNew: true });
    try {
      await file.write(new TextEncoder().encode(data));
    } finally {
      file.close();
    }
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.AlreadyExists) return false;
    throw e;
  }
}

/** Refreshes a held claim's heartbeat (its modification time); false when it is no longer ours. */
export async function touchClaim(path: string, held: HeldClaim): Promise<boolean> {
  const now = await readClaim(path);
  if (!now || now.token !== held.claim.token) return false;
  const t = new Date();
  await Deno.utime(path, t, t);
  return true;
}

/** Removes a claim if it is still ours, and lets go of its lock. */
export async function release(path: string, held: HeldClaim): Promise<void> {
  const now = await readClaim(path);
  if (now && now.token === held.claim.token) await Deno.remove(path).catch(() => {});
  try {
    held.file?.close();
  } catch { /* closed already */ }
}
