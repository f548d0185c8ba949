import { deepStrictEqual, strictEqual } from "node:assert/strict";
import { BroadcastQueue, retransmitLimit } from "./broadcastQueue.ts";
import { type BroadcastMessage, encodedSize } from "./messages.ts";

const suspect = (node: string, inc = 1): BroadcastMessage => ({
  t: "suspect",
  node,
  inc,
  from: "x:1",
});

Deno.test("broadcast queue: newer news about a member replaces the older", () => {
  const q = new BroadcastQueue(10);
  q.push(suspect("a:1", 1));
  q.push(suspect("a:1", 2));
  strictEqual(q.size, 1);
  deepStrictEqual(q.take(1000, 2, 4, "z:1"), [suspect("a:1", 2)]);
});

Deno.test("broadcast queue: retired after the retransmit limit, least transmitted first", () => {
  const q = new BroadcastQueue(10);
  q.push(suspect("a:1"));
  for (let i = 0; i < 3; i++) strictEqual(q.take(1000, 2, 3, "z:1").length, 1);
  strictEqual(q.size, 0);
  q.push(suspect("a:1"));
  q.take(1000, 2, 3, "z:1");
  q.push(suspect("b:1"));
  // A budget for one item: the never-sent one goes first.
  const one = q.take(encodedSize(suspect("b:1")) + 2, 2, 3, "z:1");
  deepStrictEqual(one.map((m) => m.node), ["b:1"]);
});

Deno.test("broadcast queue: bounded, byte budget respected", () => {
  const q = new BroadcastQueue(3);
  for (const n of ["a:1", "b:1", "c:1", "d:1"]) q.push(suspect(n));
  strictEqual(q.size, 3);
  strictEqual(q.droppedCount, 1);
  strictEqual(q.take(0, 2, 3, "z:1").length, 0);
  strictEqual(retransmitLimit(4, 5), 4);
  strictEqual(retransmitLimit(4, 20), 8);
});

Deno.test("broadcast queue: suspicions by different accusers coexist; alive about the target is not sent to it", () => {
  const q = new BroadcastQueue(10);
  q.push({ t: "suspect", node: "a:1", inc: 1, from: "b:1" });
  q.push({ t: "suspect", node: "a:1", inc: 1, from: "c:1" });
  strictEqual(q.size, 2);
  q.push({ t: "alive", node: "a:1", inc: 2, meta: { mqttEndpoints: [], stores: [], load: {} } });
  strictEqual(q.size, 1);
  strictEqual(q.take(1000, 2, 4, "a:1").length, 0);
  strictEqual(q.take(1000, 2, 4, "b:1").length, 1);
  q.push(suspect("d:1"));
  deepStrictEqual(q.take(1000, 2, 4, "d:1", true).map((m) => m.node), ["d:1"]);
});
