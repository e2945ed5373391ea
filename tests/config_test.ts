import { assert, assertEquals, assertMatch, assertThrows } from "./_assert.ts";
import { ConfigError, loadExperiment, parseExperiment, sanitizeName } from "../lib/config/load.ts";
import { experimentJsonSchema } from "../lib/config/json_schema.ts";

// [what, file text, --set overrides, expected message pattern]
const refusals: [string, string, string[], RegExp][] = [
  ["YAML syntax error", "a: [1, 2\nb: 3\n", [], /YAML syntax error at x\.yaml:\d+:\d+/],
  ["wrong type", "seed: hello\n", [], /x\.yaml:1:7: seed must be a number, got "hello"/],
  [
    "non-integer",
    "training:\n  epochs: 2.5\n",
    [],
    /x\.yaml:2:11: training\.epochs must be an integer, got 2\.5/,
  ],
  [
    "out of range",
    "training:\n  batch_size: 0\n",
    [],
    /x\.yaml:2:15: training\.batch_size must be at least 1, got 0/,
  ],
  [
    "not a power of two",
    "image:\n  size: 48\n",
    [],
    /x\.yaml:2:9: image\.size must be a power of two, got 48/,
  ],
  [
    "unknown op",
    "channel:\n  ops: [static, blurr]\n",
    [],
    /x\.yaml:2:17: channel\.ops\.1 is "blurr"; allowed: static, blur/,
  ],
  [
    "unknown backend",
    "training:\n  backend: cuda\n",
    [],
    /training\.backend is "cuda"; allowed: auto, native/,
  ],
  [
    "unknown message type",
    "message:\n  type: ternary\n",
    [],
    /message\.type is "ternary"; allowed: one-hot, binary/,
  ],
  [
    "unknown key, nearest",
    "training:\n  epohcs: 3\n",
    [],
    /x\.yaml:2:3: unknown key "training\.epohcs"; did you mean "training\.epochs"\?/,
  ],
  [
    "unknown top-level key",
    "traning: {}\n",
    [],
    /unknown key "traning"; did you mean "training"\?/,
  ],
  ["NaN", "seed: .nan\n", [], /seed must be a finite number, got \.nan/],
  [
    "Infinity",
    "training:\n  optimizer: { learning_rate: .inf }\n",
    [],
    /learning_rate must be a finite number, got \.inf/,
  ],
  ["empty document", "", [], /the file is empty/],
  ["comment-only document", "# nothing\n", [], /the file is empty/],
  ["non-mapping document", "- a\n- b\n", [], /top level must be a mapping of keys, got a list/],
  ["scalar document", "42\n", [], /top level must be a mapping of keys, got 42/],
  ["binary garbage", "\u0000\u0001\u0002PNG", [], /NUL bytes/],
  [
    "alias bomb",
    "a: &a [x,x,x,x,x,x,x,x,x]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n" +
    "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n",
    [],
    /alias/i,
  ],
  ["duplicate key", "seed: 1\nseed: 2\n", [], /YAML syntax error.*x\.yaml:2:1/],
  [
    "bits with one-hot",
    "message: { type: one-hot, bits: 8 }\n",
    [],
    /message\.bits is for binary messages/,
  ],
  [
    "start above max",
    "channel:\n  schedule: { start: 9, max: 4 }\n",
    [],
    /channel\.schedule\.start must be at most max \(4\)/,
  ],
  [
    "thresholds crossed",
    "channel:\n  schedule: { raise_below: 3, lower_above: 2 }\n",
    [],
    /lower_above must be above raise_below/,
  ],
  [
    "short table",
    "channel:\n  tables: { static: [0, 0.1] }\n",
    [],
    /channel\.tables\.static needs an entry for every level 0\.\.15, got 2/,
  ],
  [
    "--set wrong type",
    "seed: 1\n",
    ["training.epochs=many"],
    /--set training\.epochs: training\.epochs must be a number/,
  ],
  [
    "--set unknown key",
    "seed: 1\n",
    ["training.epocs=3"],
    /unknown key "training\.epocs"; did you mean "training\.epochs"/,
  ],
  [
    "--set without =",
    "seed: 1\n",
    ["training.epochs"],
    /--set training\.epochs: expected key\.path=value/,
  ],
  ["--set prototype path", "seed: 1\n", ["__proto__.x=1"], /not a valid key path/],
  ["--set into a scalar", "seed: 1\n", ["seed.x=1"], /"seed" is not a mapping/],
];

for (const [what, text, set, pattern] of refusals) {
  Deno.test(`parseExperiment() refuses ${what}`, () => {
    const started = performance.now();
    const err = assertThrows(() => parseExperiment(text, "x.yaml", { set }), ConfigError);
    assertMatch(err.message, /^Cannot load experiment "x\.yaml": /);
    assertMatch(err.message, pattern);
    assert(performance.now() - started < 1000, "refused in under a second");
  });
}

Deno.test("parseExperiment() fills GlyphNet's defaults", () => {
  const c = parseExperiment("seed: 7\n", "experiments/color.yaml");
  assertEquals(c.name, "color");
  assertEquals(c.seed, 7);
  assertEquals(c.message, { type: "one-hot", size: 128 });
  assertEquals(c.image, { size: 64, color: "rgb" });
  assertEquals(c.model.filters, 16);
  assertEquals(c.training.batch_size, 128);
  assertEquals(c.training.optimizer.learning_rate, 0.00025);
  assertEquals(c.training.optimizer.beta1, 0.5);
  assertEquals(c.channel.ops, ["static", "blur", "resize", "translate", "rotate"]);
  assertEquals(c.channel.schedule.kind, "adaptive");
  assertEquals(c.channel.schedule.max, 15);
});

Deno.test("parseExperiment() applies --set overrides as YAML scalars", () => {
  const c = parseExperiment("training:\n  epochs: 9\n", "x.yaml", {
    set: ["training.epochs=3", "message.type=binary", "channel.ops=[blur, rotate]", "name=try 1"],
  });
  assertEquals(c.training.epochs, 3);
  assertEquals(c.message, { type: "binary", bits: 16 });
  assertEquals(c.channel.ops, ["blur", "rotate"]);
  assertEquals(c.name, "try 1");
});

Deno.test("loadExperiment() refuses a missing file and a directory", async () => {
  await assertRejects(
    () => loadExperiment("does/not/exist.yaml"),
    /Cannot load experiment "does\/not\/exist\.yaml"/,
  );
  await assertRejects(() => loadExperiment("tests"), /not a file/);
});

Deno.test("loadExperiment() refuses a file that is not UTF-8", async () => {
  const path = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeFile(path, new Uint8Array([0xff, 0xfe, 0x00, 0x80, 0x81]));
  await assertRejects(() => loadExperiment(path), /not UTF-8 text/);
  await Deno.remove(path);
});

Deno.test("loadExperiment() accepts every example experiment", async () => {
  for await (const e of Deno.readDir("experiments")) {
    if (!e.name.endsWith(".yaml") || e.name.startsWith("sweep")) continue;
    const { config } = await loadExperiment(`experiments/${e.name}`);
    assert(config.training.epochs >= 1);
  }
});

Deno.test("sanitizeName() keeps run names inside runs/", () => {
  assertEquals(sanitizeName("../../etc/passwd"), "etc-passwd");
  assertEquals(sanitizeName("/abs/path"), "abs-path");
  assertEquals(sanitizeName("a b:c"), "a-b-c");
  assertEquals(sanitizeName(".."), "run");
  assertEquals(sanitizeName("ok_name-1.2"), "ok_name-1.2");
});

Deno.test("experimentJsonSchema() describes the same keys as the validator", () => {
  const schema = experimentJsonSchema() as {
    properties: Record<string, { properties?: Record<string, unknown> }>;
  };
  assertEquals(
    Object.keys(schema.properties).sort(),
    [
      "$schema",
      "channel",
      "eval",
      "image",
      "message",
      "model",
      "name",
      "output",
      "seed",
      "training",
    ],
  );
  assert(schema.properties.training.properties?.batch_size);
});

async function assertRejects(f: () => Promise<unknown>, pattern: RegExp) {
  try {
    await f();
  } catch (e) {
    assert(e instanceof ConfigError, `expected ConfigError, got ${(e as Error).name}`);
    assertMatch(e.message, pattern);
    return;
  }
  throw new Error("expected a rejection");
}
