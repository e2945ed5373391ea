// Drills: a runs folder that cannot take files (read-only, full) is refused before
// training with one line naming it; a disk that fills mid-run keeps the previous
// checkpoint, leaves no temp file and marks the run failed.
//
// Real file systems: a tmpfs mounted read-only or tiny when the tests may mount
// (root); otherwise a folder without write permission (which does not stop root,
// so then the read-only drill is skipped, and the full-disk drills need a mount).
import { initBackend } from "../lib/backend/init.ts";
import { parseExperiment } from "../lib/config/load.ts";
import { InputError } from "../lib/errors.ts";
import { WriteError } from "../lib/fs.ts";
import { readRun } from "../lib/run/reader.ts";
import { RUN_FILES } from "../lib/run/writer.ts";
import { runExperiment } from "../lib/runner.ts";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { runMain } from "./_spawn.ts";

const TINY = `
seed: 2
message: { type: one-hot, size: 4 }
image: { size: 8, color: grayscale }
model: { filters: 2 }
training: { backend: cpu, batch_size: 8, epochs: 2, steps_per_epoch: 1 }
eval: { samples: 8, matrix_samples: 8, matrix_levels: 1, glyph_samples: 8 }
output: { frame_every: 0, grid: 2 }
`;

function mount(dir: string, options: string): boolean {
  const args = ["-t", "tmpfs", "-o", options, "tmpfs", dir];
  try {
    return new Deno.Command("mount", { args, stdout: "null", stderr: "null" }).outputSync()
      .success;
  } catch {
    return false;
  }
}

function unmount(dir: string): void {
  new Deno.Command("umount", { args: [dir], stdout: "null", stderr: "null" }).outputSync();
}

/** Whether this process may mount a tmpfs (root with the capability). */
function canMount(): boolean {
  const dir = Deno.makeTempDirSync();
  const ok = mount(dir, "size=16k");
  if (ok) unmount(dir);
  Deno.removeSync(dir);
  return ok;
}

/** Whether a folder without write permission stops this process (not root). */
function chmodStops(): boolean {
  const dir = Deno.makeTempDirSync();
  Deno.chmodSync(dir, 0o555);
  let stopped = false;
  try {
    Deno.writeTextFileSync(`${dir}/x`, "x");
  } catch {
    stopped = true;
  }
  Deno.chmodSync(dir, 0o755);
  Deno.removeSync(dir, { recursive: true });
  return stopped;
}

const MOUNT = canMount();
const CHMOD = !MOUNT && chmodStops();
if (!MOUNT) {
  console.log(
    "drill_disk_test: cannot mount a tmpfs (needs root): the full-disk drills are skipped" +
      (CHMOD ? "" : "; chmod does not stop this user either: the read-only drill is skipped"),
  );
}

/** A read-only folder: a read-only tmpfs, or a folder without write permission. */
async function readOnlyFolder(): Promise<{ dir: string; undo: () => Promise<void> }> {
  const dir = await Deno.makeTempDir();
  if (MOUNT) mount(dir, "ro,size=16k");
  else await Deno.chmod(dir, 0o555);
  return {
    dir,
    undo: async () => {
      if (MOUNT) unmount(dir);
      else await Deno.chmod(dir, 0o755);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** A tmpfs of `size`, unmounted by the returned function. */
async function tmpfs(size: string): Promise<{ dir: string; undo: () => Promise<void> }> {
  const dir = await Deno.makeTempDir();
  assert(mount(dir, `size=${size}`), "mount");
  return {
    dir,
    undo: async () => {
      unmount(dir);
      await Deno.remove(dir, { recursive: true });
    },
  };
}

/** Fills the file system holding `path` up to `leave` bytes free. */
async function fill(path: string, leave: number): Promise<void> {
  try {
    await Deno.writeFile(path, new Uint8Array(64 << 20));
  } catch { /* full: the file keeps what fitted */ }
  const size = (await Deno.stat(path)).size;
  await Deno.truncate(path, Math.max(0, size - leave));
}

Deno.test({
  name: "drill: a read-only runs folder is refused before training, naming it (exit 2)",
  ignore: !MOUNT && !CHMOD,
  async fn() {
    const { dir, undo } = await readOnlyFolder();
    try {
      const file = await Deno.makeTempFile({ suffix: ".yaml" });
      await Deno.writeTextFile(file, TINY);
      const run = await runMain(["run", file, "--runs", dir]);
      await Deno.remove(file);
      assertEquals(run.code, 2, run.stderr);
      const reason = MOUNT ? "read-only file system \\(EROFS\\)" : "permission denied \\(EACCES\\)";
      assertMatch(
        run.stderr,
        new RegExp(
          `^error: Cannot start a run in "${dir}": cannot write files there: ${reason}\n$`,
        ),
      );
      assertEquals((await Array.fromAsync(Deno.readDir(dir))).length, 0);
    } finally {
      await undo();
    }
  },
});

Deno.test({
  name: "drill: a full runs folder is refused before training, naming it",
  ignore: !MOUNT,
  async fn() {
    await initBackend("cpu");
    const { dir, undo } = await tmpfs("64k");
    try {
      await fill(`${dir}/filler`, 0);
      const error = await runExperiment(parseExperiment(TINY, "tiny.yaml"), { root: `${dir}` })
        .then(() => undefined, (e: Error) => e);
      assert(error instanceof InputError, String(error));
      assertEquals(
        error.message,
        `Cannot start a run in "${dir}": cannot write files there: ` +
          `no space left on device (ENOSPC)`,
      );
      assertEquals((await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name), ["filler"]);
    } finally {
      await undo();
    }
  },
});

Deno.test({
  name: "drill: the disk filling mid-run keeps the last checkpoint and marks the run failed",
  ignore: !MOUNT,
  async fn() {
    await initBackend("cpu");
    const { dir: root, undo } = await tmpfs("1m");
    try {
      let first: Uint8Array | undefined;
      let dir = "";
      const error = await runExperiment(parseExperiment(TINY, "tiny.yaml"), {
        root,
        onStarted: (run) => void (dir = run.dir),
        onEvent: async (e) => {
          if (e.type !== "checkpoint" || first) return;
          // Epoch 1's checkpoint is on disk: leave room for small files, not for the next one.
          first = await Deno.readFile(`${dir}/${RUN_FILES.checkpoint}`);
          await fill(`${root}/filler`, 24 << 10);
        },
      }).then(() => undefined, (e: Error) => e);
      assert(error instanceof WriteError, String(error));
      const path = `${dir}/${RUN_FILES.checkpoint}`;
      assertEquals(error.message, `Cannot write "${path}": no space left on device (ENOSPC)`);
      assertEquals(await Deno.readFile(path), first);
      const { manifest, metrics } = await readRun(dir);
      assertEquals([manifest.status, manifest.error], ["failed", error.message]);
      assertEquals(metrics.length, 2);
      for await (const f of Deno.readDir(`${dir}/checkpoints`)) {
        assertEquals(f.name, "last.safetensors");
      }
      for await (const f of Deno.readDir(dir)) assert(!f.name.endsWith(".tmp"), f.name);
    } finally {
      await undo();
    }
  },
});
