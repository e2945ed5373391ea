// Synthetic run folders for the list/diff tests: only the small files tools read.
import { hostName, toJson } from "../lib/fs.ts";
import { matrixCell } from "./_metrics.ts";

/** Writes a fake run folder; `patch` overrides manifest, summary and config fields. */
export async function fakeRun(
  root: string,
  name: string,
  patch: {
    manifest?: Record<string, unknown>;
    summary?: Record<string, unknown>;
    config?: Record<string, unknown>;
  } = {},
): Promise<string> {
  const dir = `${root}/2026-11-30T00-00-00.000Z_${name}`;
  await Deno.mkdir(dir, { recursive: true });
  const manifest = {
    status: "completed",
    name,
    started_at: "2026-11-30T00:00:00.000Z",
    ended_at: "2026-11-30T00:02:00.000Z",
    git: { commit: "0123456789abcdef0123456789abcdef01234567", dirty: false },
    experiment_hash: "ab".repeat(32),
    backend: { name: "native", device: "cpu", threads: 1 },
    versions: { glyphnet: "0.1.0", deno: "2.9.6", tfjs: "4.22.0" },
    host: { os: "linux", arch: "x86_64", cpus: 2, name: hostName() },
    pid: 1,
    heartbeat: "2026-11-30T00:02:00.000Z",
    epochs_done: 20,
    ...patch.manifest,
  };
  const summary = {
    epochs: 20,
    steps: 3000,
    seconds: 120,
    final: { level: 9, loss_total: 0.5, accuracy: 0.97, bit_accuracy: 0.97 },
    best: { accuracy: 0.99, accuracy_epoch: 12, loss_total: 0.4 },
    highest_level: 12,
    level_at_95: 7,
    level_at_99: 5,
    matrix: {
      epoch: 20,
      levels: [0, 1, 2],
      samples: 8,
      seed: 1,
      rows: { channel: [1, 0.97, 0.9].map(matrixCell), blur: [1, 1, 0.8].map(matrixCell) },
    },
    ...patch.summary,
  };
  const config = {
    name,
    seed: 42,
    model: { filters: 8 },
    training: { epochs: 20, batch_size: 32, optimizer: { learning_rate: 0.002 } },
    ...patch.config,
  };
  await Deno.writeTextFile(`${dir}/manifest.json`, toJson(manifest));
  await Deno.writeTextFile(`${dir}/metrics.json`, toJson(summary));
  await Deno.writeTextFile(`${dir}/config.json`, toJson(config));
  return dir;
}
