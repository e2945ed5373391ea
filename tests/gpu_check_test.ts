/**
 * bench/gpu-check.sh's pieces that run without a GPU: the summary it
 * writes from collected files, and the script's syntax. (The whole script:
 * `bash bench/gpu-check.sh --dry`, minutes; see bench/README.md.)
 */
import { join } from "node:path";
import { autoCheck } from "../bench/gpu_summary.ts";
import { assert, assertEquals } from "./_assert.ts";

Deno.test("autoCheck() passes webgpu on a hardware adapter only where there is a GPU", () => {
  const manifest = (name: string, fallback: boolean) => ({
    backend: { name, device: "NVIDIA H200", fallback, reason: "auto: ..." },
  });
  assert(autoCheck(manifest("webgpu", false), true).pass);
  assert(!autoCheck(manifest("webgpu", true), true).pass, "a software adapter fails");
  assert(!autoCheck(manifest("native", false), true).pass, "native on a GPU machine fails");
  assert(autoCheck(manifest("native", false), false).pass, "no GPU: a CPU backend passes");
  assert(autoCheck(undefined, true).text.startsWith("FAIL: no manifest"));
});

Deno.test("gpu_summary.ts writes summary.md and summary.json from what gpu-check collected", async () => {
  const dir = await Deno.makeTempDir();
  const write = (name: string, text: string) => Deno.writeTextFile(join(dir, name), text);
  await Deno.mkdir(join(dir, "color", "frames"), { recursive: true });
  await write("env.txt", "gpu-check: GPU: NVIDIA H200\n");
  await write("adapter.json", JSON.stringify({ available: true, fallback: false }));
  await write(
    "auto-manifest.json",
    JSON.stringify({ backend: { name: "webgpu", device: "NVIDIA H200", fallback: false } }),
  );
  const row = (backend: string, s: number) => ({
    config: "tiny",
    backend,
    device: "d",
    threads: 1,
    steps: 3,
    step_seconds_median: s,
    peak_rss_bytes: 2 ** 20,
    peak_gpu_bytes: 3 * 2 ** 20,
  });
  await write("bench.json", JSON.stringify({ runs: [row("pytorch", 0.01), row("webgpu", 0.02)] }));
  await write("stages.tsv", "100\tenv\n110\tbench\n120\tcolor\n");
  await write("gpu-memory.csv", "101,500,80000,0\n111,900,80000,50\n121,4000,80000,90\n");
  await write(
    "color/manifest.json",
    JSON.stringify({ status: "interrupted", backend: { name: "webgpu" } }),
  );
  await write(
    "color/metrics.jsonl",
    JSON.stringify({ epoch: 1, next_level: 2, steps_per_second: 7.5, eval: { accuracy: 0.9 } }) +
      "\n",
  );
  await write(
    "color/train.log",
    "level 0→1 at step 100\nlevel 1→2 at step 200\ninterrupted after epoch 2, 300 steps in 40s\n",
  );
  await write("color/frames/epoch-0001.png", "");
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("../bench/gpu_summary.ts", import.meta.url).pathname,
      dir,
      "--gpu",
      "1",
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
  const summary = JSON.parse(await Deno.readTextFile(join(dir, "summary.json")));
  assert(summary.auto.pass);
  assertEquals(summary.gpu_memory_mib, {
    idle: 500,
    env: 500,
    bench: 900,
    color: 4000,
    total: 80000,
  });
  assertEquals(summary.color.level_reached, 2);
  assertEquals(summary.color.epochs_done, 1);
  assertEquals(summary.color.frames, 1);
  const md = await Deno.readTextFile(join(dir, "summary.md"));
  assert(md.includes("| tiny | webgpu | d | 1 | 3 | 0.0200 | 2.00 | 3 | 1 |"), md);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("bench/gpu-check.sh parses (bash -n)", async () => {
  const script = new URL("../bench/gpu-check.sh", import.meta.url).pathname;
  const out = await new Deno.Command("bash", { args: ["-n", script], stderr: "piped" }).output();
  assert(out.success, new TextDecoder().decode(out.stderr));
});
