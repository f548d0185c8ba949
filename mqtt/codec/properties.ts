/**
 * MQTT 5 properties: strict decoding (unknown ids, duplicates and ids not
 * allowed in the packet are errors) and encoding in a canonical order.
 *
 * @module
 */
import { MqttProtocolError, type Properties, ReasonCode } from "./types.ts";
import type { ByteReader } from "./byteReader.ts";
import { ByteWriter, utf8Encode } from "./byteWriter.ts";

type Kind = "byte" | "u16" | "u32" | "varint" | "string" | "binary" | "pair";

/** Where a property may appear. */
export type PropertyContext =
  | "connect"
  | "will"
  | "connack"
  | "publish"
  | "ack"
  | "subscribe"
  | "suback"
  | "unsubscribe"
  | "unsuback"
  | "disconnect"
  | "auth";

interface Spec {
  id: number;
  name: keyof Properties;
  kind: Kind;
  allowed: readonly PropertyContext[];
}

const ACKS: readonly PropertyContext[] = [
  "connack",
  "ack",
  "suback",
  "unsuback",
  "disconnect",
  "auth",
];

const SPECS: readonly Spec[] = [
  { id: 0x01, name: "payloadFormatIndicator", kind: "byte", allowed: ["publish", "will"] },
  { id: 0x02, name: "messageExpiryInterval", kind: "u32", allowed: ["publish", "will"] },
  { id: 0x03, name: "contentType", kind: "string", allowed: ["publish", "will"] },
  { id: 0x08, name: "responseTopic", kind: "string", allowed: ["publish", "will"] },
  { id: 0x09, name: "correlationData", kind: "binary", allowed: ["publish", "will"] },
  { id: 0x0b, name: "subscriptionIdentifiers", kind: "varint", allowed: ["publish", "subscribe"] },
  {
    id: 0x11,
    name: "sessionExpiryInterval",
    kind: "u32",
    allowed: ["connect", "connack", "disconnect"],
  },
  { id: 0x12, name: "assignedClientIdentifier", kind: "string", allowed: ["connack"] },
  { id: 0x13, name: "serverKeepAlive", kind: "u16", allowed: ["connack"] },
  {
    id: 0x15,
    name: "authenticationMethod",
    kind: "string",
    allowed: ["connect", "connack", "auth"],
  },
  { id: 0x16, name: "authenticationData", kind: "binary", allowed: ["connect", "connack", "auth"] },
  { id: 0x17, name: "requestProblemInformation", kind: "byte", allowed: ["connect"] },
  { id: 0x18, name: "willDelayInterval", kind: "u32", allowed: ["will"] },
  { id: 0x19, name: "requestResponseInformation", kind: "byte", allowed: ["connect"] },
  { id: 0x1a, name: "responseInformation", kind: "string", allowed: ["connack"] },
  { id: 0x1c, name: "serverReference", kind: "string", allowed: ["connack", "disconnect"] },
  { id: 0x1f, name: "reasonString", kind: "string", allowed: ACKS },
  { id: 0x21, name: "receiveMaximum", kind: "u16", allowed: ["connect", "connack"] },
  { id: 0x22, name: "topicAliasMaximum", kind: "u16", allowed: ["connect", "connack"] },
  { id: 0x23, name: "topicAlias", kind: "u16", allowed: ["publish"] },
  { id: 0x24, name: "maximumQoS", kind: "byte", allowed: ["connack"] },
  { id: 0x25, name: "retainAvailable", kind: "byte", allowed: ["connack"] },
  {
    id: 0x26,
    name: "userProperties",
    kind: "pair",
    allowed: [
      "connect",
      "will",
      "connack",
      "publish",
      "ack",
      "subscribe",
      "suback",
      "unsubscribe",
      "unsuback",
      "disconnect",
      "auth",
    ],
  },
  { id: 0x27, name: "maximumPacketSize", kind: "u32", allowed: ["connect", "connack"] },
  { id: 0x28, name: "wildcardSubscriptionAvailable", kind: "byte", allowed: ["connack"] },
  { id: 0x29, name: "subscriptionIdentifierAvailable", kind: "byte", allowed: ["connack"] },
  { id: 0x2a, name: "sharedSubscriptionAvailable", kind: "byte", allowed: ["connack"] },
];

const BY_ID: (Spec | undefined)[] = [];
for (const s of SPECS) BY_ID[s.id] = s;

/** Properties whose value must be 0 or 1. */
const BOOLEAN_BYTES = new Set<keyof Properties>([
  "payloadFormatIndicator",
  "requestProblemInformation",
  "requestResponseInformation",
  "retainAvailable",
  "wildcardSubscriptionAvailable",
  "subscriptionIdentifierAvailable",
  "sharedSubscriptionAvailable",
]);

function protocolError(message: string): MqttProtocolError {
  return new MqttProtocolError(ReasonCode.PROTOCOL_ERROR, message);
}

/**
 * Reads a property block (length varint + properties) at the reader's
 * position. Throws {@link MqttProtocolError}: 0x81 for truncation or an
 * unknown id, 0x82 for a duplicate, a property not allowed in `context`, or a
 * forbidden value (0 receive maximum / packet size / subscription id).
 */
export function readProperties(r: ByteReader, context: PropertyContext): Properties {
  const length = r.varint();
  const end = r.pos + length;
  if (end > r.end) {
    throw new MqttProtocolError(
      ReasonCode.MALFORMED_PACKET,
      `property length ${length} exceeds the packet (${r.end - r.pos} bytes left)`,
    );
  }
  const props: Properties = {};
  if (length === 0) return props;
  const saveEnd = r.end;
  r.end = end;
  // ids are below 64: a two-word bit set instead of a Set per packet
  let seenLo = 0;
  let seenHi = 0;
  while (r.pos < end) {
    const id = r.varint();
    const spec = BY_ID[id];
    if (spec === undefined) {
      throw new MqttProtocolError(
        ReasonCode.MALFORMED_PACKET,
        `unknown property id 0x${id.toString(16)} in ${context}`,
      );
    }
    if (!spec.allowed.includes(context)) {
      throw protocolError(`property ${spec.name} is not allowed in ${context}`);
    }
    const repeatable = spec.kind === "pair" ||
      (spec.name === "subscriptionIdentifiers" && context === "publish");
    const bit = 1 << (id & 31);
    const dup = id < 32 ? (seenLo & bit) !== 0 : (seenHi & bit) !== 0;
    if (!repeatable && dup) {
      throw protocolError(`property ${spec.name} appears twice in ${context}`);
    }
    if (id < 32) seenLo |= bit;
    else seenHi |= bit;
    switch (spec.kind) {
      case "byte": {
        const v = r.u8();
        if (BOOLEAN_BYTES.has(spec.name) && v > 1) {
          throw protocolError(`property ${spec.name}=${v} must be 0 or 1`);
        }
        (props as Record<string, unknown>)[spec.name] = v;
        break;
      }
      case "u16": {
        const v = r.u16();
        if (v === 0 && spec.name === "receiveMaximum") {
          throw protocolError("property receiveMaximum=0 is not allowed");
        }
        (props as Record<string, unknown>)[spec.name] = v;
        break;
      }
      case "u32": {
        const v = r.u32();
        if (v === 0 && spec.name === "maximumPacketSize") {
          throw protocolError("property maximumPacketSize=0 is not allowed");
        }
        (props as Record<string, unknown>)[spec.name] = v;
        break;
      }
      case "varint": {
        const v = r.varint();
        if (v === 0) throw protocolError("subscription identifier 0 is not allowed");
        (props.subscriptionIdentifiers ??= []).push(v);
        break;
      }
      case "string":
        (props as Record<string, unknown>)[spec.name] = r.string();
        break;
      case "binary":
        (props as Record<string, unknown>)[spec.name] = r.binary();
        break;
      case "pair": {
        const k = r.string();
        const v = r.string();
        (props.userProperties ??= []).push([k, v]);
        break;
      }
    }
  }
  r.end = saveEnd;
  return props;
}

/** Encoded size of a varint. */
export function varintSize(n: number): number {
  return n < 128 ? 1 : n < 16384 ? 2 : n < 2097152 ? 3 : 4;
}

/**
 * Encodes the properties (without the length prefix) in id order. Returns an
 * empty array for no properties.
 */
export function encodeProperties(props: Properties | null | undefined): Uint8Array {
  if (props === null || props === undefined) return EMPTY;
  const w = new ByteWriter(64);
  for (const spec of SPECS) {
    const value = (props as Record<string, unknown>)[spec.name];
    if (value === undefined) continue;
    switch (spec.kind) {
      case "byte":
        w.u8(spec.id);
        w.u8(value as number);
        break;
      case "u16":
        w.u8(spec.id);
        w.u16(value as number);
        break;
      case "u32":
        w.u8(spec.id);
        w.u32(value as number);
        break;
      case "varint":
        for (const v of value as number[]) {
          w.u8(spec.id);
          w.varint(v);
        }
        break;
      case "string":
        w.u8(spec.id);
        w.bytes16(utf8Encode(value as string));
        break;
      case "binary":
        w.u8(spec.id);
        w.bytes16(value as Uint8Array);
        break;
      case "pair":
        for (const [k, v] of value as [string, string][]) {
          w.u8(spec.id);
          w.bytes16(utf8Encode(k));
          w.bytes16(utf8Encode(v));
        }
        break;
    }
  }
  return w.finish();
}

const EMPTY = new Uint8Array(0);
