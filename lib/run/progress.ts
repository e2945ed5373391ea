/**
 * What a person sees while a run trains: one updating line on a terminal,
 * plain log lines otherwise (cron). Both are built from the same events.
 * @module
 */
import type { BackendInfo } from "../backend/init.ts";
import type { TrainEvent } from "../train/loop.ts";

/** Where progress goes: a terminal line, plain lines, or nowhere (tests). */
export interface Progress {
  /** Shows a training event. */
  event(e: TrainEvent): void;
  /** A plain message line (start, end, errors). */
  line(text: string): void;
}

/** Formats seconds as 1h02m, 3m05s or 12s. */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s)) return "?";
  s = Math.round(s);
  if (s >= 3600) {
    return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, "0")}m`;
  }
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${s}s`;
}

function pct(x: number | undefined | null): string {
  return x === undefined || x === null ? "-" : `${(x * 100).toFixed(1)}%`;
}

/** One line per finished epoch; the shared format of both displays and train.log. */
export function epochLine(e: Extract<TrainEvent, { type: "epoch" }>, epochs: number): string {
  const m = e.metrics;
  return `epoch ${m.epoch}/${epochs} level ${m.level}→${m.next_level} loss ${
    m.loss.total.toFixed(3)
  } ` +
    `(d_real ${m.loss.d_real.toFixed(3)} d_fake ${m.loss.d_fake.toFixed(3)} g ${
      m.loss.g.toFixed(3)
    }) ` +
    `acc ${pct(m.eval?.accuracy)} ${m.steps_per_second.toFixed(2)} steps/s ${
      formatDuration(m.seconds)
    }`;
}

/** A progress display for a terminal or a pipe, with a sink for the log. */
export function makeProgress(
  opts: {
    epochs: number;
    backend: BackendInfo;
    terminal: boolean;
    write: (s: string) => void;
    log?: (s: string) => void;
    /** Without a terminal, the least time between step lines (default a minute). */
    plainEveryMs?: number;
  },
): Progress {
  let lastDraw = -Infinity;
  let lastAcc: number | undefined;
  let stepsDone = 0;
  const began = performance.now();
  const backend = `${opts.backend.name}×${opts.backend.threads}`;
  const plain = (text: string) => {
    if (opts.terminal) opts.write(`\r\x1b[2K${text}\n`);
    else opts.write(text + "\n");
    opts.log?.(text);
  };
  return {
    line: plain,
    event(e) {
      if (e.type === "start") {
        plain(
          `start: G ${e.params.g.toLocaleString("en")} params, D ${
            e.params.d.toLocaleString("en")
          } params, ` +
            `backend ${opts.backend.name} (${opts.backend.device}, ${opts.backend.threads} thread(s)), level ${e.level}`,
        );
      } else if (e.type === "step") {
        stepsDone++;
        const now = performance.now();
        // A terminal redraws ten times a second; a log (cron) gets a line a minute.
        const every = opts.terminal ? 100 : (opts.plainEveryMs ?? 60_000);
        if (now - lastDraw < every) return;
        const first = lastDraw === -Infinity;
        lastDraw = now;
        if (!opts.terminal && first) return; // the start line was just printed
        const left = (opts.epochs - e.epoch) * e.stepsPerEpoch + (e.stepsPerEpoch - e.step);
        const eta = formatDuration(left / e.stepsPerSecond);
        const loss = (e.losses.d_real + e.losses.d_fake + e.losses.g).toFixed(3);
        const text =
          `epoch ${e.epoch}/${opts.epochs} step ${e.step}/${e.stepsPerEpoch} loss ${loss} ` +
          `level ${e.level} acc ${pct(lastAcc)} ${e.stepsPerSecond.toFixed(2)} steps/s ETA ${eta}`;
        if (opts.terminal) opts.write(`\r\x1b[2K${text} [${backend}]`);
        else plain(text);
      } else if (e.type === "level") {
        const why = e.accuracy === undefined ? "" : ` (accuracy ${pct(e.accuracy)})`;
        plain(`level ${e.from}→${e.to} at step ${e.step}${why}`);
      } else if (e.type === "epoch") {
        lastAcc = e.metrics.eval?.accuracy;
        plain(epochLine(e, opts.epochs));
      } else if (e.type === "end") {
        plain(
          `${e.status} after epoch ${e.epoch}, ${stepsDone} steps in ${
            formatDuration((performance.now() - began) / 1000)
          }`,
        );
      }
    },
  };
}
