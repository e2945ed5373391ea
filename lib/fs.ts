/**
 * Whole-or-nothing file writes: write a temp file beside the target, then
 * rename it over. A reader never sees half a file.
 * @module
 */

/** Writes `data` to `path` atomically. */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  const tmp = `${path}.${Deno.pid}-${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    if (typeof data === "string") await Deno.writeTextFile(tmp, data);
    else await Deno.writeFile(tmp, data);
    await Deno.rename(tmp, path);
  } catch (e) {
    await Deno.remove(tmp).catch(() => {});
    throw e;
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

/** Who holds a claim or runs a run: enough to tell, later, whether it is still alive. */
export interface Owner {
  pid: number;
  host: string;
  /** ISO time, refreshed while the owner works. */
  heartbeat: string;
}

/** An owner on another host is taken for gone when its heartbeat is older than this. */
export const STALE_AFTER_MS = 5 * 60_000;

/** This machine's name ("" when the permission to ask is missing). */
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
 * Whether the owner is gone: on this host, its process no longer exists; on
 * another host (or where processes cannot be seen), its heartbeat is stale.
 */
export function ownerGone(owner: Partial<Owner>, now = Date.now()): boolean {
  if (owner.host && owner.host === hostName() && typeof owner.pid === "number") {
    const alive = processAlive(owner.pid);
    if (alive !== undefined) return !alive;
  }
  const beat = Date.parse(owner.heartbeat ?? "");
  return !Number.isFinite(beat) || now - beat > STALE_AFTER_MS;
}

/** Whether a process exists here (/proc), or undefined where that cannot be told. */
function processAlive(pid: number): boolean | undefined {
  if (Deno.build.os !== "linux") return undefined;
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    // A zombie (state Z) has exited; only its parent has not reaped it yet.
    return !/^\d+ \(.*\) Z /s.test(stat);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    return undefined;
  }
}

/**
 * Creates `path` with `data` only if it does not exist; true when this call
 * created it. Safe on NFS: the data goes to a unique file first, which is
 * hard-linked to `path`; the link count (2) says whether the link worked even
 * when the server's reply was lost. Where hard links are not supported, falls
 * back to an exclusive create.
 *
 * @example
 * ```ts
 * import { createExclusive } from "./fs.ts";
 * const dir = await Deno.makeTempDir();
 * console.assert(await createExclusive(`${dir}/claim`, "me") === true);
 * console.assert(await createExclusive(`${dir}/claim`, "you") === false);
 * ```
 */
export async function createExclusive(path: string, data: string): Promise<boolean> {
  const unique = `${path}.${hostName() || "host"}-${Deno.pid}-${
    crypto.randomUUID().slice(0, 8)
  }.tmp`;
  await Deno.writeTextFile(unique, data);
  try {
    try {
      await Deno.link(unique, path);
    } catch (e) {
      if (e instanceof Deno.errors.AlreadyExists) return false;
      if (e instanceof Deno.errors.NotSupported || e instanceof Deno.errors.PermissionDenied) {
        return await createNew(path, data);
      }
      // NFS may report an error although the link was made: the count tells.
    }
    return (await Deno.stat(unique)).nlink === 2;
  } finally {
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

/** A claim file's content. */
export interface Claim extends Owner {
  /** A random token: tells this claim from a later one at the same path. */
  token: string;
}

/** Reads a claim file; null when absent or unreadable (torn by a crash). */
export async function readClaim(path: string): Promise<Claim | null> {
  try {
    const c = JSON.parse(await Deno.readTextFile(path));
    return c && typeof c === "object" ? c as Claim : null;
  } catch {
    return null;
  }
}

/**
 * Claims `path` for this process: creates it exclusively, or takes it over
 * when its owner is gone (see {@link ownerGone}) and `canTakeOver` agrees.
 * Returns the claim, or null when a live owner holds it.
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
): Promise<Claim | null> {
  const mine: Claim = { ...selfOwner(), token: crypto.randomUUID() };
  for (let attempt = 0; attempt < 3; attempt++) {
    if (await createExclusive(path, toJson(mine))) return mine;
    const old = await readClaim(path);
    if (old && !ownerGone(old)) return null;
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

/** Refreshes a held claim's heartbeat (false when it is no longer ours). */
export async function touchClaim(path: string, held: Claim): Promise<boolean> {
  const now = await readClaim(path);
  if (!now || now.token !== held.token) return false;
  held.heartbeat = new Date().toISOString();
  await writeFileAtomic(path, toJson(held));
  return true;
}

/** Removes a claim if it is still ours. */
export async function release(path: string, held: Claim): Promise<void> {
  const now = await readClaim(path);
  if (now && now.token === held.token) await Deno.remove(path).catch(() => {});
}
