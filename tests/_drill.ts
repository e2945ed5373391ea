// The kill -9 drill: runs a tiny experiment through `deno task run`, kills
// it at a chosen moment, checks that every file in its folder parses, and
// resumes it. GLYPHNET_DRILL_WRITE_PAUSE_MS (lib/fs.ts) makes each write
// announce itself on stderr and pause halfway and at its end, so a kill can
// be aimed inside the write of a checkpoint, a frame or the metrics.
import { parseDocument } from "yaml";
import { decodePng } from "../lib/image/png.ts";
import { readCheckpoint, readRun } from "../lib/run/reader.ts";
import { decodeSafetensors } from "../lib/run/safetensors.ts";
import { ROOT, taskCommand } from "./_cli.ts";

/** The drill's hook variable and how long each half of a write pauses. */
export const PAUSE_VARIABLE = "GLYPHNET_DRILL_WRITE_PAUSE_MS";
export const PAUSE_MS = 100;

/** Where a kill is aimed. */
export type Target =
  | { kind: "write"; file: RegExp; label: string; occurrence: number; delayMs: number }
  | { kind: "time"; delayMs: number };

/** What a killed run left and what its files are. */
export interface KillOutcome {
  dir: string;
  /** The write in flight when the kill came, if any. */
  inFlight: string | null;
  killed: boolean;
  /** Milliseconds from the end of setup (manifest written) to the process's end. */
  afterSetupMs: number;
}

/** Starts `deno task run` with the drill hook and kills it at `target` (null: never). */
export async function runAndKill(
  experiment: string,
  runs: string,
  target: Target | null,
): Promise<KillOutcome> {
  const command = await taskCommand("run", [experiment, "--runs", runs, "--quiet"], {
    env: { [PAUSE_VARIABLE]: String(PAUSE_MS) },
    allowEnv: [PAUSE_VARIABLE],
  });
  const child = command.spawn();
  child.stdout.cancel();
  let inFlight: string | null = null, killed = false, seen = 0;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const kill = () => {
    if (killed) return;
    killed = true;
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
  };
  let setupAt = NaN;
  const lines = child.stderr.pipeThrough(new TextDecoderStream()).pipeThrough(lineStream());
  for await (const line of lines) {
    const writing = /^drill: writing (.*)$/.exec(line)?.[1];
    const wrote = /^drill: wrote (.*)$/.exec(line)?.[1];
    if (writing) inFlight = writing;
    if (wrote && wrote === inFlight) inFlight = null;
    if (wrote?.endsWith("/manifest.json") && Number.isNaN(setupAt)) setupAt = performance.now();
    if (timer !== undefined || killed || !target) continue;
    if (target.kind === "time" && wrote?.endsWith("/manifest.json")) {
      timer = setTimeout(kill, target.delayMs); // from the moment the run folder is set up
    } else if (target.kind === "write" && writing && target.file.test(writing)) {
      if (seen++ === target.occurrence) timer = setTimeout(kill, target.delayMs);
    }
  }
  const status = await child.status;
  const afterSetupMs = performance.now() - setupAt;
  clearTimeout(timer);
  const dir = await onlyRun(`${ROOT}/${runs}`);
  return {
    dir,
    inFlight: status.signal === "SIGKILL" ? inFlight : null,
    killed: status.signal === "SIGKILL",
    afterSetupMs,
  };
}

/** Resumes the run in `dir` (no hook): its exit code and stderr. */
export async function resume(dir: string): Promise<{ code: number; stderr: string }> {
  const out = await (await taskCommand("run", ["--resume", dir, "--quiet"])).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/**
 * Runs the experiment to its end; returns its folder and, with the hook on
 * (`timed`), the milliseconds from setup to its end (else NaN).
 */
export async function runWhole(
  experiment: string,
  runs: string,
  timed: boolean,
): Promise<{ dir: string; afterSetupMs: number }> {
  if (timed) {
    const whole = await runAndKill(experiment, runs, null);
    if (!Number.isFinite(whole.afterSetupMs)) throw new Error("the reference run failed");
    return whole;
  }
  const out = await (await taskCommand("run", [experiment, "--runs", runs, "--quiet"])).output();
  if (!out.success) {
    throw new Error(`the reference run failed: ${new TextDecoder().decode(out.stderr)}`);
  }
  return { dir: await onlyRun(`${ROOT}/${runs}`), afterSetupMs: NaN };
}

/** The one run folder under `root`. */
export async function onlyRun(root: string): Promise<string> {
  const dirs = [];
  for await (const e of Deno.readDir(root)) if (e.isDirectory) dirs.push(`${root}/${e.name}`);
  if (dirs.length !== 1) {
    throw new Error(`expected one run folder in ${root}, found ${dirs.length}`);
  }
  return dirs[0];
}

/**
 * Problems with the files of a run folder: each must parse by its kind
 * (JSON; JSON lines, the last may be torn; PNG; GIF; safetensors; YAML).
 * Temp files are listed apart: a kill mid-write leaves them, resume removes them.
 */
export async function checkFiles(dir: string): Promise<{ problems: string[]; temps: string[] }> {
  const problems: string[] = [], temps: string[] = [];
  for (const path of await listFiles(dir)) {
    const name = path.slice(dir.length + 1);
    if (name.endsWith(".tmp")) {
      temps.push(name);
      continue;
    }
    const why = whyUnreadable(name, await Deno.readFile(path));
    if (why) problems.push(`${name}: ${why}`);
  }
  try {
    const run = await readRun(dir);
    if (await exists(`${dir}/checkpoints/last.safetensors`)) await readCheckpoint(dir);
    if (run.manifest.status !== "running" && run.manifest.status !== "completed") {
      problems.push(`manifest.json: status ${run.manifest.status}`);
    }
  } catch (e) {
    problems.push(`readRun/readCheckpoint: ${(e as Error).message}`);
  }
  return { problems, temps };
}

function whyUnreadable(name: string, bytes: Uint8Array): string | undefined {
  const text = () => new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  try {
    if (name.endsWith(".jsonl")) {
      const lines = text().split("\n");
      lines.pop(); // after the last newline: "" or a torn line, which readers ignore
      lines.forEach((l) => JSON.parse(l));
    } else if (name.endsWith(".json")) JSON.parse(text());
    else if (name.endsWith(".png")) decodePng(bytes, name);
    else if (name.endsWith(".gif")) gifFrames(bytes);
    else if (name.endsWith(".safetensors")) decodeSafetensors(bytes, name);
    else if (name.endsWith(".yaml")) {
      if (parseDocument(text()).errors.length) return "not YAML";
    } else if (name.endsWith(".log")) text();
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

/** Walks a GIF's blocks to its trailer; returns its frame count, throws where it breaks. */
export function gifFrames(b: Uint8Array): number {
  const ascii = new TextDecoder().decode(b.subarray(0, 6));
  if (ascii !== "GIF89a" && ascii !== "GIF87a") throw new Error("no GIF signature");
  let at = 13 + ((b[10] & 0x80) ? 3 * 2 ** ((b[10] & 7) + 1) : 0);
  const skipBlocks = () => {
    while (at < b.length && b[at] !== 0) at += b[at] + 1;
    if (at >= b.length) throw new Error("cut inside a block");
    at++;
  };
  let frames = 0;
  for (;;) {
    if (at >= b.length) throw new Error("no trailer (cut short?)");
    const kind = b[at];
    if (kind === 0x3b) return frames;
    if (kind === 0x21) { // extension: label, then sub-blocks
      at += 2;
      skipBlocks();
    } else if (kind === 0x2c) { // image: descriptor, local palette, LZW size, data
      const packed = b[at + 9];
      at += 10 + ((packed & 0x80) ? 3 * 2 ** ((packed & 7) + 1) : 0) + 1;
      skipBlocks();
      frames++;
    } else throw new Error(`unknown block 0x${kind?.toString(16)} at byte ${at}`);
  }
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) out.push(...await listFiles(path));
    else if (e.isFile) out.push(path);
  }
  return out.sort();
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

function lineStream(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, out) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop()!;
      for (const p of parts) out.enqueue(p);
    },
    flush(out) {
      if (rest) out.enqueue(rest);
    },
  });
}

/** Metrics without wall-clock fields, for comparing runs. */
export function withoutTimes(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutTimes);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value).filter(([k]) => !/seconds|per_second/.test(k)).map((
        [k, v],
      ) => [k, withoutTimes(v)]),
    );
  }
  return value;
}
