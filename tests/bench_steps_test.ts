// deno task bench measures an even number of steps: the two kinds of step alike.
import assert from "node:assert/strict";
import { budgetSpent, evenSteps } from "../bench/_measure.ts";
import { bench } from "./_bench.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test("evenSteps() and budgetSpent() keep as many steps of each kind", () => {
  assert.deepEqual([1, 2, 3, 8, 9].map(evenSteps), [2, 2, 4, 8, 10]);
  // Budget spent: stop only at an even count of at least 4.
  assert.equal(budgetSpent(3, 100, 60), false);
  assert.equal(budgetSpent(4, 100, 60), true);
  assert.equal(budgetSpent(5, 100, 60), false);
  assert.equal(budgetSpent(6, 100, 60), true);
  // Budget not spent: go on.
  assert.equal(budgetSpent(6, 59, 60), false);
});

Deno.test({
  name: "bench runs an odd --steps as an even count, in native's and PyTorch's rows, and says so",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const out = `build/bench-steps-test-${Deno.pid}.json`;
    const args = ["--config", "tiny", "--backend", "native", "--threads", "1", "--steps", "3"];
    const r = await bench([...args, "--out", out]);
    try {
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /--steps 3 is odd: measuring 4/);
      const saved = JSON.parse(await Deno.readTextFile(`${ROOT}/${out}`));
      const native = saved.runs.find((x: { backend: string }) => x.backend === "native");
      assert.equal(native.steps, 4);
      assert.equal(native.step_seconds.length, 4);
      const torch = saved.runs.find((x: { backend: string }) => x.backend === "pytorch");
      // Where PyTorch could not run (no torch for /usr/bin/python3), its row holds a note.
      if (torch?.steps === undefined) console.log(`PyTorch row not checked: ${torch?.note}`);
      else assert.equal(torch.steps, 4);
    } finally {
      await Deno.remove(`${ROOT}/${out}`).catch(() => {});
    }
  },
});
