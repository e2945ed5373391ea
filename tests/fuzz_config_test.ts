// Fuzzing the loaders of files users write. 1,000 documents per loader in
// `deno task ok`; `deno task test:fuzz` runs GLYPHNET_FUZZ (10,000) of them.
// To fuzz another loader, add one entry to TARGETS.
import { ConfigError, loadExperiment, parseExperiment } from "../lib/config/load.ts";
import { loadSweep } from "../lib/config/sweep.ts";
import { fuzz, type FuzzTarget } from "./_fuzz.ts";
import { assert, assertEquals, assertMatch, assertThrows } from "./_assert.ts";

/** The YAML files of a folder of the repository, as seed documents. */
async function examples(folder: string): Promise<string[]> {
  const dir = new URL(`../${folder}/`, import.meta.url);
  const texts: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isFile && e.name.endsWith(".yaml")) {
      texts.push(await Deno.readTextFile(new URL(e.name, dir)));
    }
  }
  return texts.sort();
}

/** Loaders of files users write; one line each. */
const TARGETS: FuzzTarget[] = [
  {
    name: "experiment",
    seeds: await examples("experiments"),
    load: loadExperiment,
    userError: ConfigError,
  },
  {
    name: "sweep",
    // Only the sweep files (the folder also holds a Kubernetes Job).
    seeds: (await examples("experiments/sweeps")).filter((t) => /^base:/m.test(t)),
    load: loadSweep,
    userError: ConfigError,
    // The seeds' base is ../quick.yaml; the fuzzer writes documents one folder down.
    files: { "../quick.yaml": await Deno.readTextFile("experiments/quick.yaml") },
  },
];

const COUNT = Number(Deno.env.get("GLYPHNET_FUZZ") ?? 1000);

for (const target of TARGETS) {
  Deno.test(`fuzz: ${target.name} loader takes ${COUNT} mutated documents (drill)`, async () => {
    const report = await fuzz(target, { count: COUNT, seed: 1 });
    console.log(
      `${target.name}: ${report.documents} documents, ${report.accepted} accepted, ` +
        `${report.refused} refused, ${report.seconds.toFixed(1)} s, slowest ${
          report.slowestMs.toFixed(0)
        } ms`,
    );
    assertEquals(report.failures.slice(0, 10), [], `${report.failures.length} failures`);
    assert(report.refused > report.documents / 2, "most mutants are refused");
    assert(report.accepted > 0, "some mutants still load");
  });
}

Deno.test("parseExperiment() refuses 1 MiB of nested brackets at once, with where", () => {
  const text = "seed: 1\nchannel: " + "[".repeat(500_000) + "]".repeat(500_000);
  const started = performance.now();
  const e = assertThrows(() => parseExperiment(text, "deep.yaml"), ConfigError);
  assert(performance.now() - started < 1000, "under a second");
  assertMatch(e.message, /deep\.yaml:2:74: nested deeper than 64 brackets/);
});
