/**
 * What a started backend is (for the manifest) and the error when one cannot
 * start: apart from init.ts, so the backends it starts need not import it.
 * @module
 */
import { UserError } from "../errors.ts";

/** What a started backend is, for the manifest. */
export interface BackendInfo {
  /** The tfjs backend name that runs the ops. */
  name: string;
  /** Human-readable device description (CPU model, GPU adapter). */
  device: string;
  /** Threads the backend computes on. */
  threads: number;
  /** Where the thread count came from, e.g. "auto: 2 cores (machine 2, affinity 2)". */
  threads_from?: string;
  /** True when the device is a software stand-in for a GPU. */
  fallback?: boolean;
  /** Why `auto` chose this backend: what it skipped and why. */
  reason?: string;
}

/** A backend could not be started; the message says why and what to do. */
export class BackendError extends UserError {
  override name = "BackendError";
}
