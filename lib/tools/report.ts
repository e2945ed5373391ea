/**
 * `deno task report`: one run folder → its report.html; several runs → a
 * comparison page; a sweep folder → the sweep's page. Every page is one
 * self-contained HTML file.
 * @module
 */
import { InputError } from "../errors.ts";
import { writeFileAtomic } from "../fs.ts";
import { loadReportRun, type ReportRun, uniqueLabels } from "../report/data.ts";
import { comparePage } from "../report/compare_page.ts";
import { isSweepDir, loadSweep, sweepPage } from "../report/sweep_page.ts";
import { writeRunReport } from "../report/write.ts";

/** Options of {@link report}. */
export interface ReportOptions {
  /**
   * Output file (default: `<run>/report.html` for one run, `<sweep>/report.html`
   * for a sweep, `compare.html` in the working directory for several runs).
   */
  out?: string;
}

/**
 * Writes the page for `targets` (run or sweep folders) and returns its path.
 *
 * @example
 * ```ts ignore
 * import { report } from "./report.ts";
 * await report(["runs/a", "runs/b"], { out: "ab.html" }); // a comparison page
 * ```
 */
export async function report(targets: string[], opts: ReportOptions = {}): Promise<string> {
  if (targets.length === 0) {
    throw new InputError("Cannot write a report: name at least one run or sweep folder");
  }
  const clean = targets.map((t) => t.replace(/\/+$/, ""));
  if (clean.length === 1 && await isSweepDir(clean[0])) {
    const out = opts.out ?? `${clean[0]}/report.html`;
    await writeFileAtomic(out, sweepPage(await loadSweep(clean[0])));
    return out;
  }
  if (clean.length === 1) return await writeRunReport(clean[0], { out: opts.out });
  // Several: sweeps among them stand for their runs.
  const runs: ReportRun[] = [];
  for (const t of clean) {
    if (await isSweepDir(t)) {
      for (const p of (await loadSweep(t)).points) if (p.run) runs.push(p.run);
    } else {
      runs.push(await loadReportRun(t));
    }
  }
  uniqueLabels(runs);
  const out = opts.out ?? "compare.html";
  await writeFileAtomic(out, await comparePage(runs));
  return out;
}
