/**
 * Which slice of a sweep this invocation takes: `--shard i/n`, or by itself
 * inside a Slurm job array (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT,
 * SLURM_ARRAY_TASK_MIN) or a Kubernetes Indexed Job (JOB_COMPLETION_INDEX with
 * `--shard-count n`).
 * @module
 */
import { UserError } from "../../errors.ts";

/** A shard: 0-based index of count. */
export interface Shard {
  index: number;
  count: number;
  /** Where it came from, for the log. */
  from: string;
}

/** A shard setting could not be understood; exit 2. */
export class ShardError extends UserError {
  override name = "ShardError";
}

/**
 * The shard from flags and environment; undefined means all points (shared
 * with any other invocation).
 *
 * @example
 * ```ts
 * import { resolveShard } from "./shard.ts";
 * console.assert(resolveShard({ shard: "2/3" }, {})?.index === 1);
 * const slurm = { SLURM_ARRAY_TASK_ID: "5", SLURM_ARRAY_TASK_COUNT: "8", SLURM_ARRAY_TASK_MIN: "0" };
 * console.assert(resolveShard({}, slurm)?.index === 5);
 * ```
 */
export function resolveShard(
  flags: { shard?: string; shardCount?: string },
  env: Record<string, string | undefined>,
): Shard | undefined {
  if (flags.shard !== undefined) {
    const m = /^(\d+)\/(\d+)$/.exec(flags.shard.trim());
    const [i, n] = m ? [Number(m[1]), Number(m[2])] : [NaN, NaN];
    if (!m || n < 1 || i < 1 || i > n) {
      throw new ShardError(
        `--shard must be i/n with 1 ≤ i ≤ n (e.g. 2/3), got "${flags.shard}"`,
      );
    }
    return { index: i - 1, count: n, from: "--shard" };
  }
  if (flags.shardCount !== undefined) {
    const n = whole("--shard-count", flags.shardCount, 1);
    const raw = env.JOB_COMPLETION_INDEX;
    if (raw === undefined) {
      throw new ShardError("--shard-count needs JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)");
    }
    const i = whole("JOB_COMPLETION_INDEX", raw, 0);
    if (i >= n) throw new ShardError(`JOB_COMPLETION_INDEX ${i} is not below --shard-count ${n}`);
    return { index: i, count: n, from: "JOB_COMPLETION_INDEX" };
  }
  if (env.SLURM_ARRAY_TASK_ID !== undefined && env.SLURM_ARRAY_TASK_COUNT !== undefined) {
    const id = whole("SLURM_ARRAY_TASK_ID", env.SLURM_ARRAY_TASK_ID, 0);
    const n = whole("SLURM_ARRAY_TASK_COUNT", env.SLURM_ARRAY_TASK_COUNT, 1);
    const min = whole("SLURM_ARRAY_TASK_MIN", env.SLURM_ARRAY_TASK_MIN ?? "0", 0);
    const i = id - min;
    if (i < 0 || i >= n) {
      throw new ShardError(
        `Slurm array task ${id} is outside ${min}..${
          min + n - 1
        }: use a contiguous --array (e.g. 0-7%4)`,
      );
    }
    return { index: i, count: n, from: "Slurm array" };
  }
  return undefined;
}

function whole(what: string, text: string, min: number): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || n < min) {
    throw new ShardError(`${what} must be a whole number ≥ ${min}, got "${text}"`);
  }
  return n;
}
