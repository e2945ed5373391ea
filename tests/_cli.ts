// Runs main.ts as a subprocess under exactly the flags a deno task gives it,
// from the project root as `deno task` does.

/** The project root (where deno.json is). */
export const ROOT = new URL("../", import.meta.url).pathname.replace(/\/$/, "");

/** What a command did. */
export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** A task's `deno run` flags and the main.ts command it runs, read from deno.json. */
export async function taskFlags(task: string): Promise<{ flags: string[]; command: string }> {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}/deno.json`));
  const line: string = config.tasks[task]?.command ?? "";
  const words = line.trim().split(/\s+/);
  const script = words.indexOf("main.ts");
  if (words[0] !== "deno" || words[1] !== "run" || script < 0 || script !== words.length - 2) {
    throw new Error(`task "${task}" is not "deno run <flags> main.ts <command>": ${line}`);
  }
  return { flags: words.slice(2, script), command: words[script + 1] };
}

/** Options of {@link taskCommand} and {@link runTask}. */
export interface TaskOptions {
  env?: Record<string, string>;
  /** Variables to allow reading beyond the task's own --allow-env list (drills only). */
  allowEnv?: string[];
}

/**
 * `deno task <task> <args>` the way deno runs it: the task's flags, cwd the
 * project root.
 */
export async function taskCommand(
  task: string,
  args: string[],
  opts: TaskOptions = {},
): Promise<Deno.Command> {
  let { flags, command } = await taskFlags(task);
  if (opts.allowEnv?.length) {
    flags = flags.map((f) => f.startsWith("--allow-env=") ? `${f},${opts.allowEnv}` : f);
  }
  return new Deno.Command(Deno.execPath(), {
    args: ["run", ...flags, "main.ts", command, ...args],
    cwd: ROOT,
    env: opts.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  });
}

/** Runs a task to its end. */
export async function runTask(
  task: string,
  args: string[],
  opts: TaskOptions = {},
): Promise<CliResult> {
  const out = await (await taskCommand(task, args, opts)).output();
  const text = (b: Uint8Array) => new TextDecoder().decode(b);
  return { code: out.code, stdout: text(out.stdout), stderr: text(out.stderr) };
}

/** A fresh folder inside the project's runs/ (which the tasks may write), removed by the caller. */
export async function scratchRuns(prefix: string): Promise<string> {
  await Deno.mkdir(`${ROOT}/runs`, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: `${ROOT}/runs`, prefix: `_${prefix}-` });
  return dir.slice(ROOT.length + 1); // relative to the root, as a user would type it
}
