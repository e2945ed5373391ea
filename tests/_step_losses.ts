/**
 * One training step of a small config on a backend, for comparing backends:
 * backend_test.ts on cpu, native and wasm; _webgpu_checks.ts on webgpu.
 */
import * as tf from "@tensorflow/tfjs-core";
import assert from "node:assert/strict";
import { initBackend } from "../lib/backend/init.ts";
import { experimentSchema } from "../lib/config/schema.ts";
import { trainStep } from "../lib/train/step.ts";
import { createTrainState, disposeTrainState } from "../lib/train/state.ts";

const CONFIG = experimentSchema.parse({
  seed: 3,
  message: { size: 26 },
  image: { size: 8, color: "grayscale" },
  model: { filters: 8 },
  training: { batch_size: 8 },
  // Every op but static noise, which native draws from its own stream (GlyphnetRandomNormal).
  channel: { ops: ["blur", "resize", "translate", "rotate"] },
});

/**
 * D's real and fake losses and G's loss after one step at level 8 (every op
 * above and the extras active) on `backend`, which initBackend starts (its
 * BackendError passes through). Asserts finite losses and no leaked tensors.
 */
export async function stepLosses(backend: string): Promise<number[]> {
  const info = await initBackend(backend);
  const state = createTrainState(CONFIG, { level: 8 });
  const before = tf.memory().numTensors;
  const l = trainStep(state);
  const values = [(await l.dReal.data())[0], (await l.dFake.data())[0], (await l.g.data())[0]];
  tf.dispose([l.dReal, l.dFake, l.g]);
  assert.equal(tf.memory().numTensors, before, `${info.name}: no tensors leak`);
  assert.ok(values.every(Number.isFinite), `${backend}: ${values}`);
  disposeTrainState(state);
  return values;
}

/** Asserts `got` within 1e-3 (relative) of cpu's losses `want`. */
export function assertSameLosses(backend: string, got: number[], want: number[]): void {
  for (let i = 0; i < 3; i++) {
    assert.ok(
      Math.abs(got[i] - want[i]) <= 1e-3 * Math.abs(want[i]),
      `${backend}: ${got} vs cpu ${want}`,
    );
  }
}
