import { report } from "../lib/tools/report.ts";
import { REPORT_FILE } from "../lib/report/write.ts";
import { findChromium } from "./_chromium.ts";
import { assertHealthy, inspectReport } from "./_report_check.ts";
import { tinyRuns } from "./_report_runs.ts";

const chromium = findChromium();
if (!chromium.path) console.log(`report_browser_test: skipped: ${chromium.why}`);

/** Where the screenshots go: $GLYPHNET_SCREENSHOTS, else a temp folder. */
async function shotDir(): Promise<string> {
  const dir = Deno.env.get("GLYPHNET_SCREENSHOTS") ??
    await Deno.makeTempDir({ prefix: "glyphnet-shots-" });
  await Deno.mkdir(dir, { recursive: true });
  return dir;
}

Deno.test({
  name: "report pages open in headless Chromium: no errors, plots and frames shown, slider moves",
  ignore: !chromium.path,
  async fn() {
    const { runs, root } = await tinyRuns();
    const dir = await shotDir();
    const run = await inspectReport(chromium.path!, `${runs[0]}/${REPORT_FILE}`);
    assertHealthy(run, "run report", 1);
    await Deno.writeFile(`${dir}/report.png`, run.screenshot);
    const compare = await report(runs, { out: `${root}/compare.html` });
    const facts = await inspectReport(chromium.path!, compare);
    assertHealthy(facts, "comparison", 2);
    await Deno.writeFile(`${dir}/compare.png`, facts.screenshot);
    console.log(`screenshots in ${dir}`);
  },
});
