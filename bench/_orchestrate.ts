/**
 * `deno task bench` without `--json`: one subprocess per (config, backend),
 * PyTorch beside them, a table with ratios and bench/results/<stamp>.json.
 * @module
 */
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { type BenchConfigName, type CoreHandoff, type RunResult } from "./_measure.ts";
import { taskFlags } from "../lib/tasks.ts";
import { writeFileAtomic } from "../lib/fs.ts";

/** Parsed `deno task bench` options (bench.ts parses them). */
export interface BenchOptions {
  configs: BenchConfigName[];
  /** "all" or a comma list. */
  backends: string;
  steps?: number;
  threads: number[];
  level: number;
  timeout: number;
  budget: number;
  batch?: number;
  torchDevice: string;
  out?: string;
  force: boolean;
  profile: boolean;
  json: boolean;
  /** Rounds of thread counts taking turns in one process (_interleave.ts). */
  interleave?: number;
}

/** Backends `--backend all` runs, fastest first as `auto` tries them. */
const ALL_BACKENDS = ["tensorflow", "webgpu", "native", "wasm", "cpu"];

/** A run that did not produce numbers, and why. */
interface Skipped {
  config: BenchConfigName;
  backend: string;
  threads_requested: number;
  note: string;
}

/**
 * A measured run, with the thread count it was asked for and, for native, the
 * GEMM ceiling and the cores' handoff speed.
 */
type Measured = RunResult & Partial<CoreHandoff> & {
  threads_requested: number;
  gemm_ceiling_gflops?: number;
  ceiling_fraction?: number;
};

type Row = Measured | Skipped;

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

function common(o: BenchOptions, config: BenchConfigName, threads: number): string[] {
  const args = ["--config", config, "--threads", String(threads), "--level", String(o.level)];
  if (o.steps) args.push("--steps", String(o.steps));
  args.push("--budget", String(o.budget));
  if (o.batch) args.push("--batch", String(o.batch));
  return args;
}

/**
 * A backend's subprocess trains as `deno task run` does, so it gets the run
 * task's permissions (read from deno.json); PyTorch runs from this process.
 * The tensorflow backend also loads its Node-API addon, which Deno allows
 * only with --allow-ffi for every library.
 */
export function backendFlags(backend: string): string[] {
  // Each row records the load average it ran under.
  const flags = taskFlags("run").map((f) => f.startsWith("--allow-sys=") ? `${f},loadavg` : f);
  if (!flags.some((f) => f.startsWith("--allow-sys"))) flags.push("--allow-sys=loadavg");
  if (backend !== "tensorflow") return flags;
  return flags.map((f) => f.startsWith("--allow-ffi") ? "--allow-ffi" : f);
}

/** The 1, 5 and 15 minute load averages (--allow-sys=loadavg), or "unknown". */
function loadAverages(): string {
  try {
    return Deno.loadavg().map((x) => x.toFixed(2)).join(" ");
  } catch {
    return "unknown";
  }
}

async function runOne(
  o: BenchOptions,
  config: BenchConfigName,
  backend: string,
  threads: number,
): Promise<Row> {
  const here = new URL(".", import.meta.url);
  // NO_COLOR keeps error lines plain for the notes.
  const env = { GLYPHNET_THREADS: String(threads), OPENBLAS_THREAD_TIMEOUT: "1", NO_COLOR: "1" };
  const r = backend === "pytorch"
    ? await runJson(
      python(),
      [
        new URL("torch_ref.py", here).pathname,
        ...common(o, config, threads),
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
        ...backendFlags(backend),
        "--config",
        new URL("../deno.json", here).pathname,
        new URL("bench.ts", here).pathname,
        ...common(o, config, threads),
        "--backend",
        backend,
        ...(o.profile ? ["--profile"] : []),
        "--json",
      ],
      env,
      o.timeout,
    );
  return r.json
    ? { ...r.json as unknown as RunResult, threads_requested: threads }
    : { config, backend, threads_requested: threads, note: r.note! };
}

/** The table: per config and thread count, PyTorch first, with ratios and the GEMM ceiling. */
function table(rows: Row[]): string {
  const measured = rows.filter((r): r is Measured => "step_seconds_median" in r);
  const torch = (config: string, threads?: number) =>
    measured.filter((r) =>
      r.backend === "pytorch" && r.config === config &&
      (threads === undefined || r.threads_requested === threads)
    );
  const one = (r: Measured) =>
    measured.find((m) =>
      m.backend === r.backend && m.config === r.config && m.threads_requested === 1
    );
  const head = ["config", "backend", "thr", "steps", "median s", "× PyTorch", "× PyTorch best"];
  head.push("speedup vs 1 thr", "CPU s/step", "GFLOP/s", "GEMM ceiling", "% ceiling");
  head.push("peak RSS MiB", "load");
  const lines = [head];
  const notes: string[] = [];
  for (const r of rows) {
    if (!("step_seconds_median" in r)) {
      notes.push(`${r.config}/${r.backend}/${r.threads_requested} thr: ${r.note}`);
      lines.push([
        r.config,
        r.backend,
        String(r.threads_requested),
        ...head.slice(3).map(() => "-"),
      ]);
      continue;
    }
    const same = torch(r.config, r.threads_requested)[0];
    const best = Math.min(...torch(r.config).map((t) => t.step_seconds_median));
    const ratio = (a: number, b?: number) => b && isFinite(b) ? (a / b).toFixed(2) : "-";
    const base = one(r);
    lines.push([
      r.config,
      r.backend + (r.fallback ? " (software)" : ""),
      String(r.threads),
      String(r.steps),
      r.step_seconds_median.toFixed(3),
      ratio(r.step_seconds_median, same?.step_seconds_median),
      ratio(r.step_seconds_median, best),
      base ? (base.step_seconds_median / r.step_seconds_median).toFixed(2) : "-",
      r.cpu_seconds_per_step.toFixed(3),
      r.gflops.toFixed(2),
      r.gemm_ceiling_gflops ? r.gemm_ceiling_gflops.toFixed(1) : "-",
      r.ceiling_fraction ? `${(100 * r.ceiling_fraction).toFixed(0)} %` : "-",
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

/** A run's kernel profile: the top kernels per step, and the time outside kernels. */
function profileTable(r: Measured): string {
  const p = r.profile!;
  const step = r.step_seconds_median * 1000;
  const lines = [
    `\n${r.config} on ${r.backend}: ${step.toFixed(1)} ms/step, ${
      p.kernel_ms_per_step.toFixed(1)
    } ms in ${p.kernel_calls_per_step.toFixed(0)} kernel calls, ${
      (step - p.kernel_ms_per_step).toFixed(1)
    } ms outside kernels`,
    "| kernel | ms/step | calls/step | ms/call |",
    "|---|---|---|---|",
  ];
  for (const row of p.rows) {
    lines.push(
      `| ${row.kernel} | ${row.ms_per_step.toFixed(2)} | ${row.calls_per_step.toFixed(0)} | ${
        (row.ms_per_step / row.calls_per_step).toFixed(3)
      } |`,
    );
  }
  return lines.join("\n");
}

/**
 * What each backend ran on, thread counts aside; with a hint where
 * OPENBLAS_CORETYPE chose OpenBLAS's kernels, since they set the GEMM ceiling.
 */
export function deviceLines(runs: { backend: string; device: string }[]): string[] {
  const devices = new Map<string, string>();
  for (const r of runs) devices.set(r.backend, r.device.replace(/, \d+ threads?\)$/, ")"));
  const lines = [...devices].map(([backend, device]) => `${backend}: ${device}`);
  if ([...devices.values()].some((d) => d.includes("from OPENBLAS_CORETYPE"))) {
    lines.push(
      "OPENBLAS_CORETYPE in the environment chose OpenBLAS's kernels; " +
        "`env -u OPENBLAS_CORETYPE deno task bench ...` measures OpenBLAS's own choice for this CPU",
    );
  }
  return lines;
}

/** "lo" or "lo–hi" of a list, `digits` after the point. */
function range(xs: number[], digits: number): string {
  const [lo, hi] = [Math.min(...xs), Math.max(...xs)].map((x) => x.toFixed(digits));
  return lo === hi ? lo : `${lo}–${hi}`;
}

/**
 * The cores' handoff speed over the runs that measured it (native, after its
 * steps), as one line; none where no run did (one CPU, no native run).
 */
export function coreLines(runs: Partial<CoreHandoff>[]): string[] {
  const trips = runs.flatMap((r) => r.core_round_trip_ns ?? []);
  const reads = runs.flatMap((r) => r.core_read_fraction ?? []);
  if (!trips.length) return [];
  return [
    `cores: ${range(trips, 0)} ns for a cache line to go from one core to another and back; ` +
    `1 MiB one core wrote read by another at ${range(reads.map((f) => 100 * f), 0)} % of the ` +
    "speed of its own (a second thread gains less when these are slow: bench/README.md)",
  ];
}

/** Runs every requested (config, backend) pair in subprocesses, prints and saves the results. */
export async function orchestrate(o: BenchOptions): Promise<void> {
  const backends = o.backends === "all" ? ALL_BACKENDS : o.backends.split(",");
  const softGpu = await softwareGpu();
  const loadStart = loadAverages();
  console.error(`bench: load average at start ${loadStart}`);
  const rows: Row[] = [];
  const pairs = o.configs.flatMap((config) => o.threads.map((threads) => ({ config, threads })));
  for (const { config, threads } of pairs) {
    for (const backend of ["pytorch", ...backends]) {
      const skip = o.force ? undefined : skipReason(config, backend, softGpu);
      console.error(
        `bench: ${config} on ${backend}, ${threads} thr${skip ? ` (${skip})` : ""} ...`,
      );
      const row = skip
        ? { config, backend, threads_requested: threads, note: skip }
        : await runOne(o, config, backend, threads);
      if ("note" in row) console.error(`  ${row.note}`);
      else console.error(`  ${row.step_seconds_median.toFixed(3)} s/step (${row.steps} steps)`);
      rows.push(row);
    }
  }
  console.log(`load average at start: ${loadStart} (${navigator.hardwareConcurrency} cores)\n`);
  console.log(table(rows));
  const measured = rows.filter((r): r is Measured => "device" in r);
  console.log(`\n${[...deviceLines(measured), ...coreLines(measured)].join("\n")}`);
  for (const r of measured) if (r.profile) console.log(profileTable(r));
  await saveResults({
    machine: { cores: navigator.hardwareConcurrency, os: Deno.build.os, arch: Deno.build.arch },
    level: o.level,
    threads: o.threads,
    loadavg_start: loadStart,
    runs: rows,
  }, o.out);
}

/**
 * Writes `fields` as JSON, after the date and the command, to `out` or to
 * bench/results/<UTC stamp><suffix>.json, and prints the path.
 */
export async function saveResults(
  fields: Record<string, unknown>,
  out: string | undefined,
  suffix = "",
): Promise<void> {
  const stamp = new Date().toISOString().replace(/:/g, "-").replace(/\.\d+Z$/, "Z");
  // A path, not a URL's pathname: that is percent-encoded ("my%20runs").
  const file = out
    ? resolve(out)
    : fileURLToPath(new URL(`results/${stamp}${suffix}.json`, import.meta.url));
  await Deno.mkdir(dirname(file), { recursive: true });
  const saved = {
    date: new Date().toISOString(),
    command: `deno task bench ${Deno.args.join(" ")}`.trim(),
    ...fields,
  };
  await writeFileAtomic(file, JSON.stringify(saved, null, 2) + "\n");
  console.log(`\nwrote ${file}`);
}
