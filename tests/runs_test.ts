import { holdLock, hostName } from "../lib/fs.ts";
import { BRIEF_FILES } from "../lib/run/brief.ts";
import { RUN_FILES } from "../lib/run/writer.ts";
import { liveStatus, RUNNING_LOCK } from "../lib/run/liveness.ts";
import { formatRunList, listRuns, parseListFilter } from "../lib/tools/runs.ts";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { fakeRun } from "./_runs.ts";

Deno.test("listRuns() lists 1,000 synthetic run folders in under a second", async () => {
  const root = await Deno.makeTempDir();
  for (let i = 0; i < 1000; i += 50) {
    await Promise.all(
      Array.from({ length: 50 }, (_, j) => fakeRun(root, `r${String(i + j).padStart(4, "0")}`)),
    );
  }
  await listRuns(root); // warm the module and the file cache once, as a second listing would be
  const t0 = performance.now();
  const rows = await listRuns(root);
  const ms = performance.now() - t0;
  assertEquals(rows.length, 1000);
  assert(ms < 1000, `listing took ${ms.toFixed(0)} ms`);
  console.log(`listed 1,000 runs in ${ms.toFixed(0)} ms`);
  await Deno.remove(root, { recursive: true });
});

Deno.test("listRuns() marks a dead running run as interrupted (stale) and keeps a live one running", async () => {
  const root = await Deno.makeTempDir();
  const now = new Date().toISOString();
  // Same host, its process gone: running.lock exists but nobody holds it.
  const dead = await fakeRun(root, "dead", {
    manifest: { status: "running", ended_at: null, heartbeat: now },
  });
  await Deno.writeTextFile(`${dead}/${RUNNING_LOCK}`, "");
  // Same host, alive: this process holds the lock.
  const live = await fakeRun(root, "live", {
    manifest: { status: "running", ended_at: null, heartbeat: now },
  });
  const lock = await holdLock(`${live}/${RUNNING_LOCK}`);
  assert(lock, "this filesystem has file locks");
  // Another host: only the heartbeat tells.
  await fakeRun(root, "far-silent", {
    manifest: { status: "running", host: { name: "elsewhere" }, heartbeat: "2026-01-01T00:00:00Z" },
  });
  await fakeRun(root, "far-beating", {
    manifest: { status: "running", host: { name: "elsewhere" }, heartbeat: now },
  });
  const rows = await listRuns(root, { sort: "name" });
  const status = Object.fromEntries(rows.map((r) => [r.name, r.status]));
  assertEquals(status, {
    dead: "interrupted (stale)",
    "far-beating": "running",
    "far-silent": "interrupted (stale)",
    live: "running",
  });
  assertMatch(formatRunList(rows), /interrupted \(stale\)\s+dead/);
  const stale = await listRuns(root, parseListFilter({ status: "stale", sort: "name" }));
  assertEquals(stale.map((r) => r.name), ["dead", "far-silent"]);
  lock?.close();
  await Deno.remove(root, { recursive: true });
});

Deno.test("liveStatus() keeps the status of a manifest from before liveness was recorded", () => {
  assertEquals(liveStatus({ status: "running" }), "running");
  assertEquals(liveStatus({ status: "failed", pid: 1, host: { name: hostName() } }), "failed");
});

Deno.test("listRuns() filters by name glob and start time and sorts best first", async () => {
  const root = await Deno.makeTempDir();
  await fakeRun(root, "quick-a", { summary: { level_at_95: 6 } });
  await fakeRun(root, "quick-b", {
    summary: { level_at_95: 9 },
    manifest: { started_at: "2026-12-01T00:00:00.000Z" },
  });
  await fakeRun(root, "color");
  await Deno.mkdir(`${root}/sweeps/x`, { recursive: true }); // not a run: left out
  const byLevel = await listRuns(root, parseListFilter({ name: "quick-*", sort: "level" }));
  assertEquals(byLevel.map((r) => r.name), ["quick-b", "quick-a"]);
  const since = await listRuns(root, parseListFilter({ since: "2026-11-30T12:00:00Z" }));
  assertEquals(since.map((r) => r.name), ["quick-b"]);
  let refused = "";
  try {
    parseListFilter({ sort: "colour" });
  } catch (e) {
    refused = (e as Error).message;
  }
  assertMatch(refused, /--sort must be one of started, name/);
  await Deno.remove(root, { recursive: true });
});

Deno.test("readRunBrief() reads the files the writer writes", () => {
  assertEquals(BRIEF_FILES.manifest, RUN_FILES.manifest);
  assertEquals(BRIEF_FILES.summary, RUN_FILES.summary);
  assertEquals(BRIEF_FILES.config, RUN_FILES.config);
});
