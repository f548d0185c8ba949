/**
 * MQTT control packets as the broker sees them: what a client sends (decoded
 * by `decode.ts`) and what the broker sends (encoded by `encode.ts`), for
 * protocol levels 3 (3.1), 4 (3.1.1) and 5 (5.0).
 *
 * @module
 */

/** Protocol level from CONNECT: 3 = MQTT 3.1 ("MQIsdp"), 4 = 3.1.1, 5 = 5.0. */
export type ProtocolVersion = 3 | 4 | 5;

/** Control packet type numbers (high nibble of the first byte). */
export const PacketType = {
  CONNECT: 1,
  CONNACK: 2,
  PUBLISH: 3,
  PUBACK: 4,
  PUBREC: 5,
  PUBREL: 6,
  PUBCOMP: 7,
  SUBSCRIBE: 8,
  SUBACK: 9,
  UNSUBSCRIBE: 10,
  UNSUBACK: 11,
  PINGREQ: 12,
  PINGRESP: 13,
  DISCONNECT: 14,
  AUTH: 15,
} as const;

/** MQTT 5 properties (all packet kinds); each packet allows a subset. */
export interface Properties {
  payloadFormatIndicator?: number;
  messageExpiryInterval?: number;
  contentType?: string;
  responseTopic?: string;
  correlationData?: Uint8Array;
  subscriptionIdentifiers?: number[];
  sessionExpiryInterval?: number;
  assignedClientIdentifier?: string;
  serverKeepAlive?: number;
  authenticationMethod?: string;
  authenticationData?: Uint8Array;
  requestProblemInformation?: number;
  willDelayInterval?: number;
  requestResponseInformation?: number;
  responseInformation?: string;
  serverReference?: string;
  reasonString?: string;
  receiveMaximum?: number;
  topicAliasMaximum?: number;
  topicAlias?: number;
  maximumQoS?: number;
  retainAvailable?: number;
  userProperties?: [string, string][];
  maximumPacketSize?: number;
  wildcardSubscriptionAvailable?: number;
  subscriptionIdentifierAvailable?: number;
  sharedSubscriptionAvailable?: number;
}

/** The will of a CONNECT. */
export interface WillPacket {
  topic: string;
  payload: Uint8Array;
  qos: 0 | 1 | 2;
  retain: boolean;
  properties: Properties;
}

/** CONNECT. */
export interface ConnectPacket {
  type: "connect";
  protocolVersion: ProtocolVersion;
  cleanStart: boolean;
  keepAliveSeconds: number;
  clientId: string;
  will: WillPacket | null;
  username: string | null;
  password: Uint8Array | null;
  properties: Properties;
}

/** PUBLISH (either direction). `payload` may be a view into the received bytes. */
export interface PublishPacket {
  type: "publish";
  qos: 0 | 1 | 2;
  dup: boolean;
  retain: boolean;
  /** "" when the v5 publisher used a topic alias alone. */
  topic: string;
  /** 0 for QoS 0. */
  packetId: number;
  properties: Properties | null;
  payload: Uint8Array;
  /** Decoded as MQTT 5 (has a property block). */
  v5: boolean;
  /** Inbound only: the whole received packet and where its topic bytes are (no copies). */
  raw: Uint8Array | null;
  topicOffset: number;
  topicLength: number;
}

/** Remembers the last topic a connection published to, to skip decoding it again. */
export interface TopicCache {
  bytes: Uint8Array | null;
  topic: string;
}

/** PUBACK, PUBREC, PUBREL, PUBCOMP. */
export interface AckPacket {
  type: "puback" | "pubrec" | "pubrel" | "pubcomp";
  packetId: number;
  reasonCode: number;
  properties: Properties | null;
}

/** One entry of a SUBSCRIBE. */
export interface SubscriptionRequest {
  filter: string;
  qos: 0 | 1 | 2;
  noLocal: boolean;
  retainAsPublished: boolean;
  retainHandling: 0 | 1 | 2;
}

/** SUBSCRIBE. */
export interface SubscribePacket {
  type: "subscribe";
  packetId: number;
  properties: Properties;
  subscriptions: SubscriptionRequest[];
}

/** UNSUBSCRIBE. */
export interface UnsubscribePacket {
  type: "unsubscribe";
  packetId: number;
  properties: Properties;
  filters: string[];
}

/** PINGREQ. */
export interface PingreqPacket {
  type: "pingreq";
}

/** DISCONNECT (v5 carries a reason code and properties). */
export interface DisconnectPacket {
  type: "disconnect";
  reasonCode: number;
  properties: Properties;
}

/** AUTH (v5). */
export interface AuthPacket {
  type: "auth";
  reasonCode: number;
  properties: Properties;
}

/** Any packet a client may legally send to a server. */
export type ClientPacket =
  | ConnectPacket
  | PublishPacket
  | AckPacket
  | SubscribePacket
  | UnsubscribePacket
  | PingreqPacket
  | DisconnectPacket
  | AuthPacket;

/** MQTT 5 reason codes used by the broker. */
export const ReasonCode = {
  SUCCESS: 0x00,
  GRANTED_QOS_1: 0x01,
  GRANTED_QOS_2: 0x02,
  DISCONNECT_WITH_WILL: 0x04,
  NO_MATCHING_SUBSCRIBERS: 0x10,
  NO_SUBSCRIPTION_EXISTED: 0x11,
  UNSPECIFIED_ERROR: 0x80,
  MALFORMED_PACKET: 0x81,
  PROTOCOL_ERROR: 0x82,
  IMPLEMENTATION_SPECIFIC_ERROR: 0x83,
  UNSUPPORTED_PROTOCOL_VERSION: 0x84,
  CLIENT_IDENTIFIER_NOT_VALID: 0x85,
  BAD_USERNAME_OR_PASSWORD: 0x86,
  NOT_AUTHORIZED: 0x87,
  SERVER_UNAVAILABLE: 0x88,
  SERVER_BUSY: 0x89,
  SERVER_SHUTTING_DOWN: 0x8b,
  BAD_AUTHENTICATION_METHOD: 0x8c,
  KEEP_ALIVE_TIMEOUT: 0x8d,
  SESSION_TAKEN_OVER: 0x8e,
  TOPIC_FILTER_INVALID: 0x8f,
  TOPIC_NAME_INVALID: 0x90,
  PACKET_ID_IN_USE: 0x91,
  PACKET_ID_NOT_FOUND: 0x92,
  RECEIVE_MAXIMUM_EXCEEDED: 0x93,
  TOPIC_ALIAS_INVALID: 0x94,
  PACKET_TOO_LARGE: 0x95,
  QUOTA_EXCEEDED: 0x97,
  PAYLOAD_FORMAT_INVALID: 0x99,
  RETAIN_NOT_SUPPORTED: 0x9a,
  QOS_NOT_SUPPORTED: 0x9b,
  SHARED_SUBSCRIPTIONS_NOT_SUPPORTED: 0x9e,
  SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED: 0xa1,
  WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED: 0xa2,
} as const;

/** MQTT 3.1 / 3.1.1 CONNACK return codes. */
export const ConnackReturnCode = {
  ACCEPTED: 0,
  UNACCEPTABLE_PROTOCOL_VERSION: 1,
  IDENTIFIER_REJECTED: 2,
  SERVER_UNAVAILABLE: 3,
  BAD_USERNAME_OR_PASSWORD: 4,
  NOT_AUTHORIZED: 5,
} as const;

/**
 * A packet the broker cannot accept. `reasonCode` is 0x81 (malformed) or
 * 0x82 (protocol error) — or 0x84 for an unsupported protocol name/level in
 * CONNECT, which gets a CONNACK rather than a DISCONNECT. Sessions handle it:
 * v5 gets DISCONNECT with the code, v3 is closed.
 */
export class MqttProtocolError extends Error {
  constructor(readonly reasonCode: number, message: string) {
    super(message);
    this.name = "MqttProtocolError";
  }
}
