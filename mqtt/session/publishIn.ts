/**
 * Inbound PUBLISH and PUBREL: topic alias resolution, topic limits, the
 * server Receive Maximum, ACL, retained store, routing, and the
 * acknowledgement (after every persistent inbox append has committed).
 *
 * QoS 2 uses "method A": the message is routed when the PUBLISH arrives and
 * its packet id kept (persisted for persistent sessions) until PUBREL, so a
 * resent PUBLISH with that id is acknowledged without delivering it again.
 *
 * @module
 */
import type { MessageProperties, StoredMessage } from "../../stores/message.ts";
import { utf8ByteLength } from "../../stores/dist/topicValidation.ts";
import { encodeAck } from "../codec/encode.ts";
import {
  MqttProtocolError,
  type Properties,
  type PublishPacket,
  ReasonCode,
} from "../codec/types.ts";
import type { Session } from "./session.ts";

const EMPTY_PROPERTIES: MessageProperties = Object.freeze({});
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

function validUtf8(bytes: Uint8Array): boolean {
  try {
    strictUtf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}

/** The properties of a v5 PUBLISH that travel with the message. */
export function messagePropertiesOf(p: Properties | null): MessageProperties {
  if (p === null) return EMPTY_PROPERTIES;
  const out: {
    payloadFormatIndicator?: boolean;
    contentType?: string;
    responseTopic?: string;
    correlationData?: Uint8Array;
    userProperties?: [string, string][];
  } = {};
  if (p.payloadFormatIndicator === 1) out.payloadFormatIndicator = true;
  if (p.contentType !== undefined) out.contentType = p.contentType;
  if (p.responseTopic !== undefined) out.responseTopic = p.responseTopic;
  if (p.correlationData !== undefined) out.correlationData = p.correlationData;
  if (p.userProperties !== undefined) out.userProperties = p.userProperties;
  return out;
}

function topicInvalid(message: string): MqttProtocolError {
  return new MqttProtocolError(ReasonCode.TOPIC_NAME_INVALID, message);
}

/** Handles one inbound PUBLISH (synchronously; the ack may wait for commits). */
export function handlePublish(s: Session, p: PublishPacket): void {
  const ctx = s.ctx;
  const o = ctx.options;
  const v = s.version ?? 4;
  ctx.counters.publishesIn++;
  let topic = p.topic;
  const props = p.properties;
  if (props !== null && props.topicAlias !== undefined) {
    const alias = props.topicAlias;
    if (alias === 0 || alias > o.topicAliasMaximum) {
      throw new MqttProtocolError(
        ReasonCode.TOPIC_ALIAS_INVALID,
        `topic alias ${alias} is outside 1..${o.topicAliasMaximum}`,
      );
    }
    if (topic.length > 0) (s.aliasesIn ??= new Map()).set(alias, topic);
    else {
      const known = s.aliasesIn?.get(alias);
      if (known === undefined) {
        throw new MqttProtocolError(
          ReasonCode.PROTOCOL_ERROR,
          `topic alias ${alias} was never set`,
        );
      }
      topic = known;
    }
  } else if (topic.length === 0) {
    throw new MqttProtocolError(
      ReasonCode.PROTOCOL_ERROR,
      "PUBLISH with an empty topic and no topic alias",
    );
  }
  if (topic.length * 3 > o.maxTopicBytes && utf8ByteLength(topic) > o.maxTopicBytes) {
    throw topicInvalid(
      `topic of ${utf8ByteLength(topic)} bytes exceeds maxTopicBytes=${o.maxTopicBytes}`,
    );
  }
  if (topic.length >= o.maxTopicLevels) {
    let levels = 1;
    for (let i = topic.indexOf("/"); i !== -1; i = topic.indexOf("/", i + 1)) levels++;
    if (levels > o.maxTopicLevels) {
      throw topicInvalid(
        `topic has ${levels} levels, more than maxTopicLevels=${o.maxTopicLevels}`,
      );
    }
  }
  const qos = p.qos;
  const id = p.packetId;
  if (qos === 2 && s.inboundQos2 !== null && s.inboundQos2.has(id)) {
    s.ack(encodeAck(5, v, id), null); // duplicate of a message already routed
    return;
  }
  // Receive Maximum. QoS 2 flows the client holds open (no PUBREL yet) are
  // the client's doing: v5 gets DISCONNECT 0x93. QoS 1 acknowledgements that
  // wait for our own inbox commits only pause reading (below), because common
  // clients (MQTT.js) do not count them against the Receive Maximum.
  if (
    qos === 2 && v === 5 &&
    (s.inboundQos2?.size ?? 0) - s.qos2AwaitingCommit >= o.receiveMaximum
  ) {
    throw new MqttProtocolError(
      ReasonCode.RECEIVE_MAXIMUM_EXCEEDED,
      `more than receiveMaximum=${o.receiveMaximum} QoS 2 publications without PUBREL`,
    );
  }
  if (!ctx.acl.checkPublish(s.aclContext, topic)) {
    ctx.counters.droppedDenied++;
    ctx.logBadInput("session.publish_denied", { clientId: s.clientId, topic });
    if (qos === 1) s.ackWithCode(4, id, ReasonCode.NOT_AUTHORIZED, "publish not authorized");
    else if (qos === 2) {
      if (v !== 5) (s.inboundQos2 ??= new Set()).add(id);
      s.ackWithCode(5, id, ReasonCode.NOT_AUTHORIZED, "publish not authorized");
    }
    return;
  }
  if (props !== null && props.payloadFormatIndicator === 1 && !validUtf8(p.payload)) {
    if (qos > 0) {
      s.ackWithCode(
        qos === 1 ? 4 : 5,
        id,
        ReasonCode.PAYLOAD_FORMAT_INVALID,
        "payload is not UTF-8",
      );
    }
    return;
  }
  if (p.retain && !o.retainAvailable) {
    throw new MqttProtocolError(ReasonCode.RETAIN_NOT_SUPPORTED, "retain is not available");
  }
  const now = ctx.nowMs();
  const keep = qos > 0 || p.retain;
  const message: StoredMessage = {
    tenant: s.tenant,
    topic,
    payload: keep ? p.payload.slice() : p.payload,
    qos,
    retain: p.retain,
    publisherClientId: s.clientId,
    receivedAtMs: now,
    expiresAtMs: props !== null && props.messageExpiryInterval !== undefined
      ? now + props.messageExpiryInterval * 1000
      : null,
    properties: messagePropertiesOf(props),
  };
  let retained: Promise<unknown> | null = null;
  let ackCode = 0;
  if (p.retain) {
    retained = ctx.retain.set(message).then((r) => {
      if (r === "rejected-limit") {
        ackCode = ReasonCode.QUOTA_EXCEEDED; // v5 PUBACK/PUBREC 0x97; v3 acknowledged
        ctx.logBadInput("session.retain_rejected", {
          clientId: s.clientId,
          topic,
          reason: "retained messages per tenant limit",
        });
      }
    });
  }
  const routed = ctx.route(message, s.receiverId, topic === p.topic ? p : null, s);
  if (qos === 0) {
    if (retained !== null) ctx.track(retained, "retain.set");
    if (routed !== null) ctx.track(routed, "inbox.enqueue");
    return;
  }
  let waitFor: Promise<unknown> | null = routed !== null && retained !== null
    ? Promise.all([routed, retained])
    : routed ?? retained;
  const ackPacket = (type: 4 | 5) =>
    retained === null
      ? encodeAck(type, v, id)
      : () => encodeAck(type, v, id, v === 5 ? ackCode : 0);
  if (qos === 1) {
    s.ack(ackPacket(4), waitFor);
    if (s.pendingAcks >= o.receiveMaximum) s.pauseForAcks();
    return;
  }
  (s.inboundQos2 ??= new Set()).add(id);
  if (s.persistent) {
    const stored = ctx.inbox.addIncomingQos2(s.clientKey, id);
    waitFor = waitFor === null ? stored : Promise.all([waitFor, stored]);
  }
  // Until its PUBREC is written, the flow counts as ours, not the client's (0x93 check above).
  s.qos2AwaitingCommit++;
  const pubrec = ackPacket(5);
  s.ack(() => {
    s.qos2AwaitingCommit--;
    return typeof pubrec === "function" ? pubrec() : pubrec;
  }, waitFor);
  // Too many acknowledgements waiting for commits: stop reading until they catch up.
  if (s.pendingAcks >= o.receiveMaximum) s.pauseForAcks();
}

/** PUBREL: forget the QoS 2 packet id (durably for persistent sessions), then PUBCOMP. */
export function handlePubrel(s: Session, packetId: number): void {
  const v = s.version ?? 4;
  const had = s.inboundQos2 !== null && s.inboundQos2.delete(packetId);
  if (!had && v === 5) {
    s.ack(encodeAck(7, 5, packetId, ReasonCode.PACKET_ID_NOT_FOUND), null);
    return;
  }
  const waitFor = had && s.persistent
    ? s.ctx.inbox.removeIncomingQos2(s.clientKey, packetId)
    : null;
  s.ack(encodeAck(7, v, packetId), waitFor);
}
