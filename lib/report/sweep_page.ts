/**
 * A sweep's page: its summary table (one row per point: the swept values,
 * seed, status, headline numbers) and the headline metric plotted against
 * each swept key. Reads runs/sweeps/<name>/summary.json (its `settings`,
 * each with `values` and `points`; else plan.json's `points`) and each
 * point's run folder.
 * @module
 */
import { escapeHtml, fmt, page, table } from "./html.ts";
import { HEADLINES, loadReportRun, type ReportRun, show } from "./data.ts";
import { dotPlot } from "./plots.ts";
import { InputError } from "../errors.ts";

/** One point of a sweep as the page shows it. */
export interface SweepPoint {
  /** Swept key → value. */
  values: Record<string, unknown>;
  seed: number | null;
  status: string;
  run: ReportRun | null;
}

/** Whether `dir` looks like a sweep folder (plan.json or summary.json, no manifest). */
export async function isSweepDir(dir: string): Promise<boolean> {
  const has = (f: string) => Deno.stat(`${dir}/${f}`).then((s) => s.isFile, () => false);
  return !(await has("manifest.json")) && ((await has("summary.json")) || (await has("plan.json")));
}

/** Reads a sweep folder's points and their runs (a point whose run is unreadable has none). */
export async function loadSweep(dir: string): Promise<{ name: string; points: SweepPoint[] }> {
  dir = dir.replace(/\/+$/, "");
  let doc: unknown = null;
  for (const f of ["summary.json", "plan.json"]) {
    try {
      doc = JSON.parse(await Deno.readTextFile(`${dir}/${f}`));
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) {
        throw new InputError(`Cannot read sweep "${dir}/${f}": ${(e as Error).message}`);
      }
    }
  }
  const rows = entries(doc);
  if (!rows) throw new InputError(`Cannot read sweep "${dir}": no list of points in it`);
  const points: SweepPoint[] = [];
  for (const row of rows) {
    const folder = pick(row, ["run", "run_dir", "dir", "folder", "path"]);
    let run: ReportRun | null = null;
    if (typeof folder === "string") {
      for (const path of [folder, `${dir}/${folder}`, `${dir}/../../${folder.split("/").at(-1)}`]) {
        run = await loadReportRun(path).catch(() => null);
        if (run) break;
      }
    }
    points.push({
      values: sweptValues(pick(row, ["overrides", "params", "set", "values", "point"])),
      seed: typeof row.seed === "number" ? row.seed : null,
      status: String(pick(row, ["status"]) ?? run?.manifest.status ?? "pending"),
      run,
    });
  }
  const name = String(pick(doc as Record<string, unknown>, ["name"]) ?? dir.split("/").at(-1));
  return { name, points };
}

/** The sweep page as one self-contained HTML page. */
export function sweepPage(sweep: { name: string; points: SweepPoint[] }): string {
  const keys = [...new Set(sweep.points.flatMap((p) => Object.keys(p.values)))];
  const heads = HEADLINES;
  const rows = sweep.points.map((p) => ({
    cells: [
      ...keys.map((k) => escapeHtml(show(p.values[k]))),
      escapeHtml(show(p.seed ?? undefined)),
      `<span class="status ${escapeHtml(p.status)}">${escapeHtml(p.status)}</span>`,
      escapeHtml(p.run ? p.run.dir.split("/").at(-1) ?? "" : "–"),
      ...heads.map((h) => (p.run ? fmt(h.value(p.run), h.kind) : "–")),
    ],
    numeric: [...keys.map(() => false), true, false, false, ...heads.map(() => true)],
  }));
  const metric = headlineMetric(sweep.points);
  const plots = keys.map((k) =>
    dotPlot(
      sweep.points.flatMap((p) => {
        const y = p.run ? metric.value(p.run) : null;
        const x = p.values[k];
        return typeof y === "number"
          ? [{ x: typeof x === "number" ? x : show(x), y, label: p.run?.label ?? "" }]
          : [];
      }),
      { title: `${metric.name} against ${k}`, x: k, y: metric.name },
    )
  );
  const body = [
    `<h1>Sweep ${escapeHtml(sweep.name)}</h1>`,
    `<p class="sub">${sweep.points.length} points; ${
      sweep.points.filter((p) => p.status === "completed").length
    } completed.</p>`,
    `<h2>${escapeHtml(metric.name)} against each swept key</h2><div class="plots">${
      plots.join("")
    }</div>`,
    `<h2>Summary</h2>`,
    table(
      [...keys.map(escapeHtml), "seed", "status", "run", ...heads.map((h) => escapeHtml(h.name))],
      rows,
    ),
  ].join("\n");
  const running = sweep.points.some((p) => p.status === "running");
  return page(`Sweep ${sweep.name}`, body, { running });
}

/** level at 95 % when every run has it (the robustness headline), else final accuracy. */
function headlineMetric(points: SweepPoint[]) {
  const at95 = HEADLINES.find((h) => h.name === "level at 95 %")!;
  const acc = HEADLINES.find((h) => h.name === "final accuracy")!;
  const runs = points.flatMap((p) => p.run ? [p.run] : []);
  return runs.length > 0 && runs.every((r) => typeof at95.value(r) === "number") ? at95 : acc;
}

function entries(doc: unknown): Record<string, unknown>[] | null {
  if (Array.isArray(doc)) return doc;
  const settings = (doc as { settings?: unknown } | null)?.settings;
  if (Array.isArray(settings)) {
    // summary.json: one row per setting (its swept values), each with its points (seeds).
    return settings.flatMap((row: Record<string, unknown>) =>
      (Array.isArray(row.points) ? row.points : []).map((p: Record<string, unknown>) => ({
        ...p,
        overrides: row.values,
      }))
    );
  }
  if (doc && typeof doc === "object") {
    const v = pick(doc as Record<string, unknown>, ["points", "runs", "rows", "results"]);
    if (Array.isArray(v)) return v;
  }
  return null;
}

function pick(o: Record<string, unknown> | null | undefined, names: string[]): unknown {
  for (const n of names) if (o && o[n] !== undefined) return o[n];
  return undefined;
}

/** Swept values from an object, or from "key=value" strings. */
function sweptValues(v: unknown): Record<string, unknown> {
  if (Array.isArray(v)) {
    return Object.fromEntries(v.map((s) => {
      const [k, ...rest] = String(s).split("=");
      const raw = rest.join("=");
      return [k, Number.isFinite(Number(raw)) && raw !== "" ? Number(raw) : raw];
    }));
  }
  return v && typeof v === "object" ? v as Record<string, unknown> : {};
}
