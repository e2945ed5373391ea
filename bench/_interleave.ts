/**
 * `deno task bench --interleave R`: native at several thread counts in one
 * process, taking turns. A VM's speed drifts by 10–30 % over minutes, and
 * separate processes for 1 and 2 threads can land in different stretches;
 * here every round runs each thread count back to back and measures the GEMM
 * ceiling beside it, so the gain over the first count and the fraction of
 * the ceiling are ratios within one round.
 * @module
 */
import { setThreads, startNative } from "../lib/backend/native.ts";
import { createTrainState, type TrainState } from "../lib/train/state.ts";
import {
  BENCH_CONFIGS,
  type BenchConfigName,
  benchExperiment,
  type CoreHandoff,
  coreHandoff,
  evenSteps,
  gemmCeiling,
  median,
  stepFlops,
  timeStep,
} from "./_measure.ts";
import { deviceLines, saveResults } from "./_orchestrate.ts";

/** What `--interleave` runs. */
export interface InterleaveOptions {
  config: BenchConfigName;
  /** Thread counts, the first being the one gains are over. */
  threads: number[];
  rounds: number;
  /**
   * Measured steps per thread count and round (the median is the round's
   * time); an odd count is run as the next even one (see {@link evenSteps}).
   */
  steps: number;
  level: number;
  batch?: number;
  /** The JSON file to write; default bench/results/<stamp>-interleaved.json. */
  out?: string;
}

/** One thread count's numbers in one round; the cores' handoff speed measured after it. */
export interface Turn extends Partial<CoreHandoff> {
  threads: number;
  step_seconds: number[];
  step_seconds_median: number;
  gemm_ceiling_gflops: number;
  ceiling_fraction: number;
  /** Over the first thread count's median in the same round. */
  gain: number;
}

/** A list's median, lowest and highest, as "m (lo–hi)". */
function spread(xs: number[], digits: number, scale = 1): string {
  const f = (x: number) => (x * scale).toFixed(digits);
  return `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`;
}

/** A handoff measure's spread over the turns that have it, else "-". */
function handoff(xs: (number | undefined)[], scale: number): string {
  const got = xs.filter((x): x is number => x !== undefined);
  return got.length ? spread(got, 0, scale) : "-";
}

async function runSteps(state: TrainState, n: number): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < n; i++) times.push((await timeStep(state)).seconds);
  return times;
}

/** The rounds: each thread count's steps, then its GEMM ceiling, in turn. */
async function rounds(o: InterleaveOptions, state: TrainState, flops: number): Promise<Turn[][]> {
  const warmup = BENCH_CONFIGS[o.config].warmup;
  for (const t of o.threads) {
    setThreads(t);
    await runSteps(state, warmup);
  }
  const all: Turn[][] = [];
  for (let r = 0; r < o.rounds; r++) {
    const turns: Turn[] = [];
    for (const t of o.threads) {
      setThreads(t);
      const times = await runSteps(state, o.steps);
      const med = median(times);
      const ceiling = gemmCeiling(t);
      const first = turns[0]?.step_seconds_median ?? med;
      turns.push({
        threads: t,
        step_seconds: times,
        step_seconds_median: med,
        gemm_ceiling_gflops: ceiling,
        ceiling_fraction: flops / 1e9 / med / ceiling,
        gain: first / med,
        ...coreHandoff(),
      });
    }
    console.error(
      `bench: round ${r + 1}/${o.rounds}: ` +
        turns.map((t) => `${t.threads} thr ${t.step_seconds_median.toFixed(3)} s`).join(", "),
    );
    all.push(turns);
  }
  return all;
}

/** The summary table: per thread count, medians and ranges over the rounds. */
function table(o: InterleaveOptions, all: Turn[][], flops: number): string {
  const lines = [
    `| config | thr | median s (range) | GFLOP/s | GEMM ceiling | % ceiling (range) | gain over ${
      o.threads[0]
    } thr (range) | core round trip ns (range) | other core's data % (range) |`,
    "|---|---|---|---|---|---|---|---|---|",
  ];
  o.threads.forEach((t, i) => {
    const turns = all.map((round) => round[i]);
    const secs = turns.map((x) => x.step_seconds_median);
    lines.push(
      `| ${o.config} | ${t} | ${spread(secs, 3)} | ${(flops / 1e9 / median(secs)).toFixed(1)} | ${
        median(turns.map((x) => x.gemm_ceiling_gflops)).toFixed(1)
      } | ${spread(turns.map((x) => x.ceiling_fraction), 0, 100)} % | ${
        i === 0 ? "-" : `${spread(turns.map((x) => x.gain), 2)}×`
      } | ${handoff(turns.map((x) => x.core_round_trip_ns), 1)} | ${
        handoff(turns.map((x) => x.core_read_fraction), 100)
      } |`,
    );
  });
  return lines.join("\n");
}

/** Runs the interleaved rounds, prints the table and writes the JSON. */
export async function interleave(asked: InterleaveOptions): Promise<void> {
  const o = { ...asked, steps: evenSteps(asked.steps) };
  const info = await startNative({ threads: { threads: o.threads[0], from: "--threads" } });
  const config = benchExperiment(o.config, o.batch);
  const flops = stepFlops(config);
  const state = createTrainState(config, { level: o.level });
  console.error(`bench: ${o.config} on native, ${o.threads.join(" / ")} threads interleaved`);
  if (o.steps !== asked.steps) {
    console.error(
      `bench: ${asked.steps} steps a turn is odd: running ${o.steps}, so that every turn has ` +
        "as many steps of the two kinds that alternate",
    );
  }
  const all = await rounds(o, state, flops);
  const [line, ...hints] = deviceLines([{ backend: "native", device: info.device }]);
  console.log([table(o, all, flops), "", line, ...hints].join("\n"));
  await saveResults(
    {
      mode: "interleaved",
      config: o.config,
      device: line.replace(/^native: /, ""),
      level: o.level,
      batch: config.training.batch_size,
      gflop_per_step: flops / 1e9,
      threads: o.threads,
      steps_per_round: o.steps,
      rounds: all,
    },
    o.out,
    "-interleaved",
  );
}
