import assert from "node:assert/strict";
import { availableCores, coresFrom, countCpuList, resolveThreads } from "../lib/backend/threads.ts";

Deno.test("countCpuList() counts ranges and single CPUs", () => {
  assert.equal(countCpuList("0-3,8,10-11"), 7);
  assert.equal(countCpuList("5"), 1);
  assert.equal(countCpuList("0-1\n"), 2);
  assert.equal(countCpuList("garbage"), 0);
});

Deno.test("coresFrom() takes the fewest of affinity, cgroup quota and SLURM", () => {
  assert.equal(coresFrom({ machine: 64 }).threads, 64);
  assert.equal(coresFrom({ machine: 64, affinity: "0-7" }).threads, 8);
  // A quota of 2.5 cores lets 3 threads run part of the time each.
  assert.equal(coresFrom({ machine: 64, affinity: "0-63", quota: 2.5 }).threads, 3);
  const slurm = coresFrom({ machine: 64, affinity: "0-63", quota: 16, slurm: "4" });
  assert.equal(slurm.threads, 4);
  assert.match(slurm.from, /SLURM_CPUS_PER_TASK 4/);
  assert.equal(coresFrom({ machine: 8, slurm: "nonsense" }).threads, 8);
});

Deno.test("resolveThreads() uses a number as given, GLYPHNET_THREADS for auto when set", () => {
  const saved = Deno.env.get("GLYPHNET_THREADS");
  try {
    Deno.env.delete("GLYPHNET_THREADS");
    assert.deepEqual(resolveThreads(3), { threads: 3, from: "training.threads" });
    assert.deepEqual(resolveThreads("auto"), availableCores());
    assert.ok(availableCores().threads >= 1);
    Deno.env.set("GLYPHNET_THREADS", "5");
    assert.deepEqual(resolveThreads("auto"), { threads: 5, from: "GLYPHNET_THREADS" });
    assert.equal(resolveThreads(2).threads, 2);
    Deno.env.set("GLYPHNET_THREADS", "two");
    assert.throws(() => resolveThreads("auto"), /GLYPHNET_THREADS="two".*whole number/);
  } finally {
    if (saved === undefined) Deno.env.delete("GLYPHNET_THREADS");
    else Deno.env.set("GLYPHNET_THREADS", saved);
  }
});

const hasTaskset = navigator.hardwareConcurrency >= 2 &&
  await new Deno.Command("taskset", { args: ["--version"] }).output().then(
    (o) => o.success,
    () => false,
  );
if (!hasTaskset) console.log("availableCores() taskset test skipped: needs taskset and ≥ 2 CPUs");

Deno.test({
  name: "availableCores() respects taskset",
  ignore: !hasTaskset,
  fn: async () => {
    const code = 'import { availableCores } from "./lib/backend/threads.ts";' +
      "console.log(availableCores().threads);";
    const out = await new Deno.Command("taskset", {
      args: ["-c", "0", Deno.execPath(), "eval", code],
      env: { GLYPHNET_THREADS: "" },
    }).output();
    assert.equal(new TextDecoder().decode(out.stdout).trim(), "1");
  },
});
