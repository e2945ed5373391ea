/**
 * What differs between runs, for the comparison page: the config keys
 * whose values differ, and each headline number's change against the
 * first run with whether that is better or worse.
 * @module
 */
import { flatten, HEADLINES, type ReportRun } from "./data.ts";

/** Config keys whose values differ between the runs (the name aside), sorted. */
export function changedKeys(runs: ReportRun[]): { key: string; values: unknown[] }[] {
  const flat = runs.map((r) => flatten(r.config));
  const keys = new Set(flat.flatMap((f) => [...f.keys()]));
  keys.delete("name");
  const out: { key: string; values: unknown[] }[] = [];
  for (const key of [...keys].sort()) {
    const values = flat.map((f) => f.get(key));
    if (new Set(values.map((v) => JSON.stringify(v))).size > 1) out.push({ key, values });
  }
  return out;
}

/** One headline number across runs: values, change against the first, and its verdicts. */
export interface HeadlineRow {
  name: string;
  kind: "pct" | "num" | "int";
  values: (number | null)[];
  /** value − first value (null where either is missing; 0 for the first run). */
  deltas: (number | null)[];
  /** "better" / "worse" / "same" / "" (no direction or nothing to compare). */
  verdicts: ("better" | "worse" | "same" | "")[];
}

/** Headline numbers of each run against the first. */
export function headlineDeltas(runs: ReportRun[]): HeadlineRow[] {
  return HEADLINES.map((h) => {
    const values = runs.map((r) => {
      const v = h.value(r);
      return typeof v === "number" && Number.isFinite(v) ? v : null;
    });
    const base = values[0];
    const deltas = values.map((v) => (v === null || base === null ? null : v - base));
    const verdicts = deltas.map((d, i) => {
      if (i === 0 || d === null || h.better === 0) return "" as const;
      if (Math.abs(d) < 1e-12) return "same" as const;
      return (d * h.better > 0 ? "better" : "worse") as "better" | "worse";
    });
    return { name: h.name, kind: h.kind, values, deltas, verdicts };
  });
}
