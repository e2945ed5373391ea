// Least privilege: no task gets --allow-all or the network, and the program's
// commands work under exactly their tasks' flags (read from deno.json).
import { readRun } from "../lib/run/reader.ts";
import { pointFlags } from "../lib/tools/sweep/run.ts";
import { backendFlags } from "../bench/_orchestrate.ts";
import { ROOT, runTask, scratchRuns, taskFlags } from "./_cli.ts";
import { assert, assertEquals, assertMatch } from "./_assert.ts";

const TINY = `
seed: 2
message: { type: one-hot, size: 4 }
image: { size: 8, color: grayscale }
model: { filters: 2 }
training: { backend: native, batch_size: 8, epochs: 1, steps_per_epoch: 2 }
eval: { samples: 8, matrix_samples: 8, matrix_levels: 1, glyph_samples: 8 }
output: { grid: 2 }
`;

/** Tasks that run main.ts: their flags are scoped. */
const PROGRAM_TASKS = ["run", "eval", "encode", "decode", "channel"];
/** Tasks that run main.ts without a backend: env by name, nothing else beyond files. */
const READING_TASKS = ["report"];

Deno.test("deno.json: no task has --allow-all or the network beyond loopback; program tasks scope env, FFI and subprocesses", async () => {
  const { tasks } = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  for (const [name, task] of Object.entries(tasks) as [string, { command: string }][]) {
    assert(!/--allow-all|(^|\s)-A(\s|$)|--allow-import/.test(task.command), name);
    // The network only as loopback, for the DevTools connection to a local Chromium.
    for (const net of task.command.match(/--allow-net\S*/g) ?? []) {
      assertEquals(net, "--allow-net=127.0.0.1", name);
    }
  }
  for (const name of PROGRAM_TASKS) {
    const { flags } = await taskFlags(name);
    const flag = (p: string) => flags.filter((f) => f === p || f.startsWith(`${p}=`));
    assertEquals(flag("--allow-ffi"), ["--allow-ffi=build"], `${name}: FFI only to build/`);
    assertEquals(flag("--allow-env").length, 1, `${name}: --allow-env once`);
    assertMatch(flag("--allow-env")[0], /^--allow-env=GLYPHNET_THREADS,/, `${name}: env by name`);
    assertMatch(flag("--allow-run")[0], /^--allow-run=(git,)?cc$/, `${name}: git and cc only`);
    // run: the host's name in the manifest, so a sweep or `runs` tells a dead run at once.
    const sys = name === "run" ? ["--allow-sys=hostname"] : [];
    assertEquals(flag("--allow-sys"), sys, `${name}: system information`);
  }
  for (const name of READING_TASKS) {
    const { flags } = await taskFlags(name);
    assert(flags.every((f) => !/^--allow-(run|ffi|sys|net)/.test(f)), `${name}: ${flags}`);
    assertMatch(flags.find((f) => f.startsWith("--allow-env")) ?? "", /^--allow-env=/, name);
  }
  assertEquals((await taskFlags("run")).flags.filter((f) => f.startsWith("--allow-write")), [
    "--allow-write=runs,build",
  ]);
  const sweep = (await taskFlags("sweep")).flags;
  assertEquals(sweep.filter((f) => f.startsWith("--allow-write")), ["--allow-write=runs"]);
  assertEquals(sweep.filter((f) => f.startsWith("--allow-env")).length, 1, "sweep: env once");
  assertMatch(sweep.find((f) => f.startsWith("--allow-env")) ?? "", /^--allow-env=\w/, "by name");
});

Deno.test("pointFlags() gives a sweep's points exactly the run task's flags, plus a wider runs folder only when the sweep has it", async () => {
  const run = (await taskFlags("run")).flags;
  assertEquals(pointFlags("runs"), run);
  assertEquals(pointFlags("runs/a/../b"), run);
  const elsewhere = pointFlags("/data/runs");
  assertEquals(elsewhere.filter((f) => f.startsWith("--allow-write")), [
    "--allow-write=runs,build,/data/runs",
  ]);
  const others = (flags: string[]) => flags.filter((f) => !f.startsWith("--allow-write"));
  assertEquals(others(elsewhere), others(run));
});

Deno.test("backendFlags() gives the bench's backend processes the run task's flags plus the load average", async () => {
  const run = (await taskFlags("run")).flags;
  const native = backendFlags("native");
  const sys = (flags: string[]) => flags.filter((f) => f.startsWith("--allow-sys"));
  const others = (flags: string[]) => flags.filter((f) => !f.startsWith("--allow-sys"));
  assertEquals(others(native), others(run));
  assertEquals(sys(native), ["--allow-sys=hostname,loadavg"]);
  assertEquals(
    backendFlags("tensorflow").filter((f) => f.startsWith("--allow-ffi")),
    ["--allow-ffi"],
    "the tensorflow addon needs FFI beyond build/",
  );
});

Deno.test("run, eval, encode, decode, channel, report and sweep work under exactly their tasks' flags", async () => {
  const scratch = await scratchRuns("permissions");
  try {
    await Deno.writeTextFile(`${ROOT}/${scratch}/tiny.yaml`, TINY);
    const ran = await runTask("run", [`${scratch}/tiny.yaml`, "--runs", scratch, "--quiet"]);
    assertEquals(ran.code, 0, ran.stderr);
    const dir = /completed: (.*)$/m.exec(ran.stderr)?.[1] ?? "";
    const run = await readRun(`${ROOT}/${dir}`);
    assertEquals(run.manifest.status, "completed");
    assertEquals(run.manifest.backend.name, "native", "FFI to build/ is enough for native");
    assert(run.manifest.git !== null, "git ran for the manifest");
    assert(run.manifest.host.name, "the manifest names the host");

    const png = `${scratch}/a.png`;
    for (
      const [task, args] of [
        ["eval", [dir, "--samples", "8", "--levels", "1"]],
        ["encode", [dir, "a", "--out", png]],
        ["decode", [dir, png]],
        ["channel", [dir, "--out", `${scratch}/sheet.png`, "--samples", "2"]],
        ["report", [dir, "--out", `${scratch}/report.html`]],
      ] as [string, string[]][]
    ) {
      const r = await runTask(task, args);
      assertEquals(r.code, 0, `${task}: ${r.stderr}`);
    }
    assert((await Deno.stat(`${ROOT}/${dir}/eval.json`)).isFile);
    assert((await Deno.stat(`${ROOT}/${scratch}/sheet.png`)).isFile);

    // Writes stay in runs/: another folder is refused before anything runs.
    const outside = await Deno.makeTempDir();
    const refused = await runTask("run", [`${scratch}/tiny.yaml`, "--runs", outside]);
    await Deno.remove(outside, { recursive: true });
    assertEquals(refused.code, 2, refused.stderr);
    assertMatch(refused.stderr, /^error: Cannot write runs to ".*": the task may write only/);

    // A sweep under the sweep task's flags starts its point under the run task's.
    await Deno.writeTextFile(`${ROOT}/${scratch}/s.yaml`, "base: tiny.yaml\nname: perm\n");
    const swept = await runTask("sweep", [`${scratch}/s.yaml`, "--runs", scratch]);
    assertEquals(swept.code, 0, swept.stderr);
    assertMatch(swept.stderr, /ran 1 completed, 0 failed/);
    const elsewhere = await runTask("sweep", [`${scratch}/s.yaml`, "--runs", "/tmp/glyphnet-x"]);
    assertEquals(elsewhere.code, 2, elsewhere.stderr);
    assertMatch(
      elsewhere.stderr,
      /^error: Cannot write the sweep's runs to "\/tmp\/glyphnet-x": the task may write only to runs\/;/,
    );
  } finally {
    await Deno.remove(`${ROOT}/${scratch}`, { recursive: true });
  }
});

Deno.test("deno task bench --out where the task may not write fails before measuring, and says where it may", async () => {
  // bench is not main.ts, so through `deno task` itself rather than runTask.
  const args = ["task", "-q", "bench", "--config", "tiny", "--out", "/tmp/glyphnet-bench.json"];
  const cmd = new Deno.Command(Deno.execPath(), {
    args,
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
  });
  const out = await cmd.output();
  const r = { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
  assertEquals(r.code, 2, r.stderr);
  assertMatch(
    r.stderr,
    /^Cannot bench with --out \/tmp\/glyphnet-bench\.json: .* bench\/results and build/,
  );
  assert(!r.stderr.includes("    at "), r.stderr);
});
