/**
 * Opens a report page in headless Chromium and gathers what the browser
 * test checks: errors, stray requests, plot and image sizes, and whether
 * moving the epoch slider changes the frame; with a screenshot. Shared by
 * tests/report_browser_test.ts and docs/screenshots.ts.
 * @module
 */
import { openPage } from "./_chromium.ts";
import { assert, assertEquals } from "./_assert.ts";

/** What the browser saw on a report page. */
export interface PageFacts {
  errors: string[];
  requests: string[];
  /** Width × height of every plot's main SVG. */
  plots: [number, number][];
  /** Natural and shown sizes of every visible image. */
  images: { natural: [number, number]; shown: [number, number] }[];
  /** Visible frame sources (per stack) before and after moving the slider to its first epoch. */
  slider: { before: string[]; after: string[]; epochs: number } | null;
  screenshot: Uint8Array;
}

const GATHER = `(() => {
  const size = (el) => { const r = el.getBoundingClientRect(); return [Math.round(r.width), Math.round(r.height)]; };
  const plots = [...document.querySelectorAll(".plot")].map((p) => {
    const svgs = [...p.querySelectorAll("svg")];
    const main = svgs.sort((a, b) => size(b)[0] * size(b)[1] - size(a)[0] * size(a)[1])[0];
    return main ? size(main) : [0, 0];
  });
  const images = [...document.querySelectorAll("img")].filter((i) => !i.hidden)
    .map((i) => ({ natural: [i.naturalWidth, i.naturalHeight], shown: size(i) }));
  return { plots, images };
})()`;

const VISIBLE = `[...document.querySelectorAll("[data-slider] .stack")]
  .map((s) => [...s.querySelectorAll("img")].find((i) => !i.hidden)?.src.slice(-64) ?? "")`;

const MOVE = `(() => {
  const input = document.querySelector("[data-slider] input[type=range]");
  input.value = "0";
  input.dispatchEvent(new Event("input"));
  return JSON.parse(input.dataset.epochs).length;
})()`;

/**
 * Opens `file` and gathers {@link PageFacts}; the screenshot is cut at
 * `shotHeight` CSS pixels and scaled by `shotScale`.
 */
export async function inspectReport(
  chromium: string,
  file: string,
  opts: { width?: number; shotHeight?: number; shotScale?: number } = {},
): Promise<PageFacts> {
  const page = await openPage(chromium, file, { width: opts.width ?? 1280, height: 900 });
  try {
    const { plots, images } = await page.evaluate<Pick<PageFacts, "plots" | "images">>(GATHER);
    // The screenshot shows the page as it opened (latest epoch).
    const screenshot = await page.screenshot({ height: opts.shotHeight, scale: opts.shotScale });
    let slider: PageFacts["slider"] = null;
    if (await page.evaluate<boolean>(`!!document.querySelector("[data-slider] input")`)) {
      const before = await page.evaluate<string[]>(VISIBLE);
      const epochs = await page.evaluate<number>(MOVE);
      const after = await page.evaluate<string[]>(VISIBLE);
      slider = { before, after, epochs };
    }
    return { errors: page.errors, requests: page.requests, plots, images, slider, screenshot };
  } finally {
    await page.close();
  }
}

/** Throws unless the page had no errors or stray requests, sized plots and images, and a slider that moves every stack. */
export function assertHealthy(facts: PageFacts, what: string, stacks: number): void {
  assertEquals(facts.errors, [], `${what}: no console errors`);
  assertEquals(facts.requests, [], `${what}: no request to another file or the network`);
  assert(facts.plots.length >= 5, `${what}: plots (${facts.plots.length})`);
  for (const [w, h] of facts.plots) assert(w > 0 && h > 0, `${what}: a plot of ${w}×${h}`);
  assert(facts.images.length >= stacks, `${what}: images shown (${facts.images.length})`);
  for (const i of facts.images) {
    assert(i.natural[0] > 0 && i.shown[0] > 0 && i.shown[1] > 0, `${what}: image ${i.shown}`);
  }
  assert(facts.slider, `${what}: a slider`);
  assertEquals(facts.slider.before.length, stacks);
  assert(facts.slider.epochs >= 2, `${what}: the slider has several epochs`);
  for (let s = 0; s < stacks; s++) {
    assert(facts.slider.after[s] !== facts.slider.before[s], `${what}: stack ${s} moved`);
  }
  assert(facts.screenshot.length > 1000, `${what}: a screenshot`);
}
