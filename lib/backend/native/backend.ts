/**
 * The `native` backend's class: tfjs's cpu backend plus a pool of output
 * buffers. A fresh Float32Array costs more than most kernels that fill it
 * (V8 zero-fills it and every page faults on first write: 330 µs for
 * 256 KiB, 32 ms for 32 MiB, measured here), so native kernels take their
 * outputs from buffers of disposed tensors of the same length.
 *
 * A buffer is reused only when nothing else can see it: it was made by
 * {@link NativeBackend.take}, held by exactly one tensor's data, never read
 * out (`dataSync`, `data`, `arraySync`: cpu hands out its live array) and
 * never wrapped by a second tensor or view (cpu's Slice returns views).
 * @module
 */
import type * as tf from "@tensorflow/tfjs-core";
import { MathBackendCPU } from "@tensorflow/tfjs-backend-cpu";
import { awaitWrites, readFence, readsDone } from "./queue.ts";

/** Buffers shorter than this are left to the garbage collector. */
const MIN_POOLED = 1024;
/** Most bytes kept idle in the pool; past it the pool is emptied (shapes changed). */
const MAX_POOLED_BYTES = 2 ** 31;

type Values = tf.backend_util.BackendValues;

/** tfjs's cpu backend with a pool of reusable float32 output buffers. */
export class NativeBackend extends MathBackendCPU {
  /** Buffers made by take(), while they may come back. */
  #owned = new WeakSet<ArrayBufferLike>();
  /** Owned buffers that back one tensor's data now. */
  #held = new WeakSet<ArrayBufferLike>();
  /** Owned buffers that escaped (read out, shared): never reused. */
  #exposed = new WeakSet<ArrayBufferLike>();
  #free = new Map<number, Float32Array[]>();
  #freeBytes = 0;
  /** When each pooled buffer was freed, as a kernel queue fence (queue.ts). */
  #freedAt = new WeakMap<ArrayBufferLike, number>();

  /**
   * A float32 buffer of `n` values, NOT zeroed, for a native kernel to
   * write: the caller writes every value through a kernel call (queued ones
   * run in order, after any task still reading the buffer's last tensor).
   */
  take(n: number): Float32Array {
    const list = this.#free.get(n);
    return list?.length ? this.#reuse(list, list.length - 1) : this.#fresh(n);
  }

  /**
   * As {@link take}, for JavaScript to write: a pooled buffer only when no
   * queued kernel may still read it (lib/backend/native/queue.ts), else a
   * fresh one.
   */
  takeHost(n: number): Float32Array {
    const list = this.#free.get(n) ?? [];
    // The newest free buffer no queued task may read (still warm in cache).
    const i = list.findLastIndex((b) => readsDone(this.#freedAt.get(b.buffer) ?? 0));
    return i < 0 ? this.#fresh(n) : this.#reuse(list, i);
  }

  #fresh(n: number): Float32Array {
    const fresh = new Float32Array(n);
    if (n >= MIN_POOLED) this.#owned.add(fresh.buffer);
    return fresh;
  }

  #reuse(list: Float32Array[], i: number): Float32Array {
    const [reused] = list.splice(i, 1);
    this.#freeBytes -= reused.byteLength;
    return reused;
  }

  /** An int32 buffer of `n` values from the same pool for JavaScript to write, NOT zeroed. */
  takeInt32Host(n: number): Int32Array {
    const f = this.takeHost(n);
    return new Int32Array(f.buffer, f.byteOffset, f.length);
  }

  /** Bytes idle in the pool. */
  pooledBytes(): number {
    return this.#freeBytes;
  }

  override write(values: Values, shape: number[], dtype: tf.DataType): tf.DataId {
    this.#note(values);
    return super.write(values, shape, dtype);
  }

  override move(
    dataId: tf.DataId,
    values: Values,
    shape: number[],
    dtype: tf.DataType,
    refCount: number,
  ): void {
    this.#note(values);
    super.move(dataId, values, shape, dtype, refCount);
  }

  override readSync(dataId: tf.DataId): Values {
    const stored = this.data.get(dataId)?.values;
    awaitWrites(stored);
    if (stored && ArrayBuffer.isView(stored)) this.#exposed.add(stored.buffer);
    return super.readSync(dataId);
  }

  override disposeData(dataId: tf.DataId, force = false): boolean {
    const values = this.data.get(dataId)?.values;
    const released = super.disposeData(dataId, force);
    const pooled = values instanceof Float32Array || values instanceof Int32Array;
    if (released && pooled && !this.data.has(dataId)) this.#recycle(values);
    return released;
  }

  /** The first tensor to hold an owned buffer holds it; any second use exposes it. */
  #note(values: Values): void {
    if (!ArrayBuffer.isView(values) || !this.#owned.has(values.buffer)) return;
    if (this.#held.has(values.buffer)) this.#exposed.add(values.buffer);
    else this.#held.add(values.buffer);
  }

  #recycle(values: Float32Array | Int32Array): void {
    const buffer = values.buffer;
    if (!this.#owned.has(buffer) || this.#exposed.has(buffer)) return;
    this.#held.delete(buffer);
    if (values.byteOffset !== 0 || values.byteLength !== buffer.byteLength) return;
    if (values.byteLength > MAX_POOLED_BYTES) return;
    if (this.#freeBytes + values.byteLength > MAX_POOLED_BYTES) {
      this.#free.clear();
      this.#freeBytes = 0;
    }
    this.#freedAt.set(buffer, readFence());
    const list = this.#free.get(values.length) ?? [];
    list.push(values instanceof Float32Array ? values : new Float32Array(buffer));
    this.#free.set(values.length, list);
    this.#freeBytes += values.byteLength;
  }
}
