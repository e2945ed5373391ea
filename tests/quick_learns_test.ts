// On demand only (minutes of CPU): `deno task test:quick`, which sets GLYPHNET_SLOW=1.
// `deno task test` lists it as ignored.
//
// The promise of experiments/quick.yaml: on a 2-core machine, within 5
// minutes of wall time, held-out whole-channel accuracy ≥ 95 % at a level
// of at least 5 (summary.level_at_95, from the last epoch's matrix).
// GLYPHNET_QUICK_SEEDS=42,1,2 runs those seeds (default: the file's own);
// GLYPHNET_QUICK_BACKEND picks the backend (default: the file's).
import { loadExperiment } from "../lib/config/load.ts";
import { runExperiment } from "../lib/runner.ts";
import type { RunSummary } from "../lib/run/summary.ts";
import { assert, assertEquals } from "./_assert.ts";

const slow = Deno.env.get("GLYPHNET_SLOW") === "1";
const seeds = (Deno.env.get("GLYPHNET_QUICK_SEEDS") ?? "").split(",").filter((s) => s.trim());
const backend = Deno.env.get("GLYPHNET_QUICK_BACKEND");
const LIMIT_S = 300;

for (const seed of seeds.length ? seeds : [undefined]) {
  Deno.test({
    name: `experiments/quick.yaml learns: ≥ 95 % at level ≥ 5 within 5 minutes (seed ${
      seed ?? "of the file"
    })`,
    ignore: !slow,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      const root = await Deno.makeTempDir({ prefix: "glyphnet-quick-" });
      try {
        const set: string[] = [];
        if (seed !== undefined) set.push(`seed=${seed}`);
        if (backend) set.push(`training.backend=${backend}`);
        const { config, source, path } = await loadExperiment("experiments/quick.yaml", { set });
        const started = performance.now();
        const { dir, status } = await runExperiment(config, { root, source, file: path });
        const wall = (performance.now() - started) / 1000;
        assertEquals(status, "completed");
        const s: RunSummary = JSON.parse(await Deno.readTextFile(`${dir}/metrics.json`));
        const row = s.matrix?.rows.channel?.map((c) => (c.accuracy * 100).toFixed(1)).join(" ");
        console.log(
          `seed ${config.seed}: ${
            wall.toFixed(0)
          } s, ${s.steps} steps, highest level ${s.highest_level}, ` +
            `level_at_95 ${s.level_at_95}, level_at_99 ${s.level_at_99}\n  channel row: ${row}`,
        );
        assert(wall <= LIMIT_S, `took ${wall.toFixed(0)} s, over ${LIMIT_S} s`);
        assert(
          s.level_at_95 !== null && s.level_at_95 >= 5,
          `level_at_95 is ${s.level_at_95}, expected ≥ 5`,
        );
      } finally {
        await Deno.remove(root, { recursive: true });
      }
    },
  });
}
