import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { Harness, settle, text } from "../broker/testHarness.ts";
import { defaultMqttBrokerOptions } from "../broker/options.ts";

function opts(over: Partial<ReturnType<typeof defaultMqttBrokerOptions>>) {
  return { ...defaultMqttBrokerOptions(), ...over };
}

Deno.test("v5: empty client id gets an assigned one in CONNACK", async () => {
  const h = new Harness();
  const c = h.client(5);
  const ack = await c.connect("");
  assertEquals(ack.reasonCode, 0);
  const id = ack.properties?.assignedClientIdentifier;
  assert(typeof id === "string" && id.length > 0);
  await h.close();
});

Deno.test("v5: server keep alive replaces 0 and values above the maximum", async () => {
  const h = new Harness(opts({ maxKeepAliveSeconds: 60 }));
  assertEquals((await h.client(5).connect("a", { keepalive: 0 })).properties?.serverKeepAlive, 60);
  assertEquals(
    (await h.client(5).connect("b", { keepalive: 100 })).properties?.serverKeepAlive,
    60,
  );
  assertEquals(
    (await h.client(5).connect("c", { keepalive: 30 })).properties?.serverKeepAlive,
    undefined,
  );
  // v3.1.1 above the maximum: accepted, the maximum is enforced
  assertEquals((await h.client(4).connect("d", { keepalive: 100 })).returnCode, 0);
  await h.close();
});

Deno.test("v5: CONNACK announces receive maximum, packet size, topic alias maximum; caps session expiry", async () => {
  const h = new Harness(opts({ maxSessionExpirySeconds: 100 }));
  const ack = await h.client(5).connect("a", { properties: { sessionExpiryInterval: 1000 } });
  assertEquals(ack.properties?.receiveMaximum, 64);
  assertEquals(ack.properties?.maximumPacketSize, 1024 * 1024);
  assertEquals(ack.properties?.topicAliasMaximum, 64);
  assertEquals(ack.properties?.sessionExpiryInterval, 100);
  await h.close();
});

Deno.test("v5: session expiry removes the session after the interval", async () => {
  const h = new Harness(opts({ sweepIntervalMs: 2 }));
  h.broker.start();
  const c = await h.connected("p", 5, { clean: false, properties: { sessionExpiryInterval: 5 } });
  await c.subscribe("x", 1);
  c.disconnect();
  await settle();
  h.nowMs += 3000;
  await settle(4);
  assert(await h.inbox.get({ tenant: "default", clientId: "p" }) !== null);
  h.nowMs += 3000;
  await settle(6);
  assertEquals(await h.inbox.get({ tenant: "default", clientId: "p" }), null);
  assertEquals(h.dist.routeCount(), 0);
  const again = await h.client(5).connect("p", {
    clean: false,
    properties: { sessionExpiryInterval: 5 },
  });
  assert(!again.sessionPresent);
  await h.close();
});

Deno.test("v5: will delay: published after the delay, cancelled when the session resumes", async () => {
  const h = new Harness(opts({ sweepIntervalMs: 2 }));
  h.broker.start();
  const w = await h.connected("w", 5);
  await w.subscribe("will/#", 0);
  const will = (t: string) => ({
    topic: t,
    payload: Buffer.from(t),
    qos: 0 as const,
    retain: false,
    properties: { willDelayInterval: 10 },
  });
  const connectOpts = (t: string) => ({
    clean: false,
    properties: { sessionExpiryInterval: 100 },
    will: will(t),
  });
  const a = await h.connected("a", 5, connectOpts("will/a"));
  const b = await h.connected("b", 5, connectOpts("will/b"));
  a.conn.clientClose();
  b.conn.clientClose();
  await settle();
  h.nowMs += 5000;
  await settle(4);
  assertEquals(await w.drain("publish"), []);
  await h.connected("b", 5, { clean: false, properties: { sessionExpiryInterval: 100 } }); // resumes: b's will cancelled
  h.nowMs += 6000;
  const m = await w.next("publish");
  assertEquals(m.topic, "will/a");
  assertEquals(await w.drain("publish"), []);
  await h.close();
});

Deno.test("v5: DISCONNECT 0x04 publishes the will", async () => {
  const h = new Harness();
  const w = await h.connected("w", 5);
  await w.subscribe("will", 0);
  const c = await h.connected("c", 5, {
    will: { topic: "will", payload: Buffer.from("bye"), qos: 0, retain: false },
  });
  c.disconnect(0x04);
  assertEquals(text(await w.next("publish")), "bye");
  await h.close();
});

Deno.test("v5: inbound topic alias resolves to the registered topic", async () => {
  const h = new Harness();
  const c = await h.connected("c", 5);
  await c.subscribe("alias/t", 0);
  c.publish("alias/t", "first", { properties: { topicAlias: 3 } });
  c.publish("", "second", { properties: { topicAlias: 3 } });
  const got = [await c.next("publish"), await c.next("publish")];
  assertEquals(got.map((p) => [p.topic, text(p)]), [["alias/t", "first"], ["alias/t", "second"]]);
  await h.close();
});

Deno.test("v5: outbound topic alias within the client's maximum", async () => {
  const h = new Harness();
  const c = await h.connected("c", 5, { properties: { topicAliasMaximum: 1 } });
  await c.subscribe("#", 0);
  c.publish("x/1", "a");
  c.publish("x/1", "b");
  c.publish("x/2", "c");
  const got = [await c.next("publish"), await c.next("publish"), await c.next("publish")];
  assertEquals(
    got.map((p) => [p.topic, p.properties?.topicAlias]),
    [["x/1", 1], ["", 1], ["x/2", undefined]],
  );
  await h.close();
});

Deno.test("v5: client receive maximum bounds outgoing QoS 1 in flight", async () => {
  const h = new Harness();
  const c = await h.connected("c", 5, { properties: { receiveMaximum: 2 } });
  await c.subscribe("t", 1);
  const p = await h.connected("p", 5);
  for (let i = 0; i < 5; i++) p.publish("t", `m${i}`, { qos: 1 });
  const first = await c.drain("publish");
  assertEquals(first.length, 2);
  for (const m of first) if (m.cmd === "publish") c.send({ cmd: "puback", messageId: m.messageId });
  const rest = await c.drain("publish");
  assertEquals(rest.length, 2);
  await h.close();
});

Deno.test("v5: messages larger than the client's maximum packet size are not sent", async () => {
  const h = new Harness();
  const c = await h.connected("c", 5, { properties: { maximumPacketSize: 64 } });
  await c.subscribe("t", 0);
  c.publish("t", "x".repeat(100));
  c.publish("t", "small");
  const got = await c.drain("publish");
  assertEquals(got.map(text), ["small"]);
  assertEquals(h.broker.stats().droppedTooLarge, 1);
  await h.close();
});

Deno.test("v5: message expiry: remaining interval on delivery; expired retained not sent", async () => {
  const h = new Harness();
  const p = await h.connected("p", 5);
  p.publish("e", "exp", { retain: true, properties: { messageExpiryInterval: 10 } });
  await settle();
  h.nowMs += 4000;
  const s = await h.connected("s", 5);
  await s.subscribe("e", 0);
  const m = await s.next("publish");
  assertEquals(m.properties?.messageExpiryInterval, 6);
  h.nowMs += 7000;
  const s2 = await h.connected("s2", 5);
  await s2.subscribe("e", 0);
  assertEquals(await s2.drain("publish"), []);
  await h.close();
});

Deno.test("v5: subscription identifiers: overlapping subscriptions deliver once with every id", async () => {
  const h = new Harness();
  const c = await h.connected("c", 5);
  await c.subscribe("a/#", 1, { subscriptionIdentifier: 7 });
  await c.subscribe("a/b", 0, { subscriptionIdentifier: 9 });
  const p = await h.connected("p", 5);
  p.publish("a/b", "x", { qos: 1 });
  const got = await c.drain("publish");
  assertEquals(got.length, 1);
  const m = got[0];
  assert(m.cmd === "publish");
  assertEquals(m.qos, 1);
  const ids = m.properties?.subscriptionIdentifier;
  assertEquals(Array.isArray(ids) ? [...ids].sort() : ids, [7, 9]);
  await h.close();
});

Deno.test("v5: no-local, retain-as-published and retain handling", async () => {
  const h = new Harness();
  const c = await h.connected("c", 5);
  c.publish("rh/t", "kept", { retain: true });
  await settle();
  await c.subscribe([{ topic: "rh/t", qos: 0, nl: true, rap: true, rh: 1 }]);
  assertEquals((await c.next("publish")).retain, true); // new subscription, rh=1: sent
  await c.subscribe([{ topic: "rh/t", qos: 0, nl: true, rap: true, rh: 1 }]);
  await c.subscribe([{ topic: "rh/#", qos: 0, rh: 2 }]);
  assertEquals(await c.drain("publish"), []); // existing (rh=1) and rh=2: nothing
  c.publish("rh/t", "own");
  const got = await c.drain("publish"); // no-local hides it from rh/t, rh/# still gets it
  assertEquals(got.map((p) => p.cmd === "publish" ? [text(p), p.retain] : []), [["own", false]]);
  const other = await h.connected("o", 5);
  other.publish("rh/t", "theirs", { retain: true });
  const live = await c.drain("publish");
  assertEquals(live.length, 1); // rh/t (rap: retain=1) merged with rh/# into one delivery
  assert(live[0].cmd === "publish" && live[0].retain);
  await h.close();
});

Deno.test("v5: request/response and user properties pass through in order", async () => {
  const h = new Harness();
  const c = await h.connected("c", 5);
  await c.subscribe("req", 1);
  c.publish("req", "{}", {
    qos: 1,
    properties: {
      responseTopic: "resp/1",
      correlationData: Buffer.from([1, 2, 3]),
      contentType: "application/json",
      payloadFormatIndicator: true,
      userProperties: { a: "1", b: ["2", "3"] },
    },
  });
  const m = await c.next("publish");
  const p = m.properties!;
  assertEquals(p.responseTopic, "resp/1");
  assertEquals([...(p.correlationData ?? [])], [1, 2, 3]);
  assertEquals(p.contentType, "application/json");
  assertEquals(p.payloadFormatIndicator, true);
  assertEquals({ ...p.userProperties }, { a: "1", b: ["2", "3"] });
  await h.close();
});

Deno.test("v5: payload format indicator with invalid UTF-8: PUBACK 0x99; no reason string when problem information is off", async () => {
  const h = new Harness();
  const c = await h.connected("c", 5, { properties: { requestProblemInformation: false } });
  c.publish("t", new Uint8Array([0xff, 0xfe]), {
    qos: 1,
    properties: { payloadFormatIndicator: true },
  });
  const ack = await c.next("puback");
  assertEquals(ack.reasonCode, 0x99);
  assertEquals(ack.properties?.reasonString, undefined);
  await h.close();
});

Deno.test("v5: shared subscription members that are persistent and offline get messages in their inbox", async () => {
  const h = new Harness();
  const a = await h.connected("a", 5, { clean: false, properties: { sessionExpiryInterval: 100 } });
  await a.subscribe("$share/g/t", 1);
  a.disconnect();
  await settle();
  const p = await h.connected("p", 5);
  p.publish("t", "to inbox", { qos: 1 });
  await p.next("puback");
  const again = h.client(5);
  await again.connect("a", { clean: false, properties: { sessionExpiryInterval: 100 } });
  assertEquals(text(await again.next("publish")), "to inbox");
  await h.close();
});

Deno.test("v5: a session whose expiry passed is not resumed even before the sweeper ran", async () => {
  const h = new Harness();
  const c = await h.connected("p", 5, { clean: false, properties: { sessionExpiryInterval: 5 } });
  await c.subscribe("x", 1);
  c.disconnect();
  await settle();
  h.nowMs += 6000;
  const again = await h.client(5).connect("p", {
    clean: false,
    properties: { sessionExpiryInterval: 5 },
  });
  assert(!again.sessionPresent);
  assertEquals(h.dist.routeCount(), 0);
  await h.close();
});

Deno.test("v5: DISCONNECT may change a non-zero session expiry; 0 ends the session", async () => {
  const h = new Harness();
  const c = await h.connected("p", 5, { clean: false, properties: { sessionExpiryInterval: 50 } });
  await c.subscribe("x", 1);
  c.disconnect(0, { sessionExpiryInterval: 0 });
  await settle();
  assertEquals(await h.inbox.get({ tenant: "default", clientId: "p" }), null);
  assertEquals(h.dist.routeCount(), 0);
  await h.close();
});

Deno.test("v5: reason strings are dropped when they would exceed the client's maximum packet size", async () => {
  const h = new Harness();
  const c = await h.connected("c", 5, { properties: { maximumPacketSize: 8 } });
  c.publish("secret/x", "no", { qos: 1 });
  const ack = await c.next("puback");
  assertEquals([ack.reasonCode, ack.properties?.reasonString], [0x87, undefined]);
  await h.close();
});

Deno.test("v5: feature flags off: wildcard 0xA2, shared 0x9E, subscription ids DISCONNECT 0xA1; ACL code option", async () => {
  const h = new Harness(opts({
    wildcardSubscriptionAvailable: false,
    sharedSubscriptionAvailable: false,
    subscriptionIdentifierAvailable: false,
    v5SubscribeDeniedReasonCode: 0x80,
  }));
  const c = await h.connected("c", 5);
  const ack = await c.subscribe([
    { topic: "a/+", qos: 0 },
    { topic: "$share/g/a", qos: 0 },
    { topic: "secret/x", qos: 0 },
    { topic: "plain", qos: 1 },
  ]);
  assertEquals(ack.granted, [0xa2, 0x9e, 0x80, 1]);
  c.send({
    cmd: "subscribe",
    messageId: 9,
    subscriptions: [{ topic: "x", qos: 0 }],
    properties: { subscriptionIdentifier: 5 },
  });
  assertEquals((await c.next("disconnect")).reasonCode, 0xa1);
  await h.close();
});

Deno.test("v5: CONNACK says which features are unavailable", async () => {
  const h = new Harness(opts({ retainAvailable: false, sharedSubscriptionAvailable: false }));
  const ack = await h.client(5).connect("c");
  assertEquals(ack.properties?.retainAvailable, false);
  assertEquals(ack.properties?.sharedSubscriptionAvailable, false);
  await h.close();
});

Deno.test("v5: the inbox's subscription limit gives SUBACK 0x97 and leaves no route behind", async () => {
  const h = new Harness(); // inbox maxSubscriptions: 100
  const c = await h.connected("c", 5, { clean: false, properties: { sessionExpiryInterval: 60 } });
  const filters = Array.from({ length: 100 }, (_, i) => ({ topic: `f/${i}`, qos: 0 as const }));
  assertEquals((await c.subscribe(filters)).granted.filter((g) => g === 0).length, 100);
  assertEquals((await c.subscribe("f/extra", 1)).granted, [0x97]);
  assertEquals(h.dist.routeCount(), 100);
  await h.close();
});
