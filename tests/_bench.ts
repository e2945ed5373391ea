// Runs `deno task bench` as a user would, from the repository root.

const ROOT = new URL("..", import.meta.url).pathname;

/**
 * `deno task -q bench args`, run under `under` where given (e.g. `taskset -c
 * 0`): its exit code and what it printed.
 */
export async function bench(args: string[], under: string[] = []) {
  const [command, ...before] = [...under, Deno.execPath()];
  const out = await new Deno.Command(command, {
    args: [...before, "task", "-q", "bench", ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return { code: out.code, stdout: text.decode(out.stdout), stderr: text.decode(out.stderr) };
}
