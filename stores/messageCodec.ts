/**
 * Row encoding of {@link StoredMessage} (msgpack, payload as bytes), shared by
 * the inbox and retain stores. Decoding validates every field: a row this code
 * cannot read is an error, never a silently wrong message.
 *
 * @module
 */
import { Decoder, Encoder } from "@msgpack/msgpack";
import type { MessageProperties, StoredMessage } from "./message.ts";
import { isQoS } from "./qos.ts";

/** Version tag of the encoded layout, first element of the array. */
const LAYOUT_V1 = 1;

const encoder = new Encoder();
const decoder = new Decoder();

/** A stored message blob does not have the expected layout. */
export class MessageDecodeError extends Error {
  /** Creates the instance; see the class docs for the options. */
  constructor(detail: string) {
    super(`stored message is unreadable: ${detail}`);
    this.name = "MessageDecodeError";
  }
}

/** Encodes `m` for storage (a fresh copy, safe to keep). */
export function encodeStoredMessage(m: StoredMessage): Uint8Array {
  const p = m.properties;
  const props: unknown[] = [
    p.payloadFormatIndicator ?? null,
    p.contentType ?? null,
    p.responseTopic ?? null,
    p.correlationData ?? null,
    p.userProperties ?? null,
  ];
  return encoder.encode([
    LAYOUT_V1,
    m.tenant,
    m.topic,
    m.payload,
    m.qos,
    m.retain,
    m.publisherClientId,
    m.receivedAtMs,
    m.expiresAtMs,
    props,
  ]);
}

function fail(what: string, v: unknown): never {
  throw new MessageDecodeError(
    `${what} is ${typeof v === "object" ? JSON.stringify(v) : String(v)}`,
  );
}

function str(v: unknown, what: string): string {
  return typeof v === "string" ? v : fail(what, v);
}

function bytes(v: unknown, what: string): Uint8Array {
  return v instanceof Uint8Array ? v : fail(what, v);
}

function num(v: unknown, what: string): number {
  return typeof v === "number" && Number.isFinite(v) ? v : fail(what, v);
}

function decodeProperties(v: unknown): MessageProperties {
  if (!Array.isArray(v) || v.length !== 5) fail("properties", v);
  const [pfi, ct, rt, cd, up] = v;
  const out: {
    payloadFormatIndicator?: boolean;
    contentType?: string;
    responseTopic?: string;
    correlationData?: Uint8Array;
    userProperties?: (readonly [string, string])[];
  } = {};
  if (pfi !== null) out.payloadFormatIndicator = typeof pfi === "boolean" ? pfi : fail("pfi", pfi);
  if (ct !== null) out.contentType = str(ct, "contentType");
  if (rt !== null) out.responseTopic = str(rt, "responseTopic");
  if (cd !== null) out.correlationData = bytes(cd, "correlationData");
  if (up !== null) {
    if (!Array.isArray(up)) fail("userProperties", up);
    out.userProperties = up.map((pair: unknown) => {
      if (!Array.isArray(pair) || pair.length !== 2) fail("user property", pair);
      return [str(pair[0], "user property name"), str(pair[1], "user property value")] as const;
    });
  }
  return out;
}

/** Decodes a blob written by {@link encodeStoredMessage}; throws {@link MessageDecodeError}. */
export function decodeStoredMessage(blob: Uint8Array): StoredMessage {
  let v: unknown;
  try {
    v = decoder.decode(blob);
  } catch (err) {
    throw new MessageDecodeError(`not msgpack (${err instanceof Error ? err.message : err})`);
  }
  if (!Array.isArray(v) || v.length !== 10) fail("message", v);
  if (v[0] !== LAYOUT_V1) fail("layout version", v[0]);
  const qos: unknown = v[4];
  if (!isQoS(qos)) fail("qos", qos);
  if (typeof v[5] !== "boolean") fail("retain", v[5]);
  const expires = v[8] === null ? null : num(v[8], "expiresAtMs");
  return {
    tenant: str(v[1], "tenant"),
    topic: str(v[2], "topic"),
    payload: bytes(v[3], "payload"),
    qos,
    retain: v[5],
    publisherClientId: str(v[6], "publisherClientId"),
    receivedAtMs: num(v[7], "receivedAtMs"),
    expiresAtMs: expires,
    properties: decodeProperties(v[9]),
  };
}
