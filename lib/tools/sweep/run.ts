/**
 * Runs a sweep: every point of the plan (or of a shard) as an ordinary run in
 * its own `deno` process, each point claimed atomically so that any number of
 * invocations (cron, array tasks, other machines on a shared filesystem)
 * never run one twice. Completed points are skipped, interrupted ones resume
 * from their checkpoint, failed ones are retried only when asked.
 * @module
 */
import { availableCores } from "../../backend/threads.ts";
import { flagPaths, taskFlags, writesCover } from "../../tasks.ts";
import type { LoadedSweep } from "../../config/sweep.ts";
import {
  type Claim,
  claim,
  claimGone,
  type HeldClaim,
  readClaim,
  release,
  touchClaim,
} from "../../fs.ts";
import { makePlan, type Plan, type PlanPoint, shardOf, sweepDir, writePlan } from "./plan.ts";
import { latestRuns, pointState } from "./state.ts";
import { summarizeSweep, writeSweepSummary } from "./summary.ts";

/** Exit code of a sweep stopped by a signal: try again later (BSD's EX_TEMPFAIL). */
export const EXIT_TRY_AGAIN = 75;

/** Exit codes of a point stopped by a signal (128 + SIGHUP, SIGINT, SIGTERM). */
const INTERRUPTED = new Set([129, 130, 143]);

/** How long a point may take to say it heard a signal itself before the sweep passes one on. */
const FORWARD_AFTER_MS = 1500;

/** Permissions of a point's `deno run`: exactly the `run` task's, from deno.json. */
export const RUN_FLAGS: readonly string[] = taskFlags("run");

/**
 * A point's flags for runs in `root`: {@link RUN_FLAGS}. Where `root` lies
 * outside the run task's writes (the sweep was started by `deno run` with a
 * wider --allow-write, as the sweep task's refusal says to), the point may
 * also write `root`, as `deno task run` says to do for a --runs folder elsewhere.
 */
export function pointFlags(root: string): string[] {
  const flags = [...RUN_FLAGS];
  if (writesCover(flags, root)) return flags;
  const scopes = flagPaths(flags, "--allow-write") ?? [];
  return flags.map((f) =>
    f.startsWith("--allow-write") ? `--allow-write=${[...scopes, root].join(",")}` : f
  );
}

/** How to run a sweep. */
export interface SweepOptions {
  /** Folder of run folders (default "runs"); the sweep's own files go to <root>/sweeps/<name>/. */
  root?: string;
  /** Points run at once, each in its own process (default 1). */
  jobs?: number;
  /** Only this slice of the plan: points whose index % count === index. */
  shard?: { index: number; count: number };
  /** Exit at once (code 0) when another invocation works on the sweep. */
  exclusive?: boolean;
  /** Run failed points again. */
  retryFailed?: boolean;
  /** Aborting stops the running points (they checkpoint) and starts no new ones. */
  signal?: AbortSignal;
  /** Where progress lines go (default stderr). */
  log?: (line: string) => void;
}

/** How a sweep invocation ended. */
export interface SweepResult {
  code: number;
  plan: Plan;
  /** Points this invocation ran to completion, failed, or stopped. */
  ran: { completed: number; failed: number; interrupted: number };
  /** Points of the slice left to others (claimed by a live invocation) or skipped as failed. */
  elsewhere: number;
  skippedFailed: number;
  summaryPath: string;
}

/** Runs the sweep; see the module doc. */
export async function runSweep(sweep: LoadedSweep, opts: SweepOptions = {}): Promise<SweepResult> {
  const root = opts.root ?? "runs";
  const log = opts.log ?? ((s: string) => console.error(s));
  const { plan, configs } = await makePlan(sweep);
  const dir = sweepDir(root, plan.name);
  await writePlan(dir, plan, configs);
  const result: SweepResult = {
    code: 0,
    plan,
    ran: { completed: 0, failed: 0, interrupted: 0 },
    elsewhere: 0,
    skippedFailed: 0,
    summaryPath: `${dir}/summary.md`,
  };
  let lock: HeldClaim | null = null;
  if (opts.exclusive) {
    lock = await claim(`${dir}/lock`);
    const busy = lock ? await liveClaim(`${dir}/claims`) : await readClaim(`${dir}/lock`);
    if (!lock || busy) {
      if (lock) await release(`${dir}/lock`, lock);
      const who = busy ? ` (pid ${busy.pid} on ${busy.host || "?"})` : "";
      log(`sweep ${plan.name}: another invocation${who} is working on it; exiting`);
      return result;
    }
  }
  const points = opts.shard
    ? shardOf(plan.points, opts.shard.index, opts.shard.count)
    : plan.points;
  const jobs = Math.max(1, opts.jobs ?? 1);
  // The cores this process may use (affinity, cgroup quota, Slurm), shared among the jobs.
  const cores = availableCores().threads;
  const threads = Math.max(1, Math.floor(cores / jobs));
  const held = new Map<string, HeldClaim>();
  if (lock) held.set(`${dir}/lock`, lock);
  const beat = setInterval(() => {
    for (const [path, c] of held) touchClaim(path, c).catch(() => {});
  }, 30_000);
  // Each running point's process, and whether it said it is stopping already.
  const children = new Map<Deno.ChildProcess, { stopping: boolean }>();
  const stop = () => {
    // A signal sent to the whole group or job (Ctrl-C, scancel) reached the points too, and a
    // second signal would make them quit without a checkpoint: tell only those that did not hear.
    setTimeout(() => {
      for (const [c, state] of children) {
        if (state.stopping) continue;
        try {
          c.kill("SIGTERM");
        } catch { /* already gone */ }
      }
    }, FORWARD_AFTER_MS);
  };
  opts.signal?.addEventListener("abort", stop);
  let summaries = Promise.resolve();
  const summarize = () => {
    const write = async () => writeSweepSummary(dir, await summarizeSweep(plan, root));
    summaries = summaries.then(write, write);
    return summaries;
  };
  log(
    `sweep ${plan.name}: ${points.length} of ${plan.points.length} points` +
      (opts.shard ? ` (shard ${opts.shard.index + 1}/${opts.shard.count})` : "") +
      `, ${jobs} at a time, ${threads} thread(s) each; runs in ${root}, summary ${dir}/summary.md`,
  );
  let next = 0;
  const worker = async () => {
    while (!opts.signal?.aborted && next < points.length) {
      const point = points[next++];
      const outcome = await takePoint(point, { root, dir, plan, opts, held, log });
      if (outcome === "elsewhere") result.elsewhere++;
      else if (outcome === "skipped-failed") result.skippedFailed++;
      if (outcome !== "run") continue;
      let code: number;
      try {
        code = await runPoint(point, {
          name: plan.name,
          root,
          dir,
          threads,
          children,
          log,
          held,
          onFolder: () => summarize().catch(() => {}), // the summary shows the point running
        });
      } catch (e) {
        // The point's process could not start (e.g. a missing permission): count it as failed.
        log(
          `[${point.id.slice(0, 8)} #${point.index + 1}] could not start: ${(e as Error).message}`,
        );
        const path = `${dir}/claims/${point.id}.claim`;
        const mine = held.get(path);
        if (mine) await release(path, mine);
        held.delete(path);
        code = 1;
      }
      if (code === 0) result.ran.completed++;
      else if (INTERRUPTED.has(code)) result.ran.interrupted++;
      else result.ran.failed++;
      await summarize();
    }
  };
  try {
    await summarize();
    await Promise.all(Array.from({ length: jobs }, worker));
  } finally {
    clearInterval(beat);
    opts.signal?.removeEventListener("abort", stop);
    for (const [path, c] of held) await release(path, c);
    await summarize();
  }
  if (opts.signal?.aborted || result.ran.interrupted) result.code = EXIT_TRY_AGAIN;
  else if (result.ran.failed || result.skippedFailed) result.code = 1;
  return result;
}

type Outcome = "run" | "done" | "elsewhere" | "skipped-failed";

/** Claims a point if it still needs running; afterwards `held` has its claim. */
async function takePoint(
  point: PlanPoint,
  ctx: {
    root: string;
    dir: string;
    plan: Plan;
    opts: SweepOptions;
    held: Map<string, HeldClaim>;
    log: (s: string) => void;
  },
): Promise<Outcome> {
  const state = async () => pointState(point, (await latestRuns(ctx.root, [point])).get(point.id));
  const judge = async (): Promise<Outcome> => {
    const s = await state();
    if (s.kind === "completed") return "done";
    if (s.kind === "running") return "elsewhere";
    if (s.kind === "failed" && !ctx.opts.retryFailed) return "skipped-failed";
    return "run";
  };
  const before = await judge();
  if (before !== "run") return before;
  const path = `${ctx.dir}/claims/${point.id}.claim`;
  // A dead owner's claim is taken over only if no live process still trains the point.
  const mine = await claim(path, { canTakeOver: async () => (await state()).kind !== "running" });
  if (!mine) return "elsewhere";
  const now = await judge();
  if (now !== "run") {
    await release(path, mine);
    return now;
  }
  ctx.held.set(path, mine);
  return "run";
}

/** Runs (or resumes) one claimed point in a child process; returns its exit code. */
async function runPoint(
  point: PlanPoint,
  ctx: {
    name: string;
    root: string;
    dir: string;
    threads: number;
    children: Map<Deno.ChildProcess, { stopping: boolean }>;
    log: (s: string) => void;
    held: Map<string, HeldClaim>;
    onFolder: () => void;
  },
): Promise<number> {
  const s = await pointState(point, (await latestRuns(ctx.root, [point])).get(point.id));
  const main = new URL("../../../main.ts", import.meta.url).pathname;
  const args = s.dir && s.resumable ? ["run", "--resume", s.dir, "--quiet"] : [
    "run",
    `${ctx.dir}/${point.experiment}`,
    "--runs",
    ctx.root,
    "--sweep",
    ctx.name,
    "--point",
    point.id,
    "--quiet",
  ];
  const tag = `[${point.id.slice(0, 8)} #${point.index + 1}]`;
  ctx.log(`${tag} ${s.dir && s.resumable ? `resuming ${s.dir}` : "starting"}`);
  const child = new Deno.Command(await denoCommand(), {
    args: ["run", ...pointFlags(ctx.root), main, ...args],
    env: { GLYPHNET_THREADS: String(ctx.threads) },
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const state = { stopping: false };
  ctx.children.set(child, state);
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const lines = (rest + chunk).split(/\r?\n|\r/);
      rest = lines.pop() ?? "";
      for (const line of lines) {
        if (!line.trim()) continue;
        ctx.log(`${tag} ${line}`);
        if (line.startsWith("run folder: ")) ctx.onFolder();
        if (/: stopping after this step/.test(line)) state.stopping = true;
      }
    }
    if (rest.trim()) ctx.log(`${tag} ${rest}`);
  };
  const [status] = await Promise.all([child.status, pump(child.stdout), pump(child.stderr)]);
  ctx.children.delete(child);
  const path = `${ctx.dir}/claims/${point.id}.claim`;
  const mine = ctx.held.get(path);
  if (mine) await release(path, mine);
  ctx.held.delete(path);
  ctx.log(`${tag} exit ${status.code}`);
  return status.code;
}

/**
 * This deno binary where the permissions allow running it by path, else
 * `deno` from PATH (what `--allow-run=deno` grants).
 */
async function denoCommand(): Promise<string> {
  const exact = await Deno.permissions.query({ name: "run", command: Deno.execPath() });
  return exact.state === "granted" ? Deno.execPath() : "deno";
}

/** A claim in `dir` whose owner is alive, if any. */
async function liveClaim(dir: string): Promise<Claim | null> {
  try {
    for await (const e of Deno.readDir(dir)) {
      if (!e.name.endsWith(".claim")) continue;
      const c = await readClaim(`${dir}/${e.name}`);
      if (c && !(await claimGone(`${dir}/${e.name}`, c))) return c;
    }
  } catch { /* no claims yet */ }
  return null;
}
