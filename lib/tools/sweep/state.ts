/**
 * Where each point of a sweep stands, read from the run folders themselves:
 * a point's runs are named `<stamp>_<sweep>-<id>`, and their manifests say
 * how they ended. Nothing else records progress, so nothing can disagree.
 * @module
 */
import { readRunBrief, type RunBrief } from "../../run/brief.ts";
import type { PlanPoint } from "./plan.ts";

/** A point's state. */
export interface PointState {
  kind: "pending" | "completed" | "failed" | "interrupted" | "running";
  /** The point's latest run folder, if any. */
  dir?: string;
  brief?: RunBrief;
  /** Whether that folder has a checkpoint to resume from. */
  resumable: boolean;
}

/** The latest run folder of every point, from one listing of `root`. */
export async function latestRuns(root: string, points: PlanPoint[]): Promise<Map<string, string>> {
  const wanted = new Map(points.map((p) => [p.run, p.id]));
  const latest = new Map<string, string>();
  try {
    for await (const e of Deno.readDir(root)) {
      if (!e.isDirectory) continue;
      const m = /^[^_]+_(.+-[0-9a-f]{12})(?:-\d+)?$/.exec(e.name);
      const id = m && wanted.get(m[1]);
      if (!id) continue;
      const old = latest.get(id);
      if (!old || e.name > old) latest.set(id, e.name);
    }
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
  }
  return new Map([...latest].map(([id, name]) => [id, `${root}/${name}`]));
}

/** The state of one point, given its latest run folder. */
export async function pointState(point: PlanPoint, dir: string | undefined): Promise<PointState> {
  const brief = dir ? await readRunBrief(dir, { config: false }) : null;
  if (!dir || !brief || brief.manifest.sweep?.point !== point.id) {
    return { kind: "pending", resumable: false };
  }
  const resumable = await Deno.stat(`${dir}/checkpoints/last.safetensors`).then(
    () => true,
    () => false,
  );
  const kind = brief.status === "interrupted (stale)" ? "interrupted" : brief.status;
  return { kind, dir, brief, resumable };
}
