/**
 * Which settings `--set` may change when a run resumes: those that change how
 * it trains on (optimizer, difficulty schedule, how many epochs), never what
 * its networks are, so the checkpoint still fits.
 * @module
 */
import { ConfigError, overrideExperiment } from "../config/load.ts";
import type { Experiment } from "../config/schema.ts";
import type { ResumeOverride } from "./manifest.ts";

/** Key paths (and everything under them) that a resume may change. */
export const RESUMABLE_KEYS = [
  "training.optimizer",
  "channel.schedule",
  "training.epochs",
  // Another machine may continue a run with its own cores.
  "training.threads",
];

/** Keys that decide the networks' shapes: a checkpoint cannot follow a change. */
const SHAPE_KEYS = ["message", "image", "model"];

/**
 * The experiment a resume continues with: `config` with the `set` overrides
 * applied, and what changed. Refuses keys outside {@link RESUMABLE_KEYS} and
 * an epoch count below the epoch the run continues in.
 */
export function resumeOverrides(
  config: Experiment,
  set: string[],
  opts: { dir: string; continuesAt: number },
): { config: Experiment; changes: ResumeOverride["changes"] } {
  const where = `Cannot resume "${opts.dir}"`;
  const keys = set.map((item) => item.slice(0, Math.max(0, item.indexOf("="))).trim());
  for (const key of keys) checkResumable(key, where);
  const next = overrideExperiment(config, set, where);
  if (next.training.epochs < opts.continuesAt) {
    throw new ConfigError(
      `${where}: --set training.epochs=${next.training.epochs} is below epoch ${opts.continuesAt}, ` +
        `where the run continues`,
    );
  }
  const changes: ResumeOverride["changes"] = {};
  for (const key of new Set(keys)) {
    const from = valueAt(config, key), to = valueAt(next, key);
    if (JSON.stringify(from) !== JSON.stringify(to)) changes[key] = { from, to };
  }
  return { config: next, changes };
}

function under(key: string, prefix: string): boolean {
  return key === prefix || key.startsWith(`${prefix}.`);
}

function checkResumable(key: string, where: string): void {
  if (RESUMABLE_KEYS.some((k) => under(key, k))) return;
  const allowed = `on resume only ${RESUMABLE_KEYS.join(", ")} and the keys under them can change`;
  if (!key) {
    throw new ConfigError(`${where}: --set needs key.path=value, e.g. training.epochs=30`);
  }
  if (SHAPE_KEYS.some((k) => under(key, k))) {
    throw new ConfigError(
      `${where}: --set ${key} would change the networks' shapes, which the checkpoint cannot ` +
        `fill; start a new run instead (${allowed})`,
    );
  }
  throw new ConfigError(`${where}: --set ${key}: ${allowed}`);
}

function valueAt(config: Experiment, key: string): unknown {
  let node: unknown = config;
  for (const part of key.split(".")) {
    if (node === null || typeof node !== "object") return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}
