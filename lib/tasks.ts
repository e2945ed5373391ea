/**
 * The deno tasks' permission flags, read from deno.json: the one place they
 * are written. Processes the program starts itself (a sweep's points, the
 * bench's backends) get a task's flags from here, never from a copy.
 * @module
 */
import config from "../deno.json" with { type: "json" };

/**
 * The flags of a task of the form `deno run <flags> <script> ...`, in order.
 * Throws when the task is missing or not of that form (a bug in deno.json).
 */
export function taskFlags(task: string): string[] {
  const tasks = config.tasks as Record<string, { command: string }>;
  const words = (tasks[task]?.command ?? "").trim().split(/\s+/);
  const script = words.findIndex((w, i) => i > 1 && !w.startsWith("-"));
  if (words[0] !== "deno" || words[1] !== "run" || script < 0) {
    throw new Error(`deno.json: task "${task}" is not "deno run <flags> <script> ..."`);
  }
  return words.slice(2, script);
}

/** The paths a flag such as `--allow-write=runs,build` names; undefined: the flag is absent. */
export function flagPaths(flags: string[], name: string): string[] | undefined {
  const flag = flags.find((f) => f === name || f.startsWith(`${name}=`));
  if (flag === undefined) return undefined;
  return flag === name ? [] : flag.slice(name.length + 1).split(",");
}

/**
 * Whether `path` lies inside one of the folders `--allow-write` names in
 * `flags` (relative ones taken from `cwd`); a bare `--allow-write` covers all.
 */
export function writesCover(flags: string[], path: string, cwd = Deno.cwd()): boolean {
  const scopes = flagPaths(flags, "--allow-write");
  if (scopes === undefined) return false;
  if (scopes.length === 0) return true;
  const target = absolute(path, cwd);
  return scopes.some((s) => {
    const scope = absolute(s, cwd);
    return target === scope || target.startsWith(`${scope}/`);
  });
}

/** `path` from `cwd`, with `.` and `..` resolved (symbolic links are not). */
function absolute(path: string, cwd: string): string {
  const out: string[] = [];
  for (const part of (path.startsWith("/") ? path : `${cwd}/${path}`).split("/")) {
    if (part === "..") out.pop();
    else if (part && part !== ".") out.push(part);
  }
  return "/" + out.join("/");
}
