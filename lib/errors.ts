/**
 * Errors that are the user's to fix: a bad experiment, flag, input file or
 * run folder. The command line prints their message alone and exits 2;
 * every other error is a bug or an accident (out of memory, a full disk)
 * and keeps its stack trace.
 * @module
 */

/** Base class of every error meant for the user as is (exit 2, no stack trace). */
export class UserError extends Error {
  /** "UserError", or the subclass's name. */
  override name = "UserError";
}

/** A value or file the user gave (a message, an image, a path) cannot be used. */
export class InputError extends UserError {
  /** Always "InputError". */
  override name = "InputError";
}
