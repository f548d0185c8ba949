/**
 * Broker limits and feature flags. Every field is finite by default; each
 * comment says what a client sees when it hits the limit.
 *
 * @module
 */
import { type QueueOverflowPolicy, SESSION_NEVER_EXPIRES } from "../../stores/inbox/inboxStore.ts";

/** Options of {@link createMqttBroker}; see {@link defaultMqttBrokerOptions}. */
export interface MqttBrokerOptions {
  /**
   * Largest packet accepted from a client (fixed header included); v5 CONNACK
   * announces it as Maximum Packet Size. Larger → v5 DISCONNECT 0x95, v3 close.
   * Default 1 MiB.
   */
  maxPacketBytes: number;
  /**
   * Server Receive Maximum: QoS 1/2 PUBLISHes a client may have unacknowledged
   * (announced in v5 CONNACK). A v5 client holding more QoS 2 flows open (no
   * PUBREL) gets DISCONNECT 0x93; a client with this many acknowledgements
   * still waiting for inbox commits is paused (no more reads) until they
   * catch up.
   * Default 64.
   */
  receiveMaximum: number;
  /**
   * Outgoing QoS 1/2 messages unacknowledged per session (further ones wait
   * in the session's queue); also bounded by the client's Receive Maximum.
   * Default 64.
   */
  maxInflightOutbound: number;
  /**
   * Messages waiting per transient session (QoS 1/2 beyond the in-flight
   * window, or while the connection is congested). Persistent sessions use the
   * inbox's `maxQueuedMessages`. On overflow {@link queueOverflowPolicy}
   * applies and the drop is counted. Default 1000.
   */
  maxQueuedMessagesPerSession: number;
  /** Which message a full queue drops: "drop-newest" (default, as mosquitto) or "drop-oldest". */
  queueOverflowPolicy: QueueOverflowPolicy;
  /** Longest topic name/filter in UTF-8 bytes. PUBLISH: v5 DISCONNECT 0x90 / v3 close; SUBSCRIBE: SUBACK 0x8F / 0x80. Default 1024. */
  maxTopicBytes: number;
  /** Most topic levels; same outcome as maxTopicBytes. Default 32. */
  maxTopicLevels: number;
  /** Subscriptions per session; a new filter beyond it gets SUBACK 0x97 (v3 0x80). Default 1000. */
  maxSubscriptionsPerSession: number;
  /** Filters in one SUBSCRIBE. More: the connection is closed (v5 DISCONNECT 0x97). Default 100. */
  maxFiltersPerSubscribe: number;
  /** Longest client id in UTF-8 bytes; longer → CONNACK 0x85 (v3 0x02). Default 256. */
  maxClientIdBytes: number;
  /**
   * Server keep-alive. A v5 client asking for 0 or more gets this value in
   * CONNACK (Server Keep Alive). A v3 client asking for more is accepted and
   * closed after 1.5 x this value of silence (v3 cannot be told). Default 3600.
   */
  maxKeepAliveSeconds: number;
  /**
   * Cap on session expiry. v3.1.1 cleanSession=0 sessions expire after this;
   * a v5 client asking for more gets this value in CONNACK. Default
   * 4294967295 (never expires).
   */
  maxSessionExpirySeconds: number;
  /** Inbound topic aliases per v5 connection; alias 0 or above → DISCONNECT 0x94. Default 64. */
  topicAliasMaximum: number;
  /** Retained messages sent for one subscribed filter; the rest are not sent. Default 1000. */
  maxRetainedPerSubscribe: number;
  /** When false, v5 CONNACK says so and a retained PUBLISH gets DISCONNECT 0x9A. Default true. */
  retainAvailable: boolean;
  /** When false, wildcard filters get SUBACK 0xA2 (v3 0x80). Default true. */
  wildcardSubscriptionAvailable: boolean;
  /** When false, `$share/` filters get SUBACK 0x9E (v3 0x80). Default true. */
  sharedSubscriptionAvailable: boolean;
  /** When false, SUBSCRIBE with a subscription identifier gets DISCONNECT 0xA1. Default true. */
  subscriptionIdentifierAvailable: boolean;
  /**
   * SUBACK code for a v5 subscription the ACL denies: 0x87 Not authorized
   * (default) or 0x80 Unspecified error (what the Paho interoperability
   * suite's `test_subscribe_failure` expects). v3 always gets 0x80.
   */
  v5SubscribeDeniedReasonCode: 0x80 | 0x87;
  /** When false, an empty client id gets CONNACK 0x85 (v3 0x02). Default true. */
  allowZeroLengthClientId: boolean;
  /** Cap on a v5 will delay interval (seconds); larger values are reduced to it. Default 86400. */
  maxWillDelaySeconds: number;
  /**
   * Backpressure on QoS 0: when a subscriber's connection is congested (above
   * the transport's write high-water mark), the publishers sending to it stop
   * being read until it drains. A subscriber congested for longer than this is
   * "slow": publishers are released and QoS 0 to it is dropped (counted as
   * droppedCongested) until it drains. Default 2000 ms.
   */
  slowSubscriberMs: number;
  /**
   * QoS 0 messages to a subscriber with more unsent bytes than this are
   * dropped (counted) even before it counts as slow. Must stay below the
   * transport's maxWriteBufferBytes. Default 1 MiB.
   */
  qos0DropBufferedBytes: number;
  /** Interval of the sweeper (keep-alive, will delay, session expiry). Default 500 ms. */
  sweepIntervalMs: number;
}

/** Defaults; see each field of {@link MqttBrokerOptions}. */
export function defaultMqttBrokerOptions(): MqttBrokerOptions {
  return {
    maxPacketBytes: 1024 * 1024,
    receiveMaximum: 64,
    maxInflightOutbound: 64,
    maxQueuedMessagesPerSession: 1000,
    queueOverflowPolicy: "drop-newest",
    maxTopicBytes: 1024,
    maxTopicLevels: 32,
    maxSubscriptionsPerSession: 1000,
    maxFiltersPerSubscribe: 100,
    maxClientIdBytes: 256,
    maxKeepAliveSeconds: 3600,
    maxSessionExpirySeconds: SESSION_NEVER_EXPIRES,
    topicAliasMaximum: 64,
    maxRetainedPerSubscribe: 1000,
    retainAvailable: true,
    wildcardSubscriptionAvailable: true,
    sharedSubscriptionAvailable: true,
    subscriptionIdentifierAvailable: true,
    v5SubscribeDeniedReasonCode: 0x87,
    allowZeroLengthClientId: true,
    maxWillDelaySeconds: 86400,
    slowSubscriberMs: 2000,
    qos0DropBufferedBytes: 1024 * 1024,
    sweepIntervalMs: 500,
  };
}
