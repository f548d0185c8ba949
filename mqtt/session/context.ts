/**
 * What a protocol session needs from the broker: stores, options, the router
 * and the node's session tables. The broker (`../broker/broker.ts`)
 * implements it; tests can too.
 *
 * @module
 */
import type { Logger } from "../../log/jsonLog.ts";
import type { DistStore } from "../../stores/dist/distStore.ts";
import type { InboxStore } from "../../stores/inbox/inboxStore.ts";
import type { StoredMessage } from "../../stores/message.ts";
import type { RetainStore } from "../../stores/retain/retainStore.ts";
import type { SessionRegistry } from "../../stores/sessions/sessionRegistry.ts";
import type { Authenticator } from "../auth/types.ts";
import type { MqttBrokerOptions } from "../broker/options.ts";
import type { PublishPacket, WillPacket } from "../codec/types.ts";
import type { Session } from "./session.ts";

/** Who is acting, for ACL checks. */
export interface AclContext {
  /** Authenticated user within the tenant; null when anonymous. */
  readonly user: string | null;
  /** Client identifier of the session. */
  readonly clientId: string;
  /** Tenant from authentication. */
  readonly tenant: string;
}

/**
 * Authorization checks (synchronous: delivery checks sit on the hot path).
 * Each returns true when allowed.
 */
export interface MqttAcl {
  /** May this client publish to `topic`? */
  checkPublish(ctx: AclContext, topic: string): boolean;
  /** May this client subscribe to `filter` (`$share/g/` prefix included)? */
  checkSubscribe(ctx: AclContext, filter: string): boolean;
  /** May a message on `topic` be delivered to this client? */
  checkDeliver(ctx: AclContext, topic: string): boolean;
}

/** Counters exposed by {@link MqttBroker.stats}. All monotonic except `connections`. */
export interface BrokerCounters {
  /** Sessions currently connected (CONNACK sent, not closed). */
  connections: number;
  /** CONNECTs answered with CONNACK success. */
  connectsAccepted: number;
  /** CONNECTs refused (CONNACK with an error code). */
  connectsRejected: number;
  /** PUBLISH packets received from clients. */
  publishesIn: number;
  /** PUBLISH packets written to subscribers. */
  publishesOut: number;
  /** QoS 0 messages dropped because the subscriber's connection was congested. */
  droppedCongested: number;
  /** Messages dropped because a transient session's queue was full. */
  droppedQueueFull: number;
  /** Messages dropped because their message expiry interval passed. */
  droppedExpired: number;
  /** Messages not sent because they exceed the client's Maximum Packet Size. */
  droppedTooLarge: number;
  /** QoS 0 messages for offline persistent sessions (not queued). */
  droppedOffline: number;
  /** Messages refused by inbox enqueue (queue full / no inbox). */
  droppedInboxFull: number;
  /** Deliveries refused by the ACL. */
  droppedDenied: number;
  /** Connections closed for a protocol violation. */
  protocolErrors: number;
  /** Wills published. */
  willsPublished: number;
  /** Connections closed because another one claimed their client id. */
  sessionsTakenOver: number;
  /** Persistent sessions removed by the expiry sweep. */
  sessionsExpired: number;
  /** Connections closed after 1.5 x their keep-alive of silence. */
  keepAliveTimeouts: number;
}

/** A will waiting for its delay (v5 Will Delay Interval) to pass. */
export interface PendingWill {
  readonly will: WillPacket;
  readonly acl: AclContext;
  /** Receiver id of the session that left it (no-local). */
  readonly receiverId: string;
  /** When to publish it (ms since epoch). */
  readonly dueMs: number;
}

/** The broker as seen from a session. */
export interface BrokerContext {
  readonly options: MqttBrokerOptions;
  readonly nodeId: string;
  readonly dist: DistStore;
  readonly inbox: InboxStore;
  readonly retain: RetainStore;
  readonly sessions: SessionRegistry;
  readonly authenticator: Authenticator;
  readonly acl: MqttAcl;
  readonly log: Logger;
  readonly counters: BrokerCounters;
  /** Current time (ms since epoch). */
  nowMs(): number;
  /** Sessions by receiver id (transient: `s:node:conn`, persistent: `i:tenant\0id`), while connected. */
  readonly receivers: Map<string, Session>;
  /** When this broker started (ms): queued messages older than this may have been sent by a previous run. */
  readonly startedAtMs: number;
  /**
   * Highest seq sent per persistent session (key string), to set DUP on
   * resend. At most one entry per persistent session: removed when the
   * session expires, ends with expiry 0, or connects with clean start.
   */
  readonly sentHighWater: Map<string, number>;
  /**
   * Wills waiting for their delay, by key string (`tenant\0clientId`). At
   * most one per disconnected session: removed when published (delay over or
   * session expired) or when the client reconnects.
   */
  readonly pendingWills: Map<string, PendingWill>;
  /** True once close() began. */
  readonly closing: boolean;
  /**
   * Routes a message to every matching subscriber. Returns a promise when
   * the message had to be appended to persistent inboxes (resolves once
   * durable), null when delivery finished synchronously. `inbound` (the
   * received PUBLISH) lets the router reuse its bytes for the outgoing copies;
   * `publisher` is held (not read) while a subscriber it feeds is congested.
   */
  route(
    message: StoredMessage,
    publisherReceiverId: string | null,
    inbound?: PublishPacket | null,
    publisher?: Session | null,
  ): Promise<void> | null;
  /** Open sessions by connection id (for kicks, the keep-alive sweep and shutdown). */
  readonly connections: Map<number, Session>;
  /** Publishes a will now (ACL-checked, retained if flagged). */
  publishWill(will: WillPacket, acl: AclContext, receiverId: string | null): void;
  /** Keeps a background store write so close() can wait for it; failures are logged. */
  track(work: Promise<unknown>, what: string): void;
  /** A fresh client identifier for a client that sent an empty one. */
  assignClientId(): string;
  /** Logs bad client input at info level, rate-limited across the broker. */
  logBadInput(event: string, fields: Record<string, unknown>): void;
}
