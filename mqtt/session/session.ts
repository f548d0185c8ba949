/**
 * One protocol session per connection: packet dispatch, ordering of
 * asynchronous steps, protocol-error handling and the end of a connection
 * (wills, routes, inbox detach). CONNECT, PUBLISH and SUBSCRIBE handling live
 * in `connect.ts`, `publishIn.ts` and `subscribe.ts`; outgoing delivery in
 * `outbound.ts`.
 *
 * Ordering: packets are handled in arrival order. While an asynchronous
 * step runs (CONNECT, SUBSCRIBE, UNSUBSCRIBE), later packets wait in a
 * backlog (reading pauses past {@link MAX_BACKLOG_PACKETS}). PUBLISH is
 * synchronous; its acknowledgement may wait for inbox commits, and
 * acknowledgements leave in arrival order (`ackChain`).
 *
 * @module
 */
import type { SubscriptionOptions } from "../../stores/message.ts";
import type { ClientKey } from "../../stores/message.ts";
import type { SessionOwner } from "../../stores/sessions/sessionRegistry.ts";
import { parseSharedFilter } from "../../stores/dist/topicValidation.ts";
import type { RouteRemoval } from "../../stores/dist/distStore.ts";
import type { ConnectionEvents, FrameError, MqttConnection } from "../transport/types.ts";
import {
  decodeClientPacket,
  decodePublish,
  fixedHeaderBytes,
  UnsupportedProtocolError,
} from "../codec/decode.ts";
import { encodeAck, encodeConnack, encodeDisconnect, PINGRESP } from "../codec/encode.ts";
import {
  MqttProtocolError,
  type ProtocolVersion,
  ReasonCode,
  type TopicCache,
  type WillPacket,
} from "../codec/types.ts";
import type { AclContext, BrokerContext } from "./context.ts";
import { handleConnect } from "./connect.ts";
import { handlePublish, handlePubrel } from "./publishIn.ts";
import { handleSubscribe, handleUnsubscribe } from "./subscribe.ts";
import { Outbound } from "./outbound.ts";
import { sessionEnded } from "./sessionEnd.ts";
import {
  PAUSE_ACKS,
  PAUSE_BACKLOG,
  pauseReading,
  releasePublishers,
  resumeReading,
} from "./backpressure.ts";

/** Packets held while an asynchronous step runs before reading pauses. */
export const MAX_BACKLOG_PACKETS = 32;

/** Why a session ended; decides the will and the v5 DISCONNECT sent. */
export type EndReason =
  | "disconnect" // normal DISCONNECT: will discarded
  | "disconnect-with-will" // v5 DISCONNECT 0x04
  | "socket-closed"
  | "protocol-error"
  | "keep-alive"
  | "taken-over"
  | "shutdown"; // broker closing: will discarded (as mosquitto)

type Phase = "new" | "connecting" | "connected" | "closed";

/** The protocol state of one connection. */
export class Session implements ConnectionEvents {
  phase: Phase = "new";
  version: ProtocolVersion | null = null;
  clientId = "";
  tenant = "";
  user: string | null = null;
  /** `tenant\0clientId`. */
  keyString = "";
  clientKey: ClientKey = { tenant: "", clientId: "" };
  aclContext: AclContext = { user: null, clientId: "", tenant: "" };
  receiverId = "";
  /** Backed by an inbox (persistent session). */
  persistent = false;
  /** Incarnation of the routes this session adds. */
  incarnation = 0;
  owner: SessionOwner | null = null;
  keepAliveMs = 0;
  lastRxMs = 0;
  sessionExpirySeconds = 0;
  will: WillPacket | null = null;
  clientReceiveMaximum = 65535;
  /** 0 = no limit. */
  clientMaxPacketBytes = 0;
  clientTopicAliasMaximum = 0;
  /** v5 Request Problem Information (reason strings allowed). */
  problemInformation = true;
  subscriptions: Map<string, SubscriptionOptions> | null = null;
  /** Inbound topic aliases (v5); at most `topicAliasMaximum` entries (larger aliases are refused). */
  aliasesIn: Map<number, string> | null = null;
  /** Incoming QoS 2 packet ids awaiting PUBREL (at most 65535: one per packet id). */
  inboundQos2: Set<number> | null = null;
  /** Incoming QoS 2 flows whose PUBREC waits for our own commits. */
  qos2AwaitingCommit = 0;
  /** QoS 1/2 PUBLISHes received whose acknowledgement has not been written. */
  pendingAcks = 0;
  ackChain: Promise<void> | null = null;
  out: Outbound | null = null;
  congested = false;
  /** Last topic published on this connection (allocated at the first PUBLISH). */
  topicCache: TopicCache | null = null;
  private busy = false;
  /** Why reading is paused: bit set of PAUSE_* reasons (see backpressure.ts). */
  pauseMask = 0;
  /** Congested subscribers currently holding this publisher's reading. */
  holds = 0;
  /** Publishers paused because this (congested) subscriber could not keep up. */
  blockedPublishers: Set<Session> | null = null;
  /** When the connection last became congested (ms), for the slow-subscriber limit. */
  congestedSinceMs = 0;
  /** Congested for longer than `slowSubscriberMs`: QoS 0 to it is dropped, publishers not held. */
  slow = false;
  private backlog: Uint8Array[] | null = null;
  endReason: EndReason | null = null;

  constructor(readonly conn: MqttConnection, readonly ctx: BrokerContext) {
    this.lastRxMs = ctx.nowMs();
  }

  /** The delivery state, created at the first use (idle connections stay small). */
  delivery(): Outbound {
    return this.out ??= new Outbound(this, this.persistent);
  }

  /** Whether the session ended (a method, so checks after an await are not narrowed away). */
  isClosed(): boolean {
    return this.phase === "closed";
  }

  /** One packet from the transport. */
  onPacket(packet: Uint8Array): void {
    if (this.phase === "closed") return;
    this.lastRxMs = this.ctx.nowMs();
    if (this.busy) {
      (this.backlog ??= []).push(packet);
      if (this.backlog.length >= MAX_BACKLOG_PACKETS) pauseReading(this, PAUSE_BACKLOG);
      return;
    }
    this.process(packet);
  }

  private process(packet: Uint8Array): void {
    try {
      if (this.phase === "connected" && packet[0] >> 4 === 3) {
        handlePublish(
          this,
          decodePublish(
            packet,
            fixedHeaderBytes(packet),
            this.version === 5,
            this.topicCache ??= { bytes: null, topic: "" },
          ),
        );
        return;
      }
      this.dispatch(packet);
    } catch (err) {
      this.fail(err);
    }
  }

  private dispatch(bytes: Uint8Array): void {
    const p = decodeClientPacket(bytes, this.phase === "new" ? null : this.version);
    if (p.type === "connect") {
      if (this.phase !== "new") {
        throw new MqttProtocolError(ReasonCode.PROTOCOL_ERROR, "second CONNECT");
      }
      this.phase = "connecting";
      this.runExclusive(() => handleConnect(this, p));
      return;
    }
    if (this.phase !== "connected") {
      throw new MqttProtocolError(ReasonCode.PROTOCOL_ERROR, `${p.type} before CONNACK`);
    }
    const out = this.delivery();
    switch (p.type) {
      case "publish":
        handlePublish(this, p);
        return;
      case "puback":
        out.onPuback(p.packetId);
        return;
      case "pubrec":
        out.onPubrec(p.packetId, p.reasonCode);
        return;
      case "pubrel":
        handlePubrel(this, p.packetId);
        return;
      case "pubcomp":
        out.onPubcomp(p.packetId);
        return;
      case "subscribe":
        this.runExclusive(() => handleSubscribe(this, p));
        return;
      case "unsubscribe":
        this.runExclusive(() => handleUnsubscribe(this, p));
        return;
      case "pingreq":
        this.conn.write(PINGRESP);
        return;
      case "disconnect":
        this.onDisconnect(p.reasonCode, p.properties.sessionExpiryInterval);
        return;
      case "auth":
        throw new MqttProtocolError(
          ReasonCode.PROTOCOL_ERROR,
          "AUTH without an authentication method",
        );
    }
  }

  private onDisconnect(reasonCode: number, expiry: number | undefined): void {
    if (expiry !== undefined) {
      if (this.sessionExpirySeconds === 0 && expiry !== 0) {
        throw new MqttProtocolError(
          ReasonCode.PROTOCOL_ERROR,
          `DISCONNECT sets session expiry ${expiry} after CONNECT set 0`,
        );
      }
      this.sessionExpirySeconds = Math.min(expiry, this.ctx.options.maxSessionExpirySeconds);
    }
    this.end(
      reasonCode === ReasonCode.DISCONNECT_WITH_WILL ? "disconnect-with-will" : "disconnect",
    );
    // Plain TCP with nothing left to send: close at once, as mosquitto does, rather than
    // half-close and wait for the client's FIN (~10% of a connect's CPU). TLS and WebSocket
    // keep the graceful close (close_notify, close frame); anything queued is sent first.
    if (this.conn.listener === "tcp" && this.conn.bufferedBytes === 0) this.conn.destroy();
    else this.conn.end();
  }

  /** Runs an asynchronous step; later packets wait until it finishes. */
  runExclusive(step: () => Promise<void>): void {
    this.busy = true;
    step().catch((err) => this.fail(err)).finally(() => {
      this.busy = false;
      this.drainBacklog();
    });
  }

  private drainBacklog(): void {
    const b = this.backlog;
    while (b !== null && b.length > 0 && !this.busy && this.phase !== "closed") {
      this.process(b.shift()!);
    }
    if (!this.busy) resumeReading(this, PAUSE_BACKLOG);
  }

  /** Handles an error thrown by a packet handler: protocol errors close cleanly. */
  fail(err: unknown): void {
    if (this.phase === "closed") return;
    if (err instanceof UnsupportedProtocolError) {
      // Answer in a form the client can read: v5 CONNACK 0x84, else v3 CONNACK 0x01.
      const v5 = err.level === 5;
      this.ctx.counters.connectsRejected++;
      this.ctx.logBadInput("session.unsupported_protocol", {
        remoteAddress: this.conn.remoteAddress,
        reason: err.message,
      });
      this.conn.write(
        encodeConnack(v5 ? 5 : 4, false, v5 ? ReasonCode.UNSUPPORTED_PROTOCOL_VERSION : 1, null),
      );
      this.end("protocol-error");
      this.conn.end();
      return;
    }
    if (err instanceof MqttProtocolError) {
      this.ctx.logBadInput("session.protocol_error", {
        clientId: this.clientId,
        remoteAddress: this.conn.remoteAddress,
        reasonCode: err.reasonCode,
        reason: err.message,
      });
      this.ctx.counters.protocolErrors++;
      this.disconnectWith(err.reasonCode, err.message, "protocol-error");
      return;
    }
    this.ctx.log.warn("session.internal_error", { clientId: this.clientId, error: err });
    if (this.phase === "connecting" && this.version !== null) {
      // CONNECT could not complete (e.g. a store failed): tell the client to retry later.
      const v5 = this.version === 5;
      this.ctx.counters.connectsRejected++;
      this.conn.write(
        encodeConnack(this.version, false, v5 ? ReasonCode.SERVER_UNAVAILABLE : 3, null),
      );
      this.end("protocol-error");
      this.conn.end();
      return;
    }
    this.disconnectWith(
      ReasonCode.IMPLEMENTATION_SPECIFIC_ERROR,
      "internal error",
      "protocol-error",
    );
  }

  /** A store call failed: the session cannot keep its guarantees; disconnect it. */
  storeFailed(err: unknown): void {
    if (this.phase === "closed") return;
    this.ctx.log.warn("session.store_failed", { clientId: this.clientId, error: err });
    this.disconnectWith(
      ReasonCode.IMPLEMENTATION_SPECIFIC_ERROR,
      "storage error",
      "protocol-error",
    );
  }

  /**
   * Server-side close: v5 sessions past CONNECT get DISCONNECT `reasonCode`
   * first (with the reason string when allowed); then the connection ends.
   */
  disconnectWith(reasonCode: number, reason: string, why: EndReason): void {
    if (this.phase === "closed") return;
    if (this.version === 5 && this.phase === "connected") {
      this.conn.write(
        this.fitToClient(
          encodeDisconnect(reasonCode, this.problemInformation ? { reasonString: reason } : null),
          () => encodeDisconnect(reasonCode, null),
        ),
      );
    }
    this.end(why);
    this.conn.end();
  }

  /**
   * Writes an acknowledgement after `waitFor` (if any) and every earlier
   * acknowledgement. A function is called when the ack is written (its reason
   * code may depend on what `waitFor` found).
   */
  ack(packet: Uint8Array | (() => Uint8Array), waitFor: Promise<unknown> | null): void {
    if (waitFor === null && this.ackChain === null) {
      this.conn.write(typeof packet === "function" ? packet() : packet);
      return;
    }
    this.pendingAcks++;
    const prev = this.ackChain ?? Promise.resolve();
    const next: Promise<void> = prev.then(() => waitFor).then(() => {
      this.pendingAcks--;
      if (this.pendingAcks * 2 < this.ctx.options.receiveMaximum) resumeReading(this, PAUSE_ACKS);
      if (this.phase !== "closed") {
        this.conn.write(typeof packet === "function" ? packet() : packet);
      }
      if (this.ackChain === next) this.ackChain = null;
    }, (err) => {
      this.pendingAcks--;
      if (this.ackChain === next) this.ackChain = null;
      this.storeFailed(err);
    }).catch((err) => this.fail(err)); // never an unhandled rejection
    this.ackChain = next;
  }

  /** A v3 publisher has too many unacknowledged QoS 1/2 messages: stop reading it. */
  pauseForAcks(): void {
    pauseReading(this, PAUSE_ACKS);
  }

  /**
   * The client's Maximum Packet Size applies to everything we send: a packet
   * with a reason string that is too large is sent without it (MQTT 5 3.1.2.25).
   */
  fitToClient(packet: Uint8Array, stripped: () => Uint8Array): Uint8Array {
    return this.clientMaxPacketBytes > 0 && packet.length > this.clientMaxPacketBytes
      ? stripped()
      : packet;
  }

  /** Writes a v5 PUBACK/PUBREC with an error reason code (or a plain v3 ack). */
  ackWithCode(type: 4 | 5, packetId: number, reasonCode: number, reason: string): void {
    const v = this.version ?? 4;
    const code = v === 5 ? reasonCode : 0;
    const full = encodeAck(
      type,
      v,
      packetId,
      code,
      this.problemInformation && v === 5 ? { reasonString: reason } : null,
    );
    this.ack(this.fitToClient(full, () => encodeAck(type, v, packetId, code)), null);
  }

  onFrameError(error: FrameError): void {
    this.ctx.logBadInput("session.frame_error", {
      clientId: this.clientId,
      remoteAddress: this.conn.remoteAddress,
      kind: error.kind,
      reason: error.message,
    });
    if (error.kind === "packet-too-large") {
      this.disconnectWith(ReasonCode.PACKET_TOO_LARGE, error.message, "protocol-error");
    } else if (error.kind === "malformed-remaining-length") {
      this.disconnectWith(ReasonCode.MALFORMED_PACKET, error.message, "protocol-error");
    } else {
      this.end("protocol-error");
      this.conn.destroy();
    }
  }

  onDrain(): void {
    this.congested = false;
    this.slow = false;
    try {
      releasePublishers(this);
      this.out?.pump();
    } catch (err) {
      this.fail(err);
    }
  }

  onClose(): void {
    this.end("socket-closed");
  }

  /** Keep-alive expired (called by the broker's sweeper). */
  keepAliveExpired(): void {
    this.ctx.counters.keepAliveTimeouts++;
    this.disconnectWith(ReasonCode.KEEP_ALIVE_TIMEOUT, "keep alive timeout", "keep-alive");
  }

  /** Another connection claimed this client id. */
  takenOver(): void {
    this.ctx.counters.sessionsTakenOver++;
    this.disconnectWith(ReasonCode.SESSION_TAKEN_OVER, "session taken over", "taken-over");
  }

  /** Broker shutdown. */
  shutdown(): void {
    this.disconnectWith(ReasonCode.SERVER_SHUTTING_DOWN, "server shutting down", "shutdown");
  }

  /** Ends the session once (idempotent): will, routes, inbox, ownership. */
  end(reason: EndReason): void {
    if (this.phase === "closed") return;
    const wasConnected = this.phase === "connected";
    this.phase = "closed";
    this.endReason = reason;
    this.backlog = null;
    try {
      sessionEnded(this, reason, wasConnected);
    } catch (err) {
      this.ctx.log.error("session.end_failed", { clientId: this.clientId, reason, error: err });
    }
  }

  /** Route removals for the given full filters (with any `$share/` prefix). */
  routeRemovals(filters: Iterable<string>): RouteRemoval[] {
    const out: RouteRemoval[] = [];
    for (const full of filters) {
      const parsed = parseSharedFilter(full);
      if (!parsed.ok) continue;
      out.push({
        tenant: this.tenant,
        filter: parsed.filter,
        shareGroup: parsed.group,
        receiverId: this.receiverId,
        incarnation: this.incarnation,
      });
    }
    return out;
  }
}
