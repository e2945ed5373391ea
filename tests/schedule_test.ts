import assert from "node:assert/strict";
import { experimentSchema } from "../lib/config/schema.ts";
import { initialLevel, levelAfterCheck, levelAfterEpoch } from "../lib/channel/schedule.ts";

function schedule(over: Record<string, unknown> = {}) {
  return experimentSchema.parse({ channel: { schedule: over } }).channel.schedule;
}

const info = { meanLoss: 3, epoch: 1, epochs: 10 };

Deno.test("initialLevel() starts at start, or at level for a fixed schedule", () => {
  assert.equal(initialLevel(schedule()), 0);
  assert.equal(initialLevel(schedule({ start: 4 })), 4);
  assert.equal(initialLevel(schedule({ kind: "fixed", start: 2, level: 7 })), 7);
  assert.equal(initialLevel(schedule({ kind: "fixed", start: 2 })), 2);
  assert.equal(initialLevel(schedule({ kind: "fixed", level: 20, max: 15 })), 15);
});

Deno.test("levelAfterEpoch() adaptive raises below raise_below and lowers above lower_above", () => {
  const s = schedule({ kind: "adaptive", raise_below: 2, lower_above: 5, max: 15 });
  assert.equal(levelAfterEpoch(3, s, { ...info, meanLoss: 1.9 }), 4);
  assert.equal(levelAfterEpoch(3, s, { ...info, meanLoss: 2 }), 3);
  assert.equal(levelAfterEpoch(3, s, { ...info, meanLoss: 5 }), 3);
  assert.equal(levelAfterEpoch(3, s, { ...info, meanLoss: 5.1 }), 2);
  assert.equal(levelAfterEpoch(3, s, { ...info, meanLoss: NaN }), 3);
});

Deno.test("levelAfterEpoch() adaptive stays within 0..max", () => {
  const s = schedule({ max: 6 });
  assert.equal(levelAfterEpoch(6, s, { ...info, meanLoss: 0.1 }), 6);
  assert.equal(levelAfterEpoch(0, s, { ...info, meanLoss: 9 }), 0);
});

Deno.test("levelAfterEpoch() linear goes from start to max over the epochs", () => {
  const s = schedule({ kind: "linear", start: 2, max: 12 });
  const levels = Array.from(
    { length: 10 },
    (_, e) => levelAfterEpoch(0, s, { ...info, epoch: e, epochs: 11 }),
  );
  assert.deepEqual(levels, [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  assert.equal(levelAfterEpoch(0, s, { ...info, epoch: 10, epochs: 11 }), 12);
  assert.equal(levelAfterEpoch(0, s, { ...info, epoch: 50, epochs: 11 }), 12);
  assert.equal(levelAfterEpoch(0, s, { ...info, epoch: 1, epochs: 1 }), 12);
});

Deno.test("levelAfterEpoch() fixed holds level (or start); accuracy leaves the level alone", () => {
  assert.equal(levelAfterEpoch(0, schedule({ kind: "fixed", level: 5 }), info), 5);
  assert.equal(levelAfterEpoch(9, schedule({ kind: "fixed", start: 3 }), info), 3);
  assert.equal(levelAfterEpoch(4, schedule({ kind: "accuracy" }), { ...info, meanLoss: 0 }), 4);
});

Deno.test("levelAfterCheck() accuracy raises at raise_at and lowers below lower_below", () => {
  const s = schedule({ kind: "accuracy", raise_at: 0.95, lower_below: 0.5, max: 8 });
  assert.equal(levelAfterCheck(3, s, 0.95), 4);
  assert.equal(levelAfterCheck(3, s, 0.94), 3);
  assert.equal(levelAfterCheck(3, s, 0.5), 3);
  assert.equal(levelAfterCheck(3, s, 0.49), 2);
  assert.equal(levelAfterCheck(8, s, 1), 8);
  assert.equal(levelAfterCheck(0, s, 0), 0);
});

Deno.test("levelAfterCheck() leaves other kinds unchanged", () => {
  for (const kind of ["adaptive", "fixed", "linear"]) {
    assert.equal(levelAfterCheck(3, schedule({ kind }), 1), 3);
    assert.equal(levelAfterCheck(3, schedule({ kind }), 0), 3);
  }
});
