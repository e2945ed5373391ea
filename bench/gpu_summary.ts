/**
 * Turns the files bench/gpu-check.sh collected into summary.md and
 * summary.json in the same folder, and prints the Markdown.
 *
 *   deno run -A bench/gpu_summary.ts <results dir> [--gpu 0|1] [--dry 0|1]
 * @module
 */
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { RunResult } from "./_measure.ts";

type Json = Record<string, unknown>;

async function readJson(file: string): Promise<Json | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(file));
  } catch {
    return undefined;
  }
}

async function readText(file: string): Promise<string> {
  try {
    return await Deno.readTextFile(file);
  } catch {
    return "";
  }
}

/** Peak GPU memory in use (MiB) per stage, from gpu-memory.csv and stages.tsv. */
async function memoryPeaks(dir: string): Promise<Record<string, number> | undefined> {
  const samples = (await readText(join(dir, "gpu-memory.csv"))).trim().split("\n")
    .map((l) => l.split(",").map(Number)).filter((r) => r.length >= 2 && !isNaN(r[1]));
  if (!samples.length) return undefined;
  const stages = (await readText(join(dir, "stages.tsv"))).trim().split("\n")
    .map((l) => l.split("\t")).map(([t, name]) => ({ t: Number(t), name }));
  const peaks: Record<string, number> = { idle: samples[0][1] };
  for (let i = 0; i < stages.length; i++) {
    const from = stages[i].t, to = stages[i + 1]?.t ?? Infinity;
    const inside = samples.filter((s) => s[0] >= from && s[0] < to).map((s) => s[1]);
    if (inside.length) peaks[stages[i].name] = Math.max(...inside);
  }
  peaks.total = samples[0][2];
  return peaks;
}

/** The auto check: on a GPU, webgpu on a non-software adapter, named in the manifest. */
export function autoCheck(manifest: Json | undefined, gpu: boolean) {
  const backend = manifest?.backend as Json | undefined;
  if (!backend) return { pass: false, text: "FAIL: no manifest from the auto run (auto.log)" };
  const what = `${backend.name} on ${backend.device}${backend.fallback ? " (software)" : ""}`;
  const pass = gpu ? backend.name === "webgpu" && !backend.fallback : backend.name !== "webgpu";
  const expected = gpu ? "webgpu on the GPU" : "a CPU backend (no GPU)";
  return {
    pass,
    text: `${pass ? "PASS" : "FAIL"}: auto chose ${what}; expected ${expected}. ${
      backend.reason ?? ""
    }`,
  };
}

function benchTable(bench: Json | undefined): string {
  const runs = (bench?.runs ?? []) as (RunResult & { note?: string })[];
  if (!runs.length) return "No benchmark results (bench.log).";
  const torch = new Map(
    runs.filter((r) => r.backend === "pytorch" && r.step_seconds_median).map((r) => [r.config, r]),
  );
  const mib = (b?: number) => b === undefined ? "-" : (b / 2 ** 20).toFixed(0);
  const lines = [
    "| config | backend | device | thr | steps | median s | × PyTorch | GPU MiB | RSS MiB |",
    "|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of runs) {
    if (!r.step_seconds_median) {
      lines.push(`| ${r.config} | ${r.backend} | ${r.note ?? "no result"} | | | | | | |`);
      continue;
    }
    const t = torch.get(r.config)?.step_seconds_median;
    lines.push(
      `| ${r.config} | ${r.backend}${
        r.fallback ? " (software)" : ""
      } | ${r.device} | ${r.threads} | ${r.steps} | ` +
        `${r.step_seconds_median.toFixed(4)} | ${
          t ? (r.step_seconds_median / t).toFixed(2) : "-"
        } | ` +
        `${mib(r.peak_gpu_bytes)} | ${mib(r.peak_rss_bytes)} |`,
    );
  }
  return lines.join("\n");
}

/** What the colour run reached: status, steps, steps/s, level, accuracy, frames. */
async function colorRun(dir: string) {
  const run = join(dir, "color");
  const manifest = await readJson(join(run, "manifest.json"));
  if (!manifest) return undefined;
  const epochs = (await readText(join(run, "metrics.jsonl"))).trim().split("\n").filter(Boolean)
    .map((l) => JSON.parse(l) as Json);
  const log = (await readText(join(run, "train.log"))).trim().split("\n");
  // The last line: "<status> after epoch E, N steps in T".
  const end = log.findLast((l) => / after epoch \d+, \d+ steps in /.test(l)) ?? "";
  const levels = log.filter((l) => l.startsWith("level ")).map((l) => Number(l.split(/→| /)[2]));
  let frames = 0;
  try {
    for await (const _ of Deno.readDir(join(run, "frames"))) frames++;
  } catch { /* no frames yet */ }
  const last = epochs[epochs.length - 1];
  return {
    status: manifest.status,
    backend: (manifest.backend as Json)?.name,
    device: (manifest.backend as Json)?.device,
    end,
    epochs_done: epochs.length,
    steps_per_second: epochs.map((e) => e.steps_per_second),
    level_reached: Math.max(Number(last?.next_level ?? 0), ...levels.filter((l) => !isNaN(l)), 0),
    accuracy: (last?.eval as Json | undefined)?.accuracy,
    frames,
  };
}

async function main(): Promise<void> {
  const { positionals, values } = parseArgs({
    args: Deno.args,
    allowPositionals: true,
    options: { gpu: { type: "string", default: "0" }, dry: { type: "string", default: "0" } },
  });
  const dir = positionals[0];
  if (!dir) throw new TypeError("usage: gpu_summary.ts <results dir> [--gpu 0|1] [--dry 0|1]");
  const gpu = values.gpu === "1";
  const auto = autoCheck(await readJson(join(dir, "auto-manifest.json")), gpu);
  const bench = await readJson(join(dir, "bench.json"));
  const memory = await memoryPeaks(dir);
  const color = await colorRun(dir);
  const summary = {
    gpu,
    dry: values.dry === "1",
    adapter: await readJson(join(dir, "adapter.json")),
    auto,
    bench: bench?.runs,
    gpu_memory_mib: memory,
    color,
  };
  await Deno.writeTextFile(join(dir, "summary.json"), JSON.stringify(summary, null, 2) + "\n");
  const md = [
    `# gpu-check ${dir.split("/").pop()}`,
    "",
    "```",
    (await readText(join(dir, "env.txt"))).trim(),
    "```",
    "",
    `**auto**: ${auto.text}`,
    "",
    "## Training step",
    "",
    benchTable(bench),
    "",
    "## GPU memory in use (MiB, nvidia-smi, peak per stage)",
    "",
    memory ? JSON.stringify(memory) : "No samples (no nvidia-smi).",
    "",
    "## experiments/color.yaml",
    "",
    color
      ? `${color.backend} on ${color.device}: ${color.status}; ${color.end}; epochs done ${color.epochs_done}, ` +
        `steps/s per epoch [${
          color.steps_per_second.map((s) => Number(s).toFixed(2)).join(", ")
        }], ` +
        `level reached ${color.level_reached}, last held-out accuracy ${
          color.accuracy ?? "-"
        }, ${color.frames} frames`
      : (await readText(join(dir, "color.log")))
      ? "The colour run made no run folder (color.log)."
      : "Skipped: no colour run was started (env.txt says why).",
    "",
  ].join("\n");
  await Deno.writeTextFile(join(dir, "summary.md"), md);
  console.log(md);
}

if (import.meta.main) await main();
