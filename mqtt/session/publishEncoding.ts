/**
 * Encoding of outgoing PUBLISH packets, shared across the subscribers of one
 * message: a {@link PublishEncodingCache} holds one encoding per variant
 * (protocol family × QoS × RETAIN) for subscribers that need nothing
 * individual (no subscription identifier, no topic alias). QoS>0 copies get
 * their packet identifier patched in.
 *
 * @module
 */
import type { StoredMessage } from "../../stores/message.ts";
import { utf8Encode } from "../codec/byteWriter.ts";
import { encodePublish, withPacketId } from "../codec/encode.ts";
import { encodeProperties } from "../codec/properties.ts";
import type { Properties, ProtocolVersion } from "../codec/types.ts";

const EMPTY = new Uint8Array(0);

/** Per-message encodings, created by the router for one fan-out. */
export class PublishEncodingCache {
  /** slot = (v5 ? 6 : 0) + qos * 2 + retain. */
  readonly slots: (Uint8Array | undefined)[] = [];
  private topic: Uint8Array | null = null;
  private v5Props: Properties | null = null;
  private v5PropBytes: Uint8Array | null = null;

  constructor(readonly message: StoredMessage, readonly nowMs: number) {}

  /**
   * Seeds the cache from the received PUBLISH: its topic bytes, and the
   * packet itself as the encoding for its own variant (same protocol family,
   * QoS and RETAIN; v5 only when it had no properties). No copies.
   */
  seedFromInbound(
    raw: Uint8Array,
    topicOffset: number,
    topicLength: number,
    v5: boolean,
    reusable: boolean,
  ): void {
    this.topic = raw.subarray(topicOffset, topicOffset + topicLength);
    if (!reusable) return;
    const b0 = raw[0];
    this.slots[(v5 ? 6 : 0) + ((b0 >> 1) & 3) * 2 + (b0 & 1)] = raw;
  }

  /** UTF-8 bytes of the topic. */
  topicBytes(): Uint8Array {
    return this.topic ??= utf8Encode(this.message.topic);
  }

  /** The message's v5 properties for delivery (expiry interval as remaining seconds). */
  properties(): Properties {
    return this.v5Props ??= messageProperties(this.message, this.nowMs);
  }

  /** Encoded v5 properties without subscription ids / alias. */
  propertyBytes(): Uint8Array {
    if (this.v5PropBytes !== null) return this.v5PropBytes;
    const m = this.message;
    const p = m.properties;
    const none = m.expiresAtMs === null && p.payloadFormatIndicator !== true &&
      p.contentType === undefined && p.responseTopic === undefined &&
      p.correlationData === undefined &&
      (p.userProperties === undefined || p.userProperties.length === 0);
    return this.v5PropBytes = none ? EMPTY : encodeProperties(this.properties());
  }
}

/** v5 properties of a message as delivered at `nowMs`. */
export function messageProperties(m: StoredMessage, nowMs: number): Properties {
  const p = m.properties;
  const out: Properties = {};
  if (p.payloadFormatIndicator) out.payloadFormatIndicator = 1;
  if (m.expiresAtMs !== null) {
    out.messageExpiryInterval = Math.max(1, Math.ceil((m.expiresAtMs - nowMs) / 1000));
  }
  if (p.contentType !== undefined) out.contentType = p.contentType;
  if (p.responseTopic !== undefined) out.responseTopic = p.responseTopic;
  if (p.correlationData !== undefined) out.correlationData = p.correlationData;
  if (p.userProperties !== undefined && p.userProperties.length > 0) {
    out.userProperties = p.userProperties.map(([k, v]) => [k, v]);
  }
  return out;
}

/** What varies per subscriber. */
export interface PublishVariant {
  qos: 0 | 1 | 2;
  retain: boolean;
  packetId: number;
  dup: boolean;
  subscriptionIds: readonly number[];
  /** Outbound topic alias to use (0 = none) and whether the topic must be sent with it. */
  topicAlias: number;
  sendTopicWithAlias: boolean;
}

/** Encodes one outgoing PUBLISH, reusing `cache` where the variant allows. */
export function encodeOutgoingPublish(
  version: ProtocolVersion,
  cache: PublishEncodingCache,
  v: PublishVariant,
): Uint8Array {
  const m = cache.message;
  const v5 = version === 5;
  const shareable = !v5 || (v.subscriptionIds.length === 0 && v.topicAlias === 0);
  if (shareable) {
    const slot = (v5 ? 6 : 0) + v.qos * 2 + (v.retain ? 1 : 0);
    let bytes = cache.slots[slot];
    if (bytes === undefined) {
      bytes = encodePublish(version, {
        topicBytes: cache.topicBytes(),
        qos: v.qos,
        dup: false,
        retain: v.retain,
        packetId: 0,
        properties: v5 ? cache.propertyBytes() : null,
        payload: m.payload,
      });
      cache.slots[slot] = bytes;
    }
    return v.qos === 0 ? bytes : withPacketId(bytes, v.packetId, v.dup);
  }
  const props: Properties = { ...cache.properties() };
  if (v.subscriptionIds.length > 0) props.subscriptionIdentifiers = [...v.subscriptionIds];
  if (v.topicAlias !== 0) props.topicAlias = v.topicAlias;
  return encodePublish(version, {
    topicBytes: v.topicAlias !== 0 && !v.sendTopicWithAlias ? EMPTY : cache.topicBytes(),
    qos: v.qos,
    dup: v.dup,
    retain: v.retain,
    packetId: v.packetId,
    properties: encodeProperties(props),
    payload: m.payload,
  });
}
