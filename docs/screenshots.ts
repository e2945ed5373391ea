/**
 * Makes the README's pictures from real runs with the browser test's code:
 * docs/report.png (the first run's report), docs/compare.png (all runs
 * compared) and docs/frame.png (the first run's last frame).
 *
 *   deno task docs:screenshots runs/<run> runs/<other run>...
 * @module
 */
import { report } from "../lib/tools/report.ts";
import { loadReportRun } from "../lib/report/data.ts";
import { findChromium } from "../tests/_chromium.ts";
import { assertHealthy, inspectReport } from "../tests/_report_check.ts";

const runs = Deno.args;
if (runs.length < 2) {
  console.error("usage: deno task docs:screenshots <run> <run>...");
  Deno.exit(2);
}
const chromium = findChromium();
if (!chromium.path) {
  console.error(`Cannot make screenshots: ${chromium.why}`);
  Deno.exit(1);
}
const here = new URL(".", import.meta.url).pathname;
const tmp = await Deno.makeTempDir();
const single = await report([runs[0]], { out: `${tmp}/report.html` });
// Most of each page at 60 %: small PNGs that still read.
const shot = { shotHeight: 2600, shotScale: 0.6 };
const facts = await inspectReport(chromium.path, single, shot);
assertHealthy(facts, "run report", 1);
await Deno.writeFile(`${here}report.png`, facts.screenshot);
const compare = await report(runs, { out: `${tmp}/compare.html` });
const cmp = await inspectReport(chromium.path, compare, shot);
assertHealthy(cmp, "comparison", runs.length);
await Deno.writeFile(`${here}compare.png`, cmp.screenshot);
const last = (await loadReportRun(runs[0])).frames.at(-1);
if (last) await Deno.copyFile(last.path, `${here}frame.png`);
await Deno.remove(tmp, { recursive: true });
console.error(`wrote ${here}report.png, compare.png, frame.png`);
