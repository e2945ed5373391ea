/**
 * `sweep --dry-run`: the points in plan order with their ids and where each
 * stands, without writing or running anything.
 * @module
 */
import { label, type LoadedSweep } from "../../config/sweep.ts";
import { makePlan, shardOf } from "./plan.ts";
import type { Shard } from "./shard.ts";
import { latestRuns, pointState } from "./state.ts";

/** The plan as text (or JSON), each point with its state under `root`. */
export async function dryRun(
  sweep: LoadedSweep,
  opts: { root?: string; shard?: Shard; json?: boolean } = {},
): Promise<string> {
  const root = opts.root ?? "runs";
  const { plan } = await makePlan(sweep);
  const points = opts.shard
    ? shardOf(plan.points, opts.shard.index, opts.shard.count)
    : plan.points;
  const latest = await latestRuns(root, points);
  const rows = [];
  for (const p of points) {
    const s = await pointState(p, latest.get(p.id));
    rows.push({ ...p, state: s.kind, dir: s.dir ?? null });
  }
  if (opts.json) return JSON.stringify({ ...plan, points: rows }, null, 2);
  const head = `sweep ${plan.name}: ${rows.length} of ${plan.points.length} points` +
    (opts.shard ? ` (shard ${opts.shard.index + 1}/${opts.shard.count}, ${opts.shard.from})` : "") +
    ` from ${plan.base}`;
  const lines = rows.map((r) =>
    `${String(r.index + 1).padStart(4)}  ${r.id}  ${r.state.padEnd(11)}  seed ${
      String(r.seed).padEnd(6)
    } ${label(r.overrides)}`
  );
  return [head, ...lines].join("\n");
}
