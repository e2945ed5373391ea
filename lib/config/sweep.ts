/**
 * The sweep format: a base experiment and the points to try (a grid, an
 * explicit list, seeded random samples), each repeated per seed. Validated
 * like experiments: unknown keys refused, errors located at file:line:col.
 * @module
 */
import { z } from "zod";
import { Rng } from "../rng.ts";
import {
  allowedKeys,
  ConfigError,
  explain,
  locate,
  nearest,
  parseExperiment,
  parseYamlMapping,
  readUserText,
} from "./load.ts";
import type { Experiment } from "./schema.ts";

const keyPath = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/, {
  message: "must be a dotted key path such as training.batch_size",
});
const overrides = z.record(keyPath, z.unknown());
const pair = z.tuple([z.number(), z.number()]);

const distribution = z.union([
  z.strictObject({ uniform: pair }).describe("a uniform draw in [lo, hi)"),
  z.strictObject({ log_uniform: z.tuple([z.number().positive(), z.number().positive()]) })
    .describe("a draw whose logarithm is uniform in [log lo, log hi)"),
  z.strictObject({ int: z.tuple([z.number().int(), z.number().int()]) })
    .describe("a whole number in [lo, hi], both ends included"),
  z.strictObject({ choice: z.array(z.unknown()).min(1) }).describe("one of the values"),
]);

/** The sweep file's schema: single source of the validator and of sweep.schema.json. */
export const sweepSchema = z.strictObject({
  base: z.string().min(1).describe("the experiment every point starts from, relative to this file"),
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]*$/).max(60).optional()
    .describe("the sweep's name (default: the file's stem); names runs/sweeps/<name>/"),
  set: overrides.optional().describe("overrides applied to every point (e.g. fewer epochs)"),
  grid: z.record(keyPath, z.array(z.unknown()).min(1).max(1000)).optional()
    .describe("cartesian product over dotted keys, the first key varying slowest"),
  list: z.array(overrides).max(10_000).optional()
    .describe("explicit points, added after the grid"),
  random: z.strictObject({
    samples: z.number().int().min(1).max(10_000),
    seed: z.number().int().min(0).default(0),
    space: z.record(keyPath, distribution),
  }).optional().describe("seeded random samples, added after the list"),
  seeds: z.array(z.number().int().min(0).max(2 ** 31 - 1)).min(1).max(1000).optional()
    .describe("every point repeated once per seed (default: the base's seed)"),
});

/** A sweep file as written (after defaults). */
export type SweepFile = z.output<typeof sweepSchema>;

/** One point of a sweep, resolved to a full experiment. */
export interface SweepPoint {
  /** Position in the plan (stable for the same file). */
  index: number;
  /** Which setting (the same for its seeds). */
  setting: number;
  /** The keys this point sets (without `set` and seed). */
  overrides: Record<string, unknown>;
  seed: number;
  config: Experiment;
}

/** A loaded sweep: its name, where its base lives, and the points in stable order. */
export interface LoadedSweep {
  name: string;
  path: string;
  basePath: string;
  file: SweepFile;
  /** Every key any point sets (the swept keys), in first-seen order. */
  keys: string[];
  points: SweepPoint[];
}

/** Largest sweep we expand (points × seeds). */
const MAX_POINTS = 100_000;

/**
 * Reads a sweep file, checks it, and expands its points against the base.
 *
 * @example
 * ```ts
 * import { loadSweep } from "./sweep.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/base.yaml`, "training: { epochs: 1 }\n");
 * await Deno.writeTextFile(`${dir}/s.yaml`, "base: base.yaml\ngrid: { model.filters: [4, 8] }\nseeds: [1, 2]\n");
 * const sweep = await loadSweep(`${dir}/s.yaml`);
 * console.assert(sweep.points.length === 4 && sweep.points[1].seed === 1);
 * ```
 */
export async function loadSweep(path: string): Promise<LoadedSweep> {
  const where = `Cannot load sweep "${path}"`;
  const text = await readUserText(path, where);
  const { doc, lines, record } = parseYamlMapping(text, path, where);
  const parsed = sweepSchema.safeParse(record);
  const at = (p: PropertyKey[]) => locate(doc.contents, p, lines, path);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`${where}: ${at(issue.path)}: ${explain(issue, record, sweepSchema)}`);
  }
  const file = parsed.data;
  checkKeys(file, (p, msg) => new ConfigError(`${where}: ${at(p)}: ${msg}`));
  const dir = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : ".";
  const rawBase = file.base.startsWith("/") ? file.base : `${dir}/${file.base}`;
  const basePath = normalize(rawBase);
  const count = countSettings(file) * (file.seeds?.length ?? 1);
  if (count > MAX_POINTS) {
    throw new ConfigError(
      `${where}: ${at([])}: ${count} points is over the limit of ${MAX_POINTS}`,
    );
  }
  let baseText: string;
  try {
    baseText = await readUserText(rawBase, `cannot read ${JSON.stringify(basePath)}`);
  } catch (e) {
    throw new ConfigError(`${where}: ${at(["base"])}: ${(e as Error).message}`);
  }
  const name = file.name ?? (path.split("/").pop() ?? path).replace(/\.ya?ml$/i, "");
  const settings = expand(file);
  const points: SweepPoint[] = [];
  const keys = new Set<string>();
  for (const o of settings) for (const k of Object.keys(o.values)) keys.add(k);
  // Seeds outermost: a sweep cut short has tried every setting once before any twice.
  for (const seed of file.seeds ?? [undefined]) {
    settings.forEach((o, setting) => {
      const all: Record<string, unknown> = { ...file.set, ...o.values };
      if (seed !== undefined) all.seed = seed;
      const set = Object.entries(all).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
      let config: Experiment;
      try {
        config = parseExperiment(baseText, basePath, { set });
      } catch (e) {
        const msg = (e as Error).message.replace(/^Cannot load experiment "[^"]*": /, "");
        const key = /^--set ([^:]+):/.exec(msg)?.[1];
        // No --set key: the base itself is refused (its message names its own line).
        const loc = key ? at(key in o.values ? o.from.concat([key]) : ["set", key]) : at(["base"]);
        throw new ConfigError(
          `${where}: ${loc}: point ${points.length + 1} (${label(o.values)}): ${
            msg.replace(/^--set [^:]+: /, "")
          }`,
        );
      }
      points.push({
        index: points.length,
        setting,
        overrides: o.values,
        seed: config.seed,
        config,
      });
    });
  }
  return { name, path, basePath, file, keys: [...keys], points };
}

/** `a=1, b=x` for a point's overrides. */
export function label(values: Record<string, unknown>): string {
  const parts = Object.entries(values).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return parts.join(", ") || "base";
}

/** Every swept key must name a key of the experiment format (did-you-mean otherwise). */
function checkKeys(file: SweepFile, fail: (p: PropertyKey[], msg: string) => Error): void {
  const keyed: [PropertyKey[], string][] = [];
  for (const k of Object.keys(file.set ?? {})) keyed.push([["set", k], k]);
  for (const k of Object.keys(file.grid ?? {})) keyed.push([["grid", k], k]);
  (file.list ?? []).forEach((o, i) => {
    for (const k of Object.keys(o)) keyed.push([["list", i, k], k]);
  });
  for (const k of Object.keys(file.random?.space ?? {})) keyed.push([["random", "space", k], k]);
  for (const [where, key] of keyed) {
    const parts = key.split(".");
    for (let i = 0; i < parts.length; i++) {
      const allowed = allowedKeys(parts.slice(0, i));
      if (!allowed.length) break; // a leaf or a free-form mapping: the experiment check decides
      if (!allowed.includes(parts[i])) {
        const near = nearest(parts[i], allowed);
        const prefix = parts.slice(0, i).join(".");
        const full = (p: string) => (prefix ? `${prefix}.${p}` : p);
        throw fail(
          where,
          `unknown experiment key "${key}"` + (near ? `; did you mean "${full(near)}"?` : "") +
            ` Allowed${prefix ? ` under ${prefix}` : ""}: ${allowed.join(", ")}`,
        );
      }
    }
  }
}

/** How many settings {@link expand} makes, known before making them. */
function countSettings(file: SweepFile): number {
  let grid = 0;
  for (const values of Object.values(file.grid ?? {})) grid = (grid || 1) * values.length;
  const n = grid + (file.list?.length ?? 0) + (file.random?.samples ?? 0);
  return n || 1;
}

/** The settings in stable order: grid (first key slowest), then list, then random samples. */
function expand(file: SweepFile): { values: Record<string, unknown>; from: PropertyKey[] }[] {
  const out: { values: Record<string, unknown>; from: PropertyKey[] }[] = [];
  const grid = Object.entries(file.grid ?? {});
  if (grid.length) {
    let combos: Record<string, unknown>[] = [{}];
    for (const [key, values] of grid) {
      combos = combos.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
    }
    for (const c of combos) out.push({ values: c, from: ["grid"] });
  }
  (file.list ?? []).forEach((values, i) => out.push({ values, from: ["list", i] }));
  if (file.random) {
    const rng = new Rng(file.random.seed);
    for (let i = 0; i < file.random.samples; i++) {
      const values: Record<string, unknown> = {};
      for (const [key, d] of Object.entries(file.random.space)) values[key] = draw(rng, d);
      out.push({ values, from: ["random", "space"] });
    }
  }
  if (!out.length) out.push({ values: {}, from: [] });
  return out;
}

function draw(rng: Rng, d: z.output<typeof distribution>): unknown {
  if ("uniform" in d) return round(rng.uniform(d.uniform[0], d.uniform[1]));
  if ("log_uniform" in d) {
    const [lo, hi] = d.log_uniform.map(Math.log);
    return round(Math.exp(rng.uniform(lo, hi)));
  }
  if ("int" in d) return rng.int(d.int[0], d.int[1]);
  return d.choice[rng.int(0, d.choice.length - 1)];
}

/** `a/b/../c` → `a/c`, for messages and the plan (the file is read by the path as written). */
function normalize(path: string): string {
  const out: string[] = [];
  for (const part of path.split("/")) {
    if (part === "..") {
      if (out.length && out.at(-1) !== ".." && out.at(-1) !== "") out.pop();
      else out.push(part);
    } else if (part !== ".") out.push(part);
  }
  return out.join("/") || ".";
}

/** Four significant digits: readable in file names and tables, same on every machine. */
function round(x: number): number {
  return Number(x.toPrecision(4));
}
