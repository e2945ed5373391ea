/**
 * Writes reports: a run's own report.html (whole or not at all), and the
 * page for any set of runs.
 * @module
 */
import { writeFileAtomic } from "../fs.ts";
import { loadReportRun } from "./data.ts";
import { runPage } from "./run_page.ts";
import type { ThumbnailCache } from "./frames.ts";

/** Name of the report inside a run folder. */
export const REPORT_FILE = "report.html";

/**
 * (Re)writes `<run>/report.html` from the run folder as it is now; returns
 * its path. A writer that rewrites it every epoch passes the same
 * `thumbnails` map each time, so old frames are shrunk once.
 *
 * @example
 * ```ts ignore
 * import { writeRunReport } from "./write.ts";
 * const path = await writeRunReport("runs/2026-11-25T02-02-52.062Z_quick");
 * ```
 */
export async function writeRunReport(
  dir: string,
  opts: { out?: string; thumbnails?: ThumbnailCache } = {},
): Promise<string> {
  const run = await loadReportRun(dir);
  const out = opts.out ?? `${run.dir}/${REPORT_FILE}`;
  await writeFileAtomic(out, await runPage(run, { thumbnails: opts.thumbnails }));
  return out;
}
