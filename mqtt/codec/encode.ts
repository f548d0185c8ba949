/**
 * Encoders for the packets the broker sends. PUBLISH is built with one
 * allocation; the packet identifier can be patched into a copy so one encoding
 * serves many subscribers.
 *
 * @module
 */
import { encodeProperties, varintSize } from "./properties.ts";
import { putVarint, utf8Encode } from "./byteWriter.ts";
import type { Properties, ProtocolVersion } from "./types.ts";

function frame(firstByte: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + varintSize(body.length) + body.length);
  out[0] = firstByte;
  const pos = putVarint(out, 1, body.length);
  out.set(body, pos);
  return out;
}

function withProps(head: number[], props: Uint8Array | null, tail: Uint8Array | null): Uint8Array {
  const propLen = props === null ? 0 : varintSize(props.length) + props.length;
  const out = new Uint8Array(head.length + propLen + (tail === null ? 0 : tail.length));
  out.set(head, 0);
  let pos = head.length;
  if (props !== null) {
    pos = putVarint(out, pos, props.length);
    out.set(props, pos);
    pos += props.length;
  }
  if (tail !== null) out.set(tail, pos);
  return out;
}

/** PINGRESP. */
export const PINGRESP: Uint8Array = new Uint8Array([0xd0, 0x00]);

/** v3 CONNACK accepted, without and with session present (shared, never written to). */
const CONNACK_V3_ACCEPTED: readonly Uint8Array[] = [
  Uint8Array.of(0x20, 2, 0, 0),
  Uint8Array.of(0x20, 2, 1, 0),
];

/** CONNACK; v3 uses `code` as the return code, v5 as the reason code. */
export function encodeConnack(
  version: ProtocolVersion,
  sessionPresent: boolean,
  code: number,
  properties: Properties | null,
): Uint8Array {
  if (version !== 5) {
    // a shared array when accepted (as PINGRESP); an array literal costs ~1 µs here
    if (code === 0) return CONNACK_V3_ACCEPTED[sessionPresent ? 1 : 0];
    return Uint8Array.of(0x20, 2, sessionPresent ? 1 : 0, code);
  }
  const head = [sessionPresent ? 1 : 0, code];
  return frame(0x20, withProps(head, encodeProperties(properties), null));
}

/** PUBACK (4), PUBREC (5), PUBREL (6), PUBCOMP (7). */
export function encodeAck(
  type: 4 | 5 | 6 | 7,
  version: ProtocolVersion,
  packetId: number,
  reasonCode = 0,
  properties: Properties | null = null,
): Uint8Array {
  const first = (type << 4) | (type === 6 ? 0x02 : 0);
  const hasProps = properties !== null &&
    (properties.reasonString !== undefined || properties.userProperties !== undefined);
  if (version !== 5 || (reasonCode === 0 && !hasProps)) {
    return new Uint8Array([first, 2, packetId >> 8, packetId & 0xff]);
  }
  if (!hasProps) return new Uint8Array([first, 3, packetId >> 8, packetId & 0xff, reasonCode]);
  return frame(
    first,
    withProps([packetId >> 8, packetId & 0xff, reasonCode], encodeProperties(properties), null),
  );
}

/** SUBACK with one return/reason code per filter. */
export function encodeSuback(
  version: ProtocolVersion,
  packetId: number,
  codes: readonly number[],
  properties: Properties | null = null,
): Uint8Array {
  const head = [packetId >> 8, packetId & 0xff];
  const tail = new Uint8Array(codes);
  if (version !== 5) return frame(0x90, withProps(head, null, tail));
  return frame(0x90, withProps(head, encodeProperties(properties), tail));
}

/** UNSUBACK; v5 carries one reason code per filter, v3 none. */
export function encodeUnsuback(
  version: ProtocolVersion,
  packetId: number,
  codes: readonly number[],
  properties: Properties | null = null,
): Uint8Array {
  const head = [packetId >> 8, packetId & 0xff];
  if (version !== 5) return new Uint8Array([0xb0, 2, ...head]);
  return frame(0xb0, withProps(head, encodeProperties(properties), new Uint8Array(codes)));
}

/** v5 DISCONNECT. */
export function encodeDisconnect(
  reasonCode: number,
  properties: Properties | null = null,
): Uint8Array {
  const props = encodeProperties(properties);
  if (props.length === 0) {
    return reasonCode === 0 ? new Uint8Array([0xe0, 0]) : new Uint8Array([0xe0, 1, reasonCode]);
  }
  return frame(0xe0, withProps([reasonCode], props, null));
}

/** Fields of an outgoing PUBLISH. */
export interface PublishFields {
  /** UTF-8 topic bytes (empty when a v5 topic alias stands for it). */
  topicBytes: Uint8Array;
  qos: 0 | 1 | 2;
  dup: boolean;
  retain: boolean;
  /** 0 for QoS 0 (or a placeholder to patch with {@link patchPacketId}). */
  packetId: number;
  /** Encoded v5 properties (without length); ignored for v3. */
  properties: Uint8Array | null;
  payload: Uint8Array;
}

/** Size in bytes of the PUBLISH {@link encodePublish} would build. */
export function publishSize(version: ProtocolVersion, f: PublishFields): number {
  const remaining = publishRemaining(version, f);
  return 1 + varintSize(remaining) + remaining;
}

function publishRemaining(version: ProtocolVersion, f: PublishFields): number {
  let n = 2 + f.topicBytes.length + (f.qos > 0 ? 2 : 0) + f.payload.length;
  if (version === 5) {
    const p = f.properties === null ? 0 : f.properties.length;
    n += varintSize(p) + p;
  }
  return n;
}

/** Encodes a PUBLISH in one allocation. */
export function encodePublish(version: ProtocolVersion, f: PublishFields): Uint8Array {
  const remaining = publishRemaining(version, f);
  const out = new Uint8Array(1 + varintSize(remaining) + remaining);
  out[0] = 0x30 | (f.dup ? 0x08 : 0) | (f.qos << 1) | (f.retain ? 1 : 0);
  let pos = putVarint(out, 1, remaining);
  const t = f.topicBytes;
  out[pos++] = t.length >> 8;
  out[pos++] = t.length & 0xff;
  out.set(t, pos);
  pos += t.length;
  if (f.qos > 0) {
    out[pos++] = f.packetId >> 8;
    out[pos++] = f.packetId & 0xff;
  }
  if (version === 5) {
    const p = f.properties;
    if (p === null || p.length === 0) out[pos++] = 0;
    else {
      pos = putVarint(out, pos, p.length);
      out.set(p, pos);
      pos += p.length;
    }
  }
  out.set(f.payload, pos);
  return out;
}

/**
 * A copy of an encoded QoS>0 PUBLISH with another packet identifier (and DUP
 * flag). The original is left untouched (it may be queued on other sockets).
 */
export function withPacketId(publish: Uint8Array, packetId: number, dup: boolean): Uint8Array {
  const out = publish.slice();
  let pos = 1;
  while ((out[pos++] & 0x80) !== 0);
  const topicLength = (out[pos] << 8) | out[pos + 1];
  pos += 2 + topicLength;
  out[pos] = packetId >> 8;
  out[pos + 1] = packetId & 0xff;
  out[0] = dup ? out[0] | 0x08 : out[0] & ~0x08;
  return out;
}

/** Topic bytes cache for outgoing PUBLISH: encodes a topic string once. */
export function topicBytes(topic: string): Uint8Array {
  return utf8Encode(topic);
}
