// A seeded fuzzer for loaders of user-written files (experiments, sweeps):
// valid documents with keys, values, indentation and bytes mutated, plus
// documents built from scratch. A loader passes when every document either
// loads or is refused with its user-error class, on one line, with a
// file:line:col location, in under a second.
import { Rng } from "../lib/rng.ts";

/** A loader under test. */
export interface FuzzTarget {
  /** Name in reports. */
  name: string;
  /** Valid documents to mutate. */
  seeds: string[];
  /** Loads the file at `path`; resolves (accepted) or throws. */
  load(path: string): Promise<unknown> | unknown;
  /** The class every refusal must be. */
  userError: abstract new (...args: never[]) => Error;
  /** Files the documents refer to (e.g. a sweep's base experiment), by path relative to them. */
  files?: Record<string, string>;
}

/** What a fuzz run found. */
export interface FuzzReport {
  documents: number;
  accepted: number;
  refused: number;
  slowestMs: number;
  seconds: number;
  /** One line per bad outcome, with the document's number and seed. */
  failures: string[];
}

/** Keys and values the mutations draw from, so mutants reach deep into the schema. */
const KEYS = [
  "name",
  "seed",
  "message",
  "type",
  "size",
  "bits",
  "image",
  "color",
  "model",
  "filters",
  "training",
  "backend",
  "batch_size",
  "epochs",
  "steps_per_epoch",
  "optimizer",
  "learning_rate",
  "beta1",
  "channel",
  "ops",
  "tables",
  "rotate",
  "resize",
  "schedule",
  "kind",
  "start",
  "max",
  "eval",
  "samples",
  "output",
  "grid",
  "base",
  "points",
  "__proto__",
  "constructor",
  "$schema",
];
const VALUES = [
  "0",
  "-1",
  "1",
  "2",
  "3.5",
  "1e309",
  "-1e309",
  "1e-400",
  "99999999999999999999999",
  ".nan",
  ".inf",
  "-.inf",
  "0x1F",
  "0o17",
  "1_000",
  "~",
  "null",
  "true",
  "no",
  "''",
  '""',
  "[]",
  "{}",
  "[1, 2]",
  "[[[[[[[[]]]]]]]]",
  "{ a: 1 }",
  "one-hot",
  "binary",
  "rgb",
  "cpu",
  "accuracy",
  "[static, blur]",
  "&a [1, 2]",
  "*a",
  "*nope",
  "!!binary aGVsbG8=",
  "!!timestamp 2026-12-01",
  "!custom 3",
  "!!int x",
  "|\n  text",
  ">-\n  folded",
  '"\\u0000"',
  '"\\x"',
  "'unterminated",
  '"unterminated',
  "[unclosed",
  "{unclosed",
  "- item",
  "? complex",
  "x".repeat(5000),
  "[".repeat(3000) + "]".repeat(3000),
  "{a: ".repeat(1000) + "}".repeat(1000),
  "9".repeat(400),
];

/** Runs `count` documents through `target` in a temp folder; never throws for the loader's sake. */
export async function fuzz(
  target: FuzzTarget,
  opts: { count: number; seed: number },
): Promise<FuzzReport> {
  const dir = await Deno.makeTempDir({ prefix: "glyphnet-fuzz-" });
  // One level down, so the documents' "../x.yaml" stays inside the temp folder.
  await Deno.mkdir(`${dir}/docs`);
  const path = `${dir}/docs/fuzz.yaml`;
  for (const [name, text] of Object.entries(target.files ?? {})) {
    await Deno.writeTextFile(`${dir}/docs/${name}`, text);
  }
  const report: FuzzReport = {
    documents: 0,
    accepted: 0,
    refused: 0,
    slowestMs: 0,
    seconds: 0,
    failures: [],
  };
  const started = performance.now();
  try {
    for (let i = 0; i < opts.count; i++) {
      const rng = new Rng(opts.seed * 1_000_003 + i);
      await Deno.writeFile(path, makeDocument(target.seeds, rng));
      const t0 = performance.now();
      let error: unknown;
      try {
        await target.load(path);
      } catch (e) {
        error = e;
      }
      const ms = performance.now() - t0;
      report.documents++;
      report.slowestMs = Math.max(report.slowestMs, ms);
      const why = judge(error, ms, target);
      if (error === undefined) report.accepted++;
      else report.refused++;
      if (why) report.failures.push(`document ${i} (seed ${opts.seed}): ${why}`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  report.seconds = (performance.now() - started) / 1000;
  return report;
}

/** Why an outcome is bad, or undefined when it is fine. */
function judge(error: unknown, ms: number, target: FuzzTarget): string | undefined {
  if (ms > 1000) return `took ${ms.toFixed(0)} ms`;
  if (error === undefined) return undefined;
  if (!(error instanceof target.userError)) {
    const e = error as Error;
    return `uncaught ${e?.name ?? typeof e}: ${String(e?.message ?? e).split("\n")[0]}`;
  }
  const e = error as Error;
  if (e.message.includes("\n")) return `message has more than one line: ${e.message}`;
  if (!/fuzz\.yaml:\d+:\d+/.test(e.message)) return `no file:line:col in: ${e.message}`;
  return undefined;
}

/** One document: a mutated seed (most), or one built from scratch. */
export function makeDocument(seeds: string[], rng: Rng): Uint8Array {
  if (rng.next() < 0.1) return new TextEncoder().encode(randomDocument(rng, 0));
  let text = seeds[rng.int(0, seeds.length - 1)];
  const textMutations = rng.int(1, 4);
  for (let i = 0; i < textMutations; i++) text = mutateText(text, rng);
  let bytes: Uint8Array = new TextEncoder().encode(text);
  if (rng.next() < 0.25) bytes = mutateBytes(bytes, rng);
  return bytes;
}

function pick<T>(items: readonly T[], rng: Rng): T {
  return items[rng.int(0, items.length - 1)];
}

function mutateText(text: string, rng: Rng): string {
  const lines = text.split("\n");
  const i = rng.int(0, Math.max(0, lines.length - 1));
  const line = lines[i] ?? "";
  const colon = line.indexOf(":");
  switch (rng.int(0, 11)) {
    case 0: // rename a key: typo or another key
      if (colon > 0) {
        const key = line.slice(0, colon).trimStart();
        const indent = line.slice(0, line.length - line.trimStart().length);
        const next = rng.next() < 0.5 ? pick(KEYS, rng) : typo(key, rng);
        lines[i] = indent + next + line.slice(colon);
      }
      break;
    case 1: // replace a value
      if (colon > 0) lines[i] = line.slice(0, colon + 1) + " " + pick(VALUES, rng);
      break;
    case 2: // add a key somewhere
      lines.splice(i, 0, " ".repeat(rng.int(0, 6)) + pick(KEYS, rng) + ": " + pick(VALUES, rng));
      break;
    case 3: // re-indent a line
      lines[i] = " ".repeat(rng.int(0, 8)) + line.trimStart();
      break;
    case 4: // tab indentation
      lines[i] = "\t" + line;
      break;
    case 5: // delete a line
      lines.splice(i, 1);
      break;
    case 6: // duplicate a line (duplicate keys)
      lines.splice(i, 0, line);
      break;
    case 7: // swap two lines
      {
        const j = rng.int(0, lines.length - 1);
        [lines[i], lines[j]] = [lines[j], lines[i]];
      }
      break;
    case 8: // a value inside a flow mapping
      lines[i] = line.replace(/: ([^,}\]]+)/, () => `: ${pick(VALUES, rng)}`);
      break;
    case 9: // cut the text anywhere
      return text.slice(0, rng.int(0, text.length));
    case 10: // insert random characters
    {
      const at = rng.int(0, text.length);
      return text.slice(0, at) + randomChars(rng, rng.int(1, 8)) + text.slice(at);
    }
    default: // an anchor here, an alias there
      lines.splice(i, 0, `x${rng.int(0, 3)}: &a${rng.int(0, 2)} [1, *a${rng.int(0, 2)}]`);
  }
  return lines.join("\n");
}

function typo(key: string, rng: Rng): string {
  if (!key) return pick(KEYS, rng);
  const at = rng.int(0, key.length - 1);
  switch (rng.int(0, 3)) {
    case 0:
      return key.slice(0, at) + key.slice(at + 1);
    case 1:
      return key.slice(0, at) + randomChars(rng, 1) + key.slice(at);
    case 2:
      return key.toUpperCase();
    default:
      return key.slice(0, at) + key[at + 1] + key[at] + key.slice(at + 2);
  }
}

const CHARS = " \t:-[]{},#&*!|>'\"%@`?\\\r\n\u00e9\u2028\ufeff\u0000aZ09._";

function randomChars(rng: Rng, n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += CHARS[rng.int(0, CHARS.length - 1)];
  return s;
}

function mutateBytes(bytes: Uint8Array, rng: Rng): Uint8Array {
  const out = [...bytes];
  const n = rng.int(1, 6);
  for (let k = 0; k < n; k++) {
    const at = rng.int(0, out.length);
    switch (rng.int(0, 3)) {
      case 0: // flip a bit
        if (at < out.length) out[at] ^= 1 << rng.int(0, 7);
        break;
      case 1: // a random byte, often not UTF-8
        out.splice(at, 0, rng.int(0, 255));
        break;
      case 2: // a NUL
        out.splice(at, 0, 0);
        break;
      default: // a BOM or a broken multi-byte sequence
        out.splice(at, 0, ...(rng.next() < 0.5 ? [0xef, 0xbb, 0xbf] : [0xe2, 0x82]));
    }
  }
  return new Uint8Array(out);
}

/** A YAML document built from the key and value pools, nested up to 4 deep. */
function randomDocument(rng: Rng, depth: number): string {
  const indent = "  ".repeat(depth);
  const lines: string[] = [];
  const n = rng.int(depth ? 1 : 0, 5);
  for (let i = 0; i < n; i++) {
    const key = pick(KEYS, rng);
    if (depth < 4 && rng.next() < 0.35) {
      lines.push(`${indent}${key}:`, randomDocument(rng, depth + 1));
    } else {
      lines.push(`${indent}${key}: ${pick(VALUES, rng)}`);
    }
  }
  if (depth === 0 && rng.next() < 0.1) return pick(VALUES, rng);
  return lines.join("\n");
}
