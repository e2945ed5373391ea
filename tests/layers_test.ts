// The layer order of lib/, written once, here; docs/ARCHITECTURE.md explains it.
// Every import (code or type-only) must point at the importer's own layer or at a
// layer on an earlier row, minus that layer's `skips`. Layers on one row are siblings
// and do not import each other. Each file under lib/ must sit in exactly one layer.
import { relative } from "node:path";
import { fileURLToPath as fromFileUrl } from "node:url";
import { assert, assertEquals } from "./_assert.ts";

/** One layer: a name and the files (exact path) or folders (ending in "/") it holds. */
interface Layer {
  name: string;
  paths: string[];
  /** Lower layers this one must still not import. */
  skips?: string[];
}

/** Lowest first; each row may import the rows above it. */
const LAYERS: Layer[][] = [
  [{
    name: "ground",
    paths: [
      "lib/rng.ts",
      "lib/fs.ts",
      "lib/tensors.ts",
      "lib/errors.ts",
      "lib/tasks.ts",
      "lib/image/",
    ],
  }],
  // Contracts of the fused kernels: names, inputs and attributes that a backend registers
  // and the model asks tfjs for. They import nothing of glyphnet, so any layer may read them.
  [{ name: "kernel contracts", paths: ["lib/backend/fused_kernels.ts"] }],
  [{ name: "config", paths: ["lib/config/"] }],
  [{ name: "backend", paths: ["lib/backend/"] }],
  [
    // Networks and noise ops ask tfjs, never which backend runs them.
    { name: "model", paths: ["lib/model/"], skips: ["backend"] },
    { name: "channel", paths: ["lib/channel/"], skips: ["backend"] },
  ],
  [{ name: "eval", paths: ["lib/eval/"] }],
  [{ name: "train", paths: ["lib/train/"] }],
  [{ name: "run", paths: ["lib/run/"] }],
  // Pages that read run folders: below the runner, which rewrites a run's report each epoch.
  [{ name: "report", paths: ["lib/report/"] }],
  [{ name: "runner", paths: ["lib/runner.ts"] }],
  [{ name: "tools", paths: ["lib/tools/"] }],
  [{ name: "entry", paths: ["main.ts", "mod.ts"] }],
];

/**
 * Known violations, as "importer -> imported" (repository paths). Each entry
 * says what removes it; the test fails once an entry no longer occurs.
 */
const ALLOWED: string[] = [];

/** An import edge: repository-relative paths and the importer's 1-based line. */
interface Edge {
  from: string;
  to: string;
  line: number;
}

/** Where a file sits: its layer and that layer's row. */
function placeOf(layers: Layer[][], path: string): { layer: Layer; row: number } | undefined {
  for (const [row, rowLayers] of layers.entries()) {
    for (const layer of rowLayers) {
      const hit = layer.paths.some((p) => p.endsWith("/") ? path.startsWith(p) : path === p);
      if (hit) return { layer, row };
    }
  }
}

/** Every edge that breaks `layers`, as a sentence naming file, line, import and both layers. */
function checkLayers(layers: Layer[][], edges: Edge[]): string[] {
  const problems: string[] = [];
  for (const e of edges) {
    const from = placeOf(layers, e.from), to = placeOf(layers, e.to);
    if (!from) {
      problems.push(`${e.from} is in no layer: add its folder to LAYERS in tests/layers_test.ts`);
      continue;
    }
    if (!to) continue; // outside the layered tree (npm, tests): not ours to order
    const at = `${e.from}:${e.line} imports ${e.to}`;
    const [a, b] = [from.layer.name, to.layer.name];
    if (a === b) continue;
    if (to.row > from.row) problems.push(`${at}: layer "${a}" imports the higher layer "${b}"`);
    else if (to.row === from.row) problems.push(`${at}: sibling layers "${a}" and "${b}"`);
    else if (from.layer.skips?.includes(b)) {
      problems.push(`${at}: layer "${a}" must not import layer "${b}"`);
    }
  }
  return problems;
}

/** The import graph of lib/, main.ts and mod.ts from `deno info --json`. */
async function importGraph(): Promise<{ files: string[]; edges: Edge[] }> {
  const root = fromFileUrl(new URL("..", import.meta.url));
  const files = ["main.ts", "mod.ts", ...await tsFiles(root, "lib")];
  const dir = await Deno.makeTempDir();
  try {
    const entry = `${dir}/all.ts`;
    await Deno.writeTextFile(
      entry,
      files.map((f) => `import "${new URL(f, `file://${root}`).href}";\n`).join(""),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", `${root}/deno.json`, entry],
      cwd: root,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert(out.success, `deno info failed: ${new TextDecoder().decode(out.stderr)}`);
    return { files, edges: edgesOf(JSON.parse(text), root) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

interface InfoDependency {
  code?: { specifier: string; span: { start: { line: number } } };
  type?: { specifier: string; span: { start: { line: number } } };
}
interface InfoModule {
  specifier: string;
  dependencies?: InfoDependency[];
}

/** Edges between files of this repository in `deno info --json` output. */
function edgesOf(info: { modules: InfoModule[] }, root: string): Edge[] {
  const local = (url: string) =>
    url.startsWith("file://") ? relative(root, fromFileUrl(url)) : undefined;
  const edges: Edge[] = [];
  for (const m of info.modules) {
    const from = local(m.specifier);
    if (!from || from.startsWith("..")) continue;
    for (const dep of m.dependencies ?? []) {
      for (const target of [dep.code, dep.type]) {
        const to = target && local(target.specifier);
        if (to) edges.push({ from, to, line: target.span.start.line + 1 });
      }
    }
  }
  return edges;
}

/** The .ts files under `dir` (relative to `root`), skipping declaration files. */
async function tsFiles(root: string, dir: string): Promise<string[]> {
  const found: string[] = [];
  for await (const e of Deno.readDir(`${root}/${dir}`)) {
    const path = `${dir}/${e.name}`;
    if (e.isDirectory) found.push(...await tsFiles(root, path));
    else if (path.endsWith(".ts") && !path.endsWith(".d.ts")) found.push(path);
  }
  return found.sort();
}

Deno.test("checkLayers() finds no import of a higher layer in lib/", async () => {
  const { files, edges } = await importGraph();
  const unplaced = files.filter((f) => !placeOf(LAYERS, f));
  assertEquals(unplaced, [], "files in no layer: add their folder to LAYERS");
  const key = (p: string) => p.split(":")[0] + " -> " + p.split(" imports ")[1].split(":")[0];
  const problems = checkLayers(LAYERS, edges);
  const unexpected = problems.filter((p) => !ALLOWED.includes(key(p)));
  assertEquals(unexpected, [], "imports that break the layer order");
  const stale = ALLOWED.filter((a) => !problems.some((p) => key(p) === a));
  assertEquals(stale, [], "ALLOWED entries that no longer occur: delete them");
});

Deno.test("checkLayers() names file, line, import and both layers of a violation", () => {
  const edges: Edge[] = [
    { from: "lib/config/load.ts", to: "lib/rng.ts", line: 3 }, // down: fine
    { from: "lib/eval/a.ts", to: "lib/eval/b.ts", line: 4 }, // same layer: fine
    { from: "lib/eval/a.ts", to: "npm:zod", line: 5 }, // outside: ignored
    { from: "lib/model/g.ts", to: "lib/train/loop.ts", line: 7 },
    { from: "lib/channel/c.ts", to: "lib/backend/init.ts", line: 8 },
    { from: "lib/channel/c.ts", to: "lib/model/g.ts", line: 9 },
    { from: "lib/extra/x.ts", to: "lib/rng.ts", line: 1 },
  ];
  assertEquals(checkLayers(LAYERS, edges), [
    'lib/model/g.ts:7 imports lib/train/loop.ts: layer "model" imports the higher layer "train"',
    'lib/channel/c.ts:8 imports lib/backend/init.ts: layer "channel" must not import layer "backend"',
    'lib/channel/c.ts:9 imports lib/model/g.ts: sibling layers "channel" and "model"',
    "lib/extra/x.ts is in no layer: add its folder to LAYERS in tests/layers_test.ts",
  ]);
});
