/**
 * glyphnet's command line. Parses arguments, forwards to lib/, and owns the
 * exit codes: 0 done, 1 failed while running (diff: a gate tripped; sweep: a
 * point failed), 2 usage or experiment error, 75 sweep interrupted (try
 * again), 128 + the signal's number when a signal interrupted a run (130
 * SIGINT, 129 SIGHUP, 143 SIGTERM).
 * @module
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { OperationalError, UserError } from "./lib/errors.ts";
import type { StartedRun } from "./lib/runner.ts";

const USAGE = `glyphnet: two networks invent a visual language

usage:
  deno task run <experiment.yaml> [--set key=value]... [--backend NAME] [--threads N] [--name NAME] [--runs DIR]
  deno task run --resume <run folder> [--set key=value]... [--threads N]   (optimizer, schedule, epochs, threads)
  deno task schema [--out FILE]   (the sweep format's schema goes beside it: sweep.schema.json)
  deno task channel <experiment.yaml | run folder> [--out FILE.png] [--samples N]
  deno task eval <run folder> [--samples N] [--levels MAX] [--backend NAME]
  deno task encode <run folder> <message> [--out FILE.png] [--scale N] [--backend NAME]
  deno task decode <run folder> <image.png> [--level N] [--keep-fill] [--backend NAME]
  deno task runs [DIR] [--json] [--status S] [--name GLOB] [--since DATE] [--sort KEY]
  deno task diff <run> <run> [more...] [--json | --md] [--all] [--gate "METRIC OP VALUE"]...
  deno task sweep <sweep.yaml> [--dry-run] [--json] [--jobs N] [--shard i/n | --shard-count N]
                  [--exclusive] [--retry-failed] [--runs DIR]
  deno task report <run | sweep folder>... [--out FILE.html]
`;

/** A mistake in how the program was called: exit 2, no stack trace. */
class UsageError extends UserError {
  override name = "UsageError";
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "run":
      return await runCommand(rest);
    case "schema":
      return await schemaCommand(rest);
    case "channel":
      return await channelCommand(rest);
    case "eval":
      return await evalCommand(rest);
    case "encode":
      return await encodeCommand(rest);
    case "decode":
      return await decodeCommand(rest);
    case "runs":
      return await runsCommand(rest);
    case "diff":
      return await diffCommand(rest);
    case "sweep":
      return await sweepCommand(rest);
    case "report":
      return await reportCommand(rest);
    case undefined:
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return command ? 0 : 2;
    default:
      throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

/**
 * Refuses before any work when Deno's permissions forbid writing `path`:
 * `deno task run` and `deno task eval` may write only under runs/ (and
 * build/), `deno task sweep` only under runs/.
 */
async function requireWrite(path: string, what: string, scopes = "runs,build"): Promise<void> {
  const { state } = await Deno.permissions.query({ name: "write", path });
  if (state === "granted") return;
  const named = scopes.split(",").map((s) => `${s}/`).join(" and ");
  const wider = [path, ...scopes.split(",").filter((s) => s !== "runs")].join(",");
  throw new UsageError(
    `Cannot write ${what} to "${path}": the task may write only to ${named}; ` +
      `for another folder run main.ts with the task's flags and --allow-write=${wider} ` +
      `(see the README's permission table)`,
  );
}

/** The variables a sweep reads to find its shard (Slurm job arrays, Kubernetes Indexed Jobs). */
const SHARD_VARIABLES = [
  "JOB_COMPLETION_INDEX",
  "SLURM_ARRAY_TASK_ID",
  "SLURM_ARRAY_TASK_COUNT",
  "SLURM_ARRAY_TASK_MIN",
];

function parse<T extends ParseArgsOptionsConfig>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, allowPositionals: true, strict: true });
  } catch (e) {
    throw new UsageError(`${(e as Error).message}\n\n${USAGE}`);
  }
}

async function runCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    set: { type: "string", multiple: true },
    backend: { type: "string" },
    threads: { type: "string" },
    name: { type: "string" },
    runs: { type: "string", default: "runs" },
    resume: { type: "string" },
    quiet: { type: "boolean", default: false },
    sweep: { type: "string" },
    point: { type: "string" },
  });
  await requireWrite(values.resume ?? values.runs as string, values.resume ? "the run" : "runs");
  const { loadExperiment } = await import("./lib/config/load.ts");
  const { runExperiment, resumeRun } = await import("./lib/runner.ts");
  const encoder = new TextEncoder();
  const controller = new AbortController();
  let started: StartedRun | undefined;
  const stopListening = listenForSignals(onSignal(controller, () => started));
  const common = {
    signal: controller.signal,
    display: {
      terminal: Deno.stdout.isTerminal() && !values.quiet,
      write: (s: string) => say(s, encoder),
    },
    onStarted: (run: StartedRun) => {
      started = run;
      console.error(`run folder: ${run.dir}`);
    },
  };
  try {
    let result;
    if (values.resume) {
      if (positionals.length) {
        throw new UsageError("--resume takes a run folder and no experiment file");
      }
      const set = [...(values.set ?? [])];
      if (values.threads) set.push(`training.threads=${values.threads}`);
      result = await resumeRun(values.resume, { ...common, set });
    } else {
      if (positionals.length !== 1) {
        throw new UsageError(`run takes one experiment file\n\n${USAGE}`);
      }
      const set = [...(values.set ?? [])];
      if (values.backend) set.push(`training.backend=${values.backend}`);
      if (values.threads) set.push(`training.threads=${values.threads}`);
      if (values.name) set.push(`name=${JSON.stringify(values.name)}`);
      const loaded = await loadExperiment(positionals[0], { set });
      result = await runExperiment(loaded.config, {
        ...common,
        root: values.runs as string,
        file: loaded.path,
        source: loaded.source,
        sweep: values.sweep && values.point
          ? { name: values.sweep as string, point: values.point as string }
          : undefined,
      });
    }
    console.error(`${result.status}: ${result.dir}`);
    return result.status === "interrupted" ? exitCode(controller.signal.reason) : 0;
  } catch (e) {
    if (e instanceof OperationalError && started) e.message += resumeHint(e, started.dir);
    throw e;
  } finally {
    stopListening();
  }
}

/** What to run next after a run failed for a reason that can be fixed. */
function resumeHint(e: Error, dir: string): string {
  const resume = `deno task run --resume ${dir}`;
  return e.name === "NonFiniteError"
    ? `\nThe last good checkpoint is kept; go on with a lower learning rate: ${resume} ` +
      `--set training.optimizer.learning_rate=<lower>`
    : `\nThe last checkpoint is kept; once that is fixed: ${resume}`;
}

/** Signals that stop a run (after the current step, with a checkpoint) and their exit codes. */
const STOP_SIGNALS: Partial<Record<Deno.Signal, number>> = {
  SIGINT: 130,
  SIGHUP: 129,
  SIGTERM: 143,
};

/** 128 + the signal's number for a signal's name; 130 (as Ctrl-C) for any other abort. */
function exitCode(reason: unknown): number {
  return STOP_SIGNALS[reason as Deno.Signal] ?? 130;
}

/** Writes to stderr; a terminal that hung up (SIGHUP) must not fail the run. */
function say(s: string, encoder = new TextEncoder()): void {
  try {
    Deno.stderr.writeSync(encoder.encode(s));
  } catch { /* nobody is listening any more */ }
}

/**
 * What each signal does to a run. The first stopping signal (SIGINT, SIGHUP,
 * SIGTERM) aborts with its name as the reason: the run stops after this step,
 * checkpoints and records the signal. A second one of any of them marks the
 * run interrupted and exits at once. SIGUSR1 or SIGUSR2 (Slurm's early
 * warning, `--signal=B:USR2@120`) asks for a checkpoint after this step;
 * training goes on. (Deno 2.9.2 and later also open their debugger on
 * 127.0.0.1:9229 on SIGUSR1; SIGUSR2 does not.)
 */
export function onSignal(
  controller: AbortController,
  run: () => StartedRun | undefined,
  exit: (code: number) => void = Deno.exit,
): (signal: Deno.Signal) => void {
  return (signal) => {
    if (signal === "SIGUSR1" || signal === "SIGUSR2") {
      const started = run();
      started?.checkpointNow();
      say(
        `\n${signal}: ${started ? "checkpoint after this step" : "no run yet, nothing to save"}\n`,
      );
    } else if (!controller.signal.aborted) {
      say(`\n${signal}: stopping after this step (a second signal quits at once)\n`);
      controller.abort(signal);
    } else {
      run()?.markInterrupted();
      exit(exitCode(signal));
    }
  };
}

/**
 * Listens for the signals {@link onSignal} handles; a signal this OS does not
 * have (Windows has only SIGINT and SIGBREAK) is skipped. Returns the undo.
 */
function listenForSignals(handle: (signal: Deno.Signal) => void): () => void {
  const listeners: [Deno.Signal, () => void][] = [];
  for (const signal of ["SIGINT", "SIGTERM", "SIGHUP", "SIGUSR1", "SIGUSR2"] as const) {
    const listener = () => handle(signal);
    try {
      Deno.addSignalListener(signal, listener);
      listeners.push([signal, listener]);
    } catch { /* not a signal on this OS */ }
  }
  return () => {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
  };
}

async function schemaCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { out: { type: "string", default: "experiments/schema.json" } });
  const { writeSchema, writeSweepSchema } = await import("./lib/config/json_schema.ts");
  const out = values.out as string;
  await writeSchema(out);
  const sweepOut = `${
    out.includes("/") ? out.slice(0, out.lastIndexOf("/")) : "."
  }/sweep.schema.json`;
  await writeSweepSchema(sweepOut);
  console.error(`wrote ${out} and ${sweepOut}`);
  return 0;
}

async function channelCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    out: { type: "string" },
    samples: { type: "string", default: "6" },
    backend: { type: "string", default: "cpu" },
    set: { type: "string", multiple: true },
  });
  if (positionals.length !== 1) {
    throw new UsageError(`channel takes one experiment file or run folder\n\n${USAGE}`);
  }
  const samples = Number(values.samples);
  if (!Number.isInteger(samples) || samples < 1 || samples > 64) {
    throw new UsageError(`--samples must be an integer from 1 to 64, got ${values.samples}`);
  }
  const { channelPreview } = await import("./lib/tools/channel.ts");
  const out = await channelPreview(positionals[0], {
    out: values.out as string | undefined,
    samples,
    backend: values.backend as string,
    set: values.set as string[] | undefined,
  });
  console.error(`wrote ${out}`);
  return 0;
}

async function reportCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { out: { type: "string" } });
  if (positionals.length === 0) {
    throw new UsageError(`report takes one or more run or sweep folders\n\n${USAGE}`);
  }
  const { report } = await import("./lib/tools/report.ts");
  console.error(`wrote ${await report(positionals, { out: values.out as string | undefined })}`);
  return 0;
}

function wholeNumber(flag: string, text: string | undefined, min: number, max: number) {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, got ${text}`);
  }
  return n;
}

async function evalCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    samples: { type: "string", default: "1024" },
    levels: { type: "string" },
    backend: { type: "string" },
  });
  if (positionals.length !== 1) throw new UsageError(`eval takes one run folder\n\n${USAGE}`);
  await requireWrite(positionals[0], "eval.json");
  const { evalRun } = await import("./lib/tools/eval.ts");
  const { table, path } = await evalRun(positionals[0], {
    samples: wholeNumber("--samples", values.samples as string, 1, 1_000_000),
    maxLevel: wholeNumber("--levels", values.levels as string | undefined, 0, 63),
    backend: values.backend as string | undefined,
  });
  console.log(table);
  console.error(`wrote ${path}`);
  return 0;
}

async function encodeCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    out: { type: "string" },
    scale: { type: "string", default: "1" },
    backend: { type: "string" },
  });
  if (positionals.length !== 2) {
    throw new UsageError(`encode takes a run folder and a message\n\n${USAGE}`);
  }
  const { encodeRun } = await import("./lib/tools/encode.ts");
  const { path } = await encodeRun(positionals[0], positionals[1], {
    out: values.out as string | undefined,
    scale: wholeNumber("--scale", values.scale as string, 1, 64),
    backend: values.backend as string | undefined,
  });
  console.error(`wrote ${path}`);
  return 0;
}

async function decodeCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    level: { type: "string" },
    "keep-fill": { type: "boolean", default: false },
    backend: { type: "string" },
  });
  if (positionals.length !== 2) {
    throw new UsageError(`decode takes a run folder and a PNG image\n\n${USAGE}`);
  }
  const { decodeRun, formatDecoded } = await import("./lib/tools/decode.ts");
  const result = await decodeRun(positionals[0], positionals[1], {
    level: wholeNumber("--level", values.level as string | undefined, 0, 63),
    keepFill: values["keep-fill"] as boolean,
    backend: values.backend as string | undefined,
  });
  console.log(formatDecoded(result));
  return 0;
}

async function runsCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    json: { type: "boolean", default: false },
    status: { type: "string" },
    name: { type: "string" },
    since: { type: "string" },
    sort: { type: "string", default: "started" },
  });
  if (positionals.length > 1) throw new UsageError(`runs takes at most one folder\n\n${USAGE}`);
  const { listRuns, formatRunList, parseListFilter } = await import("./lib/tools/runs.ts");
  const filter = parseListFilter(values as unknown as Record<string, string | undefined>);
  const rows = await listRuns(positionals[0] ?? "runs", filter);
  console.log(values.json ? JSON.stringify(rows, null, 2) : formatRunList(rows));
  return 0;
}

async function diffCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    json: { type: "boolean", default: false },
    md: { type: "boolean", default: false },
    all: { type: "boolean", default: false },
    gate: { type: "string", multiple: true },
  });
  if (positionals.length < 2) throw new UsageError(`diff takes two or more runs\n\n${USAGE}`);
  if (values.json && values.md) throw new UsageError("diff: --json and --md exclude each other");
  const { diffRuns, formatDiff, parseGate, checkGates } = await import("./lib/tools/diff.ts");
  const gates = ((values.gate ?? []) as string[]).map(parseGate);
  const diff = await diffRuns(positionals, { all: values.all as boolean });
  const verdicts = checkGates(diff, gates);
  const format = values.json ? "json" : values.md ? "md" : "text";
  console.log(formatDiff(diff, verdicts, format));
  return verdicts.some((v) => !v.ok) ? 1 : 0;
}

async function sweepCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    "dry-run": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    jobs: { type: "string", default: "1" },
    shard: { type: "string" },
    "shard-count": { type: "string" },
    exclusive: { type: "boolean", default: false },
    "retry-failed": { type: "boolean", default: false },
    runs: { type: "string", default: "runs" },
  });
  if (positionals.length !== 1) throw new UsageError(`sweep takes one sweep file\n\n${USAGE}`);
  const jobs = wholeNumber("--jobs", values.jobs as string, 1, 256)!;
  if (!values["dry-run"]) await requireWrite(values.runs as string, "the sweep's runs", "runs");
  const { loadSweep } = await import("./lib/config/sweep.ts");
  const { resolveShard } = await import("./lib/tools/sweep/shard.ts");
  const shard = resolveShard(
    { shard: values.shard as string | undefined, shardCount: values["shard-count"] as string },
    Object.fromEntries(SHARD_VARIABLES.map((v) => [v, Deno.env.get(v)])),
  );
  const sweep = await loadSweep(positionals[0]);
  if (values["dry-run"]) {
    const { dryRun } = await import("./lib/tools/sweep/dry_run.ts");
    console.log(
      await dryRun(sweep, { root: values.runs as string, shard, json: values.json as boolean }),
    );
    return 0;
  }
  const { runSweep } = await import("./lib/tools/sweep/run.ts");
  const controller = new AbortController();
  const stop = () => {
    if (!controller.signal.aborted) {
      console.error("sweep: stopping the running points (they checkpoint)");
    }
    controller.abort();
  };
  Deno.addSignalListener("SIGINT", stop);
  Deno.addSignalListener("SIGTERM", stop);
  try {
    const r = await runSweep(sweep, {
      root: values.runs as string,
      jobs,
      shard,
      exclusive: values.exclusive as boolean,
      retryFailed: values["retry-failed"] as boolean,
      signal: controller.signal,
    });
    const line =
      `sweep ${r.plan.name}: ran ${r.ran.completed} completed, ${r.ran.failed} failed, ` +
      `${r.ran.interrupted} interrupted; ${r.elsewhere} left to other invocations, ` +
      `${r.skippedFailed} failed before (--retry-failed); summary ${r.summaryPath}`;
    if (values.json) console.log(JSON.stringify({ ...r, plan: undefined }, null, 2));
    console.error(line);
    return r.code;
  } finally {
    Deno.removeSignalListener("SIGINT", stop);
    Deno.removeSignalListener("SIGTERM", stop);
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    const err = e as Error;
    if (err instanceof UserError) {
      console.error(`error: ${err.message}`);
      Deno.exit(2);
    }
    if (err instanceof OperationalError) {
      console.error(`error: ${err.message}`);
      Deno.exit(1);
    }
    console.error(`error: ${err.message}`);
    if (Deno.env.get("GLYPHNET_DEBUG")) console.error(err.stack);
    else console.error("(set GLYPHNET_DEBUG=1 for the stack trace)");
    Deno.exit(1);
  }
}
