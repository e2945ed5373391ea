/**
 * Times the full training step (`trainStep`: D on glyphs, D on negatives,
 * G through the channel and D) per backend and config, against PyTorch.
 *
 *   deno task bench [--config tiny|small|default|all] [--backend NAME|all]
 *                   [--steps N] [--threads N] [--level L] [--timeout S] [--force]
 *   deno task bench --config tiny --backend wasm --json   # one run, in this process
 *
 * Without `--json`, each (config, backend) runs in its own subprocess (so
 * memory and backend state are isolated), then bench/torch_ref.py runs the
 * same step in PyTorch; a table is printed and bench/results/<stamp>.json written.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import process from "node:process";
import { parseArgs } from "node:util";
import { type BackendInfo, initBackend } from "../lib/backend/init.ts";
import { type Experiment, experimentSchema } from "../lib/config/schema.ts";
import { buildDiscriminator } from "../lib/model/discriminator.ts";
import { buildGenerator, type GeneratorSpec } from "../lib/model/generator.ts";
import { Adam } from "../lib/train/adam.ts";
import { networkSpec } from "../lib/train/loop.ts";
import { Rng } from "../lib/train/rng.ts";
import { type TrainState, trainStep } from "../lib/train/step.ts";

/** The benchmark's model sizes (shared/DESIGN.md, "Backends"). */
export const BENCH_CONFIGS = {
  tiny: { symbols: 26, size: 16, color: "grayscale", filters: 8, batch: 32, steps: 20 },
  small: { symbols: 64, size: 32, color: "rgb", filters: 8, batch: 64, steps: 10 },
  default: { symbols: 128, size: 64, color: "rgb", filters: 16, batch: 128, steps: 3 },
} as const;

/** A config name of {@link BENCH_CONFIGS}. */
export type BenchConfigName = keyof typeof BENCH_CONFIGS;

/** Channel level the step runs at: every op active, none at its extreme. */
export const BENCH_LEVEL = 5;

/** The resolved experiment of a bench config (seed 1, all channel ops and extras). */
export function benchExperiment(name: BenchConfigName, batch?: number): Experiment {
  const c = BENCH_CONFIGS[name];
  return experimentSchema.parse({
    seed: 1,
    message: { type: "one-hot", size: c.symbols },
    image: { size: c.size, color: c.color },
    model: { filters: c.filters },
    training: { batch_size: batch ?? c.batch },
  });
}

/** Fresh G, D, negative G and optimizers for `config`, as the training loop builds them. */
export function buildTrainState(config: Experiment, level: number): TrainState {
  const spec = networkSpec(config);
  const init = new Rng(config.seed);
  const g = buildGenerator(spec, init);
  const d = buildDiscriminator(spec, init);
  const o = config.training.optimizer;
  return {
    config,
    g,
    d,
    randomG: buildGenerator(spec, init),
    gOpt: new Adam(g.variables, o),
    dOpt: new Adam(d.variables, o),
    rng: init.fork(),
    level,
    step: 0,
  };
}

/** Multiply-adds of one forward pass per sample: [G, D]. Convs and the dense layer only. */
export function forwardMacs(spec: GeneratorSpec): [number, number] {
  const r = Math.log2(spec.imageSize);
  const v = spec.messageLength;
  let f = spec.filters * 2 ** r;
  let g = v * f; // stem: 1×1 at 1×1
  for (let i = 1, s = 1; i <= r; i++, s *= 2) {
    g += s * s * 9 * f * (f / 2); // stride-2 transposed 3×3: every input pixel × 9 taps
    g += (2 * s) ** 2 * (f / 2) ** 2; // 1×1 at the doubled size
    f /= 2;
  }
  g += spec.imageSize ** 2 * 9 * f * spec.channels;
  let ch = 2 * spec.filters;
  let d = spec.imageSize ** 2 * 9 * spec.channels * ch;
  for (let i = 1, s = spec.imageSize / 2, out = ch; i <= r; i++, s /= 2, out *= 2) {
    d += s * s * 9 * ch * out + s * s * out * out;
    ch = out;
  }
  d += ch * (v + 1);
  return [g, d];
}

/**
 * FLOPs of one training step (2 per multiply-add), counting backward as 2×
 * forward (input and weight gradients): (a) G forward + D fwd+bwd;
 * (b) negative G forward on every other step + D fwd+bwd; (c) G fwd+bwd and
 * D fwd + input gradient only. Total = (4.5·G + 8·D) forward passes.
 */
export function stepFlops(config: Experiment): number {
  const [g, d] = forwardMacs(networkSpec(config));
  return 2 * config.training.batch_size * (4.5 * g + 8 * d);
}

/** What one in-process run reports (the `--json` line). */
export interface RunResult {
  config: BenchConfigName;
  backend: string;
  device: string;
  threads: number;
  fallback: boolean;
  batch: number;
  level: number;
  warmup: number;
  steps: number;
  step_seconds_median: number;
  step_seconds: number[];
  /** Process CPU time (all threads) per measured step: steadier than wall time on a busy machine. */
  cpu_seconds_per_step: number;
  /** The machine's 1-minute load average when the run ended (2 = both cores busy here). */
  loadavg: number;
  peak_rss_bytes: number;
  gflop_per_step: number;
  gflops: number;
  /** Losses of the first step [d_real, d_fake, g], to compare backends. */
  first_losses: number[];
  deno: string;
  tfjs: string;
}

/** Median of a non-empty list. */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** The 1-minute load average, or NaN off Linux. */
function loadavg(): number {
  try {
    return Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0]);
  } catch {
    return NaN;
  }
}

/** Peak resident memory of this process: VmHWM on Linux, else the largest sample. */
function peakRss(sampled: number): number {
  try {
    const m = Deno.readTextFileSync("/proc/self/status").match(/^VmHWM:\s+(\d+) kB/m);
    if (m) return Math.max(Number(m[1]) * 1024, sampled);
  } catch { /* not Linux */ }
  return sampled;
}

/**
 * Runs `warmup` + up to `steps` training steps of one config on the current
 * backend; stops early (after at least 3) once `budgetSeconds` is spent.
 */
export async function measure(
  name: BenchConfigName,
  info: BackendInfo,
  opts: { steps: number; warmup: number; level: number; budgetSeconds: number; batch?: number },
): Promise<RunResult> {
  const config = benchExperiment(name, opts.batch);
  const state = buildTrainState(config, opts.level);
  const times: number[] = [];
  let rss = Deno.memoryUsage().rss, first: number[] = [];
  const began = performance.now();
  let cpu = 0;
  for (let i = 0; i < opts.warmup + opts.steps; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    const losses = trainStep(state);
    // Reading the losses waits for the backend (webgpu queues work).
    const values = [
      (await losses.dReal.data())[0],
      (await losses.dFake.data())[0],
      (await losses.g.data())[0],
    ];
    tf.dispose([losses.dReal, losses.dFake, losses.g]);
    const seconds = (performance.now() - t0) / 1000;
    if (i === 0) first = values;
    if (i >= opts.warmup) {
      times.push(seconds);
      const c = process.cpuUsage(c0);
      cpu += (c.user + c.system) / 1e6;
    }
    rss = Math.max(rss, Deno.memoryUsage().rss);
    const spent = (performance.now() - began) / 1000;
    if (times.length >= 3 && spent > opts.budgetSeconds) break;
  }
  const med = median(times);
  const flops = stepFlops(config);
  return {
    config: name,
    backend: info.name,
    device: info.device,
    threads: info.threads,
    fallback: info.fallback ?? false,
    batch: config.training.batch_size,
    level: opts.level,
    warmup: opts.warmup,
    steps: times.length,
    step_seconds_median: med,
    step_seconds: times,
    cpu_seconds_per_step: cpu / times.length,
    loadavg: loadavg(),
    peak_rss_bytes: peakRss(rss),
    gflop_per_step: flops / 1e9,
    gflops: flops / 1e9 / med,
    first_losses: first,
    deno: Deno.version.deno,
    tfjs: tf.version_core,
  };
}

const USAGE = "usage: deno task bench [--config tiny|small|default|all] [--backend NAME|all] " +
  "[--steps N] [--threads N] [--level L] [--timeout S] [--force] [--json]";

/** Parses the command line; exits with a message on a mistake. */
function parse(args: string[]) {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: "string", default: "all" },
        backend: { type: "string", default: "all" },
        steps: { type: "string" },
        threads: { type: "string", default: Deno.env.get("GLYPHNET_THREADS") ?? "1" },
        level: { type: "string", default: String(BENCH_LEVEL) },
        timeout: { type: "string", default: "600" },
        budget: { type: "string", default: "60" },
        batch: { type: "string" },
        "torch-device": { type: "string", default: "cpu" },
        force: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        help: { type: "boolean", default: false },
      },
    }));
  } catch (e) {
    fail(`${(e as Error).message}\n${USAGE}`);
  }
  if (values.help) {
    console.log(USAGE);
    Deno.exit(0);
  }
  const configs = values.config === "all"
    ? Object.keys(BENCH_CONFIGS) as BenchConfigName[]
    : values.config.split(",") as BenchConfigName[];
  for (const c of configs) {
    if (!(c in BENCH_CONFIGS)) {
      fail(`Cannot bench config "${c}": choose tiny, small, default or all`);
    }
  }
  const int = (flag: string, v: string | undefined, min: number) => {
    if (v === undefined) return undefined;
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) {
      fail(`Cannot bench: --${flag} must be an integer ≥ ${min}, got "${v}"`);
    }
    return n;
  };
  return {
    configs,
    backends: values.backend,
    steps: int("steps", values.steps, 1),
    threads: int("threads", values.threads, 1)!,
    level: int("level", values.level, 0)!,
    timeout: int("timeout", values.timeout, 1)!,
    budget: int("budget", values.budget, 1)!,
    batch: int("batch", values.batch, 1),
    torchDevice: values["torch-device"],
    force: values.force,
    json: values.json,
  };
}

type BenchOptions = ReturnType<typeof parse>;

function fail(message: string): never {
  console.error(message);
  Deno.exit(2);
}

async function main(): Promise<void> {
  const opts = parse(Deno.args);
  if (!opts.json) return await orchestrate(opts);
  if (opts.configs.length !== 1 || opts.backends === "all" || opts.backends.includes(",")) {
    fail("Cannot bench with --json: name one --config and one --backend (the subprocess form)");
  }
  Deno.env.set("GLYPHNET_THREADS", String(opts.threads));
  let info: BackendInfo;
  try {
    info = await initBackend(opts.backends);
  } catch (e) {
    fail((e as Error).message);
  }
  const name = opts.configs[0];
  const result = await measure(name, info, {
    steps: opts.steps ?? BENCH_CONFIGS[name].steps,
    warmup: name === "default" ? 1 : 2,
    level: opts.level,
    budgetSeconds: opts.budget,
    batch: opts.batch,
  });
  console.log(JSON.stringify(result));
}

// ---- orchestration: one subprocess per run, PyTorch beside, table and JSON ----

/** Backends `--backend all` runs, fastest first as `auto` tries them. */
const ALL_BACKENDS = ["tensorflow", "webgpu", "native", "wasm", "cpu"];

/** A run that did not produce numbers, and why. */
interface Skipped {
  config: BenchConfigName;
  backend: string;
  note: string;
}

type Row = RunResult | Skipped;

/** True when WebGPU here is absent or a software adapter (checked without starting tfjs). */
async function softwareGpu(): Promise<boolean> {
  const gpu = (navigator as Navigator & { gpu?: GPU }).gpu;
  const adapter = await gpu?.requestAdapter({ powerPreference: "high-performance" });
  return !adapter || adapter.info.isFallbackAdapter;
}

/** Why a (config, backend) pair is not run by default, or undefined. */
function skipReason(
  config: BenchConfigName,
  backend: string,
  softGpu: boolean,
): string | undefined {
  if (config === "tiny") return undefined;
  if (backend === "cpu") {
    return `skipped: pure-JS cpu takes ${
      config === "small" ? "minutes" : "> 5 min"
    } a step here (--force runs it)`;
  }
  if (config !== "default") return undefined;
  if (backend === "webgpu" && softGpu) {
    return "skipped: software WebGPU adapter takes > 5 min a step (--force runs it)";
  }
  if (backend === "wasm") {
    return "skipped: the wasm heap is capped at 4 GiB and aborts at B=128 (--force tries)";
  }
  return undefined;
}

/** Runs a command with a time limit; returns its last stdout line as JSON, or a note. */
async function runJson(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  timeout: number,
): Promise<{ json?: Record<string, unknown>; note?: string }> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, {
      args,
      env,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(timeout * 1000),
    }).output();
  } catch (e) {
    return { note: `could not start ${cmd}: ${(e as Error).message}` };
  }
  const text = new TextDecoder();
  const lines = text.decode(out.stdout).trim().split("\n");
  if (out.success) {
    try {
      return { json: JSON.parse(lines[lines.length - 1]) };
    } catch { /* fall through to the note */ }
  }
  if (out.signal) return { note: `timed out after ${timeout} s (--timeout)` };
  // The first line of the error says what failed; the rest is hints or a stack.
  const err = text.decode(out.stderr).trim().split("\n")
    .find((l) => /error|cannot/i.test(l)) ?? `exit code ${out.code}`;
  // Up to the first ";": what failed, without the install hints (README has them).
  return { note: `failed: ${err.replace(/^error: (Uncaught )?/, "").split(";")[0].slice(0, 200)}` };
}

/** The Python that has torch: GLYPHNET_PYTHON, else Debian's /usr/bin/python3. */
function python(): string {
  const env = Deno.env.get("GLYPHNET_PYTHON");
  if (env) return env;
  try {
    Deno.statSync("/usr/bin/python3");
    return "/usr/bin/python3";
  } catch {
    return "python3";
  }
}

function common(o: BenchOptions, config: BenchConfigName): string[] {
  const args = ["--config", config, "--threads", String(o.threads), "--level", String(o.level)];
  if (o.steps) args.push("--steps", String(o.steps));
  if (o.batch) args.push("--batch", String(o.batch));
  return args;
}

async function runOne(o: BenchOptions, config: BenchConfigName, backend: string): Promise<Row> {
  const here = new URL(".", import.meta.url);
  // NO_COLOR keeps error lines plain for the notes.
  const env = { GLYPHNET_THREADS: String(o.threads), OPENBLAS_THREAD_TIMEOUT: "1", NO_COLOR: "1" };
  const r = backend === "pytorch"
    ? await runJson(
      python(),
      [
        new URL("torch_ref.py", here).pathname,
        ...common(o, config),
        "--device",
        o.torchDevice,
        "--json",
      ],
      env,
      o.timeout,
    )
    : await runJson(
      Deno.execPath(),
      [
        "run",
        "--allow-all",
        "--v8-flags=--max-old-space-size=16384",
        "--config",
        new URL("../deno.json", here).pathname,
        new URL("bench.ts", here).pathname,
        ...common(o, config),
        "--backend",
        backend,
        "--budget",
        String(o.budget),
        "--json",
      ],
      env,
      o.timeout,
    );
  return r.json ? r.json as unknown as RunResult : { config, backend, note: r.note! };
}

function table(rows: Row[]): string {
  const torch = new Map<string, RunResult>();
  for (const r of rows) {
    if ("step_seconds_median" in r && r.backend === "pytorch") torch.set(r.config, r);
  }
  const head = ["config", "backend", "thr", "steps", "median s", "× PyTorch", "CPU s/step"];
  head.push("× PyTorch CPU", "GFLOP/s", "peak RSS MiB", "load");
  const lines = [head];
  const notes: string[] = [];
  for (const r of rows) {
    if (!("step_seconds_median" in r)) {
      notes.push(`${r.config}/${r.backend}: ${r.note}`);
      lines.push([r.config, r.backend, ...head.slice(2).map(() => "-")]);
      continue;
    }
    const t = torch.get(r.config);
    const ratio = (a: number, b?: number) => b ? (a / b).toFixed(2) : "-";
    lines.push([
      r.config,
      r.backend + (r.fallback ? " (software)" : ""),
      String(r.threads),
      String(r.steps),
      r.step_seconds_median.toFixed(3),
      ratio(r.step_seconds_median, t?.step_seconds_median),
      r.cpu_seconds_per_step.toFixed(3),
      ratio(r.cpu_seconds_per_step, t?.cpu_seconds_per_step),
      r.gflops.toFixed(2),
      (r.peak_rss_bytes / 2 ** 20).toFixed(0),
      r.loadavg.toFixed(1),
    ]);
  }
  const widths = head.map((_, i) => Math.max(...lines.map((l) => l[i].length)));
  const fmt = (l: string[]) => `| ${l.map((c, i) => c.padEnd(widths[i])).join(" | ")} |`;
  return [
    fmt(lines[0]),
    `|${widths.map((w) => "-".repeat(w + 2)).join("|")}|`,
    ...lines.slice(1).map(fmt),
    ...notes.map((n) => `- ${n}`),
  ].join("\n");
}

/** Runs every requested (config, backend) pair in subprocesses, prints and saves the results. */
async function orchestrate(o: BenchOptions): Promise<void> {
  const backends = o.backends === "all" ? ALL_BACKENDS : o.backends.split(",");
  const softGpu = await softwareGpu();
  const rows: Row[] = [];
  for (const config of o.configs) {
    for (const backend of ["pytorch", ...backends]) {
      const skip = o.force ? undefined : skipReason(config, backend, softGpu);
      console.error(`bench: ${config} on ${backend}${skip ? ` (${skip})` : ""} ...`);
      const row = skip ? { config, backend, note: skip } : await runOne(o, config, backend);
      if ("note" in row) console.error(`  ${row.note}`);
      else console.error(`  ${row.step_seconds_median.toFixed(3)} s/step (${row.steps} steps)`);
      rows.push(row);
    }
  }
  console.log(table(rows));
  const stamp = new Date().toISOString().replace(/:/g, "-").replace(/\.\d+Z$/, "Z");
  const dir = new URL("results/", import.meta.url);
  await Deno.mkdir(dir, { recursive: true });
  const file = new URL(`${stamp}.json`, dir);
  const saved = {
    date: new Date().toISOString(),
    command: `deno task bench ${Deno.args.join(" ")}`.trim(),
    machine: { cores: navigator.hardwareConcurrency, os: Deno.build.os, arch: Deno.build.arch },
    level: o.level,
    threads: o.threads,
    runs: rows,
  };
  await Deno.writeTextFile(file, JSON.stringify(saved, null, 2) + "\n");
  console.log(`\nwrote ${file.pathname}`);
}

if (import.meta.main) await main();
