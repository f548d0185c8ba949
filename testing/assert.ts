/**
 * Minimal assertions for tests (JSR's @std/assert is not reachable here);
 * built on node:assert so failures print readable diffs.
 *
 * @module
 */
import nodeAssert from "node:assert/strict";

/** Asserts `actual` deep-equals `expected`. */
export function assertEquals<T>(actual: T, expected: T, message?: string): void {
  if (message === undefined) nodeAssert.deepStrictEqual(actual, expected);
  else nodeAssert.deepStrictEqual(actual, expected, message);
}

/** Asserts `condition` is truthy. */
export function assert(condition: unknown, message?: string): asserts condition {
  if (message === undefined) nodeAssert.ok(condition);
  else nodeAssert.ok(condition, message);
}

// deno-lint-ignore no-explicit-any
type ErrorClass<E extends Error> = new (...args: any[]) => E;

/**
 * Asserts `fn` throws an instance of `errorClass` (whose message includes
 * `msgIncludes`, if given) and returns the error.
 */
export function assertThrows<E extends Error>(
  fn: () => unknown,
  errorClass: ErrorClass<E>,
  msgIncludes?: string,
): E {
  try {
    fn();
  } catch (err) {
    check(err, errorClass, msgIncludes);
    return err as E;
  }
  throw new nodeAssert.AssertionError({ message: `expected ${errorClass.name} to be thrown` });
}

/** Async variant of {@link assertThrows}. */
export async function assertRejects<E extends Error>(
  fn: () => Promise<unknown>,
  errorClass: ErrorClass<E>,
  msgIncludes?: string,
): Promise<E> {
  try {
    await fn();
  } catch (err) {
    check(err, errorClass, msgIncludes);
    return err as E;
  }
  throw new nodeAssert.AssertionError({ message: `expected ${errorClass.name} to be rejected` });
}

function check<E extends Error>(err: unknown, errorClass: ErrorClass<E>, msgIncludes?: string) {
  if (!(err instanceof errorClass)) {
    throw new nodeAssert.AssertionError({
      message: `expected ${errorClass.name}, got ${String(err)}`,
    });
  }
  if (msgIncludes !== undefined && !err.message.includes(msgIncludes)) {
    throw new nodeAssert.AssertionError({
      message: `expected message to include ${JSON.stringify(msgIncludes)}, got ${
        JSON.stringify(err.message)
      }`,
    });
  }
}
