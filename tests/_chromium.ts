/**
 * Drives headless Chromium (Debian's `chromium`) over the DevTools
 * protocol on 127.0.0.1: open a local page, collect console errors and
 * requests, evaluate script, take screenshots. Used by the browser test and
 * by docs/screenshots.ts, which makes the README's pictures.
 * @module
 */

/** The Chromium binary, or null with the reason it is missing. */
export function findChromium(): { path: string | null; why: string } {
  for (const path of [Deno.env.get("CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"]) {
    if (!path) continue;
    try {
      if (Deno.statSync(path).isFile) return { path, why: "" };
    } catch { /* try the next */ }
  }
  return {
    path: null,
    why: "chromium is not installed (Debian: apt-get install chromium; .ci/setup does it as root)",
  };
}

/** An open page in a headless browser. */
export interface BrowserPage {
  /** Console errors, uncaught exceptions and error log entries so far. */
  errors: string[];
  /** URLs the page requested other than itself and data: URIs. */
  requests: string[];
  /** Evaluates an expression in the page and returns its value (awaits promises). */
  evaluate<T>(expression: string): Promise<T>;
  /** PNG of the whole page (or its first `height` pixels), optionally scaled (e.g. 0.5). */
  screenshot(opts?: { height?: number; scale?: number }): Promise<Uint8Array>;
  close(): Promise<void>;
}

/** Opens `file` (a local HTML file) in headless Chromium at `width` × `height`. */
export async function openPage(
  chromium: string,
  file: string,
  opts: { width?: number; height?: number } = {},
): Promise<BrowserPage> {
  const profile = await Deno.makeTempDir({ prefix: "glyphnet-chromium-" });
  const proc = new Deno.Command(chromium, {
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-extensions",
      "--hide-scrollbars",
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      "about:blank",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const cleanup = async () => {
    try {
      proc.kill("SIGKILL");
    } catch { /* already gone */ }
    await proc.status;
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  };
  try {
    const wsUrl = await devtoolsUrl(proc.stderr);
    const cdp = await Cdp.connect(wsUrl);
    const { targetId } = await cdp.send<{ targetId: string }>("Target.createTarget", {
      url: "about:blank",
    });
    const { sessionId } = await cdp.send<{ sessionId: string }>("Target.attachToTarget", {
      targetId,
      flatten: true,
    });
    const url = new URL(`file://${await Deno.realPath(file)}`).href;
    const errors: string[] = [], requests: string[] = [];
    cdp.on(sessionId, (method, p) => {
      if (method === "Runtime.consoleAPICalled" && p.type === "error") {
        errors.push(`console.error: ${JSON.stringify(p.args)}`);
      } else if (method === "Runtime.exceptionThrown") {
        errors.push(`exception: ${JSON.stringify(p.exceptionDetails)}`);
      } else if (method === "Log.entryAdded" && p.entry?.level === "error") {
        errors.push(`log: ${p.entry.text} ${p.entry.url ?? ""}`);
      } else if (method === "Network.requestWillBeSent") {
        const u = String(p.request?.url ?? "");
        if (u !== url && !u.startsWith("data:")) requests.push(u);
      }
    });
    const send = <T>(method: string, params: Record<string, unknown> = {}) =>
      cdp.send<T>(method, params, sessionId);
    for (const domain of ["Runtime", "Log", "Network", "Page"]) await send(`${domain}.enable`);
    await send("Emulation.setDeviceMetricsOverride", {
      width: opts.width ?? 1280,
      height: opts.height ?? 900,
      deviceScaleFactor: 1,
      mobile: false,
    });
    const loaded = cdp.once(sessionId, "Page.loadEventFired");
    await send("Page.navigate", { url });
    await loaded;
    const evaluate = async <T>(expression: string): Promise<T> => {
      const r = await send<{ result: { value: T }; exceptionDetails?: unknown }>(
        "Runtime.evaluate",
        { expression, returnByValue: true, awaitPromise: true },
      );
      if (r.exceptionDetails) {
        throw new Error(`Page script failed: ${JSON.stringify(r.exceptionDetails)}`);
      }
      return r.result.value;
    };
    return {
      errors,
      requests,
      evaluate,
      async screenshot(o: { height?: number; scale?: number } = {}) {
        const size = await evaluate<{ w: number; h: number }>(
          "({ w: document.documentElement.scrollWidth, h: document.documentElement.scrollHeight })",
        );
        const { data } = await send<{ data: string }>("Page.captureScreenshot", {
          format: "png",
          captureBeyondViewport: true,
          clip: {
            x: 0,
            y: 0,
            width: size.w,
            height: Math.min(size.h, o.height ?? size.h),
            scale: o.scale ?? 1,
          },
        });
        return Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      },
      async close() {
        await cdp.send("Browser.close").catch(() => {});
        cdp.close();
        await cleanup();
      },
    };
  } catch (e) {
    await cleanup();
    throw e;
  }
}

/** Reads Chromium's stderr until it prints its DevTools WebSocket address (30 s at most). */
async function devtoolsUrl(stderr: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  const timer = setTimeout(() => reader.cancel("timeout"), 30_000);
  try {
    while (true) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(text);
      if (m) {
        // Keep draining stderr so Chromium never blocks on a full pipe.
        (async () => {
          try {
            while (!(await reader.read()).done) { /* discard */ }
          } catch { /* closed */ }
        })();
        return m[1];
      }
    }
  } finally {
    clearTimeout(timer);
  }
  throw new Error(`Chromium did not start its DevTools endpoint: ${text.slice(-500)}`);
}

/** An event's parameters, read loosely (only a few fields are looked at). */
// deno-lint-ignore no-explicit-any
type Params = Record<string, any>;
type Listener = (method: string, params: Params) => void;

/** A minimal DevTools protocol client: numbered requests, events per session. */
class Cdp {
  #ws: WebSocket;
  #next = 1;
  #pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #listeners: { session: string; fn: Listener }[] = [];

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data as string);
      if (msg.id !== undefined) {
        const p = this.#pending.get(msg.id);
        this.#pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(`DevTools: ${msg.error.message}`));
        else p?.resolve(msg.result);
      } else {
        for (const l of this.#listeners) {
          if (l.session === msg.sessionId) l.fn(msg.method, msg.params ?? {});
        }
      }
    };
  }

  static connect(url: string): Promise<Cdp> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url);
      ws.onopen = () => resolve(new Cdp(ws));
      ws.onerror = () => reject(new Error(`Cannot connect to Chromium at ${url}`));
    });
  }

  send<T>(method: string, params: Record<string, unknown> = {}, sessionId?: string): Promise<T> {
    const id = this.#next++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(id);
        reject(new Error(`DevTools: ${method} got no answer in 30 s`));
      }, 30_000);
      this.#pending.set(id, {
        resolve: (v) => (clearTimeout(timer), resolve(v as T)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      this.#ws.send(JSON.stringify({ id, method, params, sessionId }));
    });
  }

  on(session: string, fn: Listener): void {
    this.#listeners.push({ session, fn });
  }

  once(session: string, method: string): Promise<void> {
    return new Promise((resolve) => this.on(session, (m) => m === method && resolve()));
  }

  close(): void {
    this.#ws.close();
  }
}
