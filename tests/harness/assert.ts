/**
 * Assertions for the end-to-end tests: the repo's testing/assert.ts, with
 * assertEquals and assertRejects adapted to what these tests compare.
 *
 * @module
 */
import { assert, assertEquals as strictEquals } from "../../testing/assert.ts";

export { assert };

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

/**
 * Fail unless actual and expected are structurally equal, compared as JSON:
 * key order is ignored, and a Buffer equals a Uint8Array with the same bytes.
 */
export function assertEquals(actual: unknown, expected: unknown, msg?: string): void {
  strictEquals(canonical(actual), canonical(expected), msg);
}

/** Fail unless fn rejects (with anything); returns the error. */
export async function assertRejects(fn: () => Promise<unknown>, msg?: string): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
  assert(false, msg ?? "expected a rejection");
}
