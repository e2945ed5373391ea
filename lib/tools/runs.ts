/**
 * `deno task runs`: one line per run folder (status, name, start, duration,
 * backend, epochs, level_at_95, final accuracy, commit, sweep point), read
 * from the small files only so that thousands of runs list in well under a
 * second. A dead `running` run shows as `interrupted (stale)`.
 * @module
 */
import { InputError } from "../errors.ts";
import { readRunBrief, type RunBrief } from "../run/brief.ts";

/** One listed run. */
export interface RunRow {
  dir: string;
  name: string;
  status: string;
  started_at: string | null;
  /** Seconds from start to end (or to now while running). */
  duration: number | null;
  backend: string | null;
  epochs_done: number | null;
  epochs_total: number | null;
  level_at_95: number | null;
  final_accuracy: number | null;
  commit: string | null;
  dirty: boolean;
  sweep: { name: string; point: string } | null;
}

/** Which runs to show and in what order. */
export interface ListFilter {
  /** Only this status (`stale` matches `interrupted (stale)`). */
  status?: string;
  /** Only names matching this glob (`*`, `?`). */
  name?: RegExp;
  /** Only runs started at or after this time (ms since the epoch). */
  since?: number;
  sort: SortKey;
}

/** Keys `--sort` accepts: times and names ascending, results best first. */
export const SORT_KEYS = ["started", "name", "status", "duration", "level", "accuracy"] as const;
type SortKey = typeof SORT_KEYS[number];
const STATUSES = ["running", "completed", "failed", "interrupted", "stale"];

/** Checks `--status`, `--name`, `--since`, `--sort`; throws InputError (exit 2) on bad values. */
export function parseListFilter(
  values: { status?: string; name?: string; since?: string; sort?: string },
  now = Date.now(),
): ListFilter {
  const sort = (values.sort ?? "started") as SortKey;
  if (!SORT_KEYS.includes(sort)) {
    throw new InputError(`--sort must be one of ${SORT_KEYS.join(", ")}, got "${values.sort}"`);
  }
  if (values.status !== undefined && !STATUSES.includes(values.status)) {
    throw new InputError(`--status must be one of ${STATUSES.join(", ")}, got "${values.status}"`);
  }
  return {
    status: values.status,
    name: values.name === undefined ? undefined : globToRegExp(values.name),
    since: values.since === undefined ? undefined : parseSince(values.since, now),
    sort,
  };
}

/** `2026-11-30`, an ISO time, or an age such as `12h`, `3d`, `90m`. */
function parseSince(text: string, now: number): number {
  const age = /^(\d+(?:\.\d+)?)([mhd])$/.exec(text.trim());
  if (age) return now - Number(age[1]) * { m: 60e3, h: 3600e3, d: 86400e3 }[age[2] as "m"];
  const t = Date.parse(text);
  if (!Number.isFinite(t)) {
    throw new InputError(
      `--since must be a date (2026-11-30), a time or an age (12h, 3d), got "${text}"`,
    );
  }
  return t;
}

function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
  return new RegExp(`^${body}$`);
}

/**
 * Lists the run folders under `root` (folders without a manifest, such as
 * `sweeps/`, are left out).
 *
 * @example
 * ```ts
 * import { listRuns } from "./runs.ts";
 * const rows = await listRuns(await Deno.makeTempDir(), { sort: "started" });
 * console.assert(rows.length === 0);
 * ```
 */
export async function listRuns(
  root: string,
  filter: ListFilter = { sort: "started" },
): Promise<RunRow[]> {
  const dirs: string[] = [];
  try {
    for await (const e of Deno.readDir(root)) if (e.isDirectory) dirs.push(`${root}/${e.name}`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new InputError(`Cannot list runs in "${root}": no such folder`);
    }
    throw e;
  }
  const now = Date.now();
  const briefs: (RunBrief | null)[] = [];
  // Parallel reads, bounded so a huge folder does not open thousands of files at once.
  for (let i = 0; i < dirs.length; i += 64) {
    briefs.push(...await Promise.all(dirs.slice(i, i + 64).map((d) => readRunBrief(d, { now }))));
  }
  const rows = briefs.filter((b): b is RunBrief => b !== null).map((b) => toRow(b, now));
  return sortRows(rows.filter((r) => keep(r, filter)), filter.sort);
}

function toRow(b: RunBrief, now: number): RunRow {
  const m = b.manifest, s = b.summary;
  const start = Date.parse(String(m.started_at ?? ""));
  // Ended: its end; running: until now; dead while running: until its last heartbeat.
  const end = m.ended_at
    ? Date.parse(String(m.ended_at))
    : b.status === "running"
    ? now
    : Date.parse(String(m.heartbeat ?? ""));
  const training = b.config?.training as { epochs?: number } | undefined;
  const backend = m.backend as { name?: string } | string | undefined;
  return {
    dir: b.dir,
    name: String(m.name ?? b.dir.split("/").pop()),
    status: b.status,
    started_at: typeof m.started_at === "string" ? m.started_at : null,
    duration: Number.isFinite(start) && Number.isFinite(end) ? (end - start) / 1000 : null,
    backend: typeof backend === "string" ? backend : backend?.name ?? null,
    epochs_done: num(m.epochs_done) ?? num(s?.epochs),
    epochs_total: num(training?.epochs),
    level_at_95: num(s?.level_at_95),
    final_accuracy: num(s?.final?.accuracy),
    commit: m.git?.commit ?? null,
    dirty: m.git?.dirty ?? false,
    sweep: m.sweep ?? null,
  };
}

function num(v: unknown): number | null {
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function keep(r: RunRow, f: ListFilter): boolean {
  if (
    f.status && !(r.status === f.status || (f.status === "stale" && r.status.includes("stale")))
  ) {
    return false;
  }
  if (f.name && !f.name.test(r.name)) return false;
  if (f.since !== undefined && !(Date.parse(r.started_at ?? "") >= f.since)) return false;
  return true;
}

function sortRows(rows: RunRow[], key: SortKey): RunRow[] {
  const by: Record<SortKey, (r: RunRow) => string | number> = {
    started: (r) => r.started_at ?? "",
    name: (r) => r.name,
    status: (r) => r.status,
    duration: (r) => r.duration ?? Infinity,
    level: (r) => -(r.level_at_95 ?? -Infinity),
    accuracy: (r) => -(r.final_accuracy ?? -Infinity),
  };
  const f = by[key];
  return rows.sort((a, b) => {
    const [x, y] = [f(a), f(b)];
    return x < y ? -1 : x > y ? 1 : (a.dir < b.dir ? -1 : 1);
  });
}

/** The rows as an aligned text table. */
export function formatRunList(rows: RunRow[]): string {
  if (!rows.length) return "no runs";
  const table = rows.map((r) => [
    r.status,
    r.name,
    r.started_at ? r.started_at.replace("T", " ").slice(0, 16) : "?",
    r.duration === null ? "?" : duration(r.duration),
    r.backend ?? "?",
    `${r.epochs_done ?? "?"}/${r.epochs_total ?? "?"}`,
    r.level_at_95 === null ? "–" : String(r.level_at_95),
    r.final_accuracy === null ? "–" : `${(r.final_accuracy * 100).toFixed(1)}%`,
    r.commit ? r.commit.slice(0, 7) + (r.dirty ? "+" : "") : "–",
    r.sweep ? `${r.sweep.name}/${r.sweep.point.slice(0, 8)}` : "",
  ]);
  const head = [
    "status",
    "name",
    "started (UTC)",
    "took",
    "backend",
    "epochs",
    "L95",
    "acc",
    "commit",
    "sweep",
  ];
  const widths = head.map((h, i) => Math.max(h.length, ...table.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  return [line(head), ...table.map(line)].join("\n");
}

function duration(s: number): string {
  if (s < 60) return `${Math.round(s)}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(Math.round(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}
