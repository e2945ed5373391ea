// The tools (eval, encode, decode) given hostile files, through the command
// line under their deno tasks' flags: each must refuse with one clear line
// and exit 2, without a stack trace, and without allocating what a file
// claims.
import { initBackend } from "../lib/backend/init.ts";
import { parseExperiment } from "../lib/config/load.ts";
import { encodePng } from "../lib/image/png.ts";
import { runExperiment } from "../lib/runner.ts";
import { RUN_FILES } from "../lib/run/writer.ts";
import { decodeSafetensors, encodeSafetensors } from "../lib/run/safetensors.ts";
import { ROOT, runTask, scratchRuns } from "./_cli.ts";
import { assert, assertEquals, assertMatch } from "./_assert.ts";

const TINY = `
seed: 3
message: { type: one-hot, size: 4 }
image: { size: 8, color: grayscale }
model: { filters: 2 }
training: { backend: cpu, batch_size: 8, epochs: 1, steps_per_epoch: 1 }
eval: { samples: 8, matrix_samples: 8, matrix_levels: 1, glyph_samples: 8 }
output: { grid: 2 }
`;

/** Each tool's arguments for a run folder (the decode image is a real glyph-sized PNG). */
function toolArgs(run: string, png: string): [string, string[]][] {
  return [
    ["eval", [run, "--samples", "8", "--levels", "1", "--backend", "cpu"]],
    ["encode", [run, "a", "--out", `${run}/a.png`, "--backend", "cpu"]],
    ["decode", [run, png, "--backend", "cpu"]],
  ];
}

/** Asserts one `error:` line, exit 2, no stack trace. */
function assertRefused(r: { code: number; stderr: string }, pattern: RegExp, what: string) {
  const lines = r.stderr.trim().split("\n");
  assertEquals(r.code, 2, `${what}: exit code; stderr: ${r.stderr}`);
  assertEquals(lines.length, 1, `${what}: one line; stderr: ${r.stderr}`);
  assertMatch(lines[0], /^error: Cannot /, what);
  assertMatch(lines[0], pattern, what);
  assert(!/\bat .*\.ts:\d+/.test(r.stderr), `${what}: no stack trace`);
}

async function copyDir(from: string, to: string): Promise<void> {
  await Deno.mkdir(to, { recursive: true });
  for await (const e of Deno.readDir(from)) {
    if (e.isDirectory) await copyDir(`${from}/${e.name}`, `${to}/${e.name}`);
    else await Deno.copyFile(`${from}/${e.name}`, `${to}/${e.name}`);
  }
}

/** A copy of `base` named `name`, changed by `edit`. */
async function variant(base: string, name: string, edit: (dir: string) => Promise<void>) {
  const dir = `${base}/../${name}`;
  await copyDir(base, dir);
  await edit(dir);
  return dir;
}

/** A PNG whose header says width × height (with a valid CRC) over a 4×4 image's data. */
function lyingPng(width: number, height: number): Uint8Array {
  const png = encodePng(new Float32Array(16).fill(0.5), 4, 4, 1);
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  view.setUint32(16, width);
  view.setUint32(20, height);
  view.setUint32(29, crc32(png.subarray(12, 29))); // IHDR type + data
  return png;
}

function crc32(bytes: Uint8Array): number {
  let c = ~0;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

Deno.test("eval, encode and decode refuse hostile files with one line and exit 2 (drill)", async () => {
  await initBackend("cpu");
  const scratch = await scratchRuns("hostile");
  const abs = `${ROOT}/${scratch}`;
  try {
    const config = parseExperiment(TINY, "tiny.yaml");
    const { dir } = await runExperiment(config, { root: abs, source: TINY, file: "tiny.yaml" });
    const base = `${scratch}/${dir.split("/").pop()}`;
    const glyph = `${scratch}/glyph.png`;
    await Deno.writeFile(`${ROOT}/${glyph}`, encodePng(new Float32Array(64), 8, 8, 1));
    const ckpt = (d: string) => `${ROOT}/${d}/${RUN_FILES.checkpoint}`;
    const cases: [string, RegExp][] = [];

    // A folder that is not a run.
    await Deno.mkdir(`${abs}/not-a-run`);
    cases.push([`${scratch}/not-a-run`, /has no manifest\.json \(not a run folder\?\)/]);
    // A checkpoint cut short.
    cases.push([
      await variant(base, "truncated", async (d) => {
        const bytes = await Deno.readFile(ckpt(d));
        await Deno.writeFile(ckpt(d), bytes.subarray(0, bytes.length >> 1));
      }),
      /last\.safetensors.*truncated/,
    ]);
    // A checkpoint whose header lies about a tensor's shape.
    cases.push([
      await variant(base, "lying-shape", async (d) => {
        const bytes = await Deno.readFile(ckpt(d));
        const length = Number(new DataView(bytes.buffer).getBigUint64(0, true));
        const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length)));
        const name = Object.keys(header).find((k) => k !== "__metadata__")!;
        header[name].shape = [1_000_000, 1_000_000];
        await Deno.writeFile(ckpt(d), rebuild(header, bytes));
      }),
      /does not fit its shape/,
    ]);
    // A checkpoint of other networks than config.json describes.
    cases.push([
      await variant(base, "other-config", async (d) => {
        const path = `${ROOT}/${d}/${RUN_FILES.config}`;
        const c = JSON.parse(await Deno.readTextFile(path));
        c.model.filters = 4;
        await Deno.writeTextFile(path, JSON.stringify(c));
      }),
      /checkpoint.*shape/,
    ]);
    // A manifest with wrong types, and one that is not an object.
    cases.push([
      await variant(base, "manifest-types", async (d) => {
        const path = `${ROOT}/${d}/${RUN_FILES.manifest}`;
        const m = JSON.parse(await Deno.readTextFile(path));
        await Deno.writeTextFile(path, JSON.stringify({ ...m, status: 7, epochs_done: "two" }));
      }),
      /manifest\.json": "status" must be one of/,
    ]);
    cases.push([
      await variant(base, "manifest-list", async (d) => {
        await Deno.writeTextFile(`${ROOT}/${d}/${RUN_FILES.manifest}`, "[1, 2]");
      }),
      /manifest\.json": expected a JSON object/,
    ]);
    // Checkpoint metadata that lies about where training stood.
    cases.push([
      await variant(base, "metadata", async (d) => {
        const file = decodeSafetensors(await Deno.readFile(ckpt(d)));
        file.metadata.level = "-3";
        await Deno.writeFile(ckpt(d), encodeSafetensors(file));
      }),
      /metadata "level" must be a whole number/,
    ]);

    // Every tool on a folder that is not a run; each other case through one tool, in turn
    // (they share readRun and readCheckpoint; a process start costs ~1 s).
    const runs: [string, string[], RegExp][] = toolArgs(cases[0][0], glyph).map((
      [tool, args],
    ) => [tool, args, cases[0][1]]);
    cases.slice(1).forEach(([run, pattern], i) => {
      const [tool, args] = toolArgs(run, glyph)[i % 3];
      runs.push([tool, args, pattern]);
    });
    for (const [tool, args, pattern] of runs) {
      assertRefused(await runTask(tool, args), pattern, `${tool} ${args[0]}`);
    }

    // A PNG that declares 100,000 × 100,000 pixels (40 GB decoded): refused from its header.
    const huge = `${scratch}/huge.png`;
    await Deno.writeFile(`${ROOT}/${huge}`, lyingPng(100_000, 100_000));
    const started = performance.now();
    const r = await runTask("decode", [base, huge, "--backend", "cpu"]);
    assertRefused(r, /declares 100000×100000 pixels/, "decode huge.png");
    assert(performance.now() - started < 20_000, "refused without decoding");
  } finally {
    await Deno.remove(abs, { recursive: true });
  }
});

/** A safetensors file with `header` over the data of `original`. */
function rebuild(header: Record<string, unknown>, original: Uint8Array): Uint8Array {
  const oldLength = Number(new DataView(original.buffer).getBigUint64(0, true));
  const data = original.subarray(8 + oldLength);
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const head = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + head.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(head.length), true);
  out.set(head, 8);
  out.set(data, 8 + head.length);
  return out;
}
