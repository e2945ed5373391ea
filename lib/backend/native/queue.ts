/**
 * The kernel queue (queue.c): with it on, a native kernel's C call is queued
 * for the library's worker thread and returns at once, so JavaScript builds
 * the rest of the step (tfjs's tape, the next kernels' arguments) while C
 * computes; on a small model that JavaScript is half of a step.
 *
 * Tasks run in the order they were queued, so kernels see each other's
 * results as if called in turn. JavaScript must wait only where it touches
 * values itself:
 * - reading a tensor ({@link awaitWrites}: tfjs's `dataSync`, cpu's kernels),
 *   up to the last task that writes its buffer;
 * - writing a pooled buffer: one freed while tasks that may read it are
 *   queued ({@link readsDone}) is left in the pool for kernels.
 *
 * Every buffer a task gets stays referenced here until the task is done, so
 * the garbage collector frees none under the worker; reading `.buffer` first
 * moves a small typed array's values off V8's heap, where the collector
 * could move them.
 * @module
 */
import {
  type NativeLib,
  type NativeSymbols,
  QUEUED_KERNELS,
  type QueuedKernel,
  queuedName,
} from "./ffi.ts";

/** The kernels' C functions: called in turn, or queued. */
export type KernelCalls = Pick<NativeSymbols, QueuedKernel>;

/** Arguments of each queued kernel that it writes (the rest it only reads). */
const OUTPUTS: Record<QueuedKernel, readonly number[]> = {
  gn_conv2d: [2],
  gn_conv2d_bwd_input: [2],
  gn_conv2d_bwd_input_add: [3],
  gn_conv2d_bwd_filter: [2],
  gn_matmul: [2],
  gn_block_fwd: [5, 6, 7, 8],
  gn_bn_act_bwd: [11, 12, 13, 14],
  gn_unary: [2],
  gn_reduce: [2],
  gn_random_normal: [1],
  gn_adam: [4, 5, 6],
  gn_moving_average: [2],
  gn_binary: [5],
  gn_binary_bcast: [3],
  gn_transpose: [1],
  gn_gather_weighted: [3],
  gn_scatter_weighted: [3],
  gn_correlate3x3: [2],
  gn_blur: [3],
  gn_squash: [2, 3],
};

/** Done tasks are dropped from the pins at least this often (in queued tasks). */
const TRIM_EVERY = 1024;

interface Queue {
  symbols: NativeSymbols;
  calls: KernelCalls;
  /** Tasks queued since the worker started; a task's number is the count after it. */
  queued: number;
  /** Tasks known done (the worker may be further). */
  done: number;
  /** The last task that writes each buffer. */
  writes: WeakMap<ArrayBufferLike, number>;
  /** Buffers of tasks not known done, with their task numbers, oldest first. */
  pins: ArrayBufferLike[];
  pinTasks: number[];
  pinStart: number;
}

// Module state, as the library itself (ffi.ts): one worker per process.
let queue: Queue | undefined;
let on = false;

/**
 * Starts the worker (once) and queues kernels from now on; `false` waits
 * for the queued ones and calls kernels in turn again (kernel timing does).
 */
export function setQueue(lib: NativeLib, enable: boolean): void {
  if (!enable) {
    drainQueue();
    on = false;
    return;
  }
  if (!queue) {
    const done = lib.symbols.gn_q_start();
    if (done < 0) {
      throw new RangeError("Cannot start the native kernel queue: its thread did not start");
    }
    queue = makeQueue(lib.symbols, done);
    // Tearing the isolate down frees every buffer, also those queued tasks
    // read and write: wait for them at the end, and on an uncaught error,
    // after which Deno tears down without an unload (the worker then wrote
    // into freed memory: a segfault instead of the error's message).
    globalThis.addEventListener("unload", drainQueue);
    for (const event of ["error", "unhandledrejection"]) {
      globalThis.addEventListener(event, drainBeforeError);
    }
  }
  on = true;
}

/** Whether kernels are being queued. */
export function queueOn(): boolean {
  return on;
}

/** The kernels' C functions: queued forms while the queue is on, else the library's own. */
export function kernelCalls(lib: NativeLib): KernelCalls {
  return on && queue ? queue.calls : lib.symbols;
}

/** Waits until every task that writes the buffer of `values` is done. */
export function awaitWrites(values: unknown): void {
  if (!queue || !ArrayBuffer.isView(values)) return;
  const task = queue.writes.get(values.buffer);
  if (task !== undefined && task > queue.done) waitFor(queue, task);
}

/** The task number a buffer freed now must wait for before JavaScript writes it ({@link readsDone}). */
export function readFence(): number {
  return on && queue ? queue.queued : 0;
}

/** Whether the tasks queued before `fence` (a {@link readFence}) are done. */
export function readsDone(fence: number): boolean {
  if (!queue || fence <= queue.done) return true;
  trim(queue, queue.symbols.gn_q_done());
  return fence <= queue.done;
}

/** Waits until every queued task is done. */
export function drainQueue(): void {
  if (queue) waitFor(queue, queue.queued);
}

/** {@link drainQueue} before an uncaught error ends the process; a failed kernel's error must not hide it. */
function drainBeforeError(): void {
  try {
    drainQueue();
  } catch { /* the uncaught error is the one to report */ }
}

function makeQueue(symbols: NativeSymbols, done: number): Queue {
  const q: Queue = {
    symbols,
    calls: {} as KernelCalls,
    queued: done,
    done,
    writes: new WeakMap(),
    pins: [],
    pinTasks: [],
    pinStart: 0,
  };
  const calls = q.calls as Record<QueuedKernel, (...args: unknown[]) => unknown>;
  for (const kernel of QUEUED_KERNELS) {
    const run = symbols[queuedName(kernel)] as (...args: unknown[]) => void;
    calls[kernel] = queuedCall(q, run, OUTPUTS[kernel]);
  }
  return q;
}

function queuedCall(q: Queue, run: (...args: unknown[]) => void, outputs: readonly number[]) {
  return (...args: unknown[]): number => {
    const task = ++q.queued;
    for (const a of args) {
      if (ArrayBuffer.isView(a)) {
        q.pins.push(a.buffer);
        q.pinTasks.push(task);
      }
    }
    for (const k of outputs) q.writes.set((args[k] as ArrayBufferView).buffer, task);
    run(...args);
    if (task % TRIM_EVERY === 0) trim(q, q.symbols.gn_q_done());
    return 0;
  };
}

function waitFor(q: Queue, task: number): void {
  const failed = q.symbols.gn_q_wait(task);
  trim(q, Math.max(task, q.symbols.gn_q_done()));
  if (failed) {
    const text = new Uint8Array(128);
    const n = q.symbols.gn_q_error_copy(text, text.length);
    const name = new TextDecoder().decode(text.subarray(0, n));
    throw new RangeError(`Cannot run native ${name}: out of memory for its scratch`);
  }
}

/** Notes that tasks up to `done` are done and drops their pins. */
function trim(q: Queue, done: number): void {
  q.done = Math.max(q.done, done);
  let i = q.pinStart;
  while (i < q.pinTasks.length && q.pinTasks[i] <= q.done) i++;
  if (i === q.pinTasks.length) {
    q.pins.length = 0;
    q.pinTasks.length = 0;
    q.pinStart = 0;
    return;
  }
  q.pins.fill(undefined as unknown as ArrayBufferLike, q.pinStart, i);
  q.pinStart = i;
  if (i > 4096) {
    q.pins.splice(0, i);
    q.pinTasks.splice(0, i);
    q.pinStart = 0;
  }
}
