/**
 * A sweep's plan on disk: runs/sweeps/<name>/plan.json and one generated
 * experiment file per point; each point's id is a hash of its resolved config.
 * @module
 */
import { stringify } from "yaml";
import { label, type LoadedSweep } from "../../config/sweep.ts";
import type { Experiment } from "../../config/schema.ts";
import { toJson, writeFileAtomic } from "../../fs.ts";
import { experimentHash } from "../../run/manifest.ts";

/** One point as the plan records it. */
export interface PlanPoint {
  /** Hash of the resolved config (name excluded): the same config gives the same id anywhere. */
  id: string;
  index: number;
  setting: number;
  seed: number;
  overrides: Record<string, unknown>;
  /** The run name of the point's run folders (`<stamp>_<run>`). */
  run: string;
  /** The generated experiment file, relative to the sweep folder. */
  experiment: string;
}

/** The plan of a sweep. */
export interface Plan {
  name: string;
  file: string;
  base: string;
  /** The swept keys. */
  keys: string[];
  points: PlanPoint[];
}

/** Characters of the config hash used as a point id. */
const ID_LENGTH = 12;

/** The folder of a sweep's plan, claims and summary. */
export function sweepDir(root: string, name: string): string {
  return `${root}/sweeps/${name}`;
}

/** Resolves every point's id (hash of its config); `configs` maps ids to resolved configs. */
export async function makePlan(
  sweep: LoadedSweep,
): Promise<{ plan: Plan; configs: Map<string, Experiment> }> {
  const points: PlanPoint[] = [];
  const configs = new Map<string, Experiment>();
  const seen = new Set<string>();
  for (const p of sweep.points) {
    const id = (await experimentHash(p.config)).slice(0, ID_LENGTH);
    if (seen.has(id)) continue; // the same config twice (e.g. a list repeats a grid point)
    seen.add(id);
    configs.set(id, p.config);
    points.push({
      id,
      index: points.length,
      setting: p.setting,
      seed: p.seed,
      overrides: p.overrides,
      run: `${sweep.name}-${id}`,
      experiment: `points/${id}.yaml`,
    });
  }
  const plan = {
    name: sweep.name,
    file: sweep.path,
    base: sweep.basePath,
    keys: sweep.keys,
    points,
  };
  return { plan, configs };
}

/** Writes plan.json and the points' experiment files (each whole; same content every time). */
export async function writePlan(
  dir: string,
  plan: Plan,
  configs: Map<string, Experiment>,
): Promise<void> {
  await Deno.mkdir(`${dir}/points`, { recursive: true });
  await Deno.mkdir(`${dir}/claims`, { recursive: true });
  for (const point of plan.points) {
    const config = configs.get(point.id)!;
    const path = `${dir}/${point.experiment}`;
    const text = `# sweep ${plan.name}, point ${point.id}: ${plan.base} with ${
      label({ ...point.overrides, seed: point.seed })
    }\n${stringify({ ...config, name: point.run })}`;
    const old = await Deno.readTextFile(path).catch(() => null);
    if (old !== text) await writeFileAtomic(path, text);
  }
  await writeFileAtomic(`${dir}/plan.json`, toJson(plan));
}

/** The points of shard `index` (0-based) of `count`: every count-th point. */
export function shardOf<T>(points: T[], index: number, count: number): T[] {
  return points.filter((_, i) => i % count === index);
}
