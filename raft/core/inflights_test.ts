import { ok, strictEqual, throws } from "node:assert/strict";
import { Inflights } from "./inflights.ts";

Deno.test("inflights: bounded by count", () => {
  const f = new Inflights(3, 1_000_000);
  f.add(1, 10);
  f.add(2, 10);
  ok(!f.full());
  f.add(3, 10);
  ok(f.full());
  throws(() => f.add(4, 10));
  f.freeLE(1);
  strictEqual(f.count, 2);
  ok(!f.full());
  f.freeLE(10);
  strictEqual(f.count, 0);
  strictEqual(f.bytes, 0);
});

Deno.test("inflights: bounded by bytes; one message may overshoot", () => {
  const f = new Inflights(100, 100);
  f.add(1, 60);
  ok(!f.full());
  f.add(2, 60);
  ok(f.full(), "120 bytes in flight >= 100");
  strictEqual(f.bytes, 120);
  f.freeLE(1);
  strictEqual(f.bytes, 60);
  ok(!f.full());
});

Deno.test("inflights: indexes must increase; reset frees all", () => {
  const f = new Inflights(10, 1000);
  f.add(5, 1);
  throws(() => f.add(5, 1));
  f.reset();
  strictEqual(f.count, 0);
  f.add(1, 1);
  strictEqual(f.count, 1);
});

Deno.test("inflights: memory stays bounded over a long run", () => {
  const f = new Inflights(4, 1 << 20);
  for (let i = 1; i <= 10_000; i++) {
    f.add(i, 1);
    if (f.full()) f.freeLE(i - 1);
  }
  ok(f.count <= 4);
});
