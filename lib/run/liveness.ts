/**
 * Tells a dead "running" run: its manifest says running, but the process
 * that trained it is gone (same host) or its heartbeat stopped (other host).
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
 * const dead = { status: "running", pid: 1, host: { name: "elsewhere" }, heartbeat: "2020-01-01T00:00:00Z" };
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
  now = Date.now(),
): LiveStatus {
  if (manifest.status !== "running") return manifest.status;
  if (manifest.pid === undefined && manifest.heartbeat === undefined) return "running";
  const host = typeof manifest.host === "string" ? manifest.host : manifest.host?.name;
  const gone = ownerGone({ pid: manifest.pid, host, heartbeat: manifest.heartbeat }, now);
  return gone ? "interrupted (stale)" : "running";
}
