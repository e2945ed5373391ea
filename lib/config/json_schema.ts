/**
 * The JSON Schema of the experiment format, generated from the same zod
 * schema the validator uses, for editors (YAML language server).
 * @module
 */
import { z } from "zod";
import { toJson, writeFileAtomic } from "../fs.ts";
import { experimentSchema } from "./schema.ts";

/**
 * The experiment format as a JSON Schema object (draft 2020-12).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { experimentJsonSchema } from "./json_schema.ts";
 * const schema = experimentJsonSchema() as { properties: Record<string, unknown> };
 * assert.ok("training" in schema.properties);
 * ```
 */
export function experimentJsonSchema(): Record<string, unknown> {
  const schema = z.toJSONSchema(experimentSchema, {
    io: "input",
    unrepresentable: "any",
  }) as Record<string, unknown>;
  return {
    ...schema,
    $id: "https://glyphnet.local/experiment.schema.json",
    title: "glyphnet experiment",
    description: "An experiment file for glyphnet: every key is optional; defaults are GlyphNet's.",
  };
}

/** Writes the schema to `path` (atomically). */
export async function writeSchema(path: string): Promise<void> {
  await writeFileAtomic(path, toJson(experimentJsonSchema()));
}
