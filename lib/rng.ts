/**
 * A small seeded random number generator (mulberry32). Everything random in
 * a run draws from one of these, so a seed reproduces a run on one backend.
 * @module
 */

/**
 * Seeded uniform, integer and normal draws.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "./rng.ts";
 * const a = new Rng(7), b = new Rng(7);
 * assert.equal(a.next(), b.next()); // same seed, same stream
 * const resumed = Rng.fromState(a.state);
 * assert.equal(resumed.int(1, 6), a.int(1, 6));
 * ```
 */
export class Rng {
  #state: number;

  /** Starts the stream at `seed` (any integer). */
  constructor(seed: number) {
    this.#state = (seed >>> 0) ^ 0x9e3779b9;
  }

  /** A uniform draw in [0, 1). */
  next(): number {
    let t = (this.#state = (this.#state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** A uniform draw in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** A uniform integer in [lo, hi] (both ends included). */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  /** A standard normal draw (Box–Muller). */
  normal(): number {
    const u = 1 - this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.next());
  }

  /** A 31-bit integer, e.g. a seed for a tfjs random op. */
  seed(): number {
    return Math.floor(this.next() * 2147483647);
  }

  /** The stream's position, to save in a checkpoint. */
  get state(): number {
    return this.#state;
  }

  /** Continues a stream saved with {@link Rng.state}. */
  static fromState(state: number): Rng {
    const r = new Rng(0);
    r.#state = state >>> 0;
    return r;
  }

  /** A new independent stream derived from this one. */
  fork(): Rng {
    return new Rng(this.seed());
  }
}
