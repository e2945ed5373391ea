import { readCheckpoint, readRun } from "../lib/run/reader.ts";
import { assert, assertEquals, assertMatch } from "./_assert.ts";

const TINY = `
message: { type: one-hot, size: 4 }
image: { size: 8, color: grayscale }
model: { filters: 2 }
training: { backend: cpu, batch_size: 8, epochs: 1000, steps_per_epoch: 5 }
eval: { samples: 8, matrix_samples: 8, matrix_levels: 2, glyph_samples: 8 }
`;

async function cli(
  args: string[],
  opts: { signalAfter?: RegExp; cwd?: string; killAfterMs?: number } = {},
) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("../main.ts", import.meta.url).pathname, ...args],
    stdout: "piped",
    stderr: "piped",
    stdin: "null",
    cwd: opts.cwd,
  }).spawn();
  let stderr = "";
  const reader = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const readAll = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      stderr += value;
      if (opts.signalAfter?.test(stderr)) {
        opts.signalAfter = undefined;
        child.kill("SIGINT");
      }
    }
  })();
  // A run that ignores Ctrl-C fails the test instead of hanging it.
  const killer = opts.killAfterMs ? setTimeout(() => child.kill("SIGKILL"), opts.killAfterMs) : 0;
  const [status, stdout] = await Promise.all([child.status, new Response(child.stdout).text()]);
  clearTimeout(killer);
  await readAll;
  return { code: status.code, stdout, stderr };
}

Deno.test("main.ts run refuses a bad experiment with exit 2, no stack trace, nothing written", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/bad.yaml`, "training:\n  epochs: -1\n");
  const { code, stderr } = await cli(["run", `${dir}/bad.yaml`, "--runs", `${dir}/runs`]);
  assertEquals(code, 2);
  assertMatch(stderr, /bad\.yaml:2:11: training\.epochs must be at least 1, got -1/);
  assert(!/\bat .*\.ts:\d+/.test(stderr), "no stack trace");
  assert(!(await exists(`${dir}/runs`)), "no run folder");
  await Deno.remove(dir, { recursive: true });
});

Deno.test("main.ts refuses unknown commands, flags and backends with exit 2", async () => {
  assertEquals((await cli(["frobnicate"])).code, 2);
  assertEquals((await cli(["run", "experiments/quick.yaml", "--nope"])).code, 2);
  const r = await cli([
    "run",
    "experiments/quick.yaml",
    "--backend",
    "cuda",
    "--runs",
    "/nonexistent/x",
  ]);
  assertEquals(r.code, 2);
  assertMatch(r.stderr, /training\.backend is "cuda"/);
});

Deno.test("main.ts run stops on Ctrl-C after the current step: exit 130, run marked interrupted", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/tiny.yaml`, TINY);
  const { code, stderr } = await cli(["run", `${dir}/tiny.yaml`, "--runs", `${dir}/runs`], {
    signalAfter: /epoch 1\/1000/,
  });
  assertEquals(code, 130, stderr);
  const runs = [];
  for await (const e of Deno.readDir(`${dir}/runs`)) runs.push(e.name);
  assertEquals(runs.length, 1);
  const run = await readRun(`${dir}/runs/${runs[0]}`);
  assertEquals(run.manifest.status, "interrupted");
  assert(run.metrics.length >= 1);
  assert(await exists(`${dir}/runs/${runs[0]}/checkpoints/last.safetensors`));
  assertMatch(await Deno.readTextFile(`${dir}/runs/${runs[0]}/train.log`), /epoch 1\/1000/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("main.ts run stops on Ctrl-C within a long epoch, not at its end", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(
    `${dir}/long.yaml`,
    TINY.replace("steps_per_epoch: 5", "steps_per_epoch: 100000"),
  );
  const { code, stderr } = await cli(["run", `${dir}/long.yaml`, "--runs", `${dir}/runs`], {
    signalAfter: /start: /,
    killAfterMs: 60_000,
  });
  assertEquals(code, 130, stderr);
  const [run] = await Array.fromAsync(Deno.readDir(`${dir}/runs`));
  const snap = await readCheckpoint(`${dir}/runs/${run.name}`);
  assertEquals(snap.meta.epoch, 1);
  assert(snap.meta.step_in_epoch >= 1 && snap.meta.step_in_epoch < 100000, stderr);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("main.ts schema writes a JSON Schema", async () => {
  const dir = await Deno.makeTempDir();
  const { code } = await cli(["schema", "--out", `${dir}/s.json`]);
  assertEquals(code, 0);
  const schema = JSON.parse(await Deno.readTextFile(`${dir}/s.json`));
  assertEquals(schema.type, "object");
  assert(schema.properties.training);
  await Deno.remove(dir, { recursive: true });
});

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}
