import { deepStrictEqual as assertEquals } from "node:assert";
import { LatencyRecorder, median, percentile } from "./stats.ts";

Deno.test("median of odd and even lists, ignoring NaN", () => {
  assertEquals(median([3, 1, 2]), 2);
  assertEquals(median([4, 1, 3, 2]), 2.5);
  assertEquals(median([NaN, 5]), 5);
  assertEquals(Number.isNaN(median([])), true);
});

Deno.test("nearest-rank percentiles", () => {
  const s = Float64Array.from({ length: 100 }, (_, i) => 100 - i);
  assertEquals(percentile(s, 100, 99), 99);
  assertEquals(percentile(s, 100, 50), 50);
  assertEquals(percentile(s, 100, 100), 100);
});

Deno.test("LatencyRecorder stays bounded and keeps the distribution", () => {
  const r = new LatencyRecorder(1000);
  for (let i = 1; i <= 100_000; i++) r.add((i * 7919) % 100);
  assertEquals(r.seen, 100_000);
  const s = r.summary();
  assertEquals(s.max, 99);
  assertEquals(Math.abs(s.p50 - 50) <= 2, true);
});
