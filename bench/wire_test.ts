import { deepStrictEqual as assertEquals, throws as assertThrows } from "node:assert";
import { Buffer } from "node:buffer";
import mqttPacket from "mqtt-packet";
import {
  buildPublishBatch,
  PacketReader,
  PacketType,
  parsePublish,
  publishTemplate,
  wrapPacketId,
} from "./wire.ts";

function decodeAll(buf: Buffer): mqttPacket.Packet[] {
  const out: mqttPacket.Packet[] = [];
  const parser = mqttPacket.parser({ protocolVersion: 4 });
  parser.on("packet", (p: mqttPacket.Packet) => out.push(p));
  parser.parse(buf);
  return out;
}

Deno.test("a patched batch decodes with mqtt-packet as distinct publishes", () => {
  const tpl = publishTemplate("bench/x", 1, 64);
  const batch = buildPublishBatch(tpl, 3, 7, 100, 65535, 12.5);
  const packets = decodeAll(batch);
  assertEquals(packets.length, 3);
  packets.forEach((p, i) => {
    if (p.cmd !== "publish") throw new Error(`expected publish, got ${p.cmd}`);
    assertEquals(p.topic, "bench/x");
    assertEquals(p.qos, 1);
    assertEquals(p.messageId, wrapPacketId(65535 + i));
    const payload = Buffer.from(p.payload as Uint8Array);
    assertEquals(payload.length, 64);
    assertEquals(payload.readUInt32LE(0), 7);
    assertEquals(payload.readUInt32LE(4), 100 + i);
    assertEquals(payload.readDoubleLE(8), 12.5);
  });
  assertEquals(wrapPacketId(65536), 1);
});

Deno.test("PacketReader reassembles packets split at every byte", () => {
  const tpl = publishTemplate("a/b", 0, 16);
  const stream = Buffer.concat([
    buildPublishBatch(tpl, 2, 1, 5, 0, 3),
    Buffer.from([0x40, 2, 0, 9]),
  ]);
  for (let cut = 1; cut < stream.length; cut++) {
    const seen: string[] = [];
    const reader = new PacketReader((type, flags, buf, start, end) => {
      if (type === PacketType.PUBLISH) {
        const m = parsePublish(buf, flags, start, end);
        seen.push(`pub ${m.publisher}/${m.seq}`);
      } else {
        seen.push(`type ${type} id ${buf.readUInt16BE(start)}`);
      }
    });
    reader.push(stream.subarray(0, cut));
    reader.push(stream.subarray(cut));
    assertEquals(seen, ["pub 1/5", "pub 1/6", "type 4 id 9"], `cut at ${cut}`);
  }
});

Deno.test("PacketReader rejects a malformed remaining length", () => {
  const reader = new PacketReader(() => {});
  assertThrows(() => reader.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01])));
});
