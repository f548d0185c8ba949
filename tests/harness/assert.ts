/**
 * Minimal assertions for the end-to-end tests (deno.json has no @std/assert).
 *
 * @module
 */

/** Thrown by a failed assertion. */
export class AssertionError extends Error {
  override name = "AssertionError";
}

/** Fail unless cond is truthy. */
export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new AssertionError(msg);
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x) => {
    if (x instanceof Uint8Array) return Array.from(x);
    if (typeof x === "bigint") return x.toString();
    if (x !== null && typeof x === "object" && !Array.isArray(x)) {
      const o = x as Record<string, unknown>;
      if (o.type === "Buffer" && Array.isArray(o.data)) return o.data;
      return Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
    }
    return x;
  });
}

/** Fail unless actual and expected are structurally equal (JSON comparison). */
export function assertEquals(actual: unknown, expected: unknown, msg?: string): void {
  const a = canonical(actual);
  const e = canonical(expected);
  if (a !== e) {
    throw new AssertionError(`${msg ? msg + ": " : ""}expected ${e}, got ${a}`);
  }
}

/** Fail unless fn rejects; returns the error. */
export async function assertRejects(fn: () => Promise<unknown>, msg?: string): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
  throw new AssertionError(msg ?? "expected a rejection");
}
