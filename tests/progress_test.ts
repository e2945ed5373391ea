import { formatDuration, makeProgress } from "../lib/run/progress.ts";
import type { TrainEvent } from "../lib/train/loop.ts";
import { assert, assertEquals, assertMatch } from "./_assert.ts";
import { epochMetrics } from "./_metrics.ts";

const backend = { name: "native", device: "test CPU", threads: 1 };
const step: TrainEvent = {
  type: "step",
  epoch: 1,
  step: 5,
  stepsPerEpoch: 10,
  losses: { d_real: 1, d_fake: 0.5, g: 0.25 },
  level: 2,
  stepsPerSecond: 4,
};
const epoch: TrainEvent = { type: "epoch", metrics: epochMetrics() };

Deno.test("makeProgress() prints plain lines without a terminal and logs them", () => {
  const out: string[] = [], log: string[] = [];
  const p = makeProgress({
    epochs: 3,
    backend,
    terminal: false,
    write: (s) => out.push(s),
    log: (s) => log.push(s),
  });
  p.event({ type: "start", params: { g: 1000, d: 2000 }, level: 0, epoch: 1 });
  p.event(step);
  p.event(epoch);
  p.event({ type: "end", status: "completed", epoch: 3 });
  assertEquals(out.length, 3, "no line per step");
  assert(out.every((l) => l.endsWith("\n") && !l.includes("\r")));
  assertMatch(out[0], /G 1,000 params, D 2,000 params, backend native \(test CPU, 1 thread/);
  assertMatch(out[1], /^epoch 1\/3 level 2→3 loss 1\.750 .*acc 50\.0% 4\.00 steps\/s 3s/);
  assertEquals(log.length, 3);
});

Deno.test("makeProgress() without a terminal prints a step line at most once a period", () => {
  const out: string[] = [];
  const p = makeProgress({
    epochs: 3,
    backend,
    terminal: false,
    write: (s) => out.push(s),
    plainEveryMs: 0,
  });
  p.event(step);
  assertEquals(out.length, 0, "not right after the start line");
  p.event(step);
  assertEquals(out.length, 1);
  assertMatch(out[0], /^epoch 1\/3 step 5\/10 loss 1\.750 level 2 acc - 4\.00 steps\/s ETA 6s\n$/);
  const quiet: string[] = [];
  const q = makeProgress({ epochs: 3, backend, terminal: false, write: (s) => quiet.push(s) });
  for (let i = 0; i < 100; i++) q.event(step);
  assertEquals(quiet.length, 0, "a minute has not passed");
});

Deno.test("makeProgress() redraws one line on a terminal with loss, level, speed and ETA", () => {
  const out: string[] = [];
  const p = makeProgress({ epochs: 3, backend, terminal: true, write: (s) => out.push(s) });
  p.event(step);
  assertEquals(out.length, 1);
  assert(out[0].startsWith("\r\x1b[2K"), "clears the line first");
  assertMatch(
    out[0].slice(5),
    /^epoch 1\/3 step 5\/10 loss 1\.750 level 2 acc - 4\.00 steps\/s ETA 6s \[native×1\]$/,
  );
});

Deno.test("formatDuration() reads like a clock", () => {
  assertEquals(formatDuration(12.4), "12s");
  assertEquals(formatDuration(185), "3m05s");
  assertEquals(formatDuration(3720), "1h02m");
  assertEquals(formatDuration(Infinity), "?");
});
