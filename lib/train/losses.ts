/**
 * Losses read back every N steps instead of every step: on a GPU each read
 * waits for the queue to drain, so the next step cannot be queued while the
 * GPU works. The losses stay on the backend until one read fetches them all;
 * every step's values are still reported, only later.
 * @module
 */
import * as tf from "@tensorflow/tfjs-core";
import type { StepLosses } from "./step.ts";

/** One step's losses as numbers. */
export interface LossValues {
  d_real: number;
  d_fake: number;
  g: number;
}

/** Losses of steps not read yet, each with the step number the caller gave. */
export class PendingLosses {
  #steps: number[] = [];
  #tensors: tf.Scalar[] = [];

  /** Steps waiting to be read. */
  get size(): number {
    return this.#steps.length;
  }

  /** Holds `losses` (taking ownership) for the next read. */
  add(step: number, losses: StepLosses): void {
    this.#steps.push(step);
    this.#tensors.push(losses.dReal, losses.dFake, losses.g);
  }

  /** Reads every pending step's losses in one transfer, frees them, returns them in order. */
  async read(): Promise<{ step: number; losses: LossValues }[]> {
    if (this.#steps.length === 0) return [];
    const all = tf.stack(this.#tensors);
    const values = await all.data();
    tf.dispose([all, ...this.#tensors]);
    const out = this.#steps.map((step, i) => ({
      step,
      losses: { d_real: values[3 * i], d_fake: values[3 * i + 1], g: values[3 * i + 2] },
    }));
    this.#steps = [];
    this.#tensors = [];
    return out;
  }

  /** Frees the pending losses unread. */
  dispose(): void {
    tf.dispose(this.#tensors);
    this.#steps = [];
    this.#tensors = [];
  }
}
