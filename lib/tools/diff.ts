/**
 * `deno task diff`: what differs between runs (config keys, commits,
 * backends, versions), their headline metrics with deltas against the first
 * run marked better or worse, the robustness matrix cell by cell, and gates
 * on the deltas for CI (exit 1 when one trips).
 * @module
 */
import { nearest } from "../config/load.ts";
import { InputError, UserError } from "../errors.ts";
import { readRunBrief, type RunBrief } from "../run/brief.ts";

/** Whether a metric is better higher ("up") or lower ("down"): declared once, here. */
export const METRIC_DIRECTIONS: Record<string, "up" | "down"> = {
  level_at_95: "up",
  level_at_99: "up",
  highest_level: "up",
  "final.accuracy": "up",
  "final.bit_accuracy": "up",
  "best.accuracy": "up",
  "final.loss_total": "down",
  "noise.real_called_noise": "down",
  "noise.negatives_called_message": "down",
  glyph_diversity: "up",
  topographic_similarity: "up",
  seconds: "down",
  steps_per_second: "up",
};

/** A matrix cell moved by more than this (accuracy, 0–1) counts as moved. */
export const MATRIX_THRESHOLD = 0.05;

/** One metric across the runs. */
export interface MetricRow {
  key: string;
  direction: "up" | "down";
  values: (number | null)[];
  /** Against the first run (null for the first run or missing values). */
  deltas: (number | null)[];
  verdicts: ("better" | "worse" | "same" | null)[];
}

/** How a run's robustness matrix moved against the first run's. */
export interface MatrixDiff {
  run: number;
  compared: number;
  better: number;
  worse: number;
  /** Cells that moved by more than the threshold, largest first. */
  moved: { row: string; level: number; from: number; to: number; delta: number }[];
}

/** Everything `diff` reports. */
export interface RunDiff {
  runs: { dir: string; name: string; status: string }[];
  config: { key: string; values: unknown[] }[];
  meta: { key: string; values: unknown[] }[];
  metrics: MetricRow[];
  matrix: MatrixDiff[];
  threshold: number;
}

/**
 * Compares runs; the first is the reference for deltas.
 *
 * @example
 * ```ts ignore
 * import { diffRuns } from "./diff.ts";
 * const d = await diffRuns(["runs/a", "runs/b"]);
 * console.log(d.config); // the config keys that differ, with each run's value
 * ```
 */
export async function diffRuns(dirs: string[], opts: { all?: boolean } = {}): Promise<RunDiff> {
  const briefs: RunBrief[] = [];
  for (const dir of dirs) {
    const b = await readRunBrief(dir);
    if (!b) {
      throw new InputError(
        `Cannot diff "${dir}": it has no readable manifest.json (not a run folder?)`,
      );
    }
    briefs.push(b);
  }
  // The name is shown with each run; it is not part of what the run computed.
  const configs = briefs.map((b) => flatten({ ...b.config, name: undefined }));
  const metas = briefs.map((b) => flatten(metaOf(b)));
  return {
    runs: briefs.map((b) => ({
      dir: b.dir,
      name: String(b.manifest.name ?? b.dir),
      status: b.status,
    })),
    config: rowsOf(configs, opts.all ?? false),
    meta: rowsOf(metas, false),
    metrics: metricRows(briefs),
    matrix: briefs.slice(1).map((b, i) => matrixDiff(briefs[0], b, i + 1)),
    threshold: MATRIX_THRESHOLD,
  };
}

function metaOf(b: RunBrief): Record<string, unknown> {
  const m = b.manifest;
  const backend = typeof m.backend === "object" && m.backend
    ? m.backend as unknown as Record<string, unknown>
    : { name: m.backend };
  return {
    git: m.git ?? null,
    experiment_hash: m.experiment_hash ?? null,
    backend: { name: backend.name ?? null, device: backend.device ?? null },
    versions: m.versions ?? null,
  };
}

/** Nested objects as dotted keys (arrays stay values). */
function flatten(o: Record<string, unknown>, prefix = "", out: Record<string, unknown> = {}) {
  for (const [k, v] of Object.entries(o)) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v === undefined) continue;
    if (v && typeof v === "object" && !Array.isArray(v)) {
      flatten(v as Record<string, unknown>, key, out);
    } else out[key] = v;
  }
  return out;
}

function rowsOf(
  flat: Record<string, unknown>[],
  all: boolean,
): { key: string; values: unknown[] }[] {
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  const rows = keys.map((key) => ({ key, values: flat.map((f) => f[key] ?? null) }));
  return all ? rows : rows.filter((r) => new Set(r.values.map((v) => JSON.stringify(v))).size > 1);
}

/** A summary value by dotted key; older runs may spell keys in camelCase. */
function metricOf(b: RunBrief, key: string): number | null {
  const s = b.summary as Record<string, unknown> | null;
  if (!s) return null;
  if (key === "steps_per_second") {
    const [steps, secs] = [s.steps, s.seconds];
    return typeof steps === "number" && typeof secs === "number" && secs > 0 ? steps / secs : null;
  }
  for (const spelling of [key, camel(key)]) {
    let v: unknown = s;
    for (const part of spelling.split(".")) v = (v as Record<string, unknown> | null)?.[part];
    if (typeof v === "number" && Number.isFinite(v)) return v;
  }
  return null;
}

function camel(key: string): string {
  return key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
}

function metricRows(briefs: RunBrief[]): MetricRow[] {
  return Object.entries(METRIC_DIRECTIONS).map(([key, direction]) => {
    const values = briefs.map((b) => metricOf(b, key));
    const base = values[0];
    const deltas = values.map((v, i) => (i === 0 || v === null || base === null ? null : v - base));
    const verdicts = deltas.map((d) => {
      if (d === null) return null;
      if (Math.abs(d) < 1e-9) return "same" as const;
      return (d > 0) === (direction === "up") ? "better" as const : "worse" as const;
    });
    return { key, direction, values, deltas, verdicts };
  }).filter((r) => r.values.some((v) => v !== null));
}

interface Cell {
  accuracy?: number;
}
interface Matrix {
  levels?: number[];
  rows?: Record<string, Cell[]>;
}

function matrixDiff(a: RunBrief, b: RunBrief, run: number): MatrixDiff {
  const ma = a.summary?.matrix as Matrix | null | undefined;
  const mb = b.summary?.matrix as Matrix | null | undefined;
  const out: MatrixDiff = { run, compared: 0, better: 0, worse: 0, moved: [] };
  if (!ma?.rows || !mb?.rows || !ma.levels || !mb.levels) return out;
  for (const [row, cellsA] of Object.entries(ma.rows)) {
    const cellsB = mb.rows[row];
    if (!cellsB) continue;
    ma.levels.forEach((level, i) => {
      const j = mb.levels!.indexOf(level);
      const from = cellsA[i]?.accuracy, to = j >= 0 ? cellsB[j]?.accuracy : undefined;
      if (typeof from !== "number" || typeof to !== "number") return;
      out.compared++;
      const delta = to - from;
      if (Math.abs(delta) <= MATRIX_THRESHOLD) return;
      if (delta > 0) out.better++;
      else out.worse++;
      out.moved.push({ row, level, from, to, delta });
    });
  }
  out.moved.sort((x, y) => Math.abs(y.delta) - Math.abs(x.delta));
  return out;
}

/** A gate could not be understood; exit 2. */
export class GateError extends UserError {
  override name = "GateError";
}

/** A threshold on a metric: on its delta against the first run, or on its value. */
export interface Gate {
  text: string;
  metric: string;
  op: ">=" | "<=" | ">" | "<";
  value: number;
  /** A signed number (`-1`, `+0`) bounds the delta; an unsigned one (`8`) the value itself. */
  delta: boolean;
}

/**
 * Parses `METRIC OP NUMBER`. A number written with a sign (`-1`, `+0`,
 * `-0.02`) bounds the delta against the first run; without a sign (`8`,
 * `0.9`) it bounds the value.
 *
 * @example
 * ```ts
 * import { parseGate } from "./diff.ts";
 * console.assert(parseGate("level_at_95 >= -1").delta === true);
 * console.assert(parseGate("final.accuracy >= 0.9").delta === false);
 * ```
 */
export function parseGate(text: string): Gate {
  const m = /^\s*([A-Za-z_][\w.]*)\s*(>=|<=|>|<)\s*([+-]?)(\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*$/i.exec(
    text,
  );
  if (!m) {
    throw new GateError(
      `Cannot use gate "${text}": expected METRIC OP NUMBER, e.g. "level_at_95 >= -1" ` +
        `(a signed number bounds the change against the first run) or "level_at_95 >= 8" (the value)`,
    );
  }
  const metric = m[1];
  if (!(metric in METRIC_DIRECTIONS)) {
    const near = nearest(metric, Object.keys(METRIC_DIRECTIONS));
    throw new GateError(
      `Cannot use gate "${text}": unknown metric "${metric}"` +
        (near ? `; did you mean "${near}"?` : "") +
        ` Known: ${Object.keys(METRIC_DIRECTIONS).join(", ")}`,
    );
  }
  const value = Number(`${m[3]}${m[4]}`);
  return { text: text.trim(), metric, op: m[2] as Gate["op"], value, delta: m[3] !== "" };
}

/** One gate's outcome for one run. */
export interface GateVerdict {
  gate: string;
  run: number;
  ok: boolean;
  /** The compared number (delta or value), null when the run lacks the metric. */
  actual: number | null;
}

/** Checks every gate on every run after the first. */
export function checkGates(diff: RunDiff, gates: Gate[]): GateVerdict[] {
  const out: GateVerdict[] = [];
  for (const g of gates) {
    const row = diff.metrics.find((r) => r.key === g.metric);
    for (let run = 1; run < diff.runs.length; run++) {
      const actual = (g.delta ? row?.deltas[run] : row?.values[run]) ?? null;
      const ok = actual !== null && compare(actual, g.op, g.value);
      out.push({ gate: g.text, run, ok, actual });
    }
  }
  return out;
}

function compare(a: number, op: Gate["op"], b: number): boolean {
  const eps = 1e-9;
  if (op === ">=") return a >= b - eps;
  if (op === "<=") return a <= b + eps;
  if (op === ">") return a > b;
  return a < b;
}

/** The diff as text, Markdown (a pull-request comment) or JSON. */
export function formatDiff(
  d: RunDiff,
  verdicts: GateVerdict[],
  format: "text" | "md" | "json",
): string {
  if (format === "json") return JSON.stringify({ ...d, gates: verdicts }, null, 2);
  const labels = d.runs.map((_, i) => String.fromCharCode(65 + (i % 26)) + (i >= 26 ? i : ""));
  const md = format === "md";
  const out: string[] = [];
  const table = (head: string[], rows: string[][]) => {
    if (md) {
      out.push(`| ${head.join(" | ")} |`, `|${head.map(() => " --- ").join("|")}|`);
      for (const r of rows) out.push(`| ${r.map((c) => c.replace(/\|/g, "\\|")).join(" | ")} |`);
    } else {
      const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
      const line = (c: string[]) => "  " + c.map((x, i) => x.padEnd(w[i])).join("  ").trimEnd();
      out.push(line(head), ...rows.map(line));
    }
    out.push("");
  };
  const title = (t: string) => out.push(md ? `### ${t}\n` : `${t}:`);
  title("runs");
  table(
    ["", "name", "status", "folder"],
    d.runs.map((r, i) => [labels[i], r.name, r.status, r.dir]),
  );
  title(
    d.config.length
      ? `config (${d.config.length} key${d.config.length > 1 ? "s" : ""})`
      : "config: the same",
  );
  if (d.config.length) {
    table(["key", ...labels], d.config.map((r) => [r.key, ...r.values.map(show)]));
  }
  if (d.meta.length) {
    title("provenance");
    table(["key", ...labels], d.meta.map((r) => [r.key, ...r.values.map(show)]));
  }
  title(`metrics (Δ against ${labels[0]}; ↑ higher is better, ↓ lower)`);
  table(
    ["metric", ...labels],
    d.metrics.map((r) => [
      `${r.key} ${r.direction === "up" ? "↑" : "↓"}`,
      ...r.values.map((v, i) => {
        const dv = r.deltas[i];
        if (v === null) return "–";
        if (dv === null) return num(v);
        return `${num(v)} (${dv >= 0 ? "+" : ""}${num(dv)} ${r.verdicts[i]})`;
      }),
    ]),
  );
  title(`robustness matrix (cells that moved more than ${d.threshold * 100} points)`);
  for (const m of d.matrix) {
    const top = m.moved.slice(0, 5).map((c) =>
      `${c.row}@${c.level} ${c.delta > 0 ? "+" : ""}${(c.delta * 100).toFixed(1)}`
    );
    out.push(
      `${md ? "- " : "  "}${labels[m.run]} vs ${labels[0]}: ` +
        (m.compared
          ? `${m.better} better, ${m.worse} worse of ${m.compared} cells` +
            (top.length ? ` (largest: ${top.join(", ")})` : "")
          : "no matrix to compare"),
    );
  }
  out.push("");
  if (verdicts.length) {
    title("gates");
    table(
      ["", "gate", "run", "actual"],
      verdicts.map((
        v,
      ) => [
        v.ok ? "ok" : "FAIL",
        v.gate,
        labels[v.run],
        v.actual === null ? "no value" : num(v.actual),
      ]),
    );
  }
  return out.join("\n").trimEnd();
}

function show(v: unknown): string {
  if (v === null || v === undefined) return "–";
  return typeof v === "string"
    ? (/^[0-9a-f]{40}$/.test(v) || /^[0-9a-f]{64}$/.test(v) ? v.slice(0, 12) : v)
    : JSON.stringify(v);
}

function num(v: number): string {
  return Number.isInteger(v) ? String(v) : Math.abs(v) >= 100 ? v.toFixed(1) : v.toPrecision(3);
}
