/**
 * summary.json and summary.md of a sweep: per setting, the swept values, how
 * many seeds completed, and mean ± spread of the headline metrics; the best
 * setting marked. Rewritten whole as points finish.
 * @module
 */
import { toJson, writeFileAtomic } from "../../fs.ts";
import type { Plan } from "./plan.ts";
import { latestRuns, type PointState, pointState } from "./state.ts";

/** Headline numbers per run that a sweep compares (higher better except seconds). */
const METRICS = ["level_at_95", "level_at_99", "final_accuracy", "seconds"] as const;
type Metric = typeof METRICS[number];

/** Mean and standard deviation over seeds (null without values). */
export interface Stat {
  mean: number | null;
  sd: number | null;
  n: number;
}

/** One setting's row. */
export interface SettingRow {
  setting: number;
  values: Record<string, unknown>;
  points: { id: string; seed: number; status: PointState["kind"]; run: string | null }[];
  completed: number;
  metrics: Record<Metric, Stat>;
  best: boolean;
}

/** The whole summary. */
export interface SweepSummary {
  name: string;
  updated_at: string;
  keys: string[];
  counts: Record<PointState["kind"], number>;
  settings: SettingRow[];
  best: number | null;
}

/** Builds the summary from the plan and the run folders under `root`. */
export async function summarizeSweep(plan: Plan, root: string): Promise<SweepSummary> {
  const latest = await latestRuns(root, plan.points);
  const counts = { pending: 0, completed: 0, failed: 0, interrupted: 0, running: 0 };
  const rows = new Map<number, SettingRow>();
  const values = new Map<number, Record<Metric, number[]>>();
  for (const p of plan.points) {
    const state = await pointState(p, latest.get(p.id));
    counts[state.kind]++;
    let row = rows.get(p.setting);
    if (!row) {
      row = {
        setting: p.setting,
        values: p.overrides,
        points: [],
        completed: 0,
        metrics: {} as Record<Metric, Stat>,
        best: false,
      };
      rows.set(p.setting, row);
      values.set(p.setting, { level_at_95: [], level_at_99: [], final_accuracy: [], seconds: [] });
    }
    row.points.push({ id: p.id, seed: p.seed, status: state.kind, run: state.dir ?? null });
    if (state.kind !== "completed") continue;
    row.completed++;
    const s = state.brief?.summary;
    const v = values.get(p.setting)!;
    push(v.level_at_95, s?.level_at_95);
    push(v.level_at_99, s?.level_at_99);
    push(v.final_accuracy, s?.final?.accuracy);
    push(v.seconds, wallSeconds(state));
  }
  for (const [setting, row] of rows) {
    const v = values.get(setting)!;
    for (const m of METRICS) row.metrics[m] = stat(v[m]);
  }
  const settings = [...rows.values()];
  const best = pickBest(settings);
  if (best) best.best = true;
  return {
    name: plan.name,
    updated_at: new Date().toISOString(),
    keys: plan.keys,
    counts,
    settings,
    best: best?.setting ?? null,
  };
}

/** Writes summary.json and summary.md into the sweep folder. */
export async function writeSweepSummary(dir: string, summary: SweepSummary): Promise<void> {
  await writeFileAtomic(`${dir}/summary.json`, toJson(summary));
  await writeFileAtomic(`${dir}/summary.md`, sweepMarkdown(summary));
}

/** The summary as a Markdown table. */
export function sweepMarkdown(s: SweepSummary): string {
  const c = s.counts;
  const head = [
    `# sweep ${s.name}`,
    "",
    `${c.completed} completed, ${c.running} running, ${c.interrupted} interrupted, ` +
    `${c.failed} failed, ${c.pending} pending (updated ${s.updated_at}).`,
    "Mean ± standard deviation over the seeds that completed; ★ the best setting " +
    "(highest mean level_at_95, then final accuracy, then fewer seconds).",
    "",
  ];
  const keys = s.keys.length ? s.keys : ["(base)"];
  const cols = [...keys, "seeds", "level_at_95", "level_at_99", "final accuracy", "seconds"];
  const lines = [`| ${cols.join(" | ")} |`, `|${cols.map(() => " --- ").join("|")}|`];
  for (const r of s.settings) {
    const vals = s.keys.length ? s.keys.map((k) => fmtValue(r.values[k])) : ["base"];
    if (r.best) vals[0] = `★ ${vals[0]}`;
    lines.push(
      `| ${
        [
          ...vals,
          `${r.completed}/${r.points.length}`,
          fmtStat(r.metrics.level_at_95, 1),
          fmtStat(r.metrics.level_at_99, 1),
          fmtStat(r.metrics.final_accuracy, 3),
          fmtStat(r.metrics.seconds, 0),
        ].join(" | ")
      } |`,
    );
  }
  return [...head, ...lines, ""].join("\n");
}

function fmtValue(v: unknown): string {
  return v === undefined ? "·" : typeof v === "string" ? v : JSON.stringify(v);
}

function fmtStat(s: Stat, digits: number): string {
  if (s.mean === null) return "–";
  return s.n > 1 ? `${s.mean.toFixed(digits)} ± ${s.sd!.toFixed(digits)}` : s.mean.toFixed(digits);
}

function push(list: number[], v: unknown): void {
  if (typeof v === "number" && Number.isFinite(v)) list.push(v);
}

/** Start to end of the run's manifest (what a user waits), else the training seconds. */
function wallSeconds(state: PointState): number | undefined {
  const m = state.brief?.manifest;
  const start = Date.parse(String(m?.started_at)), end = Date.parse(String(m?.ended_at));
  if (Number.isFinite(start) && Number.isFinite(end) && !m?.resumed_from?.length) {
    return (end - start) / 1000;
  }
  const s = state.brief?.summary?.seconds;
  return typeof s === "number" ? s : undefined;
}

function stat(xs: number[]): Stat {
  if (!xs.length) return { mean: null, sd: null, n: 0 };
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const sd = xs.length > 1
    ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1))
    : 0;
  return { mean, sd, n: xs.length };
}

function pickBest(rows: SettingRow[]): SettingRow | undefined {
  const key = (r: SettingRow) => [
    r.metrics.level_at_95.mean ?? -Infinity,
    r.metrics.final_accuracy.mean ?? -Infinity,
    -(r.metrics.seconds.mean ?? Infinity),
  ];
  let best: SettingRow | undefined;
  for (const r of rows) {
    if (!r.completed) continue;
    if (!best) best = r;
    else {
      const [a, b] = [key(r), key(best)];
      const i = a.findIndex((x, j) => x !== b[j]);
      if (i >= 0 && a[i] > b[i]) best = r;
    }
  }
  return best;
}
