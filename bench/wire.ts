/**
 * MQTT 3.1.1 wire helpers for the load generator: packets are encoded once with
 * mqtt-packet's `generate`, then copied and patched in place (sequence number,
 * send time, packet id), so the generator spends its CPU on I/O, not encoding.
 * Incoming bytes are split into packets by a minimal fixed-header reader.
 *
 * @module
 */
import mqttPacket from "mqtt-packet";
import { Buffer } from "node:buffer";

/** MQTT control packet types (upper nibble of the first byte). */
export const PacketType = {
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  SUBACK: 9,
  PINGRESP: 13,
} as const;

/**
 * Payload layout written by publishers (little endian):
 * bytes 0..3 publisher index, 4..7 sequence number, 8..15 send time
 * (`performance.now()` in ms, f64). Needs at least this many bytes.
 */
export const MIN_PAYLOAD_BYTES = 16;

/** A PUBLISH packet encoded once, with the offsets of the fields we patch. */
export interface PublishTemplate {
  /** The encoded packet (never written directly; copied per batch). */
  readonly bytes: Buffer;
  /** Offset of the payload inside `bytes`. */
  readonly payloadOffset: number;
  /** Offset of the 2-byte packet id, or -1 for QoS 0. */
  readonly packetIdOffset: number;
}

/**
 * Encode a PUBLISH once (MQTT 3.1.1, no retain) for later patching.
 * @param topic topic name
 * @param qos 0 or 1
 * @param payloadBytes payload size, at least {@link MIN_PAYLOAD_BYTES}
 */
export function publishTemplate(topic: string, qos: 0 | 1, payloadBytes: number): PublishTemplate {
  if (payloadBytes < MIN_PAYLOAD_BYTES) {
    throw new RangeError(`payloadBytes must be >= ${MIN_PAYLOAD_BYTES}, got ${payloadBytes}`);
  }
  const bytes = mqttPacket.generate({
    cmd: "publish",
    topic,
    payload: Buffer.alloc(payloadBytes, 0x2e),
    qos,
    messageId: qos > 0 ? 1 : undefined,
    retain: false,
    dup: false,
  });
  const payloadOffset = bytes.length - payloadBytes;
  return { bytes, payloadOffset, packetIdOffset: qos > 0 ? payloadOffset - 2 : -1 };
}

/** Options of a CONNECT packet. */
export interface ConnectOptions {
  /** Client identifier. */
  readonly clientId: string;
  /** cleanSession flag. */
  readonly clean: boolean;
  /** Keep-alive in seconds (0 disables it). */
  readonly keepaliveSeconds: number;
}

/** Encode a CONNECT (MQTT 3.1.1). */
export function encodeConnect(opts: ConnectOptions): Buffer {
  return mqttPacket.generate({
    cmd: "connect",
    protocolId: "MQTT",
    protocolVersion: 4,
    clean: opts.clean,
    clientId: opts.clientId,
    keepalive: opts.keepaliveSeconds,
  });
}

/** Encode a SUBSCRIBE for one filter. */
export function encodeSubscribe(filter: string, qos: 0 | 1, messageId: number): Buffer {
  return mqttPacket.generate({
    cmd: "subscribe",
    messageId,
    subscriptions: [{ topic: filter, qos }],
  });
}

/** The 2-byte DISCONNECT packet. */
export const DISCONNECT: Buffer = Buffer.from([0xe0, 0x00]);

/**
 * Copy `count` PUBLISH packets from a template into one new buffer, patching
 * publisher index, sequence numbers (starting at `firstSeq`), send time and,
 * for QoS 1, packet ids (from `nextPacketId`, wrapping 1..65535).
 * A new buffer per batch: the socket keeps a reference until it is flushed.
 */
export function buildPublishBatch(
  tpl: PublishTemplate,
  count: number,
  publisher: number,
  firstSeq: number,
  nextPacketId: number,
  nowMs: number,
): Buffer {
  const len = tpl.bytes.length;
  const out = Buffer.allocUnsafe(len * count);
  for (let i = 0; i < count; i++) {
    const base = i * len;
    tpl.bytes.copy(out, base);
    const p = base + tpl.payloadOffset;
    out.writeUInt32LE(publisher, p);
    out.writeUInt32LE((firstSeq + i) >>> 0, p + 4);
    out.writeDoubleLE(nowMs, p + 8);
    if (tpl.packetIdOffset >= 0) {
      out.writeUInt16BE(wrapPacketId(nextPacketId + i), base + tpl.packetIdOffset);
    }
  }
  return out;
}

/** Map any positive integer onto the packet id range 1..65535. */
export function wrapPacketId(n: number): number {
  return ((n - 1) % 65535) + 1;
}

/** A decoded PUBLISH as seen by a subscriber (views into the read buffer). */
export interface PublishView {
  /** QoS of the delivery. */
  readonly qos: number;
  /** Packet id (0 for QoS 0). */
  readonly packetId: number;
  /** Publisher index from the payload, or -1 when the payload is too short. */
  readonly publisher: number;
  /** Sequence number from the payload. */
  readonly seq: number;
  /** Send time from the payload (ms, `performance.now()` of the generator). */
  readonly sentAtMs: number;
}

/** Parse a PUBLISH body located at `buf[start..end)` with header flags `flags`. */
export function parsePublish(buf: Buffer, flags: number, start: number, end: number): PublishView {
  const qos = (flags >> 1) & 3;
  const topicLen = buf.readUInt16BE(start);
  let p = start + 2 + topicLen;
  let packetId = 0;
  if (qos > 0) {
    packetId = buf.readUInt16BE(p);
    p += 2;
  }
  if (end - p < MIN_PAYLOAD_BYTES) return { qos, packetId, publisher: -1, seq: 0, sentAtMs: 0 };
  return {
    qos,
    packetId,
    publisher: buf.readUInt32LE(p),
    seq: buf.readUInt32LE(p + 4),
    sentAtMs: buf.readDoubleLE(p + 8),
  };
}

/** Called for each complete packet: type, flags, buffer, body start, body end. */
export type PacketHandler = (
  type: number,
  flags: number,
  buf: Buffer,
  bodyStart: number,
  bodyEnd: number,
) => void;

/** Largest packet the generator accepts from a broker (bounds its buffer). */
export const MAX_INCOMING_PACKET_BYTES = 1 << 20;

/**
 * Splits a byte stream into MQTT packets. Keeps at most one partial packet;
 * throws on a malformed length or a packet above {@link MAX_INCOMING_PACKET_BYTES}.
 */
export class PacketReader {
  #pending: Buffer | null = null;
  readonly #onPacket: PacketHandler;

  /** @param onPacket called synchronously for each complete packet */
  constructor(onPacket: PacketHandler) {
    this.#onPacket = onPacket;
  }

  /** Feed one chunk read from the socket. */
  push(chunk: Buffer): void {
    let buf = chunk;
    if (this.#pending !== null) {
      buf = Buffer.concat([this.#pending, chunk]);
      this.#pending = null;
    }
    const len = buf.length;
    let off = 0;
    // Each iteration consumes at least 2 bytes, so this ends within len/2 turns.
    while (len - off >= 2) {
      let remaining = 0;
      let mult = 1;
      let i = off + 1;
      let complete = false;
      for (let k = 0; k < 4 && i < len; k++) {
        const b = buf[i++];
        remaining += (b & 0x7f) * mult;
        mult *= 128;
        if ((b & 0x80) === 0) {
          complete = true;
          break;
        }
      }
      if (!complete) {
        if (i - off - 1 >= 4) throw new Error("malformed remaining length from broker");
        break;
      }
      if (remaining > MAX_INCOMING_PACKET_BYTES) {
        throw new Error(`packet of ${remaining} bytes from broker exceeds the generator's limit`);
      }
      const end = i + remaining;
      if (end > len) break;
      const h = buf[off];
      this.#onPacket(h >> 4, h & 0x0f, buf, i, end);
      off = end;
    }
    if (off < len) this.#pending = Buffer.from(buf.subarray(off));
  }
}
