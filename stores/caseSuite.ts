/**
 * The runner shared by the stores' case suites (`*.case.ts`).
 *
 * @module
 */

/**
 * Returns `run(title, body)`, which registers a test `${name}: ${title}`: it
 * makes a fresh harness with `makeHarness`, runs `body` on it and cleans the
 * harness up, whether `body` passed or not.
 */
export function caseRunner<H extends { cleanup(): Promise<void> }>(
  name: string,
  makeHarness: () => H,
): (title: string, body: (h: H) => Promise<void>) => void {
  return (title, body) => {
    Deno.test(`${name}: ${title}`, async () => {
      const h = makeHarness();
      try {
        await body(h);
      } finally {
        await h.cleanup();
      }
    });
  };
}
