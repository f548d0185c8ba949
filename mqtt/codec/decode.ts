/**
 * Strict decoder for the packets a client sends. Input is one complete packet
 * (fixed header included) as the transport's frame guard delivers it. Every
 * violation throws {@link MqttProtocolError} with the reason code the session
 * reports (v5 DISCONNECT) or acts on (v3: close).
 *
 * PUBLISH is decoded on a fast path: one pass over the topic bytes (UTF-8,
 * U+0000 and wildcard checks together), the payload as a view.
 *
 * @module
 */
import { ByteReader, decodeMqttString } from "./byteReader.ts";
import { readProperties } from "./properties.ts";
import {
  type AckPacket,
  type ClientPacket,
  type ConnectPacket,
  MqttProtocolError,
  type ProtocolVersion,
  type PublishPacket,
  ReasonCode,
  type SubscribePacket,
  type SubscriptionRequest,
  type TopicCache,
  type UnsubscribePacket,
  type WillPacket,
} from "./types.ts";

/**
 * CONNECT named a protocol or level the broker does not speak. `level` is the
 * requested level byte so the session can answer in a form the client reads
 * (v3 CONNACK 0x01, v5 CONNACK 0x84).
 */
export class UnsupportedProtocolError extends MqttProtocolError {
  constructor(readonly protocolName: string, readonly level: number) {
    super(
      ReasonCode.UNSUPPORTED_PROTOCOL_VERSION,
      `unsupported protocol ${JSON.stringify(protocolName)} level ${level}`,
    );
    this.name = "UnsupportedProtocolError";
  }
}

function malformed(message: string): MqttProtocolError {
  return new MqttProtocolError(ReasonCode.MALFORMED_PACKET, message);
}

function protocolError(message: string): MqttProtocolError {
  return new MqttProtocolError(ReasonCode.PROTOCOL_ERROR, message);
}

/** Offset of the variable header (after the fixed header's remaining length). */
export function fixedHeaderBytes(packet: Uint8Array): number {
  let pos = 1;
  for (let i = 0; i < 4; i++) {
    if (pos >= packet.length) throw malformed("packet too short: truncated remaining length");
    if ((packet[pos++] & 0x80) === 0) return pos;
  }
  throw malformed("remaining length longer than 4 bytes");
}

/** Packet type (high nibble of the first byte). */
export function packetTypeOf(packet: Uint8Array): number {
  return packet[0] >> 4;
}

/**
 * Decodes one client packet. `version` is the session's protocol level; pass
 * null before CONNECT (only CONNECT is then decodable).
 */
export function decodeClientPacket(
  packet: Uint8Array,
  version: ProtocolVersion | null,
): ClientPacket {
  if (packet.length < 2) throw malformed(`packet of ${packet.length} bytes is too short`);
  const type = packet[0] >> 4;
  const flags = packet[0] & 0x0f;
  const start = fixedHeaderBytes(packet);
  if (type === 1) {
    if (flags !== 0) {
      throw malformed(`CONNECT fixed header flags 0x${flags.toString(16)} must be 0`);
    }
    return decodeConnect(new ByteReader(packet, start, packet.length));
  }
  if (version === null) throw protocolError(`packet type ${type} before CONNECT`);
  const v5 = version === 5;
  if (type === 3) return decodePublish(packet, start, v5);
  const r = new ByteReader(packet, start, packet.length);
  switch (type) {
    case 4:
    case 5:
    case 7:
      if (flags !== 0) {
        throw malformed(`packet type ${type} has reserved flags 0x${flags.toString(16)}`);
      }
      return decodeAck(r, type, v5);
    case 6:
      if (flags !== 2) {
        throw malformed(`PUBREL fixed header flags 0x${flags.toString(16)} must be 2`);
      }
      return decodeAck(r, type, v5);
    case 8:
      if (flags !== 2) {
        throw malformed(`SUBSCRIBE fixed header flags 0x${flags.toString(16)} must be 2`);
      }
      return decodeSubscribe(r, v5);
    case 10:
      if (flags !== 2) {
        throw malformed(`UNSUBSCRIBE fixed header flags 0x${flags.toString(16)} must be 2`);
      }
      return decodeUnsubscribe(r, v5);
    case 12:
      if (flags !== 0 || r.remaining !== 0) {
        throw malformed("PINGREQ must have flags 0 and no body");
      }
      return { type: "pingreq" };
    case 14: {
      if (flags !== 0) throw malformed(`DISCONNECT flags 0x${flags.toString(16)} must be 0`);
      if (!v5) {
        if (r.remaining !== 0) throw malformed("v3 DISCONNECT must have no body");
        return { type: "disconnect", reasonCode: 0, properties: {} };
      }
      const reasonCode = r.remaining > 0 ? r.u8() : 0;
      const properties = r.remaining > 0 ? readProperties(r, "disconnect") : {};
      if (r.remaining !== 0) throw malformed("DISCONNECT has trailing bytes");
      return { type: "disconnect", reasonCode, properties };
    }
    case 15: {
      if (!v5) throw malformed("AUTH is an MQTT 5 packet");
      if (flags !== 0) throw malformed(`AUTH flags 0x${flags.toString(16)} must be 0`);
      const reasonCode = r.remaining > 0 ? r.u8() : 0;
      const properties = r.remaining > 0 ? readProperties(r, "auth") : {};
      return { type: "auth", reasonCode, properties };
    }
    default:
      throw protocolError(`packet type ${type} is not sent by clients`);
  }
}

function decodeConnect(r: ByteReader): ConnectPacket {
  const name = r.string();
  const level = r.u8();
  let version: ProtocolVersion;
  if (name === "MQTT" && (level === 4 || level === 5)) version = level;
  else if (name === "MQIsdp" && level === 3) version = 3;
  else throw new UnsupportedProtocolError(name, level);
  const flags = r.u8();
  if ((flags & 0x01) !== 0) throw malformed("CONNECT reserved flag (bit 0) is set");
  const cleanStart = (flags & 0x02) !== 0;
  const willFlag = (flags & 0x04) !== 0;
  const willQos = (flags >> 3) & 0x03;
  const willRetain = (flags & 0x20) !== 0;
  const passwordFlag = (flags & 0x40) !== 0;
  const usernameFlag = (flags & 0x80) !== 0;
  if (willQos === 3) throw malformed("CONNECT will QoS is 3");
  if (!willFlag && (willQos !== 0 || willRetain)) {
    throw malformed("CONNECT will QoS/retain set without the will flag");
  }
  if (version !== 5 && passwordFlag && !usernameFlag) {
    throw malformed("CONNECT password flag set without the user name flag");
  }
  const keepAliveSeconds = r.u16();
  const properties = version === 5 ? readProperties(r, "connect") : {};
  const clientId = r.string();
  let will: WillPacket | null = null;
  if (willFlag) {
    const willProps = version === 5 ? readProperties(r, "will") : {};
    const topic = r.string();
    if (topic.length === 0 || topic.includes("+") || topic.includes("#")) {
      throw new MqttProtocolError(
        ReasonCode.TOPIC_NAME_INVALID,
        `will topic ${JSON.stringify(topic)} is not a valid topic name`,
      );
    }
    const payload = r.binary();
    will = { topic, payload, qos: willQos as 0 | 1 | 2, retain: willRetain, properties: willProps };
  }
  const username = usernameFlag ? r.string() : null;
  const password = passwordFlag ? r.binary() : null;
  if (r.remaining !== 0) throw malformed(`CONNECT has ${r.remaining} trailing bytes`);
  return {
    type: "connect",
    protocolVersion: version,
    cleanStart,
    keepAliveSeconds,
    clientId,
    will,
    username,
    password,
    properties,
  };
}

/** Whether `packet[start, start + cached.length)` equals `cached`. */
function sameBytes(packet: Uint8Array, start: number, length: number, cached: Uint8Array): boolean {
  if (cached.length !== length) return false;
  for (let i = 0; i < length; i++) if (packet[start + i] !== cached[i]) return false;
  return true;
}

/**
 * Decodes a PUBLISH (fast path). `start` is the variable header offset.
 * `cache` (per connection) skips decoding and validating a topic equal to the
 * previous one.
 */
export function decodePublish(
  packet: Uint8Array,
  start: number,
  v5: boolean,
  cache: TopicCache | null = null,
): PublishPacket {
  const b0 = packet[0];
  const qos = (b0 >> 1) & 0x03;
  if (qos === 3) throw malformed("PUBLISH QoS is 3");
  const dup = (b0 & 0x08) !== 0;
  if (dup && qos === 0) throw malformed("PUBLISH DUP flag set on QoS 0");
  const end = packet.length;
  if (start + 2 > end) throw malformed("PUBLISH too short for its topic length");
  const topicLength = (packet[start] << 8) | packet[start + 1];
  let pos = start + 2;
  const topicOffset = pos;
  const topicEnd = pos + topicLength;
  if (topicEnd > end) throw malformed(`PUBLISH topic length ${topicLength} exceeds the packet`);
  let topic: string;
  if (cache !== null && cache.bytes !== null && sameBytes(packet, pos, topicLength, cache.bytes)) {
    topic = cache.topic;
  } else {
    let ascii = true;
    for (let i = pos; i < topicEnd; i++) {
      const c = packet[i];
      if (c === 0x23 || c === 0x2b) {
        throw new MqttProtocolError(
          ReasonCode.TOPIC_NAME_INVALID,
          "PUBLISH topic contains a wildcard",
        );
      }
      if (c === 0) throw malformed("PUBLISH topic contains U+0000");
      if (c >= 0x80) ascii = false;
    }
    topic = ascii && topicLength <= 256
      ? String.fromCharCode.apply(null, packet.subarray(pos, topicEnd) as unknown as number[])
      : decodeMqttString(packet, pos, topicEnd);
    if (cache !== null && topicLength > 0 && topicLength <= 256) {
      cache.bytes = packet.slice(pos, topicEnd);
      cache.topic = topic;
    }
  }
  pos = topicEnd;
  let packetId = 0;
  if (qos > 0) {
    if (pos + 2 > end) throw malformed("PUBLISH too short for its packet identifier");
    packetId = (packet[pos] << 8) | packet[pos + 1];
    if (packetId === 0) throw malformed("PUBLISH packet identifier is 0");
    pos += 2;
  }
  let properties = null;
  if (v5) {
    if (pos < end && packet[pos] === 0) {
      pos += 1;
    } else {
      const r = new ByteReader(packet, pos, end);
      properties = readProperties(r, "publish");
      pos = r.pos;
      if (properties.subscriptionIdentifiers !== undefined) {
        throw protocolError("PUBLISH from a client must not carry a subscription identifier");
      }
    }
  }
  if (!v5 && topicLength === 0) {
    throw new MqttProtocolError(ReasonCode.TOPIC_NAME_INVALID, "PUBLISH topic is empty");
  }
  return {
    type: "publish",
    qos: qos as 0 | 1 | 2,
    dup,
    retain: (b0 & 0x01) !== 0,
    topic,
    packetId,
    properties,
    payload: packet.subarray(pos, end),
    v5,
    raw: packet,
    topicOffset,
    topicLength,
  };
}

function decodeAck(r: ByteReader, type: number, v5: boolean): AckPacket {
  const kind = type === 4 ? "puback" : type === 5 ? "pubrec" : type === 6 ? "pubrel" : "pubcomp";
  const packetId = r.u16();
  if (packetId === 0) throw malformed(`${kind.toUpperCase()} packet identifier is 0`);
  if (!v5) {
    if (r.remaining !== 0) throw malformed(`${kind.toUpperCase()} has trailing bytes`);
    return { type: kind, packetId, reasonCode: 0, properties: null };
  }
  const reasonCode = r.remaining > 0 ? r.u8() : 0;
  const properties = r.remaining > 0 ? readProperties(r, "ack") : null;
  if (r.remaining !== 0) throw malformed(`${kind.toUpperCase()} has trailing bytes`);
  return { type: kind, packetId, reasonCode, properties };
}

function decodeSubscribe(r: ByteReader, v5: boolean): SubscribePacket {
  const packetId = r.u16();
  if (packetId === 0) throw malformed("SUBSCRIBE packet identifier is 0");
  const properties = v5 ? readProperties(r, "subscribe") : {};
  const subscriptions: SubscriptionRequest[] = [];
  while (r.remaining > 0) {
    const filter = r.string();
    const opts = r.u8();
    const qos = opts & 0x03;
    if (qos === 3) throw malformed(`SUBSCRIBE to ${JSON.stringify(filter)} requests QoS 3`);
    if (!v5) {
      if ((opts & 0xfc) !== 0) throw malformed("SUBSCRIBE options reserved bits are set");
      subscriptions.push({
        filter,
        qos: qos as 0 | 1 | 2,
        noLocal: false,
        retainAsPublished: false,
        retainHandling: 0,
      });
      continue;
    }
    if ((opts & 0xc0) !== 0) throw malformed("SUBSCRIBE options reserved bits 6-7 are set");
    const retainHandling = (opts >> 4) & 0x03;
    if (retainHandling === 3) throw protocolError("SUBSCRIBE retain handling is 3");
    subscriptions.push({
      filter,
      qos: qos as 0 | 1 | 2,
      noLocal: (opts & 0x04) !== 0,
      retainAsPublished: (opts & 0x08) !== 0,
      retainHandling: retainHandling as 0 | 1 | 2,
    });
  }
  if (subscriptions.length === 0) throw protocolError("SUBSCRIBE without any topic filter");
  return { type: "subscribe", packetId, properties, subscriptions };
}

function decodeUnsubscribe(r: ByteReader, v5: boolean): UnsubscribePacket {
  const packetId = r.u16();
  if (packetId === 0) throw malformed("UNSUBSCRIBE packet identifier is 0");
  const properties = v5 ? readProperties(r, "unsubscribe") : {};
  const filters: string[] = [];
  while (r.remaining > 0) filters.push(r.string());
  if (filters.length === 0) throw protocolError("UNSUBSCRIBE without any topic filter");
  return { type: "unsubscribe", packetId, properties, filters };
}
