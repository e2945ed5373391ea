// The README's crontab line, the Slurm array script and the Kubernetes
// Indexed Job: each parses and names a sweep that loads, with flags the
// sweep command accepts. (The Slurm script also runs for real: deno task test:slurm.)
import { parse } from "yaml";
import { loadSweep } from "../lib/config/sweep.ts";
import { resolveShard } from "../lib/tools/sweep/shard.ts";
import { assert, assertEquals, assertMatch } from "./_assert.ts";

const root = new URL("..", import.meta.url).pathname;

Deno.test("README's crontab line is five time fields and a sweep command with a log", async () => {
  const readme = await Deno.readTextFile(`${root}README.md`);
  const block = /```crontab\n([\s\S]*?)```/.exec(readme)?.[1];
  assert(block, "README has a crontab block");
  const line = block.split("\n").find((l) => l.trim() && !l.startsWith("#") && !/^\w+=/.test(l))!;
  const fields = line.trim().split(/\s+/);
  const ranges = [[0, 59], [0, 23], [1, 31], [1, 12], [0, 7]];
  fields.slice(0, 5).forEach((f, i) => {
    assert(
      f === "*" || f.split(",").every((n) => +n >= ranges[i][0] && +n <= ranges[i][1]),
      `crontab field ${i + 1} "${f}"`,
    );
  });
  const command = fields.slice(5).join(" ");
  assertMatch(command, /deno task sweep (\S+\.yaml) --exclusive .*>> \S+\.log 2>&1$/);
  const sweep = /deno task sweep (\S+\.yaml)/.exec(command)![1];
  assertEquals((await loadSweep(`${root}${sweep}`)).points.length > 0, true);
});

Deno.test("experiments/sweeps/slurm.sh is valid bash, requeues and forwards signals", async () => {
  const path = `${root}experiments/sweeps/slurm.sh`;
  const check = await new Deno.Command("bash", { args: ["-n", path] }).output();
  assertEquals(check.code, 0, new TextDecoder().decode(check.stderr));
  const text = await Deno.readTextFile(path);
  assertMatch(text, /sbatch --array=0-7%4 --requeue experiments\/sweeps\/slurm\.sh (\S+\.yaml)/);
  assertMatch(text, /^#SBATCH --requeue$/m);
  assertMatch(text, /^#SBATCH --signal=B:TERM@\d+$/m);
  assertMatch(text, /trap '.*kill -TERM/);
  assertMatch(text, /"\$code" -eq 75/);
});

Deno.test("experiments/sweeps/kubernetes.yaml is an Indexed Job whose pods shard the sweep", async () => {
  const job = parse(await Deno.readTextFile(`${root}experiments/sweeps/kubernetes.yaml`));
  assertEquals([job.apiVersion, job.kind, job.spec.completionMode], ["batch/v1", "Job", "Indexed"]);
  assertEquals(job.spec.template.spec.restartPolicy, "Never"); // podFailurePolicy needs it
  const container = job.spec.template.spec.containers[0];
  const args: string[] = container.command;
  assertEquals(args.slice(0, 3), ["deno", "task", "sweep"]);
  const count = args[args.indexOf("--shard-count") + 1];
  assertEquals(Number(count), job.spec.completions);
  // Every index maps to a distinct shard.
  const shards = Array.from(
    { length: job.spec.completions },
    (_, i) => resolveShard({ shardCount: count }, { JOB_COMPLETION_INDEX: String(i) })!.index,
  );
  assertEquals(new Set(shards).size, job.spec.completions);
  const rules = job.spec.podFailurePolicy.rules;
  assert(
    rules.some((r: { action: string; onExitCodes?: { values: number[]; containerName: string } }) =>
      r.action === "Ignore" && r.onExitCodes?.values.includes(75) &&
      r.onExitCodes.containerName === container.name
    ),
    "exit 75 (interrupted) is retried without counting as a failure",
  );
  assert((await loadSweep(`${root}${args[3]}`)).points.length > 0);
});
