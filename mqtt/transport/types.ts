/**
 * The contract between the MQTT network layer (listeners, frame guard,
 * connection limits) and the protocol sessions built on top of it.
 *
 * A listener accepts connections, splits the inbound byte stream into whole
 * MQTT packets (checking the declared size before buffering anything of the
 * body), and hands every packet to the {@link ConnectionEvents} returned by
 * the {@link ConnectionHandler}. Writes are queued and flushed once per
 * event-loop turn.
 *
 * @module
 */

import type { Logger } from "../../log/jsonLog.ts";

/** The kind of a listener: plain TCP, TLS, WebSocket or secure WebSocket. */
export type ListenerKind = "tcp" | "tls" | "ws" | "wss";

/** What the transport learned from a TLS client certificate. */
export interface ClientCertificateInfo {
  /** Common name of the subject, or null when the certificate has none. */
  subjectCN: string | null;
  /** All subject attributes (e.g. `{CN, O, OU}`); multi-valued ones joined by ",". */
  subject: Record<string, string>;
  /** Common name of the issuer, or null. */
  issuerCN: string | null;
  /** SHA-256 fingerprint, colon-separated upper-case hex as node:tls reports it. */
  fingerprint256: string;
  /** True when the certificate chains to the configured CA (`caFile`). */
  authorized: boolean;
}

/** One client connection, as the protocol session sees it. */
export interface MqttConnection {
  /** Unique in this process (a counter). */
  readonly id: number;
  /** The listener that accepted this connection. */
  readonly listener: ListenerKind;
  /** Peer address ("" when unknown). Looked up on first read (a system call); read it before the connection closes. */
  readonly remoteAddress: string;
  /** Peer port (0 when unknown); see remoteAddress. */
  readonly remotePort: number;
  /** The client certificate (tls/wss with a certificate presented), else null. */
  readonly clientCertificate: ClientCertificateInfo | null;
  /**
   * Queue one encoded packet; flushed once per event-loop turn.
   * Returns false when bufferedBytes > the high-water mark (producer should
   * wait for onDrain). When bufferedBytes would exceed
   * `TransportLimits.maxWriteBufferBytes` the connection is destroyed as a
   * slow consumer (the packet is dropped, onClose follows).
   * The transport keeps a reference to `packet` until it is flushed: do not
   * mutate it afterwards.
   */
  write(packet: Uint8Array): boolean;
  /** Bytes queued or handed to the socket but not yet sent. */
  readonly bufferedBytes: number;
  /** Stop reading (backpressure on a publisher). Idempotent. */
  pause(): void;
  /** Resume reading after {@link pause}. Idempotent. */
  resume(): void;
  /** CONNECT accepted: cancel the connect timeout. */
  markConnected(): void;
  /** Lower (never raise) the maximum inbound packet size for this connection. */
  setMaxInboundPacketBytes(bytes: number): void;
  /** Flush pending writes, then close. */
  end(): void;
  /** Close now, drop pending writes. */
  destroy(): void;
}

/** Why the transport refused the inbound byte stream. */
export type FrameErrorKind = "malformed-remaining-length" | "packet-too-large" | "connect-timeout";

/** A framing problem reported to {@link ConnectionEvents.onFrameError}. */
export interface FrameError {
  kind: FrameErrorKind;
  /** Human-readable, says what was wrong and with which value. */
  message: string;
  /** MQTT control packet type (high nibble of the first byte), when known. */
  packetType?: number;
  /** Total packet size the client declared (fixed header included), for packet-too-large. */
  declaredBytes?: number;
}

/** Callbacks of one connection, returned by the {@link ConnectionHandler}. */
export interface ConnectionEvents {
  /** One complete MQTT packet, fixed header included. May be a view into the received chunk; the transport never mutates it afterwards. */
  onPacket(packet: Uint8Array): void;
  /** The transport stops reading after this; the handler may write a DISCONNECT (v5 0x95) then call end(); if it does nothing the transport destroys the connection. */
  onFrameError(error: FrameError): void;
  /** bufferedBytes fell back to or below the high-water mark after write() returned false. */
  onDrain(): void;
  /** The connection is closed; called exactly once. */
  onClose(): void;
}

/** Called once per accepted connection; returns that connection's callbacks. */
export type ConnectionHandler = (conn: MqttConnection) => ConnectionEvents;

/** Configuration of one listener (one entry of `mqttServiceConfig`). */
export interface ListenerConfig {
  /** When false, {@link startListener} refuses to start this listener. */
  enable: boolean;
  /** Bind address, e.g. "0.0.0.0" or "127.0.0.1". */
  host: string;
  /** Bind port; 0 picks a free one (see {@link RunningListener.port}). */
  port: number;
  /** ws/wss only: HTTP path of the MQTT endpoint. Default "/mqtt". */
  path?: string;
  /** tls/wss: PEM server certificate (chain). */
  certFile?: string;
  /** tls/wss: PEM private key. */
  keyFile?: string;
  /** tls/wss: PEM CA bundle used to verify client certificates. */
  caFile?: string;
  /** tls/wss: reject clients without a certificate signed by `caFile`. Default false (certificates optional). */
  requireClientCert?: boolean;
}

/**
 * Limits enforced by the transport. Every field is finite; see
 * {@link defaultTransportLimits} for defaults and trade-offs.
 */
export interface TransportLimits {
  /** Largest inbound packet, fixed header included. Larger → frame error "packet-too-large". */
  maxPacketBytes: number;
  /** Time from accept to markConnected(); then frame error "connect-timeout" and destroy. */
  connectTimeoutMs: number;
  /** Open connections per listener; excess connections are closed at once. */
  maxConnections: number;
  /** Accepted connections per second per listener; excess connections are closed at once. */
  maxConnectsPerSecond: number;
  /** write() returns false while bufferedBytes exceeds this. */
  writeHighWaterMarkBytes: number;
  /** Beyond this the connection is destroyed as a slow consumer. */
  maxWriteBufferBytes: number;
  /** After end(), how long the peer may take to close before the connection is destroyed. Default 5000. */
  endLingerMs?: number;
}

/** Counters of one listener since it started (for metrics). */
export interface ListenerStats {
  /** TCP sockets admitted and still open (under TLS/WS too, handshakes included). */
  openConnections: number;
  /** TCP sockets admitted. */
  accepted: number;
  /** TCP sockets closed at accept, by reason. */
  rejected: {
    "max-connections": number;
    "max-connects-per-second": number;
    "listener-closing": number;
  };
  /** Frame errors reported to sessions, by kind. */
  frameErrors: Record<FrameErrorKind, number>;
  /** Sockets closed because the TLS handshake or WebSocket upgrade did not finish within connectTimeoutMs. */
  handshakeTimeouts: number;
  /** Connections destroyed for exceeding maxWriteBufferBytes. */
  slowConsumers: number;
}

/** A bound listener. */
export interface RunningListener {
  kind: ListenerKind;
  host: string;
  /** Actual bound port, also when configured 0. */
  port: number;
  /** A snapshot of the listener's counters. */
  stats(): ListenerStats;
  /** Stop accepting, destroy open connections (each gets onClose), and release the port. */
  close(): Promise<void>;
}

/** Signature of `startListener` (implemented in listener.ts, exported from mod.ts). */
export type StartListener = (
  kind: ListenerKind,
  config: ListenerConfig,
  limits: TransportLimits,
  handler: ConnectionHandler,
  log: Logger,
) => Promise<RunningListener>;

/**
 * Default limits.
 * - maxPacketBytes 1 MiB: large enough for typical IoT payloads; each
 *   connection can hold at most this much in its reassembly buffer, so it
 *   bounds memory per misbehaving client. MQTT allows up to 256 MiB.
 * - connectTimeoutMs 10 000: idle sockets that never send CONNECT are dropped.
 * - maxConnections 100 000 per listener (≈ 0.5 GB RSS at ~5 KB each).
 * - maxConnectsPerSecond 20 000 per listener: above what one core can accept
 *   (~12.8k/s measured), so it only trips on floods.
 * - writeHighWaterMarkBytes 64 KiB: where write() starts returning false.
 * - maxWriteBufferBytes 8 MiB: a subscriber that falls this far behind is
 *   destroyed rather than letting its queue grow without bound.
 * - endLingerMs 5000: a peer that neither reads nor closes after end() cannot
 *   pin the socket longer than this.
 */
export function defaultTransportLimits(): TransportLimits {
  return {
    maxPacketBytes: 1024 * 1024,
    connectTimeoutMs: 10_000,
    maxConnections: 100_000,
    maxConnectsPerSecond: 20_000,
    writeHighWaterMarkBytes: 64 * 1024,
    maxWriteBufferBytes: 8 * 1024 * 1024,
    endLingerMs: 5000,
  };
}
