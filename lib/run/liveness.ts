/**
 * Tells a dead "running" run: its manifest says running, but the process
 * that trained it is gone (same host: its lock on `running.lock` is gone) or
 * its heartbeat stopped (other host, or no lock file).
 * @module
 */
import { ownerGone } from "../fs.ts";
import type { Manifest } from "./manifest.ts";

/** A run's status as readers should show it. */
export type LiveStatus = Manifest["status"] | "interrupted (stale)";

/**
 * The manifest's status, except that a `running` run whose process is gone
 * is `interrupted (stale)`. Manifests from before pid and heartbeat were
 * recorded cannot be judged and keep their status.
 *
 * @example
 * ```ts
 * import { liveStatus } from "./liveness.ts";
 * const dead = { status: "running" as const, pid: 1, host: { name: "elsewhere" }, heartbeat: "2020-01-01T00:00:00Z" };
 * console.assert(liveStatus(dead) === "interrupted (stale)");
 * ```
 */
export function liveStatus(
  manifest: {
    status: Manifest["status"];
    pid?: number;
    heartbeat?: string;
    host?: { name?: string } | string;
  },
  opts: { dir?: string; now?: number } = {},
): LiveStatus {
  if (manifest.status !== "running") return manifest.status;
  if (manifest.pid === undefined && manifest.heartbeat === undefined) return "running";
  const host = typeof manifest.host === "string" ? manifest.host : manifest.host?.name;
  const gone = ownerGone({ pid: manifest.pid, host, heartbeat: manifest.heartbeat }, {
    lock: opts.dir ? `${opts.dir}/${RUNNING_LOCK}` : undefined,
    now: opts.now,
  });
  return gone ? "interrupted (stale)" : "running";
}

/**
 * The file a training process keeps locked while it runs (removed when it
 * ends): on the same host, a lock that is no longer held means the process died.
 */
export const RUNNING_LOCK = "running.lock";
