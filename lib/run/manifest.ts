/**
 * manifest.json: what ran, where, on what, and how it ended.
 * @module
 */
import { version_core as tfjsVersion } from "@tensorflow/tfjs-core";
import type { BackendInfo } from "../backend/init.ts";
import type { Experiment } from "../config/schema.ts";
import { hostName } from "../fs.ts";

/** Program version, recorded in every manifest. */
export const GLYPHNET_VERSION = "0.1.0";

/** The manifest's fields (the run-folder contract in shared/DESIGN.md). */
export interface Manifest {
  status: "running" | "completed" | "failed" | "interrupted";
  name: string;
  started_at: string;
  ended_at: string | null;
  git: { commit: string; dirty: boolean } | null;
  experiment_hash: string;
  experiment_file: string;
  seed: number;
  backend: BackendInfo;
  versions: { glyphnet: string; deno: string; v8: string; typescript: string; tfjs: string };
  command: string[];
  host: { os: string; arch: string; cpus: number; name?: string };
  /** The training process and its heartbeat (ISO time, refreshed while running). */
  pid?: number;
  heartbeat?: string;
  /** Set when the run is a point of a sweep. */
  sweep?: { name: string; point: string };
  epochs_done: number;
  error: string | null;
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
  opts: {
    name: string;
    config: Experiment;
    file: string;
    backend: BackendInfo;
    cwd: string;
    sweep?: { name: string; point: string };
  },
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
    host: {
      os: Deno.build.os,
      arch: Deno.build.arch,
      cpus: navigator.hardwareConcurrency,
      name: hostName(),
    },
    pid: Deno.pid,
    heartbeat: new Date().toISOString(),
    ...(opts.sweep ? { sweep: opts.sweep } : {}),
    epochs_done: 0,
    error: null,
  };
}
