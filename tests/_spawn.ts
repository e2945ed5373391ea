// Runs main.ts as a child process and reacts to what it prints: the drills send
// signals to a real process, as Slurm, Kubernetes or a closing terminal would.

/** What a finished child left. */
export interface Finished {
  code: number;
  stderr: string;
}

/**
 * Runs `main.ts args` and, each time stderr matches the next pattern of
 * `steps`, sends that step's signal. A child still running after `limitMs`
 * is killed (the test then fails on its exit code instead of hanging). A
 * step with `hangUp` then closes the child's stderr, as a terminal that went
 * away would.
 */
export async function runMain(
  args: string[],
  opts: {
    steps?: { after: RegExp; send: Deno.Signal; hangUp?: boolean }[];
    env?: Record<string, string>;
    limitMs?: number;
  } = {},
): Promise<Finished> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("../main.ts", import.meta.url).pathname, ...args],
    stdout: "null",
    stderr: "piped",
    stdin: "null",
    env: opts.env,
  }).spawn();
  const steps = [...(opts.steps ?? [])];
  let stderr = "";
  const killer = setTimeout(() => child.kill("SIGKILL"), opts.limitMs ?? 60_000);
  let hungUp = false;
  for await (const text of child.stderr.pipeThrough(new TextDecoderStream())) {
    stderr += text;
    while (steps.length && steps[0].after.test(stderr)) {
      const step = steps.shift()!;
      child.kill(step.send);
      hungUp ||= step.hangUp === true;
    }
    if (hungUp) break; // leaving the loop cancels the stream: the pipe closes
  }
  const { code } = await child.status;
  clearTimeout(killer);
  return { code, stderr };
}

/** The one run folder under `root`. */
export async function onlyRun(root: string): Promise<string> {
  const dirs = await Array.fromAsync(Deno.readDir(root));
  if (dirs.length !== 1) throw new Error(`expected one run in ${root}, found ${dirs.length}`);
  return `${root}/${dirs[0].name}`;
}

/** Whether a path exists. */
export async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}
