import { deepStrictEqual, throws } from "node:assert/strict";
import { encode } from "@msgpack/msgpack";
import { decodePacket, encodePacket, MalformedPacketError, type SwimMessage } from "./messages.ts";

const meta = { mqttEndpoints: ["mqtt://h:1883"], stores: ["dist"], load: { connections: 3 } };

Deno.test("messages: every kind round-trips through the codec", () => {
  const msgs: SwimMessage[] = [
    { t: "ping", seq: 1, node: "a:1" },
    { t: "ireq", seq: 2, node: "b:1", nack: true },
    { t: "ack", seq: 3 },
    { t: "nack", seq: 4 },
    { t: "alive", node: "a:1", inc: 5, meta },
    { t: "suspect", node: "a:1", inc: 5, from: "b:1" },
    { t: "dead", node: "a:1", inc: 5, from: "a:1" },
    { t: "pp", join: true, resp: false, states: [{ node: "a:1", inc: 1, state: "left", meta }] },
  ];
  deepStrictEqual(decodePacket(encodePacket(msgs)), msgs);
});

Deno.test("messages: malformed packets are rejected with the reason", () => {
  for (
    const bad of [
      encode({ t: "ping" }),
      encode([]),
      encode([{ t: "ping", seq: -1, node: "a:1" }]),
      encode([{ t: "alive", node: "a:1", inc: 1, meta: { ...meta, load: { x: "y" } } }]),
      encode([{
        t: "pp",
        join: true,
        resp: false,
        states: [{ node: "a", inc: 1, state: "zombie", meta }],
      }]),
      encode([{ t: "evil" }]),
      new Uint8Array([0xc1]),
    ]
  ) throws(() => decodePacket(bad), MalformedPacketError);
});
