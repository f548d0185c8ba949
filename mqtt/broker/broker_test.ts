import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Harness, rawConnect, settle, text } from "./testHarness.ts";
import { defaultMqttBrokerOptions } from "./options.ts";

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

for (const v of [4, 5] as const) {
  Deno.test(`v${v}: retained messages are sent on subscribe with RETAIN=1 and deleted by an empty payload`, async () => {
    const h = new Harness();
    const pub = await h.connected("pub", v);
    pub.publish("r/0", "q0", { retain: true });
    pub.publish("r/1", "q1", { retain: true, qos: 1 });
    await pub.next("puback");
    pub.publish("r/2", "q2", { retain: true, qos: 2 });
    await pub.next("pubrec");
    const sub = await h.connected("sub", v);
    await sub.subscribe("r/#", 2);
    const got = [await sub.next("publish"), await sub.next("publish"), await sub.next("publish")];
    assertEquals(got.map((p) => [p.topic, text(p), p.qos, p.retain]), [
      ["r/0", "q0", 0, true],
      ["r/1", "q1", 1, true],
      ["r/2", "q2", 2, true],
    ]);
    // live delivery of a retained publish: RETAIN=0 (v3) / 0 unless retain-as-published (v5)
    pub.publish("r/0", "again", { retain: true });
    const live = await sub.next("publish");
    assertEquals([text(live), live.retain], ["again", false]);
    for (const t of ["r/0", "r/1", "r/2"]) pub.publish(t, "", { retain: true });
    await sub.drain();
    const sub2 = await h.connected("sub2", v);
    await sub2.subscribe("r/#", 2);
    assertEquals(await sub2.drain("publish"), []);
    await h.close();
  });

  Deno.test(`v${v}: will is published when the connection drops, not after DISCONNECT`, async () => {
    const h = new Harness();
    const watcher = await h.connected("w", v);
    await watcher.subscribe("will/#", 1);
    const a = await h.connected("a", v, {
      will: { topic: "will/a", payload: Buffer.from("gone"), qos: 1, retain: false },
    });
    a.conn.clientClose();
    const m = await watcher.next("publish");
    assertEquals([m.topic, text(m)], ["will/a", "gone"]);
    const b = await h.connected("b", v, {
      will: { topic: "will/b", payload: Buffer.from("x"), qos: 0, retain: false },
    });
    b.disconnect();
    await settle();
    assertEquals(await watcher.drain("publish"), []);
    await h.close();
  });

  Deno.test(`v${v}: keep-alive timeout closes the connection and publishes the will`, async () => {
    const h = new Harness({ ...defaultMqttBrokerOptions(), sweepIntervalMs: 2 });
    h.broker.start();
    const watcher = await h.connected("w", v, { keepalive: 0 });
    await watcher.subscribe("will/#", 0);
    const a = await h.connected("a", v, {
      keepalive: 10,
      will: { topic: "will/a", payload: Buffer.from("ka"), qos: 0, retain: false },
    });
    h.nowMs += 14_000;
    await settle(5);
    assert(!a.conn.ended, "closed before 1.5 x keep-alive");
    h.nowMs += 2_000;
    const m = await watcher.next("publish");
    assertEquals(text(m), "ka");
    assert(a.conn.ended);
    if (v === 5) assertEquals((await a.next("disconnect")).reasonCode, 0x8d);
    await h.close();
  });

  Deno.test(`v${v}: a second connection with the same client id takes the session over`, async () => {
    const h = new Harness();
    const a = await h.connected("same", v);
    const b = await h.connected("same", v);
    await settle();
    assert(a.conn.ended);
    if (v === 5) assertEquals((await a.next("disconnect")).reasonCode, 0x8e);
    await b.subscribe("t", 0);
    b.publish("t", "still works");
    assertEquals(text(await b.next("publish")), "still works");
    await h.close();
  });

  Deno.test(`v${v}: persistent session queues QoS 1/2 while offline and resends unacknowledged ones with DUP`, async () => {
    const h = new Harness();
    const opts = v === 5
      ? { clean: false, properties: { sessionExpiryInterval: 100 } }
      : { clean: false };
    const sub = await h.connected("p", v, opts);
    await sub.subscribe("q/#", 2);
    sub.disconnect();
    await settle();
    const pub = await h.connected("pub", v);
    pub.publish("q/0", "zero");
    pub.publish("q/1", "one", { qos: 1 });
    await pub.next("puback");
    const id2 = pub.publish("q/2", "two", { qos: 2 });
    await pub.next("pubrec");
    pub.send({ cmd: "pubrel", messageId: id2 });
    await pub.next("pubcomp");
    const again = h.client(v);
    const ack = await again.connect("p", opts);
    assert(ack.sessionPresent);
    const m1 = await again.next("publish");
    const m2 = await again.next("publish");
    assertEquals([m1.topic, m1.qos, m2.topic, m2.qos], ["q/1", 1, "q/2", 2]);
    again.conn.clientClose(); // no acks
    await settle();
    const third = h.client(v);
    await third.connect("p", opts);
    const r1 = await third.next("publish");
    const r2 = await third.next("publish");
    assertEquals([r1.topic, r1.dup, r2.topic, r2.dup], ["q/1", true, "q/2", true]);
    third.send({ cmd: "puback", messageId: r1.messageId });
    third.send({ cmd: "pubrec", messageId: r2.messageId });
    await third.next("pubrel");
    third.conn.clientClose(); // PUBREL owed
    await settle();
    const fourth = h.client(v);
    await fourth.connect("p", opts);
    const rel = await fourth.next("pubrel");
    assertEquals(rel.messageId, r2.messageId);
    fourth.send({ cmd: "pubcomp", messageId: rel.messageId });
    await settle();
    assertEquals((await h.inbox.get({ tenant: "default", clientId: "p" }))?.queuedCount, 0);
    await h.close();
  });

  Deno.test(`v${v}: clean session discards the previous persistent session`, async () => {
    const h = new Harness();
    const opts = v === 5
      ? { clean: false, properties: { sessionExpiryInterval: 100 } }
      : { clean: false };
    const sub = await h.connected("p", v, opts);
    await sub.subscribe("q", 1);
    sub.disconnect();
    await settle();
    const clean = h.client(v);
    const ack = await clean.connect("p", { clean: true });
    assert(!ack.sessionPresent);
    const pub = await h.connected("pub", v);
    pub.publish("q", "nobody", { qos: 1 });
    await pub.next("puback");
    assertEquals(await clean.drain("publish"), []);
    assertEquals(h.dist.routeCount(), 0);
    await h.close();
  });

  Deno.test(`v${v}: $-topics are not matched by leading wildcards; overlapping subscriptions deliver once`, async () => {
    const h = new Harness();
    const sub = await h.connected("s", v);
    await sub.subscribe([{ topic: "#", qos: 0 }, { topic: "a/+", qos: 2 }, {
      topic: "a/b",
      qos: 1,
    }]);
    const pub = await h.connected("pub", v);
    pub.publish("$SYS/x", "sys");
    pub.publish("a/b", "ab", { qos: 2 });
    await pub.next("pubrec");
    const got = await sub.drain("publish");
    assertEquals(got.map((p) => p.cmd === "publish" ? [p.topic, p.qos] : []), [["a/b", 2]]);
    await h.close();
  });

  Deno.test(`v${v}: shared subscriptions deliver each message to one member, round-robin`, async () => {
    const h = new Harness();
    const a = await h.connected("a", v);
    const b = await h.connected("b", v);
    await a.subscribe("$share/g/s/#", 1);
    await b.subscribe("$share/g/s/#", 1);
    const pub = await h.connected("pub", v);
    for (let i = 0; i < 4; i++) pub.publish("s/x", `m${i}`);
    const ga = await a.drain("publish");
    const gb = await b.drain("publish");
    assertEquals(ga.length + gb.length, 4);
    assertEquals(ga.length, 2);
    await h.close();
  });

  Deno.test(`v${v}: unsubscribe stops delivery`, async () => {
    const h = new Harness();
    const s = await h.connected("s", v);
    await s.subscribe("u/1", 0);
    s.send({ cmd: "unsubscribe", messageId: 7, unsubscriptions: ["u/1", "u/none"] });
    const ack = await s.next("unsuback");
    assertEquals(ack.messageId, 7);
    if (v === 5) {
      assertEquals(ack.reasonCode ?? (ack as unknown as { granted: number[] }).granted, [0, 0x11]);
    }
    s.publish("u/1", "x");
    assertEquals(await s.drain("publish"), []);
    await h.close();
  });
}

Deno.test("v3.1 CONNECT (MQIsdp) works; empty client id is refused with 0x02", async () => {
  const h = new Harness();
  const c = await h.connected("old", 3);
  await c.subscribe("t", 1);
  c.publish("t", "hi", { qos: 1 });
  assertEquals(text(await c.next("publish")), "hi");
  const empty = h.client(3);
  empty.sendRaw(rawConnect({ name: "MQIsdp", level: 3, clientId: "" }));
  assertEquals((await empty.next("connack")).returnCode, 2);
  await h.close();
});

Deno.test("v3.1.1: empty client id: clean gets one, persistent is refused with 0x02", async () => {
  const h = new Harness();
  assertEquals((await h.client(4).connect("", { clean: true })).returnCode, 0);
  const p = h.client(4);
  p.sendRaw(rawConnect({ clientId: "", flags: 0 }));
  assertEquals((await p.next("connack")).returnCode, 2);
  assert(p.conn.ended);
  await h.close();
});

Deno.test("authentication failures: v3 0x04/0x05, v5 0x86/0x87", async () => {
  const h = new Harness();
  assertEquals((await h.client(4).connect("x", { username: "bad" })).returnCode, 4);
  assertEquals((await h.client(4).connect("x", { username: "nobody" })).returnCode, 5);
  assertEquals((await h.client(5).connect("x", { username: "bad" })).reasonCode, 0x86);
  assertEquals((await h.client(5).connect("x", { username: "nobody" })).reasonCode, 0x87);
  await h.close();
});

Deno.test("broker close sends v5 DISCONNECT 0x8B and does not publish wills", async () => {
  const h = new Harness();
  const w = await h.connected("w", 4);
  await w.subscribe("will", 0);
  const c = await h.connected("c", 5, {
    will: { topic: "will", payload: Buffer.from("x"), qos: 0, retain: false },
  });
  await h.broker.close();
  assertEquals((await c.next("disconnect")).reasonCode, 0x8b);
  assertEquals(await w.drain("publish"), []);
  assertEquals(h.broker.stats().willsPublished, 0);
});

Deno.test("backpressure: a congested subscriber holds its publishers; a slow one gets QoS 0 dropped instead", async () => {
  const h = new Harness({
    ...defaultMqttBrokerOptions(),
    sweepIntervalMs: 2,
    slowSubscriberMs: 1000,
  });
  h.broker.start();
  const sub = await h.connected("sub", 4);
  await sub.subscribe("bp/#", 0);
  const pub = await h.connected("pub", 4);
  sub.conn.congested = true;
  pub.publish("bp/1", "a");
  assert(pub.conn.paused, "publisher paused while the subscriber is congested");
  sub.conn.congested = false;
  sub.conn.events!.onDrain();
  assert(!pub.conn.paused, "publisher resumed after the drain");
  sub.conn.congested = true;
  pub.publish("bp/1", "b");
  assert(pub.conn.paused);
  h.nowMs += 1500;
  await settle(4);
  assert(!pub.conn.paused, "released once the subscriber counts as slow");
  pub.publish("bp/1", "dropped");
  assertEquals(h.broker.stats().droppedCongested, 1);
  assertEquals((await sub.drain("publish")).map(text), ["a", "b"]);
  await h.close();
});

for (const v of [4, 5] as const) {
  Deno.test(`v${v}: SUBSCRIBE to an existing filter replaces its options and re-sends retained messages`, async () => {
    const h = new Harness();
    const c = await h.connected("c", v);
    c.publish("x/r", "kept", { retain: true, qos: 1 });
    await c.next("puback");
    await c.subscribe("x/#", 0);
    assertEquals((await c.next("publish")).qos, 0);
    await c.subscribe("x/#", 1);
    const again = await c.next("publish");
    assertEquals([text(again), again.qos, again.retain], ["kept", 1, true]);
    c.publish("x/live", "live", { qos: 1 });
    const got = (await c.drain("publish")).filter((p) => p.cmd === "publish");
    assertEquals(got.map((p) => p.cmd === "publish" ? [p.topic, p.qos] : []), [["x/live", 1]]);
    assertEquals(h.dist.routeCount(), 1);
    await h.close();
  });

  Deno.test(`v${v}: a QoS 2 PUBLISH resent after a reconnect (persistent publisher) is delivered once`, async () => {
    const h = new Harness();
    const w = await h.connected("w", v);
    await w.subscribe("eo", 2);
    const opts = v === 5
      ? { clean: false, properties: { sessionExpiryInterval: 60 } }
      : { clean: false };
    const p1 = await h.connected("pp", v, opts);
    p1.publish("eo", "once", { qos: 2, messageId: 10 });
    await p1.next("pubrec");
    p1.conn.clientClose();
    await settle();
    const p2 = h.client(v);
    assert((await p2.connect("pp", opts)).sessionPresent);
    p2.publish("eo", "once", { qos: 2, messageId: 10, dup: true });
    assertEquals((await p2.next("pubrec")).messageId, 10);
    p2.send({ cmd: "pubrel", messageId: 10 });
    await p2.next("pubcomp");
    assertEquals((await w.drain("publish")).length, 1);
    await h.close();
  });

  Deno.test(`v${v}: offline queue is bounded (drop policy) and expired messages are not delivered`, async () => {
    // inbox: 100 messages, drop-oldest; the publisher sends 106 without waiting for acks
    const h = new Harness({ ...defaultMqttBrokerOptions(), receiveMaximum: 1000 });
    const opts = v === 5
      ? { clean: false, properties: { sessionExpiryInterval: 60 } }
      : { clean: false };
    const s = await h.connected("s", v, opts);
    await s.subscribe("b/#", 1);
    s.disconnect();
    await settle();
    const p = await h.connected("p", v);
    for (let i = 0; i < 105; i++) p.publish(`b/${i}`, `${i}`, { qos: 1 });
    if (v === 5) p.publish("b/exp", "exp", { qos: 1, properties: { messageExpiryInterval: 1 } });
    await settle();
    h.nowMs += 2000;
    const again = h.client(v);
    await again.connect("s", opts);
    const got: string[] = [];
    while (true) {
      const batch = await again.drain("publish");
      if (batch.length === 0) break;
      for (const m of batch) {
        if (m.cmd !== "publish") continue;
        got.push(text(m));
        again.send({ cmd: "puback", messageId: m.messageId });
      }
    }
    assertEquals(got.length, v === 5 ? 99 : 100); // v5: the expired one took a slot
    assert(!got.includes("exp"));
    if (v === 4) assertEquals(got[0], "5"); // oldest dropped
    await h.close();
  });
}

Deno.test("a store failure during CONNECT gets CONNACK server unavailable, not a silent close", async () => {
  const h = new Harness();
  h.inbox.get = () => Promise.reject(new Error("disk on fire"));
  const a = h.client(4);
  assertEquals((await a.connect("x")).returnCode, 3);
  const b = h.client(5);
  assertEquals((await b.connect("y")).reasonCode, 0x88);
  await h.close();
});

for (const policy of ["drop-newest", "drop-oldest"] as const) {
  Deno.test(`transient session queue beyond the in-flight window is bounded (${policy})`, async () => {
    const h = new Harness({
      ...defaultMqttBrokerOptions(),
      maxInflightOutbound: 2,
      maxQueuedMessagesPerSession: 3,
      queueOverflowPolicy: policy,
    });
    const sub = await h.connected("sub", 4);
    await sub.subscribe("q", 1);
    const pub = await h.connected("pub", 4);
    for (let i = 0; i < 8; i++) pub.publish("q", `m${i}`, { qos: 1 });
    const first = await sub.drain("publish");
    assertEquals(first.map(text), ["m0", "m1"]); // window of 2
    assertEquals(h.broker.stats().droppedQueueFull, 3);
    const got: string[] = first.map(text);
    let batch = first;
    while (batch.length > 0) {
      for (const m of batch) {
        if (m.cmd === "publish") sub.send({ cmd: "puback", messageId: m.messageId });
      }
      batch = await sub.drain("publish");
      got.push(...batch.map(text));
    }
    assertEquals(
      got,
      policy === "drop-newest" ? ["m0", "m1", "m2", "m3", "m4"] : ["m0", "m1", "m5", "m6", "m7"],
    );
    await h.close();
  });
}

for (const v of [4, 5] as const) {
  Deno.test(`v${v}: publisher with too many QoS 1 acknowledgements waiting for commits is paused, not disconnected`, async () => {
    const h = new Harness({ ...defaultMqttBrokerOptions(), receiveMaximum: 4 });
    const opts = { clean: false };
    const s = await h.connected("p", 4, opts);
    await s.subscribe("slow", 1);
    // (the subscriber is persistent, so each PUBACK waits for the inbox)
    s.disconnect();
    await settle();
    let release: () => void = () => {};
    const gate = new Promise<void>((r) => release = r);
    const enqueue = h.inbox.enqueue.bind(h.inbox);
    h.inbox.enqueue = async (items) => {
      await gate;
      return await enqueue(items);
    };
    const pub = await h.connected("pub", v);
    for (let i = 0; i < 6; i++) pub.publish("slow", `m${i}`, { qos: 1 });
    assert(pub.conn.paused, "paused at receiveMaximum pending acks");
    assert(!pub.conn.ended);
    release();
    await settle();
    assert(!pub.conn.paused, "resumed once acknowledged");
    assertEquals((await pub.drain("puback")).length, 6);
    await h.close();
  });
}

Deno.test("v5: PUBREC with an error reason code ends the QoS 2 flow (no PUBREL)", async () => {
  const h = new Harness();
  const sub = await h.connected("sub", 5, { properties: { receiveMaximum: 1 } });
  await sub.subscribe("t", 2);
  const pub = await h.connected("pub", 5);
  pub.publish("t", "a", { qos: 2 });
  pub.publish("t", "b", { qos: 2 });
  const a = await sub.next("publish");
  sub.send({ cmd: "pubrec", messageId: a.messageId, reasonCode: 0x80 });
  const b = await sub.next("publish"); // the window freed without PUBREL/PUBCOMP
  assertEquals(text(b), "b");
  assertEquals((await sub.drain("pubrel")).length, 0);
  await h.close();
});
