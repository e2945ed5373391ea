// deno task bench --interleave: thread counts taking turns in one process.
import assert from "node:assert/strict";
import type { Turn } from "../bench/_interleave.ts";
import { coreLines } from "../bench/_orchestrate.ts";
import { availableCores } from "../lib/backend/threads.ts";
import { bench } from "./_bench.ts";

const ROOT = new URL("..", import.meta.url).pathname;

Deno.test({
  name: "bench --interleave runs each thread count in every round, with ratios within the round",
  ignore: Deno.build.os !== "linux",
  async fn() {
    const out = `build/interleave-test-${Deno.pid}.json`;
    const r = await bench([
      "--config",
      "tiny",
      "--threads",
      "1,2",
      "--interleave",
      "2",
      "--steps",
      "1",
      "--out",
      out,
    ]);
    try {
      assert.equal(r.code, 0, r.stderr);
      const saved = JSON.parse(await Deno.readTextFile(`${ROOT}/${out}`));
      assert.equal(saved.mode, "interleaved");
      assert.deepEqual(saved.threads, [1, 2]);
      assert.equal(saved.rounds.length, 2);
      assert.equal(saved.steps_per_round, 2);
      assert.match(r.stderr, /1 steps a turn is odd: running 2/);
      for (const round of saved.rounds as Turn[][]) {
        assert.deepEqual(round.map((t) => t.threads), [1, 2]);
        assert.equal(round[0].gain, 1);
        for (const t of round) {
          // An odd --steps runs the next even count: both kinds of step alike.
          assert.equal(t.step_seconds.length, 2);
          assert.ok(t.gemm_ceiling_gflops > 0);
          if (availableCores().threads >= 2) {
            // Two cores hand a cache line back and forth in well under 10 µs, and
            // read each other's writes at a sane fraction of their own speed.
            assert.ok(t.core_round_trip_ns! > 1 && t.core_round_trip_ns! < 10_000);
            assert.ok(t.core_read_fraction! > 0.05 && t.core_read_fraction! < 5);
          }
          const fraction = saved.gflop_per_step / t.step_seconds_median / t.gemm_ceiling_gflops;
          assert.ok(Math.abs(t.ceiling_fraction - fraction) < 1e-9);
        }
        assert.ok(
          Math.abs(round[1].gain - round[0].step_seconds_median / round[1].step_seconds_median) <
            1e-9,
        );
      }
      // One table row per thread count, then the device with its kernels.
      assert.match(
        r.stdout,
        /^\| tiny \| 1 \| [\d.]+ \([\d.]+–[\d.]+\) \|.* - \| \d+ \(\d+–\d+\) \|/m,
      );
      assert.match(r.stdout, /^\| tiny \| 2 \| .* [\d.]+ \([\d.]+–[\d.]+\)× \| \d+ \(/m);
      assert.match(r.stdout, /^native: .*OpenBLAS [\d.]+, \w+ kernels/m);
    } finally {
      await Deno.remove(`${ROOT}/${out}`).catch(() => {});
    }
  },
});

Deno.test("bench --interleave refuses several configs, another backend or --profile, before measuring", async () => {
  for (const args of [["--config", "all"], ["--config", "tiny", "--backend", "wasm"]]) {
    const r = await bench([...args, "--interleave", "2"]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      /^Cannot bench with --interleave: name one --config; it runs native only/,
    );
  }
  const r = await bench(["--config", "tiny", "--interleave", "2", "--profile"]);
  assert.equal(r.code, 2, r.stderr);
  assert.match(r.stderr, /^Cannot bench with --interleave and --json or --profile/);
});

Deno.test({
  name: "bench --interleave on one CPU measures no core handoff and says so with a dash",
  ignore: Deno.build.os !== "linux",
  async fn(t) {
    const taskset = await new Deno.Command("taskset", { args: ["-c", "0", "true"] }).output()
      .catch(() => undefined);
    if (!taskset?.success) {
      console.log("skipped: taskset (util-linux) is missing, so one CPU cannot be chosen");
      return;
    }
    const out = `build/interleave-one-cpu-${Deno.pid}.json`;
    const args = ["--config", "tiny", "--threads", "1", "--interleave", "1", "--steps", "2"];
    const r = await bench([...args, "--out", out], ["taskset", "-c", "0"]);
    try {
      assert.equal(r.code, 0, r.stderr);
      const saved = JSON.parse(await Deno.readTextFile(`${ROOT}/${out}`));
      assert.equal(saved.rounds[0][0].core_round_trip_ns, undefined);
      assert.match(r.stdout, /^\| tiny \| 1 \| .* \| - \| - \|$/m);
    } finally {
      await Deno.remove(`${ROOT}/${out}`).catch(() => {});
    }
    await t.step("the subprocess table's line sums the runs that measured it", () => {
      assert.deepEqual(coreLines([{}, {}]), []);
      const [line] = coreLines([
        { core_round_trip_ns: 64.6, core_read_fraction: 0.784 },
        {},
        { core_round_trip_ns: 480.2, core_read_fraction: 0.45 },
      ]);
      assert.match(line, /^cores: 65–480 ns for a cache line to go from one core to another /);
      assert.match(line, / read by another at 45–78 % of the speed of its own/);
    });
  },
});
