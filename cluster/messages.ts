/**
 * Membership wire messages and their msgpack codec. A packet is an array of messages:
 * the primary one (ping, ack, push-pull, ...) followed by piggybacked broadcasts.
 * Decoding validates every field; a malformed packet is rejected as a whole.
 *
 * @module
 */

import { decode, encode } from "@msgpack/msgpack";

/** The transport channel reserved for membership packets. */
export const MEMBERSHIP_CHANNEL = "swim";

/** State of a member as seen by one node. */
export type MemberState = "alive" | "suspect" | "dead" | "left";

/**
 * Small node metadata carried with membership (versioned by the member's incarnation):
 * where its MQTT listeners are, which stores it serves, and load figures.
 */
export interface NodeMetadata {
  /** MQTT listener endpoints, e.g. `"mqtt://10.0.0.1:1883"`. */
  mqttEndpoints: string[];
  /** Store kinds this node serves replicas of, e.g. `["dist","inbox","retain"]`. */
  stores: string[];
  /** Load figures (name → value), e.g. `{ connections: 1200 }`. */
  load: Record<string, number>;
}

/** Direct probe of `node` (the target names itself, so a misdirected ping is ignored). */
export interface PingMessage {
  t: "ping";
  seq: number;
  node: string;
}
/** Ask the receiver to probe `node` on our behalf and relay the ack (or a nack). */
export interface IndirectPingMessage {
  t: "ireq";
  seq: number;
  node: string;
  nack: boolean;
}
/** Answer to a ping (or a relayed ack of an indirect probe). */
export interface AckMessage {
  t: "ack";
  seq: number;
}
/** A relay could not reach the target in time: proves the path to the relay works. */
export interface NackMessage {
  t: "nack";
  seq: number;
}
/** `node` is alive at incarnation `inc` with metadata `meta`. */
export interface AliveMessage {
  t: "alive";
  node: string;
  inc: number;
  meta: NodeMetadata;
}
/** `from` suspects `node` at incarnation `inc`. */
export interface SuspectMessage {
  t: "suspect";
  node: string;
  inc: number;
  from: string;
}
/** `from` declares `node` dead at `inc`; `from === node` means a graceful leave. */
export interface DeadMessage {
  t: "dead";
  node: string;
  inc: number;
  from: string;
}
/** One member in a push-pull exchange. */
export interface PushPullState {
  node: string;
  inc: number;
  state: MemberState;
  meta: NodeMetadata;
}
/** Full-state anti-entropy exchange; `join` marks a join attempt, `resp` the answer. */
export interface PushPullMessage {
  t: "pp";
  join: boolean;
  resp: boolean;
  states: PushPullState[];
}

/** Any membership message. */
export type SwimMessage =
  | PingMessage
  | IndirectPingMessage
  | AckMessage
  | NackMessage
  | AliveMessage
  | SuspectMessage
  | DeadMessage
  | PushPullMessage;

/** Messages that are disseminated by piggybacking. */
export type BroadcastMessage = AliveMessage | SuspectMessage | DeadMessage;

/** Encodes a packet (array of messages). */
export function encodePacket(messages: readonly SwimMessage[]): Uint8Array {
  return encode(messages);
}

/** Encoded size of one message inside a packet. */
export function encodedSize(message: SwimMessage | NodeMetadata): number {
  return encode(message).byteLength;
}

/** Raised for a packet that is not a valid array of membership messages. */
export class MalformedPacketError extends Error {
  override name = "MalformedPacketError";
}

const MAX_MESSAGES_PER_PACKET = 4096;
const MAX_ID_LENGTH = 300;
const MAX_LIST = 64;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value) &&
    !(value instanceof Uint8Array);
}

function fail(what: string, value: unknown): never {
  const shown = JSON.stringify(value, (_k, v) => (typeof v === "bigint" ? String(v) : v));
  throw new MalformedPacketError(`invalid ${what}: ${String(shown).slice(0, 120)}`);
}

function str(obj: Record<string, unknown>, key: string): string {
  const v = obj[key];
  if (typeof v !== "string" || v.length === 0 || v.length > MAX_ID_LENGTH) fail(key, v);
  return v;
}

function uint(obj: Record<string, unknown>, key: string): number {
  const v = obj[key];
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) fail(key, v);
  return v;
}

function bool(obj: Record<string, unknown>, key: string): boolean {
  const v = obj[key];
  if (typeof v !== "boolean") fail(key, v);
  return v;
}

function stringList(value: unknown, what: string): string[] {
  if (!Array.isArray(value) || value.length > MAX_LIST) fail(what, value);
  return value.map((item) => {
    if (typeof item !== "string" || item.length > MAX_ID_LENGTH) fail(what, item);
    return item;
  });
}

/**
 * Validates an unknown value as {@link NodeMetadata}: absent fields default to empty,
 * unknown fields are dropped, wrongly typed ones are rejected.
 */
export function parseMetadata(value: unknown): NodeMetadata {
  if (!isRecord(value)) fail("meta", value);
  const load: Record<string, number> = {};
  const rawLoad = value.load ?? {};
  if (!isRecord(rawLoad)) fail("meta.load", rawLoad);
  const entries = Object.entries(rawLoad);
  if (entries.length > MAX_LIST) fail("meta.load", rawLoad);
  for (const [k, v] of entries) {
    if (typeof v !== "number" || !Number.isFinite(v)) fail("meta.load value", v);
    load[k] = v;
  }
  return {
    mqttEndpoints: stringList(value.mqttEndpoints ?? [], "meta.mqttEndpoints"),
    stores: stringList(value.stores ?? [], "meta.stores"),
    load,
  };
}

function memberState(value: unknown): MemberState {
  if (value === "alive" || value === "suspect" || value === "dead" || value === "left") {
    return value;
  }
  return fail("state", value);
}

function parseMessage(raw: unknown): SwimMessage {
  if (!isRecord(raw)) fail("message", raw);
  switch (raw.t) {
    case "ping":
      return { t: "ping", seq: uint(raw, "seq"), node: str(raw, "node") };
    case "ireq":
      return { t: "ireq", seq: uint(raw, "seq"), node: str(raw, "node"), nack: bool(raw, "nack") };
    case "ack":
      return { t: "ack", seq: uint(raw, "seq") };
    case "nack":
      return { t: "nack", seq: uint(raw, "seq") };
    case "alive":
      return {
        t: "alive",
        node: str(raw, "node"),
        inc: uint(raw, "inc"),
        meta: parseMetadata(raw.meta),
      };
    case "suspect":
    case "dead":
      return { t: raw.t, node: str(raw, "node"), inc: uint(raw, "inc"), from: str(raw, "from") };
    case "pp": {
      const states = raw.states;
      if (!Array.isArray(states) || states.length > MAX_MESSAGES_PER_PACKET) {
        fail("states", states);
      }
      return {
        t: "pp",
        join: bool(raw, "join"),
        resp: bool(raw, "resp"),
        states: states.map((s: unknown) => {
          if (!isRecord(s)) fail("state entry", s);
          return {
            node: str(s, "node"),
            inc: uint(s, "inc"),
            state: memberState(s.state),
            meta: parseMetadata(s.meta),
          };
        }),
      };
    }
    default:
      return fail("message type", raw.t);
  }
}

/** Decodes and validates a packet; throws {@link MalformedPacketError}. */
export function decodePacket(bytes: Uint8Array): SwimMessage[] {
  let raw: unknown;
  try {
    raw = decode(bytes);
  } catch (err) {
    throw new MalformedPacketError(`undecodable packet: ${(err as Error).message}`);
  }
  if (!Array.isArray(raw) || raw.length === 0 || raw.length > MAX_MESSAGES_PER_PACKET) {
    fail("packet", Array.isArray(raw) ? `array of ${raw.length}` : typeof raw);
  }
  return raw.map(parseMessage);
}
