import { loadSweep } from "../lib/config/sweep.ts";
import { ConfigError } from "../lib/config/load.ts";
import { claim, release } from "../lib/fs.ts";
import { readRunBrief } from "../lib/run/brief.ts";
import { makePlan, shardOf } from "../lib/tools/sweep/plan.ts";
import { resolveShard } from "../lib/tools/sweep/shard.ts";
import { assert, assertEquals, assertMatch } from "./_assert.ts";

const TINY = `
message: { type: one-hot, size: 4 }
image: { size: 8, color: grayscale }
model: { filters: 2 }
training: { backend: cpu, batch_size: 8, epochs: 1, steps_per_epoch: 2 }
eval: { samples: 8, matrix_samples: 8, matrix_levels: 1, glyph_samples: 8 }
`;

async function sweepDir(sweep: string): Promise<string> {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/tiny.yaml`, TINY);
  await Deno.writeTextFile(`${dir}/s.yaml`, sweep);
  return dir;
}

async function loadError(text: string): Promise<string> {
  const dir = await sweepDir(text);
  try {
    await loadSweep(`${dir}/s.yaml`);
  } catch (e) {
    assert(e instanceof ConfigError, String(e));
    return e.message;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  throw new Error("expected a ConfigError");
}

Deno.test("loadSweep() refuses mistakes with file:line:col, key path and did-you-mean", async () => {
  assertMatch(
    await loadError("base: tiny.yaml\ngird: { seed: [1] }\n"),
    /s\.yaml:1:1: unknown key "gird"; did you mean "grid"\?/,
  );
  assertMatch(
    await loadError("base: tiny.yaml\ngrid:\n  training.epohcs: [1, 2]\n"),
    /s\.yaml:3:20: unknown experiment key "training\.epohcs"; did you mean "training\.epochs"\?/,
  );
  assertMatch(
    await loadError("base: tiny.yaml\ngrid:\n  training.epochs: [1, -2]\n"),
    /s\.yaml:3:20: point 2 \(training\.epochs=-2\): training\.epochs must be at least 1, got -2/,
  );
  assertMatch(await loadError("base: nope.yaml\n"), /s\.yaml:1:7: cannot read ".*nope\.yaml"/);
});

Deno.test("loadSweep() locates refusals of the document itself, and counts points before making them", async () => {
  assertMatch(await loadError(""), /s\.yaml:1:1: the file is empty/);
  assertMatch(await loadError("- base\n"), /s\.yaml:1:1: the top level must be a mapping/);
  assertMatch(await loadError("base: *a\n"), /s\.yaml:1:7: Unresolved alias/);
  assertMatch(await loadError("base: t\0\n"), /s\.yaml:1:8: the file contains NUL bytes/);
  const big = Array.from({ length: 600 }, (_, i) => i).join(", ");
  const started = performance.now();
  assertMatch(
    await loadError(`base: tiny.yaml\ngrid: { seed: [${big}], model.filters: [${big}] }\n`),
    /s\.yaml:1:1: 360000 points is over the limit of 100000/,
  );
  assert(performance.now() - started < 1000, "refused before expanding");
  assertMatch(
    await loadError("base: s.yaml\n"), // a base that is itself refused
    /s\.yaml:1:7: .*s\.yaml:1:1: unknown key "base"/,
  );
});

Deno.test("loadSweep() expands grid, list, random and seeds in a stable order with stable ids", async () => {
  const dir = await sweepDir(`
base: tiny.yaml
grid: { model.filters: [2, 3], training.batch_size: [4, 8] }
list: [{ model.filters: 5 }]
random: { samples: 2, seed: 3, space: { training.optimizer.learning_rate: { log_uniform: [1.0e-4, 1.0e-2] } } }
seeds: [1, 2]
`);
  const sweep = await loadSweep(`${dir}/s.yaml`);
  assertEquals(sweep.points.length, 14);
  assertEquals(sweep.points.slice(0, 4).map((p) => p.overrides), [
    { "model.filters": 2, "training.batch_size": 4 },
    { "model.filters": 2, "training.batch_size": 8 },
    { "model.filters": 3, "training.batch_size": 4 },
    { "model.filters": 3, "training.batch_size": 8 },
  ]);
  assertEquals(sweep.points.map((p) => p.seed), [...Array(7).fill(1), ...Array(7).fill(2)]);
  const lr = sweep.points[5].config.training.optimizer.learning_rate;
  assert(lr >= 1e-4 && lr <= 1e-2);
  const again = await makePlan(await loadSweep(`${dir}/s.yaml`));
  const first = await makePlan(sweep);
  assertEquals(again.plan.points.map((p) => p.id), first.plan.points.map((p) => p.id));
  assertEquals(new Set(first.plan.points.map((p) => p.id)).size, 14);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("shardOf() slices 1/3, 2/3 and 3/3 partition the plan", async () => {
  const dir = await sweepDir("base: tiny.yaml\ngrid: { model.filters: [2, 3, 4, 5, 6, 7, 8] }\n");
  const { plan } = await makePlan(await loadSweep(`${dir}/s.yaml`));
  const shards = ["1/3", "2/3", "3/3"].map((s) => resolveShard({ shard: s }, {})!);
  const slices = shards.map((s) => shardOf(plan.points, s.index, s.count).map((p) => p.id));
  const all = slices.flat();
  assertEquals(all.length, plan.points.length);
  assertEquals(new Set(all).size, plan.points.length);
  assert(slices.every((s) => s.length >= 2));
  const slurm = resolveShard({}, {
    SLURM_ARRAY_TASK_ID: "7",
    SLURM_ARRAY_TASK_COUNT: "8",
    SLURM_ARRAY_TASK_MIN: "0",
  });
  assertEquals([slurm?.index, slurm?.count], [7, 8]);
  const k8s = resolveShard({ shardCount: "4" }, { JOB_COMPLETION_INDEX: "3" });
  assertEquals([k8s?.index, k8s?.count], [3, 4]);
  await Deno.remove(dir, { recursive: true });
});

// The sweep tests start each sweep in its own process group with util-linux's setsid.
const SETSID = (() => {
  try {
    return new Deno.Command("setsid", { args: ["--version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();
if (!SETSID) console.log("skipping the sweep process tests: setsid (util-linux) is missing");

/** Spawns `main.ts sweep` in its own process group (so a test can kill the whole group). */
function sweep(dir: string, extra: string[] = []) {
  return new Deno.Command("setsid", {
    args: [
      Deno.execPath(),
      "run",
      "--allow-read",
      "--allow-write",
      "--allow-env",
      "--allow-sys=hostname",
      "--allow-run=deno",
      new URL("../main.ts", import.meta.url).pathname,
      "sweep",
      `${dir}/s.yaml`,
      "--runs",
      `${dir}/runs`,
      ...extra,
    ],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
  }).spawn();
}

async function finish(child: Deno.ChildProcess) {
  const out = await child.output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/** The run folders of the sweep, by point id. */
async function foldersByPoint(dir: string): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  for await (const e of Deno.readDir(`${dir}/runs`)) {
    const brief = e.isDirectory ? await readRunBrief(`${dir}/runs/${e.name}`) : null;
    const point = brief?.manifest.sweep?.point;
    if (point) out.set(point, [...(out.get(point) ?? []), `${dir}/runs/${e.name}`]);
  }
  return out;
}

Deno.test({
  name: "main.ts sweep: two concurrent invocations run every point exactly once and both finish",
  ignore: !SETSID,
}, async () => {
  const dir = await sweepDir("base: tiny.yaml\ngrid: { model.filters: [2, 3] }\nseeds: [1, 2]\n");
  const [a, b] = await Promise.all([finish(sweep(dir)), finish(sweep(dir))]);
  assertEquals([a.code, b.code], [0, 0], a.stderr + b.stderr);
  const folders = await foldersByPoint(dir);
  assertEquals(folders.size, 4);
  for (const [, dirs] of folders) {
    assertEquals(dirs.length, 1, `one run per point: ${dirs}`);
    const m = (await readRunBrief(dirs[0]))!.manifest;
    assertEquals(m.status, "completed");
    assert(m.pid && m.heartbeat && m.host?.name, "the manifest records pid, host and heartbeat");
    assert(
      !(await Deno.stat(`${dirs[0]}/running.lock`).catch(() => null)),
      "lock removed at the end",
    );
  }
  const summary = JSON.parse(await Deno.readTextFile(`${dir}/runs/sweeps/s/summary.json`));
  assertEquals(summary.counts.completed, 4);
  assertEquals(summary.settings.map((s: { completed: number }) => s.completed), [2, 2]);
  // A third invocation finds nothing to do; --exclusive with nobody else working runs normally.
  const again = await finish(sweep(dir, ["--exclusive"]));
  assertEquals(again.code, 0, again.stderr);
  assertMatch(again.stderr, /ran 0 completed/);
  // While a live process holds a point's claim, --exclusive leaves at once with one line.
  const held = await claim(`${dir}/runs/sweeps/s/claims/other.claim`);
  assert(held);
  const busy = await finish(sweep(dir, ["--exclusive"]));
  assertEquals(busy.code, 0, busy.stderr);
  assertMatch(
    busy.stderr,
    new RegExp(`another invocation \\(pid ${Deno.pid} on .*\\) is working on it`),
  );
  await release(`${dir}/runs/sweeps/s/claims/other.claim`, held);
  await Deno.remove(dir, { recursive: true });
});

Deno.test({
  name:
    "main.ts sweep killed with -9 and started again finishes the rest and resumes the interrupted point",
  ignore: !SETSID,
}, async () => {
  const dir = await sweepDir(
    "base: tiny.yaml\nset: { training.epochs: 2 }\nseeds: [1, 2]\n",
  );
  const first = sweep(dir);
  // Wait until the first point has a checkpoint but has not finished.
  let killed: string | undefined;
  for (let i = 0; i < 600 && !killed; i++) {
    await new Promise((r) => setTimeout(r, 100));
    for (const [, dirs] of await foldersByPoint(dir).catch(() => new Map<string, string[]>())) {
      const lines = await Deno.readTextFile(`${dirs[0]}/metrics.jsonl`).catch(() => "");
      const saved = await Deno.stat(`${dirs[0]}/checkpoints/last.safetensors`).catch(() => null);
      if (saved && lines.trim().split("\n").length === 1) killed = dirs[0];
    }
  }
  assert(killed, "the first point checkpointed its first epoch");
  Deno.kill(-first.pid, "SIGKILL"); // the sweep and its point, like a node that died
  await first.output();
  let status;
  for (let i = 0; i < 50 && status !== "interrupted (stale)"; i++) {
    await new Promise((r) => setTimeout(r, 100)); // until the killed point's process is reaped
    status = (await readRunBrief(killed))?.status;
  }
  assertEquals(status, "interrupted (stale)");
  const second = await finish(sweep(dir, ["--jobs", "2"]));
  assertEquals(second.code, 0, second.stderr);
  assertMatch(second.stderr, new RegExp(`resuming ${killed}`));
  const folders = await foldersByPoint(dir);
  assertEquals(folders.size, 2);
  for (const [, dirs] of folders) {
    assertEquals(dirs.length, 1);
    const brief = await readRunBrief(dirs[0]);
    assertEquals([brief?.status, brief?.manifest.epochs_done], ["completed", 2]);
  }
  const resumed = await readRunBrief(killed);
  assertEquals(resumed?.manifest.resumed_from?.length, 1);
  await Deno.remove(dir, { recursive: true });
});
