/**
 * The broker core of one node: creates a protocol session per connection,
 * routes messages, publishes wills, and runs one sweeper (keep-alive, will
 * delay, session expiry) instead of per-connection timers.
 *
 * Shutdown (`close()`): v5 clients get DISCONNECT 0x8B, every connection is
 * ended, persistent sessions are detached durably (their expiry starts), and
 * the wills of the closing sessions are NOT published (mosquitto behaviour: a
 * broker restart is not the client's failure). Wills waiting for their delay
 * are kept in memory only and are lost on restart.
 *
 * @module
 */
import type { Logger } from "../../log/jsonLog.ts";
import type { DistStore } from "../../stores/dist/distStore.ts";
import { inboxReceiverId } from "../../stores/dist/distStore.ts";
import type { InboxStore } from "../../stores/inbox/inboxStore.ts";
import type { StoredMessage } from "../../stores/message.ts";
import type { RetainStore } from "../../stores/retain/retainStore.ts";
import type { SessionRegistry } from "../../stores/sessions/sessionRegistry.ts";
import type { Authenticator } from "../auth/types.ts";
import type { PublishPacket, WillPacket } from "../codec/types.ts";
import type {
  AclContext,
  BrokerContext,
  BrokerCounters,
  MqttAcl,
  PendingWill,
} from "../session/context.ts";
import { messagePropertiesOf } from "../session/publishIn.ts";
import { Session } from "../session/session.ts";
import { markSlow } from "../session/backpressure.ts";
import type { ConnectionHandler } from "../transport/types.ts";
import type { MqttBrokerOptions } from "./options.ts";
import { Router } from "./router.ts";

/** What the broker is built on. */
export interface MqttBrokerDeps {
  /** This node's id (part of transient receiver ids). */
  nodeId: string;
  /** Subscription routes and topic matching. */
  dist: DistStore;
  /** Persistent sessions and their queued messages. */
  inbox: InboxStore;
  /** Retained messages. */
  retain: RetainStore;
  /** Client-id ownership (takeover). */
  sessions: SessionRegistry;
  /** Decides CONNECTs and their tenant. */
  authenticator: Authenticator;
  /** Publish / subscribe / delivery authorization. */
  acl: MqttAcl;
  /** Where bad input, store failures and session events are logged. */
  log: Logger;
  /** Clock (ms since epoch). Default Date.now. */
  nowMs?: () => number;
}

/** Snapshot of the broker's counters. */
export interface MqttBrokerStats extends BrokerCounters {
  /** Connections open (including ones still in CONNECT). */
  openConnections: number;
  /** Wills waiting for their delay. */
  pendingWills: number;
}

/** A running broker core. */
export interface MqttBroker {
  /** Give this to the transport's `startListener`. */
  readonly handler: ConnectionHandler;
  /** Starts the sweeper (keep-alive, will delay, session expiry). */
  start(): void;
  /** Graceful shutdown; see the module docs. Resolves when store writes settled. */
  close(): Promise<void>;
  /** Counters since start. */
  stats(): MqttBrokerStats;
}

const BAD_INPUT_LOGS_PER_SECOND = 20;
const EXPIRY_BATCH = 100;

class BrokerCore implements BrokerContext {
  readonly dist: DistStore;
  readonly inbox: InboxStore;
  readonly retain: RetainStore;
  readonly sessions: SessionRegistry;
  readonly authenticator: Authenticator;
  readonly acl: MqttAcl;
  readonly log: Logger;
  readonly nodeId: string;
  readonly nowMs: () => number;
  readonly startedAtMs: number;
  readonly counters: BrokerCounters = {
    connections: 0,
    connectsAccepted: 0,
    connectsRejected: 0,
    publishesIn: 0,
    publishesOut: 0,
    droppedCongested: 0,
    droppedQueueFull: 0,
    droppedExpired: 0,
    droppedTooLarge: 0,
    droppedOffline: 0,
    droppedInboxFull: 0,
    droppedDenied: 0,
    protocolErrors: 0,
    willsPublished: 0,
    sessionsTakenOver: 0,
    sessionsExpired: 0,
    keepAliveTimeouts: 0,
  };
  readonly receivers = new Map<string, Session>();
  readonly connections = new Map<number, Session>();
  readonly sentHighWater = new Map<string, number>();
  readonly pendingWills = new Map<string, PendingWill>();
  closing = false;
  private readonly router: Router;
  /**
   * Store writes in progress that no acknowledgement waits for, awaited by
   * close(). Not capped: QoS 0 retained publishes add one each while the
   * retain store is slow (reading is not paused for them).
   */
  private readonly tracked = new Set<Promise<unknown>>();
  private timer: ReturnType<typeof setInterval> | null = null;
  private expiring = false;
  private unsubscribeKick: (() => void) | null = null;
  private badInputWindowStartMs = 0;
  private badInputInWindow = 0;
  private badInputSuppressed = 0;
  private clientIdCounter = 0;

  constructor(readonly options: MqttBrokerOptions, deps: MqttBrokerDeps) {
    this.dist = deps.dist;
    this.inbox = deps.inbox;
    this.retain = deps.retain;
    this.sessions = deps.sessions;
    this.authenticator = deps.authenticator;
    this.acl = deps.acl;
    this.log = deps.log;
    this.nodeId = deps.nodeId;
    this.nowMs = deps.nowMs ?? Date.now;
    this.startedAtMs = this.nowMs();
    this.router = new Router(this);
    this.unsubscribeKick = this.sessions.onKick((_key, displaced) => {
      if (displaced.nodeId !== this.nodeId) return;
      this.connections.get(displaced.connectionId)?.takenOver();
    });
  }

  readonly handler: ConnectionHandler = (conn) => {
    const s = new Session(conn, this);
    if (this.closing) {
      conn.destroy();
      return s;
    }
    this.connections.set(conn.id, s);
    return s;
  };

  route(
    m: StoredMessage,
    publisherReceiverId: string | null,
    inbound: PublishPacket | null = null,
    publisher: Session | null = null,
  ): Promise<void> | null {
    return this.router.route(m, publisherReceiverId, inbound, publisher);
  }

  publishWill(will: WillPacket, acl: AclContext, receiverId: string | null): void {
    if (!this.acl.checkPublish(acl, will.topic)) {
      this.log.info("will.denied", { clientId: acl.clientId, topic: will.topic });
      return;
    }
    const now = this.nowMs();
    const p = will.properties;
    const m: StoredMessage = {
      tenant: acl.tenant,
      topic: will.topic,
      payload: will.payload,
      qos: will.qos,
      retain: will.retain,
      publisherClientId: acl.clientId,
      receivedAtMs: now,
      expiresAtMs: p.messageExpiryInterval !== undefined
        ? now + p.messageExpiryInterval * 1000
        : null,
      properties: messagePropertiesOf(p),
    };
    this.counters.willsPublished++;
    if (m.retain) this.track(this.retain.set(m), "retain.set");
    const routed = this.route(m, receiverId);
    if (routed !== null) this.track(routed, "inbox.enqueue");
  }

  assignClientId(): string {
    this.clientIdCounter++;
    return `edgemq-${crypto.randomUUID().slice(0, 8)}-${this.clientIdCounter.toString(36)}`;
  }

  logBadInput(event: string, fields: Record<string, unknown>): void {
    const now = this.nowMs();
    if (now - this.badInputWindowStartMs >= 1000) {
      if (this.badInputSuppressed > 0) {
        this.log.info("session.bad_input_suppressed", { count: this.badInputSuppressed });
      }
      this.badInputWindowStartMs = now;
      this.badInputInWindow = 0;
      this.badInputSuppressed = 0;
    }
    if (this.badInputInWindow >= BAD_INPUT_LOGS_PER_SECOND) {
      this.badInputSuppressed++;
      return;
    }
    this.badInputInWindow++;
    this.log.info(event, fields);
  }

  track(work: Promise<unknown>, what: string): void {
    this.tracked.add(work);
    work.then(
      () => this.tracked.delete(work),
      (err) => {
        this.tracked.delete(work);
        this.log.warn("broker.store_write_failed", { operation: what, error: err });
      },
    );
  }

  start(): void {
    if (this.timer !== null) return;
    this.timer = setInterval(() => this.sweep(), this.options.sweepIntervalMs);
  }

  /** One sweep: keep-alive, due wills, expired sessions. */
  sweep(): void {
    const now = this.nowMs();
    for (const s of this.connections.values()) {
      if (s.phase === "connected" && s.keepAliveMs > 0 && now - s.lastRxMs > s.keepAliveMs * 1.5) {
        s.keepAliveExpired();
        continue;
      }
      if (s.congested && !s.slow && now - s.congestedSinceMs > this.options.slowSubscriberMs) {
        markSlow(s);
      }
    }
    for (const [key, w] of this.pendingWills) {
      if (w.dueMs <= now) {
        this.pendingWills.delete(key);
        this.publishWill(w.will, w.acl, w.receiverId);
      }
    }
    if (!this.expiring) {
      this.expiring = true;
      const work = this.expireSessions(now).finally(() => {
        this.expiring = false;
      });
      this.track(work, "sessions.expire");
    }
  }

  private async expireSessions(now: number): Promise<void> {
    const expired = await this.inbox.listExpired(now, EXPIRY_BATCH);
    for (const { key, incarnation } of expired) {
      const meta = await this.inbox.get(key);
      if (meta === null || meta.incarnation !== incarnation) continue;
      // attached again meanwhile (expiry cleared) or its expiry moved
      if (meta.expiresAtMs === null || meta.expiresAtMs > now) continue;
      const receiverId = inboxReceiverId(key.tenant, key.clientId);
      if (this.receivers.has(receiverId)) continue; // resumed meanwhile
      const removals = [];
      for (const full of meta.subscriptions.keys()) {
        const share = full.startsWith("$share/") ? full.indexOf("/", 7) : -1;
        removals.push({
          tenant: key.tenant,
          filter: share === -1 ? full : full.slice(share + 1),
          shareGroup: share === -1 ? null : full.slice(7, share),
          receiverId,
          incarnation,
        });
      }
      if (removals.length > 0) await this.dist.removeRoutes(removals);
      await this.inbox.delete(key, incarnation);
      const k = `${key.tenant}\u0000${key.clientId}`;
      this.sentHighWater.delete(k);
      const will = this.pendingWills.get(k);
      if (will !== undefined) {
        this.pendingWills.delete(k);
        this.publishWill(will.will, will.acl, will.receiverId);
      }
      this.counters.sessionsExpired++;
      this.log.debug("session.expired", { tenant: key.tenant, clientId: key.clientId });
    }
  }

  async close(): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.unsubscribeKick?.();
    for (const s of [...this.connections.values()]) s.shutdown();
    while (this.tracked.size > 0) await Promise.allSettled([...this.tracked]);
  }

  stats(): MqttBrokerStats {
    return {
      ...this.counters,
      openConnections: this.connections.size,
      pendingWills: this.pendingWills.size,
    };
  }
}

/** Creates the broker core; call `start()` to run its sweeper. */
export function createMqttBroker(options: MqttBrokerOptions, deps: MqttBrokerDeps): MqttBroker {
  const core = new BrokerCore(options, deps);
  return {
    handler: core.handler,
    start: () => core.start(),
    close: () => core.close(),
    stats: () => core.stats(),
  };
}
