/**
 * manifest.json: what ran, where, on what, and how it ended.
 * @module
 */
import { version_core as tfjsVersion } from "@tensorflow/tfjs-core";
import type { BackendInfo } from "../backend/init.ts";
import type { Experiment } from "../config/schema.ts";

/** Program version, recorded in every manifest. */
export const GLYPHNET_VERSION = "0.1.0";

/** The manifest's fields (the run-folder contract: docs/ARCHITECTURE.md). */
export interface Manifest {
  /** "running" until the run ends one of the other three ways. */
  status: "running" | "completed" | "failed" | "interrupted";
  /** The run's name (the folder name after the timestamp). */
  name: string;
  /** ISO time the run started. */
  started_at: string;
  /** ISO time it ended; null while running. */
  ended_at: string | null;
  /** The repository's commit and whether the tree had changes; null outside git. */
  git: { commit: string; dirty: boolean } | null;
  /** SHA-256 of the resolved config: equal hashes, equal experiments. */
  experiment_hash: string;
  /** Path of the experiment file as given. */
  experiment_file: string;
  /** The experiment's seed. */
  seed: number;
  /** The backend that ran it, its device, and why it was chosen. */
  backend: BackendInfo;
  /** Versions of glyphnet, Deno, V8, TypeScript and tfjs. */
  versions: { glyphnet: string; deno: string; v8: string; typescript: string; tfjs: string };
  /** The command line that started it. */
  command: string[];
  /** Operating system, architecture and CPU count. */
  host: { os: string; arch: string; cpus: number };
  /** Epochs finished so far. */
  epochs_done: number;
  /** Why it failed; null otherwise. */
  error: string | null;
  /** Start times of each `--resume`, oldest first. */
  resumed_from?: string[];
}

/** SHA-256 of the resolved config, so runs of the same experiment group together. */
export async function experimentHash(config: Experiment): Promise<string> {
  const { name: _name, ...rest } = config;
  const bytes = new TextEncoder().encode(stableJson(rest));
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

function stableJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(stableJson).join(",")}]`;
  if (v && typeof v === "object") {
    const keys = Object.keys(v).sort();
    return `{${
      keys.map((k) => `${JSON.stringify(k)}:${stableJson((v as Record<string, unknown>)[k])}`).join(
        ",",
      )
    }}`;
  }
  return JSON.stringify(v);
}

/** The commit of the working directory's git checkout and whether it has changes; null outside git. */
export async function gitState(cwd: string): Promise<{ commit: string; dirty: boolean } | null> {
  try {
    const run = async (...args: string[]) => {
      const out = await new Deno.Command("git", { args, cwd, stdout: "piped", stderr: "null" })
        .output();
      if (!out.success) throw new Error("git failed");
      return new TextDecoder().decode(out.stdout).trim();
    };
    const commit = await run("rev-parse", "HEAD");
    const status = await run("status", "--porcelain", "--untracked-files=no");
    return { commit, dirty: status.length > 0 };
  } catch {
    return null;
  }
}

/** A fresh manifest for a run that is starting. */
export async function newManifest(
  opts: { name: string; config: Experiment; file: string; backend: BackendInfo; cwd: string },
): Promise<Manifest> {
  return {
    status: "running",
    name: opts.name,
    started_at: new Date().toISOString(),
    ended_at: null,
    git: await gitState(opts.cwd),
    experiment_hash: await experimentHash(opts.config),
    experiment_file: opts.file,
    seed: opts.config.seed,
    backend: opts.backend,
    versions: {
      glyphnet: GLYPHNET_VERSION,
      deno: Deno.version.deno,
      v8: Deno.version.v8,
      typescript: Deno.version.typescript,
      tfjs: tfjsVersion,
    },
    command: ["deno", "task", ...Deno.args],
    host: { os: Deno.build.os, arch: Deno.build.arch, cpus: navigator.hardwareConcurrency },
    epochs_done: 0,
    error: null,
  };
}
