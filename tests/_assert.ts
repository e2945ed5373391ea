// Assertions from node:assert/strict under the names of Deno's std/assert
// (JSR, where std lives, cannot be reached from our machines).
import assert from "node:assert/strict";

export { assert };

/** Deep equality. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  if (message === undefined) assert.deepStrictEqual(actual, expected);
  else assert.deepStrictEqual(actual, expected, message);
}

/** `text` matches `pattern`. */
export function assertMatch(text: string, pattern: RegExp, message?: string): void {
  if (message === undefined) assert.match(text, pattern);
  else assert.match(text, pattern, message);
}

/** `f` throws an instance of `type`; returns the error. */
export function assertThrows<E extends Error>(f: () => unknown, type: new (...a: never[]) => E): E {
  try {
    f();
  } catch (e) {
    assert(
      e instanceof type,
      `expected ${type.name}, got ${(e as Error)?.name}: ${(e as Error)?.message}`,
    );
    return e;
  }
  throw new assert.AssertionError({ message: `expected ${type.name} to be thrown` });
}

/** |actual − expected| ≤ tolerance. */
export function assertAlmostEquals(
  actual: number,
  expected: number,
  tolerance = 1e-6,
  message?: string,
): void {
  assert(
    Math.abs(actual - expected) <= tolerance,
    message ?? `expected ${actual} to be within ${tolerance} of ${expected}`,
  );
}

/**
 * `actual` holds exactly the numbers of `expected` (Object.is: NaN equals
 * NaN, −0 is not 0), and on a mismatch names the first that differs:
 * deepStrictEqual's diff of two arrays of ~60,000 floats ran the test
 * process out of memory.
 */
export function assertSameBits(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
): void {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < actual.length; i++) {
    if (!Object.is(actual[i], expected[i])) {
      assert.fail(`${what}: value ${i} of ${actual.length} is ${actual[i]}, not ${expected[i]}`);
    }
  }
}
