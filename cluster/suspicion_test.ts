import { strictEqual } from "node:assert/strict";
import { minSuspicionTimeoutMs, Suspicion, suspicionTimeoutMs } from "./suspicion.ts";

Deno.test("suspicion timeout shrinks from max to min with k confirmations (memberlist values)", () => {
  // memberlist suspicion_test.go: k=3, min=2s, max=30s → 30s, 16.0s, 9.3s, 2s (rounded down).
  const got = [0, 1, 2, 3, 4].map((c) => suspicionTimeoutMs(c, 3, 2000, 30_000));
  const naive = [0, 1, 2, 3, 4].map((c) =>
    Math.max(2000, Math.floor(30_000 - (Math.log(c + 1) / Math.log(4)) * 28_000))
  );
  strictEqual(JSON.stringify(got), JSON.stringify(naive));
  strictEqual(got[0], 30_000);
  strictEqual(got[3], 2000);
  strictEqual(got[4], 2000);
  strictEqual(suspicionTimeoutMs(5, 0, 2000, 30_000), 2000);
});

Deno.test("minimum suspicion timeout scales with log10(n), never below mult × interval", () => {
  strictEqual(minSuspicionTimeoutMs(4, 1, 1000), 4000);
  strictEqual(minSuspicionTimeoutMs(4, 5, 1000), 4000);
  strictEqual(minSuspicionTimeoutMs(4, 100, 1000), 8000);
});

Deno.test("a suspicion counts each confirmer once, not the accuser, and stops at k", () => {
  const s = new Suspicion("a", 2, 4000, 24_000, 1000);
  strictEqual(s.deadlineMs(), 25_000);
  strictEqual(s.confirm("a"), false);
  strictEqual(s.confirm("b"), true);
  strictEqual(s.confirm("b"), false);
  strictEqual(s.confirm("c"), true);
  strictEqual(s.confirm("d"), false);
  strictEqual(s.confirmations, 2);
  strictEqual(s.deadlineMs(), 5000);
});
