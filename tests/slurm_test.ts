// On demand (deno task test:slurm, as root): a one-node Slurm cluster on this
// machine runs a sweep as a job array through experiments/sweeps/slurm.sh; one
// array task is stopped (SIGTERM, as before a time limit) and requeued; every
// point must complete exactly once and the summary must count them all.
import { readRunBrief } from "../lib/run/brief.ts";
import { assert, assertEquals, assertMatch } from "./_assert.ts";

const WANTED = Deno.env.get("GLYPHNET_SLURM") === "1";
const ROOT = Deno.uid() === 0;
const reason = !WANTED
  ? "set GLYPHNET_SLURM=1 (deno task test:slurm) to run it"
  : !ROOT
  ? "it needs root to install slurm-wlm and munge and to start the daemons"
  : "";
if (reason) console.log(`skipping the Slurm test: ${reason}`);

const repo = new URL("..", import.meta.url).pathname;
const TINY = `
message: { type: one-hot, size: 4 }
image: { size: 8, color: grayscale }
model: { filters: 2 }
training: { backend: cpu, batch_size: 8, epochs: 4, steps_per_epoch: 3 }
eval: { samples: 8, matrix_samples: 8, matrix_levels: 1, glyph_samples: 8 }
`;

async function sh(cmd: string, env: Record<string, string> = {}) {
  const out = await new Deno.Command("bash", { args: ["-c", cmd], env }).output();
  const text = new TextDecoder().decode(out.stdout) + new TextDecoder().decode(out.stderr);
  return { code: out.code, text };
}

async function until(what: string, seconds: number, ok: () => Promise<boolean>) {
  for (let i = 0; i < seconds * 2; i++) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out after ${seconds} s waiting for ${what}`);
}

function slurmConf(dir: string, host: string, port: number): string {
  return `ClusterName=glyphnet
SlurmctldHost=${host}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
SlurmctldPort=${port}
SlurmdPort=${port + 1}
StateSaveLocation=${dir}/state
SlurmdSpoolDir=${dir}/spool
SlurmctldPidFile=${dir}/slurmctld.pid
SlurmdPidFile=${dir}/slurmd.pid
SlurmctldLogFile=${dir}/slurmctld.log
SlurmdLogFile=${dir}/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
NodeName=${host} CPUs=${navigator.hardwareConcurrency} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
`;
}

Deno.test({
  name:
    "slurm.sh runs a sweep as a job array: every point once, a stopped task requeued and resumed",
  ignore: reason !== "",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    if ((await sh("command -v sbatch slurmctld slurmd munged")).code !== 0) {
      const install = await sh(
        "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq slurm-wlm munge",
      );
      assertEquals(install.code, 0, install.text);
    }
    const started: Deno.ChildProcess[] = [];
    const dir = await Deno.makeTempDir({ prefix: "glyphnet-slurm-" });
    // The runs go under the project's runs/, the only folder the sweep task may write.
    await Deno.mkdir(`${repo}runs`, { recursive: true });
    const runs = await Deno.makeTempDir({ dir: `${repo}runs`, prefix: "_slurm-" });
    try {
      if ((await sh("munge -n | unmunge")).code !== 0) {
        await sh("mkdir -p /run/munge && chown munge:munge /run/munge");
        started.push(
          new Deno.Command("munged", { args: ["-F", "--force"], stderr: "null" }).spawn(),
        );
        await until("munged", 20, async () => (await sh("munge -n | unmunge")).code === 0);
      }
      const host = Deno.hostname();
      await Deno.mkdir(`${dir}/state`);
      await Deno.mkdir(`${dir}/spool`);
      const conf = `${dir}/slurm.conf`;
      await Deno.writeTextFile(
        conf,
        slurmConf(dir, host, 20000 + Math.floor(Math.random() * 9000)),
      );
      const env = { SLURM_CONF: conf };
      for (const daemon of ["slurmctld", "slurmd"]) {
        started.push(
          new Deno.Command(daemon, {
            args: ["-D", "-f", conf],
            env,
            stdout: "null",
            stderr: "null",
          })
            .spawn(),
        );
      }
      await until(
        "the node to be idle",
        90,
        async () => /idle/.test((await sh("sinfo -h", env)).text),
      );

      await Deno.writeTextFile(`${dir}/tiny.yaml`, TINY);
      await Deno.writeTextFile(
        `${dir}/s.yaml`,
        "base: tiny.yaml\nname: sl\nseeds: [1, 2, 3, 4, 5, 6]\n",
      );
      const submit = await sh(
        `sbatch --parsable --array=0-2%2 --requeue --cpus-per-task=1 --chdir=${repo} ` +
          `--output=${dir}/task-%A_%a.log ${repo}experiments/sweeps/slurm.sh ${dir}/s.yaml ${runs}`,
        env,
      );
      assertEquals(submit.code, 0, submit.text);
      const job = submit.text.trim().split(";")[0];
      // Stop task 0 once a point of it has a checkpoint, as Slurm does before a time limit.
      await until(
        "a checkpoint",
        180,
        async () => (await sh(`ls ${runs}/*/checkpoints/last.safetensors`)).code === 0,
      );
      const stop = await sh(`scancel --signal=TERM --batch ${job}_0`, env);
      assertEquals(stop.code, 0, stop.text);
      // The script requeues it on exit 75; Slurm delays requeued jobs, so start it now.
      await until(
        "the requeue",
        60,
        async () => /Restarts=1/.test((await sh(`scontrol show job ${job}_0`, env)).text),
      );
      await sh(`scontrol update JobId=${job}_0 StartTime=now`, env);
      await until(
        "the array to finish",
        300,
        async () => (await sh(`squeue -h -j ${job}`, env)).text.trim() === "",
      );

      const perPoint = new Map<string, string[]>();
      for await (const e of Deno.readDir(`${runs}`)) {
        const b = await readRunBrief(`${runs}/${e.name}`);
        const p = b?.manifest.sweep?.point;
        if (p) perPoint.set(p, [...(perPoint.get(p) ?? []), `${runs}/${e.name}`]);
      }
      assertEquals(perPoint.size, 6, "every point ran");
      let resumed = 0;
      for (const [, dirs] of perPoint) {
        assertEquals(dirs.length, 1, `exactly once: ${dirs}`);
        const b = await readRunBrief(dirs[0]);
        assertEquals(b?.status, "completed");
        resumed += b?.manifest.resumed_from?.length ? 1 : 0;
      }
      const log0 = await Deno.readTextFile(`${dir}/task-${job}_0.log`);
      assertMatch(log0, /1 interrupted/);
      assert(
        resumed >= 1 || /ran 0 completed, 0 failed, 1 interrupted/.test(log0),
        "the stopped point resumed",
      );
      const summary = JSON.parse(await Deno.readTextFile(`${runs}/sweeps/sl/summary.json`));
      assertEquals(summary.counts.completed, 6);
      assertEquals(summary.settings[0].completed, 6);
      assertEquals(summary.settings[0].metrics.final_accuracy.n, 6);
      console.log(
        `${(await sh("sinfo -V", env)).text.trim()}: job array ${job} (3 tasks, %2), 6 points ` +
          `each completed once, ${resumed} resumed after SIGTERM + requeue; summary counts 6`,
      );
    } finally {
      for (const p of started.reverse()) {
        try {
          p.kill("SIGTERM");
          await p.status;
        } catch { /* gone */ }
      }
      await Deno.remove(dir, { recursive: true }).catch(() => {});
      await Deno.remove(runs, { recursive: true }).catch(() => {});
    }
  },
});
