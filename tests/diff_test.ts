import { checkGates, diffRuns, formatDiff, parseGate } from "../lib/tools/diff.ts";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { fakeRun } from "./_runs.ts";
import { matrixCell } from "./_metrics.ts";

async function twoRuns() {
  const root = await Deno.makeTempDir();
  const a = await fakeRun(root, "a");
  const b = await fakeRun(root, "b", {
    config: { training: { epochs: 20, batch_size: 32, optimizer: { learning_rate: 0.004 } } },
    summary: {
      level_at_95: 8,
      final: { level: 9, loss_total: 0.6, accuracy: 0.95, bit_accuracy: 0.95 },
      matrix: {
        epoch: 20,
        levels: [0, 1, 2],
        samples: 8,
        seed: 1,
        rows: { channel: [1, 0.99, 0.97].map(matrixCell), blur: [1, 1, 0.6].map(matrixCell) },
      },
    },
  });
  return { root, a, b };
}

Deno.test("diffRuns() of two runs that differ in one key shows exactly that key and metric deltas with directions", async () => {
  const { root, a, b } = await twoRuns();
  const d = await diffRuns([a, b]);
  assertEquals(d.config, [{ key: "training.optimizer.learning_rate", values: [0.002, 0.004] }]);
  assertEquals(d.meta, []);
  const row = (k: string) => d.metrics.find((r) => r.key === k)!;
  assertEquals(row("level_at_95").deltas, [null, 1]);
  assertEquals(row("level_at_95").verdicts, [null, "better"]);
  assertEquals(row("final.accuracy").verdicts, [null, "worse"]);
  assertEquals(row("final.loss_total").direction, "down");
  assertEquals(row("final.loss_total").verdicts, [null, "worse"]);
  assertEquals(row("level_at_99").verdicts, [null, "same"]);
  // channel@2 +7 points better, blur@2 −20 worse; the other cells moved ≤ 5 points.
  assertEquals([d.matrix[0].better, d.matrix[0].worse, d.matrix[0].compared], [1, 1, 6]);
  const text = formatDiff(d, [], "text");
  assertMatch(text, /training\.optimizer\.learning_rate\s+0\.002\s+0\.004/);
  assertMatch(text, /level_at_95 ↑\s+7\s+8 \(\+1 better\)/);
  assert(!/batch_size/.test(text), "unchanged keys are left out");
  assertMatch(formatDiff(await diffRuns([a, b], { all: true }), [], "text"), /batch_size/);
  const md = formatDiff(d, [], "md");
  assertMatch(md, /\| training\.optimizer\.learning_rate \| 0\.002 \| 0\.004 \|/);
  const json = JSON.parse(formatDiff(d, [], "json"));
  assertEquals(json.config.length, 1);
  await Deno.remove(root, { recursive: true });
});

Deno.test("checkGates() bounds deltas (signed numbers) and values (unsigned)", async () => {
  const { root, a, b } = await twoRuns();
  const d = await diffRuns([a, b]);
  const ok = (g: string) => checkGates(d, [parseGate(g)])[0].ok;
  assert(ok("level_at_95 >= -1"));
  assert(ok("level_at_95 >= +1"));
  assert(!ok("level_at_95 >= +2"));
  assert(ok("level_at_95 >= 8"));
  assert(!ok("level_at_95 >= 9"));
  assert(ok("final.accuracy >= -0.02"));
  assert(!ok("final.accuracy >= -0.01"));
  assert(!ok("topographic_similarity >= 0"), "a missing metric trips its gate");
  await Deno.remove(root, { recursive: true });
});

async function cli(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-env", "--allow-sys=hostname", "main.ts", ...args],
    cwd: new URL("..", import.meta.url).pathname,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

Deno.test("main.ts diff gates exit 0 when all hold, 1 when one trips, 2 on a bad gate", async () => {
  const { root, a, b } = await twoRuns();
  const hold = await cli([
    "diff",
    a,
    b,
    "--gate",
    "level_at_95 >= -1",
    "--gate",
    "final.accuracy >= -0.02",
  ]);
  assertEquals(hold.code, 0, hold.stderr);
  const trip = await cli(["diff", a, b, "--md", "--gate", "final.accuracy >= -0.01"]);
  assertEquals(trip.code, 1, trip.stderr);
  assertMatch(trip.stdout, /\| FAIL \| final\.accuracy >= -0\.01 \| B \| -0\.0200 \|/);
  const bad = await cli(["diff", a, b, "--gate", "level_at95 >= 1"]);
  assertEquals(bad.code, 2);
  assertMatch(bad.stderr, /unknown metric "level_at95"; did you mean "level_at_95"\?/);
  assertEquals((await cli(["diff", a])).code, 2);
  await Deno.remove(root, { recursive: true });
});

Deno.test("diffRuns() compares runs of other experiments and older formats", async () => {
  const root = await Deno.makeTempDir();
  const a = await fakeRun(root, "new");
  // An older run: camelCase keys, no matrix, no level_at_95, a backend named by a string.
  const old = await fakeRun(root, "old", {
    manifest: { backend: "wasm", git: null, versions: undefined },
    summary: {
      final: { level: 3, loss_total: 1.5, accuracy: 0.9, bitAccuracy: 0.8 },
      level_at_95: undefined,
      matrix: undefined,
    },
    config: { image: { size: 32 } },
  });
  const d = await diffRuns([a, old]);
  assertEquals(d.runs.map((r) => r.status), ["completed", "completed"]);
  assert(d.config.some((r) => r.key === "image.size"));
  assert(d.meta.some((r) => r.key === "backend.name" && r.values[1] === "wasm"));
  const row = (k: string) => d.metrics.find((r) => r.key === k)!;
  assertEquals(row("final.bit_accuracy").values, [0.97, 0.8]);
  assertEquals(row("level_at_95").values, [7, null]);
  assertEquals(d.matrix[0].compared, 0);
  assertMatch(formatDiff(d, [], "text"), /no matrix to compare/);
  await Deno.remove(root, { recursive: true });
});
