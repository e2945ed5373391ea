/**
 * glyphnet's command line. Parses arguments, forwards to lib/, and owns the
 * exit codes: 0 done, 1 failed while running, 2 usage or experiment error,
 * 130 interrupted.
 * @module
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { UserError } from "./lib/errors.ts";
import type { StartedRun } from "./lib/runner.ts";

const USAGE = `glyphnet: two networks invent a visual language

usage:
  deno task run <experiment.yaml> [--set key=value]... [--backend NAME] [--threads N] [--name NAME] [--runs DIR]
  deno task run --resume <run folder>
  deno task schema [--out FILE]
  deno task channel <experiment.yaml | run folder> [--out FILE.png] [--samples N]
  deno task eval <run folder> [--samples N] [--levels MAX] [--backend NAME]
  deno task encode <run folder> <message> [--out FILE.png] [--scale N] [--backend NAME]
  deno task decode <run folder> <image.png> [--level N] [--keep-fill] [--backend NAME]
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
  });
  const { loadExperiment } = await import("./lib/config/load.ts");
  const { runExperiment, resumeRun } = await import("./lib/runner.ts");
  const encoder = new TextEncoder();
  const controller = new AbortController();
  let started: StartedRun | undefined;
  let stops = 0;
  // First Ctrl-C: stop after this step (the runner checkpoints). Second: mark and quit.
  const onSigint = () => {
    if (++stops === 1) {
      console.error("\nstopping after this step (Ctrl-C again to quit at once)");
      controller.abort();
    } else {
      started?.markInterrupted();
      Deno.exit(130);
    }
  };
  Deno.addSignalListener("SIGINT", onSigint);
  const common = {
    signal: controller.signal,
    display: {
      terminal: Deno.stdout.isTerminal() && !values.quiet,
      write: (s: string) => Deno.stderr.writeSync(encoder.encode(s)),
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
      result = await resumeRun(values.resume, common);
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
      });
    }
    console.error(`${result.status}: ${result.dir}`);
    return result.status === "interrupted" ? 130 : 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
  }
}

async function schemaCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { out: { type: "string", default: "experiments/schema.json" } });
  const { writeSchema } = await import("./lib/config/json_schema.ts");
  await writeSchema(values.out as string);
  console.error(`wrote ${values.out}`);
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

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    const err = e as Error;
    if (err instanceof UserError) {
      console.error(`error: ${err.message}`);
      Deno.exit(2);
    }
    console.error(`error: ${err.message}`);
    if (Deno.env.get("GLYPHNET_DEBUG")) console.error(err.stack);
    else console.error("(set GLYPHNET_DEBUG=1 for the stack trace)");
    Deno.exit(1);
  }
}
