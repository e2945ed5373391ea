/**
 * Reads an experiment file, applies `--set` overrides, validates the result,
 * and explains every refusal with file, line, column and key path.
 * @module
 */
import {
  type Alias,
  type Document,
  isMap,
  isScalar,
  isSeq,
  Lexer,
  LineCounter,
  type Node,
  parseDocument,
  visit,
  YAMLParseError,
} from "yaml";
import { z } from "zod";
import { UserError } from "../errors.ts";
import { type Experiment, experimentSchema } from "./schema.ts";

/** Largest experiment file we read; anything bigger is not an experiment. */
const MAX_BYTES = 1 << 20;
/** Deepest flow nesting ([ and {) we parse: the parser recurses, and 1 MiB of "[" took 10 s. */
const MAX_DEPTH = 64;

/** An experiment could not be loaded; `message` is meant for the user as is. */
export class ConfigError extends UserError {
  /** Always "ConfigError". */
  override name = "ConfigError";
}

/** A loaded, validated experiment with where it came from. */
export interface LoadedExperiment {
  /** The resolved experiment: defaults filled in, overrides applied. */
  config: Experiment;
  /** The file's text as written (saved in the run folder). */
  source: string;
  /** The file's path as given. */
  path: string;
}

/** Options for {@link loadExperiment} and {@link parseExperiment}. */
export interface LoadOptions {
  /** `key.path=value` overrides, values parsed as YAML scalars. */
  set?: string[];
}

/**
 * Reads and validates an experiment file.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadExperiment } from "./load.ts";
 * const { config } = await loadExperiment("experiments/quick.yaml", { set: ["training.epochs=1"] });
 * assert.equal(config.training.epochs, 1);
 * assert.equal(config.name, "quick");
 * ```
 */
export async function loadExperiment(
  path: string,
  opts: LoadOptions = {},
): Promise<LoadedExperiment> {
  const text = await readUserText(path, `Cannot load experiment "${path}"`);
  return { config: parseExperiment(text, path, opts), source: text, path };
}

/**
 * Reads a file the user wrote (an experiment, a sweep) as UTF-8 text of at
 * most 1 MiB; every refusal is a {@link ConfigError} starting with `where`,
 * with file:line:col where there is one.
 */
export async function readUserText(path: string, where: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    const info = await Deno.stat(path);
    if (!info.isFile) throw new ConfigError(`${where}: not a file`);
    if (info.size > MAX_BYTES) {
      throw new ConfigError(`${where}: ${info.size} bytes is over the 1 MiB limit`);
    }
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    // The OS's message repeats the path, which may hold a newline: keep the error on one line.
    throw new ConfigError(`${where}: ${(e as Error).message.replaceAll("\n", "\\n")}`);
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    const at = firstInvalidUtf8(bytes);
    const before = new TextDecoder().decode(bytes.subarray(0, at));
    throw new ConfigError(
      `${where}: ${path}:${
        lineCol(before, before.length)
      }: the file is not UTF-8 text (byte ${at})`,
    );
  }
}

/**
 * Validates experiment text; `path` names it in errors and gives the default name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConfigError, parseExperiment } from "./load.ts";
 * const config = parseExperiment("image: { size: 16 }\n", "mine.yaml");
 * assert.equal(config.image.size, 16);
 * assert.equal(config.model.filters, 16); // GlyphNet's default
 * assert.throws(() => parseExperiment("image: { sise: 16 }\n", "mine.yaml"), ConfigError);
 * ```
 */
export function parseExperiment(text: string, path: string, opts: LoadOptions = {}): Experiment {
  const where = `Cannot load experiment "${path}"`;
  const { doc, lines, record } = parseYamlMapping(text, path, where);
  const overridden = new Set<string>();
  for (const item of opts.set ?? []) {
    const key = applyOverride(record, item, where);
    overridden.add(key);
  }
  if (record.name === undefined) record.name = stem(path);
  const result = experimentSchema.safeParse(record);
  if (!result.success) {
    const issue = result.error.issues[0];
    const key = issue.path.map(String).join(".");
    const fromSet = [...overridden].find((k) => key === k || key.startsWith(k + "."));
    const at = fromSet ? `--set ${fromSet}` : locate(doc.contents, issue.path, lines, path);
    const more = result.error.issues.length > 1
      ? ` (and ${result.error.issues.length - 1} more)`
      : "";
    throw new ConfigError(`${where}: ${at}: ${explain(issue, record)}${more}`);
  }
  return result.data;
}

/** A YAML document whose top level is a mapping, with what locates its nodes. */
export interface ParsedYaml {
  doc: Document;
  lines: LineCounter;
  record: Record<string, unknown>;
}

/**
 * Parses YAML text whose top level must be a mapping (an experiment, a
 * sweep); every refusal is a {@link ConfigError} starting with `where`, one
 * line, with `path`:line:col.
 */
export function parseYamlMapping(text: string, path: string, where: string): ParsedYaml {
  if (text.includes("\0")) {
    const at = `${path}:${lineCol(text, text.indexOf("\0"))}`;
    throw new ConfigError(`${where}: ${at}: the file contains NUL bytes (binary data?)`);
  }
  const deep = tooDeepAt(text);
  if (deep !== undefined) {
    throw new ConfigError(
      `${where}: ${path}:${lineCol(text, deep)}: nested deeper than ${MAX_DEPTH} brackets`,
    );
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: true,
    logLevel: "error", // no stderr warnings about mapping keys that are collections
  });
  const first = doc.errors[0];
  if (first) {
    const offset = first instanceof YAMLParseError ? first.pos[0] : undefined;
    const pos = offset === undefined ? undefined : lines.linePos(offset);
    const at = pos ? `${path}:${pos.line}:${pos.col}` : `${path}:1:1`;
    const why = /call stack/i.test(first.message)
      ? "the document is nested too deeply"
      : firstLine(first.message);
    throw new ConfigError(`${where}: YAML syntax error at ${at}: ${why}`);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (e) {
    const at = aliasAt(doc, lines, path);
    throw new ConfigError(`${where}: ${at}: ${firstLine((e as Error).message)}`);
  }
  const top = doc.contents?.range ? lines.linePos(doc.contents.range[0]) : { line: 1, col: 1 };
  const topAt = `${path}:${top.line}:${top.col}`;
  if (data === null || data === undefined) {
    throw new ConfigError(`${where}: ${topAt}: the file is empty`);
  }
  if (typeof data !== "object" || Array.isArray(data)) {
    throw new ConfigError(
      `${where}: ${topAt}: the top level must be a mapping of keys, got ${describe(data)}`,
    );
  }
  return { doc, lines, record: data as Record<string, unknown> };
}

/**
 * Applies `key.path=value` overrides to a resolved experiment and validates
 * the result, as {@link parseExperiment} does for a file (used when a run
 * resumes with `--set`). `where` starts every error message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { overrideExperiment, parseExperiment } from "./load.ts";
 * const config = parseExperiment("training: { epochs: 3 }\n", "mine.yaml");
 * const changed = overrideExperiment(config, ["training.epochs=5"], "Cannot resume");
 * assert.deepEqual([config.training.epochs, changed.training.epochs], [3, 5]);
 * ```
 */
export function overrideExperiment(config: Experiment, set: string[], where: string): Experiment {
  const record = structuredClone(config) as Record<string, unknown>;
  for (const item of set) applyOverride(record, item, where);
  const result = experimentSchema.safeParse(record);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new ConfigError(`${where}: --set: ${explain(issue, record)}`);
  }
  return result.data;
}

/** Run names keep to letters, digits, dot, dash and underscore, so no path escapes runs/. */
export function sanitizeName(name: string): string {
  const clean = name.replace(/[^A-Za-z0-9._-]+/g, "-").replace(/^[.-]+/, "").slice(0, 80);
  return clean || "run";
}

function stem(path: string): string {
  const base = path.split(/[\\/]/).pop() ?? path;
  return base.replace(/\.(ya?ml|json)$/i, "") || "experiment";
}

/** "line:col" (1-based) of `offset` in `text`. */
function lineCol(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split("\n").length;
  return `${line}:${offset - before.lastIndexOf("\n")}`;
}

/** The lexer's tokens for document start, flow end and scalar. */
const LEXER_CONTROL = new Set(["\x02", "\x18", "\x1f"]);

/** Offset of the first [ or { past {@link MAX_DEPTH} levels of flow nesting, if any. */
function tooDeepAt(text: string): number | undefined {
  let depth = 0, offset = 0;
  for (const token of new Lexer().lex(text)) {
    if (token === "[" || token === "{") {
      if (++depth > MAX_DEPTH) return offset;
    } else if (token === "]" || token === "}") depth--;
    // The lexer's control tokens (document start, flow end, scalar) take no source text.
    if (!LEXER_CONTROL.has(token)) offset += token.length;
  }
  return undefined;
}

/** Offset of the first byte that is not valid UTF-8 (binary search over prefixes). */
function firstInvalidUtf8(bytes: Uint8Array): number {
  const valid = (n: number) => {
    try {
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(0, n), { stream: true });
      return true;
    } catch {
      return false;
    }
  };
  let [lo, hi] = [0, bytes.length]; // valid(lo), !valid(hi)
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (valid(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

/** file:line:col of the first alias that does not resolve, else of the first alias. */
function aliasAt(doc: Document, lines: LineCounter, path: string): string {
  let first: Alias | undefined, broken: Alias | undefined;
  visit(doc, {
    Alias(_, node) {
      first ??= node;
      if (!broken && node.resolve(doc) === undefined) broken = node;
    },
  });
  const range = (broken ?? first)?.range;
  if (!range) return `${path}:1:1`;
  const { line, col } = lines.linePos(range[0]);
  return `${path}:${line}:${col}`;
}

export function firstLine(s: string): string {
  return s.split("\n")[0];
}

export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "a list";
  if (typeof v === "number") {
    if (Number.isNaN(v)) return ".nan (not a number)";
    if (!Number.isFinite(v)) return `${v > 0 ? "" : "-"}.inf (infinity)`;
    return String(v);
  }
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? v.slice(0, 40) + "…" : v);
  if (typeof v === "object") return "a mapping";
  return String(v);
}

function applyOverride(record: Record<string, unknown>, item: string, where: string): string {
  const eq = item.indexOf("=");
  if (eq <= 0) {
    throw new ConfigError(
      `${where}: --set ${item}: expected key.path=value, e.g. training.epochs=3`,
    );
  }
  const key = item.slice(0, eq).trim();
  const parts = key.split(".");
  if (
    parts.some((p) => p === "" || p === "__proto__" || p === "constructor" || p === "prototype")
  ) {
    throw new ConfigError(`${where}: --set ${item}: "${key}" is not a valid key path`);
  }
  const valueDoc = parseDocument(item.slice(eq + 1));
  if (valueDoc.errors.length) {
    throw new ConfigError(`${where}: --set ${item}: the value is not valid YAML`);
  }
  let value: unknown;
  try {
    value = valueDoc.toJS({ maxAliasCount: 10 });
  } catch {
    throw new ConfigError(`${where}: --set ${item}: the value is not valid YAML`);
  }
  let node: Record<string, unknown> = record;
  for (const part of parts.slice(0, -1)) {
    const next = node[part];
    if (next === undefined) node[part] = {};
    else if (typeof next !== "object" || next === null || Array.isArray(next)) {
      throw new ConfigError(`${where}: --set ${item}: "${part}" is not a mapping`);
    }
    node = node[part] as Record<string, unknown>;
  }
  node[parts[parts.length - 1]] = value ?? null;
  return key;
}

/** file:line:col of the YAML node at `path`, or of its nearest existing parent. */
export function locate(
  root: unknown,
  path: PropertyKey[],
  lines: LineCounter,
  file: string,
): string {
  let node = root as Node | null;
  let keyNode: Node | null = null;
  for (const part of path) {
    if (isMap(node)) {
      const pair = node.items.find((p) => isScalar(p.key) && String(p.key.value) === String(part));
      if (!pair) break;
      keyNode = pair.key as Node;
      node = pair.value as Node | null;
    } else if (isSeq(node) && typeof part === "number" && node.items[part]) {
      node = node.items[part] as Node;
      keyNode = null;
    } else break;
  }
  const range = (node && node.range) ?? (keyNode && keyNode.range);
  if (!range) return `${file}:1:1`;
  const { line, col } = lines.linePos(range[0]);
  return `${file}:${line}:${col}`;
}

function valueAt(record: unknown, path: PropertyKey[]): unknown {
  let v = record;
  for (const p of path) {
    if (v === null || typeof v !== "object") return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** One validation issue in words, with did-you-mean for unknown keys. */
export function explain(
  issue: z.core.$ZodIssue,
  record: Record<string, unknown>,
  schema: z.ZodType = experimentSchema,
): string {
  const key = issue.path.map(String).join(".") || "(top level)";
  const found = valueAt(record, issue.path);
  switch (issue.code) {
    case "unrecognized_keys": {
      const allowed = allowedKeys(issue.path, schema);
      const bad = issue.keys[0];
      const near = nearest(bad, allowed);
      const prefix = issue.path.length ? `${key}.` : "";
      return `unknown key "${prefix}${bad}"` + (near ? `; did you mean "${prefix}${near}"?` : "") +
        ` Allowed: ${allowed.join(", ")}`;
    }
    case "invalid_value":
      return `${key} is ${describe(found)}; allowed: ${
        issue.values.map((v) => String(v)).join(", ")
      }`;
    case "invalid_type":
      if (found === undefined) return `${key} is required (${issue.expected})`;
      if (issue.expected === "int") return `${key} must be an integer, got ${describe(found)}`;
      if (typeof found === "number" && !Number.isFinite(found)) {
        return `${key} must be a finite number, got ${describe(found)}`;
      }
      return `${key} must be ${article(issue.expected)}, got ${describe(found)}`;
    case "too_small":
    case "too_big": {
      const isArray = issue.origin === "array";
      const bound = issue.code === "too_small"
        ? `at least ${issue.minimum}${issue.inclusive === false ? " (exclusive)" : ""}`
        : `at most ${issue.maximum}${issue.inclusive === false ? " (exclusive)" : ""}`;
      return isArray
        ? `${key} must have ${bound} entries, got ${Array.isArray(found) ? found.length : "?"}`
        : `${key} must be ${bound}, got ${describe(found)}`;
    }
    default:
      return `${key} ${issue.message}${found !== undefined ? `, got ${describe(found)}` : ""}`;
  }
}

function article(type: string): string {
  if (type === "object") return "a mapping";
  if (type === "array") return "a list";
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

/** Keys the schema allows at a path (for "did you mean"). */
export function allowedKeys(path: PropertyKey[], schema: z.ZodType = experimentSchema): string[] {
  for (const part of path) {
    const shape = objectShape(schema);
    if (!shape) return [];
    schema = shape[String(part)];
    if (!schema) return [];
  }
  return Object.keys(objectShape(schema) ?? {});
}

function objectShape(schema: z.ZodType): Record<string, z.ZodType> | undefined {
  // Unwrap defaults, optionals, refinements and transforms down to the object.
  let s: unknown = schema;
  for (let i = 0; i < 10 && s; i++) {
    const def = (s as { def?: Record<string, unknown> }).def;
    if (!def) return undefined;
    if (def.type === "object") return def.shape as Record<string, z.ZodType>;
    s = def.innerType ?? def.in ?? def.schema;
  }
  return undefined;
}

export function nearest(word: string, options: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const o of options) {
    const d = editDistance(word.toLowerCase(), o.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [o, d];
  }
  return bestDistance <= Math.max(2, Math.floor(word.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length];
}
