/**
 * Times the full training step (`trainStep`: D on glyphs, D on negatives,
 * G through the channel and D) per backend and config, against PyTorch.
 *
 *   deno task bench [--config tiny|small|default|all] [--backend NAME|all]
 *                   [--steps N] [--threads N[,N…]] [--level L] [--timeout S] [--force] [--profile]
 *   deno task bench --config tiny --backend wasm --json   # one run, in this process
 *   deno task bench --config small --threads 1,2 --interleave 5   # native, thread counts taking turns
 *
 * Without `--json`, each (config, backend) runs in its own subprocess (so
 * memory and backend state are isolated), then bench/torch_ref.py runs the
 * same step in PyTorch; a table is printed and bench/results/<stamp>.json written.
 * @module
 */
import { parseArgs } from "node:util";
import { dirname, resolve } from "node:path";
import { OperationalError } from "../lib/errors.ts";
import { type BackendInfo, initBackend } from "../lib/backend/init.ts";
import { type BenchOptions, orchestrate } from "./_orchestrate.ts";
import { interleave } from "./_interleave.ts";
import { availableCores } from "../lib/backend/threads.ts";
import {
  BENCH_CONFIGS,
  BENCH_LEVEL,
  type BenchConfigName,
  coreHandoff,
  evenSteps,
  gemmCeiling,
  measure,
} from "./_measure.ts";

const USAGE = "usage: deno task bench [--config tiny|small|default|all] [--backend NAME|all] " +
  "[--steps N] [--threads N[,N…]] [--level L] [--timeout S] [--torch-device cpu|cuda] " +
  "[--out FILE] [--force] [--profile] [--json] [--interleave ROUNDS]";

/** Parses the command line; exits with a message on a mistake. */
function parse(args: string[]): BenchOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: "string", default: "all" },
        backend: { type: "string", default: "all" },
        steps: { type: "string" },
        threads: { type: "string", default: Deno.env.get("GLYPHNET_THREADS") ?? "" },
        level: { type: "string", default: String(BENCH_LEVEL) },
        timeout: { type: "string", default: "600" },
        budget: { type: "string", default: "60" },
        batch: { type: "string" },
        "torch-device": { type: "string", default: "cpu" },
        out: { type: "string" },
        force: { type: "boolean", default: false },
        profile: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        interleave: { type: "string" },
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
  const threads = values.threads
    ? values.threads.split(",").map((t) => int("threads", t, 1)!)
    : defaultThreads();
  if (values.json && threads.length !== 1) fail("Cannot bench with --json: name one --threads");
  if (values.out) checkWritable(values.out);
  const interleave = int("interleave", values.interleave, 1);
  if (interleave && (configs.length !== 1 || !["all", "native"].includes(values.backend))) {
    fail("Cannot bench with --interleave: name one --config; it runs native only");
  }
  if (interleave && (values.json || values.profile)) {
    fail("Cannot bench with --interleave and --json or --profile: profile one --json run instead");
  }
  return {
    interleave,
    configs,
    backends: values.backend,
    steps: int("steps", values.steps, 1),
    threads,
    level: int("level", values.level, 0)!,
    timeout: int("timeout", values.timeout, 1)!,
    budget: int("budget", values.budget, 1)!,
    batch: int("batch", values.batch, 1),
    torchDevice: values["torch-device"],
    out: values.out,
    force: values.force,
    profile: values.profile,
    json: values.json,
  };
}

/** Measured steps per thread count in each `--interleave` round (even: see evenSteps). */
const ROUND_STEPS: Record<BenchConfigName, number> = { tiny: 20, small: 6, default: 4 };

/** 1, 2, 4, … up to the cores this process may use, and that count itself. */
function defaultThreads(): number[] {
  const cores = availableCores().threads;
  const list = [1];
  for (let t = 2; t < cores; t *= 2) list.push(t);
  if (cores > 1) list.push(cores);
  return list;
}

/** Fails before any measuring when the results file could not be written at the end. */
function checkWritable(out: string): void {
  const dir = dirname(resolve(out));
  if (Deno.permissions.querySync({ name: "write", path: dir }).state !== "granted") {
    fail(
      `Cannot bench with --out ${out}: deno task bench may write only under bench/results and ` +
        `build (its --allow-write); give a path there`,
    );
  }
}

function fail(message: string): never {
  console.error(message);
  Deno.exit(2);
}

async function main(): Promise<void> {
  const opts = parse(Deno.args);
  if (opts.interleave) {
    const config = opts.configs[0];
    return await interleave({
      config,
      threads: opts.threads,
      rounds: opts.interleave,
      steps: opts.steps ?? ROUND_STEPS[config],
      level: opts.level,
      batch: opts.batch,
      out: opts.out,
    });
  }
  if (opts.steps && opts.steps !== evenSteps(opts.steps)) {
    console.error(
      `bench: --steps ${opts.steps} is odd: measuring ${evenSteps(opts.steps)}, so that there ` +
        "are as many steps of the two kinds that alternate",
    );
    opts.steps = evenSteps(opts.steps);
  }
  if (!opts.json) return await orchestrate(opts);
  if (opts.configs.length !== 1 || opts.backends === "all" || opts.backends.includes(",")) {
    fail("Cannot bench with --json: name one --config and one --backend (the subprocess form)");
  }
  const threads = opts.threads[0];
  let info: BackendInfo;
  try {
    info = await initBackend(opts.backends, { threads });
  } catch (e) {
    fail((e as Error).message);
  }
  const name = opts.configs[0];
  const result = await measure(name, info, {
    steps: opts.steps ?? BENCH_CONFIGS[name].steps,
    warmup: BENCH_CONFIGS[name].warmup,
    level: opts.level,
    budgetSeconds: opts.budget,
    batch: opts.batch,
    profile: opts.profile,
  });
  // The machine's GEMM ceiling at this thread count, with the same OpenBLAS, and how
  // fast its cores hand data to each other just now (what a second thread gains follows it).
  const native = info.name === "native";
  const ceiling = native ? gemmCeiling(threads) : undefined;
  console.log(JSON.stringify({
    ...result,
    ...(ceiling ? { gemm_ceiling_gflops: ceiling, ceiling_fraction: result.gflops / ceiling } : {}),
    ...(native ? coreHandoff() : {}),
  }));
}

if (import.meta.main) {
  try {
    await main();
  } catch (e) {
    // A full or read-only disk at the end: say so, without a stack trace.
    if (!(e instanceof OperationalError)) throw e;
    console.error(e.message);
    Deno.exit(1);
  }
}
