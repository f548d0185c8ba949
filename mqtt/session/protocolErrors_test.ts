import { deepStrictEqual as assertEquals, ok as assert } from "node:assert/strict";
import { framePacket, Harness, rawConnect, settle } from "../broker/testHarness.ts";

const enc = new TextEncoder();

function str(s: string): number[] {
  const b = enc.encode(s);
  return [b.length >> 8, b.length & 0xff, ...b];
}

function strBytes(b: number[]): number[] {
  return [b.length >> 8, b.length & 0xff, ...b];
}

/** A raw PUBLISH: topic bytes, qos, packet id, v5 properties (or null for v3), payload. */
function rawPublish(
  topic: number[],
  opts: { qos?: number; id?: number; props?: number[] | null; flags?: number } = {},
): Uint8Array {
  const qos = opts.qos ?? 0;
  const body = [...strBytes(topic)];
  if (qos > 0) body.push((opts.id ?? 1) >> 8, (opts.id ?? 1) & 0xff);
  if (opts.props !== undefined && opts.props !== null) body.push(opts.props.length, ...opts.props);
  body.push(0x78);
  return framePacket(0x30 | (opts.flags ?? qos << 1), body);
}

Deno.test("PUBLISH before CONNECT closes the connection without a reply", async () => {
  const h = new Harness();
  const c = h.client(4);
  c.sendRaw(rawPublish([...enc.encode("t")]));
  await settle();
  assert(c.conn.ended);
  assertEquals(c.packets, []);
  await h.close();
});

for (const v of [4, 5] as const) {
  const props = v === 5 ? [] : null;

  Deno.test(`v${v}: a second CONNECT is a protocol error`, async () => {
    const h = new Harness();
    const c = await h.connected("c", v);
    c.sendRaw(rawConnect({ level: v, clientId: "c" }));
    await settle();
    assert(c.conn.ended);
    if (v === 5) assertEquals((await c.next("disconnect")).reasonCode, 0x82);
    await h.close();
  });

  const closing: [string, Uint8Array, number][] = [
    ["invalid UTF-8 topic", rawPublish([0x61, 0xff, 0x62], { props }), 0x81],
    ["U+0000 in topic", rawPublish([0x61, 0x00], { props }), 0x81],
    ["wildcard in PUBLISH topic", rawPublish([...enc.encode("a/+")], { props }), 0x90],
    ["QoS 3", rawPublish([...enc.encode("a")], { flags: 0x06, props }), 0x81],
    ["QoS 1 with packet id 0", rawPublish([...enc.encode("a")], { qos: 1, id: 0, props }), 0x81],
    ["DUP on QoS 0", rawPublish([...enc.encode("a")], { flags: 0x08, props }), 0x81],
    ["SUBSCRIBE without filters", framePacket(0x82, v === 5 ? [0, 1, 0] : [0, 1]), 0x82],
    [
      "SUBSCRIBE with wrong flags",
      framePacket(0x80, [0, 1, ...(v === 5 ? [0] : []), ...str("a"), 0]),
      0x81,
    ],
    ["PUBREL with wrong flags", framePacket(0x60, [0, 1]), 0x81],
    ["server-only packet (CONNACK)", framePacket(0x20, [0, 0]), 0x82],
  ];
  for (const [what, bytes, code] of closing) {
    Deno.test(`v${v}: ${what} closes the connection${v === 5 ? ` with DISCONNECT 0x${code.toString(16)}` : ""}`, async () => {
      const h = new Harness();
      const c = await h.connected("c", v);
      const other = await h.connected("other", v);
      await other.subscribe("#", 0);
      c.sendRaw(bytes);
      await settle();
      assert(c.conn.ended, "connection must close");
      if (v === 5) assertEquals((await c.next("disconnect")).reasonCode, code);
      // the broker keeps serving others
      other.publish("still/alive", "yes");
      assertEquals((await other.next("publish")).topic, "still/alive");
      await h.close();
    });
  }

  Deno.test(`v${v}: invalid filters get a SUBACK failure, not a disconnect`, async () => {
    const h = new Harness();
    const c = await h.connected("c", v);
    const ack = await c.subscribe([
      { topic: "a/#/b", qos: 1 },
      { topic: "ok/+", qos: 1 },
      { topic: "a+", qos: 0 },
      { topic: "secret/x", qos: 0 },
    ]);
    const fail = v === 5 ? 0x8f : 0x80;
    assertEquals(ack.granted, [fail, 1, fail, v === 5 ? 0x87 : 0x80]);
    assert(!c.conn.ended);
    await h.close();
  });

  Deno.test(`v${v}: unexpected PUBACK/PUBCOMP ids are ignored; PUBREL of an unknown id gets PUBCOMP`, async () => {
    const h = new Harness();
    const c = await h.connected("c", v);
    c.send({ cmd: "puback", messageId: 99 });
    c.send({ cmd: "pubcomp", messageId: 98 });
    c.send({ cmd: "pubrel", messageId: 97 });
    const comp = await c.next("pubcomp");
    assertEquals(comp.messageId, 97);
    if (v === 5) assertEquals(comp.reasonCode, 0x92);
    assert(!c.conn.ended);
    await h.close();
  });

  Deno.test(`v${v}: publish denied by the ACL: ${v === 5 ? "PUBACK 0x87" : "acknowledged and dropped"}`, async () => {
    const h = new Harness();
    const c = await h.connected("c", v);
    await c.subscribe("#", 1);
    c.publish("secret/x", "no", { qos: 1 });
    const ack = await c.next("puback");
    assertEquals(ack.reasonCode ?? 0, v === 5 ? 0x87 : 0);
    c.publish("hidden/x", "not delivered");
    assertEquals(await c.drain("publish"), []);
    await h.close();
  });

  Deno.test(`v${v}: packet too large frame error${v === 5 ? " sends DISCONNECT 0x95" : " closes"}`, async () => {
    const h = new Harness();
    const c = await h.connected("c", v);
    c.conn.events!.onFrameError({
      kind: "packet-too-large",
      message: "packet of 9 MB",
      declaredBytes: 9e6,
    });
    await settle();
    assert(c.conn.ended);
    if (v === 5) assertEquals((await c.next("disconnect")).reasonCode, 0x95);
    await h.close();
  });
}

Deno.test("unknown protocol level: v3 CONNACK 0x01; level 5 with an unknown name: CONNACK 0x84", async () => {
  const h = new Harness();
  const a = h.client(4);
  a.sendRaw(rawConnect({ level: 6 }));
  assertEquals((await a.next("connack")).returnCode, 1);
  assert(a.conn.ended);
  const b = h.client(5);
  b.sendRaw(rawConnect({ name: "MQTX", level: 5 }));
  assertEquals((await b.next("connack")).reasonCode, 0x84);
  await h.close();
});

Deno.test("CONNECT reserved flag set: closed without CONNACK", async () => {
  const h = new Harness();
  const a = h.client(4);
  a.sendRaw(rawConnect({ flags: 0x03 }));
  await settle();
  assert(a.conn.ended);
  assertEquals(a.packets, []);
  await h.close();
});

Deno.test("v5: duplicate property and property not allowed in PUBLISH: DISCONNECT 0x82", async () => {
  for (const props of [[0x01, 1, 0x01, 1], [0x11, 0, 0, 0, 5]]) {
    const h = new Harness();
    const c = await h.connected("c", 5);
    c.sendRaw(rawPublish([...enc.encode("t")], { props }));
    assertEquals((await c.next("disconnect")).reasonCode, 0x82);
    await h.close();
  }
});

Deno.test("v5: topic alias 0 or above the maximum: DISCONNECT 0x94; unknown alias: 0x82", async () => {
  for (const [alias, topic, code] of [[0, "t", 0x94], [65, "t", 0x94], [3, "", 0x82]] as const) {
    const h = new Harness();
    const c = await h.connected("c", 5);
    c.sendRaw(rawPublish([...enc.encode(topic)], { props: [0x23, 0, alias] }));
    assertEquals((await c.next("disconnect")).reasonCode, code);
    await h.close();
  }
});

Deno.test("v5: authentication method in CONNECT: CONNACK 0x8C", async () => {
  const h = new Harness();
  const c = h.client(5);
  c.sendRaw(rawConnect({ level: 5, properties: [0x15, ...str("SCRAM")] }));
  assertEquals((await c.next("connack")).reasonCode, 0x8c);
  await h.close();
});

Deno.test("v5: receive maximum exceeded by the client: DISCONNECT 0x93", async () => {
  const h = new Harness({
    ...(await import("../broker/options.ts")).defaultMqttBrokerOptions(),
    receiveMaximum: 2,
  });
  const c = await h.connected("c", 5);
  for (let i = 1; i <= 3; i++) c.publish("t", "x", { qos: 2, messageId: i });
  assertEquals((await c.next("disconnect")).reasonCode, 0x93);
  await h.close();
});

Deno.test("v5: DISCONNECT raising session expiry from 0 is a protocol error (will published)", async () => {
  const h = new Harness();
  const w = await h.connected("w", 5);
  await w.subscribe("will", 0);
  const c = await h.connected("c", 5, {
    will: { topic: "will", payload: Buffer.from("w"), qos: 0, retain: false },
  });
  c.disconnect(0, { sessionExpiryInterval: 30 });
  assertEquals((await c.next("disconnect")).reasonCode, 0x82);
  assertEquals((await w.next("publish")).topic, "will");
  await h.close();
});

Deno.test("garbage after CONNECT never throws out of onPacket", async () => {
  const h = new Harness();
  const c = await h.connected("c", 5);
  for (
    const bytes of [[0x30, 0], [0x82, 1, 0], [0xf0, 0], [0x00, 0], [0x62, 0], [0x30, 3, 0, 5, 0x61]]
  ) {
    c.sendRaw(new Uint8Array(bytes));
  }
  await settle();
  assert(c.conn.ended);
  await h.close();
});
