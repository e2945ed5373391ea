/**
 * The experiment format: one zod schema is the source of truth for types,
 * defaults, validation and the JSON Schema that editors use.
 * Defaults are GlyphNet's (one-hot 128, 64×64 RGB, 16 filters, batch 128).
 * @module
 */
import { z } from "zod";

/** Names of the channel's noise ops, in the order GlyphNet applied them. */
export const OP_NAMES = ["static", "blur", "resize", "translate", "rotate"] as const;
/** Backends a user can ask for. `native` is the CPU path with OpenBLAS kernels. */
export const BACKEND_NAMES = ["auto", "native", "wasm", "cpu", "webgpu", "tensorflow"] as const;
/** Difficulty schedules. */
export const SCHEDULE_KINDS = ["adaptive", "accuracy", "fixed", "linear"] as const;
/** Highest difficulty level the default tables define. */
export const MAX_LEVEL = 15;

const int = (min: number, max: number) => z.number().int().min(min).max(max);
const positive = z.number().positive();
const unit = z.number().min(0).max(1);

function powerOfTwo(min: number, max: number) {
  return int(min, max).refine((n) => (n & (n - 1)) === 0, {
    message: "must be a power of two",
  });
}

function levels<T extends z.ZodType>(item: T) {
  return z.array(item).min(1).max(64);
}

const messageSchema = z.strictObject({
  type: z.enum(["one-hot", "binary"]).default("one-hot")
    .describe("one-hot: one of `size` symbols; binary: `bits` independent bits"),
  size: int(2, 4096).optional().describe("number of symbols for one-hot messages (default 128)"),
  bits: int(1, 256).optional().describe("number of bits for binary messages (default 16)"),
}).superRefine((m, ctx) => {
  if (m.type === "one-hot" && m.bits !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["bits"],
      message: "is for binary messages; one-hot messages take `size`",
    });
  }
  if (m.type === "binary" && m.size !== undefined) {
    ctx.addIssue({
      code: "custom",
      path: ["size"],
      message: "is for one-hot messages; binary messages take `bits`",
    });
  }
}).transform((m) =>
  m.type === "one-hot"
    ? { type: "one-hot" as const, size: m.size ?? 128 }
    : { type: "binary" as const, bits: m.bits ?? 16 }
);

const imageSchema = z.strictObject({
  size: powerOfTwo(4, 256).default(64).describe("glyph width and height in pixels, a power of two"),
  color: z.enum(["rgb", "grayscale"]).default("rgb"),
});

const modelSchema = z.strictObject({
  filters: int(1, 256).default(16)
    .describe("G's last and D's first width; the other layers double per resolution step"),
});

const optimizerSchema = z.strictObject({
  learning_rate: positive.max(1).default(0.00025),
  beta1: z.number().min(0).lt(1).default(0.5),
  beta2: z.number().min(0).lt(1).default(0.999),
  epsilon: positive.max(1).default(1e-7),
});

const trainingSchema = z.strictObject({
  backend: z.enum(BACKEND_NAMES).default("auto"),
  threads: z.union([z.literal("auto"), int(1, 1024)]).default("auto").describe(
    "threads the native backend computes on; auto: GLYPHNET_THREADS when set, else the cores " +
      "this process may use (CPU affinity, cgroup quota, SLURM_CPUS_PER_TASK)",
  ),
  batch_size: int(1, 4096).default(128),
  epochs: int(1, 1_000_000).default(100),
  steps_per_epoch: int(1, 10_000_000).default(250),
  optimizer: optimizerSchema.prefault({}),
});

const tablesSchema = z.strictObject({
  static: levels(z.number().min(0).max(10)).optional().describe("noise σ per level"),
  blur: levels(z.number().min(0.001).max(10)).optional().describe("Gaussian σ in pixels per level"),
  resize: levels(z.tuple([z.number().min(0.05).max(4), z.number().min(0.05).max(4)])).optional()
    .describe("[min, max] scale per level"),
  translate: levels(unit).optional().describe("largest shift per level, as a fraction of the size"),
  rotate: levels(z.number().min(0).max(180)).optional().describe(
    "largest angle per level, degrees",
  ),
});

const scheduleSchema = z.strictObject({
  kind: z.enum(SCHEDULE_KINDS).default("adaptive")
    .describe(
      "adaptive: GlyphNet's loss rule per epoch; accuracy: decode accuracy gate; fixed; linear",
    ),
  start: int(0, 63).default(0),
  max: int(0, 63).default(MAX_LEVEL),
  level: int(0, 63).optional().describe("the level for kind: fixed (default: start)"),
  raise_below: positive.default(2.0).describe(
    "adaptive: mean total loss below this raises the level",
  ),
  lower_above: positive.default(5.0).describe("adaptive: mean total loss above this lowers it"),
  raise_at: unit.default(0.95).describe("accuracy: accuracy at the level that raises it"),
  lower_below: unit.default(0.5).describe("accuracy: accuracy below this lowers it"),
  check_every: int(1, 1_000_000).default(50).describe("accuracy: steps between checks"),
  check_samples: int(1, 65536).default(256).describe("accuracy: fresh messages per check"),
});

const channelSchema = z.strictObject({
  ops: z.array(z.enum(OP_NAMES)).max(16).default([...OP_NAMES]),
  extras: z.boolean().default(true)
    .describe("GlyphNet's extras: random hard sigmoid, inversion (1 channel), random 3×3 kernel"),
  per_sample: z.boolean().default(true).describe(
    "draw shifts and scales per sample, not per batch",
  ),
  randomize: z.boolean().default(false)
    .describe("draw each op's level uniformly from 0..current, as GlyphNet's randomize"),
  tables: tablesSchema.optional(),
  schedule: scheduleSchema.prefault({}),
});

const evalSchema = z.strictObject({
  samples: int(1, 65536).default(256).describe(
    "held-out messages per cell of the robustness matrix",
  ),
  every: int(0, 1_000_000).default(1).describe("epochs between evaluations; 0 turns them off"),
  matrix_every: int(0, 1_000_000).default(0).describe(
    "epochs between robustness matrices (each op alone and the whole channel at every level); " +
      "0: the last epoch only",
  ),
  matrix_samples: int(1, 65536).default(128).describe("held-out messages per matrix cell"),
  matrix_levels: int(0, 63).optional().describe(
    "highest level in the matrix (default: the schedule's max; levels past the tables repeat their last entry)",
  ),
  glyph_samples: int(2, 512).default(128).describe(
    "binary messages drawn to measure glyph diversity and topographic similarity " +
      "(one-hot uses every symbol up to 512)",
  ),
});

const outputSchema = z.strictObject({
  frame_every: int(0, 1_000_000).default(1).describe("epochs between frames; 0 turns them off"),
  checkpoint_every: int(0, 1_000_000).default(1).describe(
    "epochs between checkpoints; 0: last only",
  ),
  grid: int(1, 32).default(4).describe(
    "frames show every message when there are at most 64, else a fixed sample of grid×grid",
  ),
});

const wholeSchema = z.strictObject({
  $schema: z.string().optional().describe("path of the JSON Schema, for editors"),
  name: z.string().min(1).max(100).optional().describe("run name (default: the file's stem)"),
  seed: int(0, 2 ** 31 - 1).default(42),
  message: messageSchema.prefault({}),
  image: imageSchema.prefault({}),
  model: modelSchema.prefault({}),
  training: trainingSchema.prefault({}),
  channel: channelSchema.prefault({}),
  eval: evalSchema.prefault({}),
  output: outputSchema.prefault({}),
}).superRefine((c, ctx) => {
  const s = c.channel.schedule;
  if (s.start > s.max) {
    ctx.addIssue({
      code: "custom",
      path: ["channel", "schedule", "start"],
      message: `must be at most max (${s.max})`,
    });
  }
  if (s.lower_above <= s.raise_below) {
    ctx.addIssue({
      code: "custom",
      path: ["channel", "schedule", "lower_above"],
      message: `must be above raise_below (${s.raise_below})`,
    });
  }
  const tables = c.channel.tables ?? {};
  for (const [op, table] of Object.entries(tables)) {
    if (table && table.length <= s.max) {
      ctx.addIssue({
        code: "custom",
        path: ["channel", "tables", op],
        message: `needs an entry for every level 0..${s.max}, got ${table.length}`,
      });
    }
  }
  for (const [i, pair] of (tables.resize ?? []).entries()) {
    if (pair[0] > pair[1]) {
      ctx.addIssue({
        code: "custom",
        path: ["channel", "tables", "resize", i],
        message: "min must not exceed max",
      });
    }
  }
});

/**
 * The zod type of {@linkcode experimentSchema}.
 * @ignore
 */
export type ExperimentSchema = typeof wholeSchema;

/** The whole experiment file: `experimentSchema.parse(yaml)` gives an {@linkcode Experiment}. */
export const experimentSchema: ExperimentSchema = wholeSchema;

/** A resolved experiment: every field present (see lib/config/schema.ts for each key). */
export type Experiment = ReturnType<ExperimentSchema["parse"]>;
/** The message section of a resolved experiment. */
export type MessageConfig = Experiment["message"];
/** The channel section of a resolved experiment. */
export type ChannelConfig = Experiment["channel"];
/** Names of the channel ops. */
export type OpName = typeof OP_NAMES[number];
/** Names of the backends. */
export type BackendName = typeof BACKEND_NAMES[number];

/**
 * Length of the message vector: symbols for one-hot, bits for binary.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { experimentSchema, messageLength } from "./schema.ts";
 * const { message } = experimentSchema.parse({ message: { type: "binary", bits: 12 } });
 * assert.equal(messageLength(message), 12);
 * ```
 */
export function messageLength(m: MessageConfig): number {
  return m.type === "one-hot" ? m.size : m.bits;
}

/** Colour channels of a glyph: 3 for RGB, 1 for grayscale. */
export function imageChannels(image: Experiment["image"]): 1 | 3 {
  return image.color === "rgb" ? 3 : 1;
}
