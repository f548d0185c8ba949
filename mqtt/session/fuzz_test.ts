/**
 * Invariant 6: random and mutated packets never throw out of the session,
 * never leave an unhandled rejection, and the broker keeps serving others.
 */
import { ok as assert } from "node:assert/strict";
import fc from "fast-check";
import * as mqttPacket from "mqtt-packet";
import { framePacket, Harness, settle } from "../broker/testHarness.ts";

function valid(v: 4 | 5): Uint8Array[] {
  const packets: mqttPacket.Packet[] = [
    { cmd: "subscribe", messageId: 1, subscriptions: [{ topic: "a/+", qos: 1 }] },
    {
      cmd: "publish",
      topic: "a/b",
      payload: Buffer.from("hello"),
      qos: 1,
      messageId: 2,
      dup: false,
      retain: true,
    },
    {
      cmd: "publish",
      topic: "a/c",
      payload: Buffer.from("x"),
      qos: 2,
      messageId: 3,
      dup: false,
      retain: false,
    },
    { cmd: "pubrel", messageId: 3 },
    { cmd: "unsubscribe", messageId: 4, unsubscriptions: ["a/+"] },
    { cmd: "pingreq" },
  ];
  return packets.map((p) => {
    const b = mqttPacket.generate(p, { protocolVersion: v });
    return new Uint8Array(b.buffer, b.byteOffset, b.length);
  });
}

/** Keeps the fixed header's remaining length consistent (the frame guard's job). */
function reframe(first: number, body: Uint8Array): Uint8Array {
  return framePacket(first, Array.from(body));
}

function bodyOf(p: Uint8Array): Uint8Array {
  let pos = 1;
  while (p[pos++] & 0x80);
  return p.subarray(pos);
}

for (const v of [4, 5] as const) {
  Deno.test(`v${v}: mutated packets after CONNECT never crash the session or the broker`, async () => {
    const seeds = valid(v);
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            seed: fc.nat(seeds.length - 1),
            flips: fc.array(fc.tuple(fc.nat(64), fc.nat(255)), { maxLength: 4 }),
            first: fc.option(fc.nat(255), { nil: undefined }),
          }),
          { minLength: 1, maxLength: 8 },
        ),
        async (steps) => {
          const h = new Harness();
          const c = await h.connected("fz", v);
          const watcher = await h.connected("watcher", v);
          await watcher.subscribe("alive", 0);
          for (const s of steps) {
            const body = bodyOf(seeds[s.seed]).slice();
            for (const [i, b] of s.flips) if (body.length > 0) body[i % body.length] = b;
            c.sendRaw(reframe(s.first ?? seeds[s.seed][0], body));
          }
          await settle();
          const p = await h.connected("p", v);
          p.publish("alive", "yes");
          const got = await watcher.next("publish");
          assert(got.cmd === "publish" && got.topic === "alive");
          await h.close();
        },
      ),
      { numRuns: 50 },
    );
  });
}

Deno.test("mutated CONNECT packets get a CONNACK or a close, never an exception", async () => {
  const seeds = [3, 4, 5].map((v) => {
    const b = mqttPacket.generate({
      cmd: "connect",
      protocolId: v === 3 ? "MQIsdp" : "MQTT",
      protocolVersion: v as 3 | 4 | 5,
      clean: true,
      clientId: "fuzz",
      keepalive: 30,
      username: "u",
      password: Buffer.from("p"),
      will: { topic: "w", payload: Buffer.from("x"), qos: 1, retain: false },
      properties: v === 5 ? { sessionExpiryInterval: 5, receiveMaximum: 3 } : undefined,
    }, { protocolVersion: v });
    return new Uint8Array(b.buffer, b.byteOffset, b.length);
  });
  await fc.assert(
    fc.asyncProperty(
      fc.nat(2),
      fc.array(fc.tuple(fc.nat(80), fc.nat(255)), { minLength: 1, maxLength: 4 }),
      async (seed, flips) => {
        const h = new Harness();
        const c = h.client(4);
        const body = bodyOf(seeds[seed]).slice();
        for (const [i, b] of flips) body[i % body.length] = b;
        c.sendRaw(reframe(0x10, body));
        await settle();
        const answered = c.packets.some((p) => p.cmd === "connack") || c.conn.ended;
        assert(answered, "CONNECT neither answered nor closed");
        await h.close();
      },
    ),
    { numRuns: 100 },
  );
});
