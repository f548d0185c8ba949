import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Harness, text } from "./testHarness.ts";

Deno.test("v3.1.1: connect, subscribe, publish QoS 0/1/2 end to end", async () => {
  const h = new Harness();
  const sub = await h.connected("sub");
  const suback = await sub.subscribe("a/+", 2);
  assertEquals(suback.granted, [2]);
  const pub = await h.connected("pub");
  pub.publish("a/b", "zero");
  const m0 = await sub.next("publish");
  assertEquals([m0.topic, text(m0), m0.qos], ["a/b", "zero", 0]);
  const id1 = pub.publish("a/b", "one", { qos: 1 });
  assertEquals((await pub.next("puback")).messageId, id1);
  const m1 = await sub.next("publish");
  assertEquals([text(m1), m1.qos], ["one", 1]);
  sub.send({ cmd: "puback", messageId: m1.messageId });
  const id2 = pub.publish("a/b", "two", { qos: 2 });
  assertEquals((await pub.next("pubrec")).messageId, id2);
  pub.send({ cmd: "pubrel", messageId: id2 });
  assertEquals((await pub.next("pubcomp")).messageId, id2);
  const m2 = await sub.next("publish");
  assertEquals([text(m2), m2.qos], ["two", 2]);
  sub.send({ cmd: "pubrec", messageId: m2.messageId });
  assertEquals((await sub.next("pubrel")).messageId, m2.messageId);
  sub.send({ cmd: "pubcomp", messageId: m2.messageId });
  await h.close();
  assert(sub.conn.ended);
});
