/**
 * The TCP {@link Transport}: bound to `clusterConfig.host:port`, length-prefixed
 * msgpack frames, mutual HMAC authentication (see `handshake.ts`) with env check,
 * a bounded per-peer send queue, reconnect with capped exponential back-off, and
 * one-way messages plus request/response RPC.
 *
 * Connections: a node dials a peer only when it has no authenticated connection to it;
 * any authenticated connection (dialed or accepted) carries traffic both ways, so
 * simultaneous dials leave at most two connections per pair, both usable. A response
 * goes back on the connection its request came on.
 *
 * @module
 */

import net from "node:net";
import type { Logger } from "../log/jsonLog.ts";
import { resolveTransportConfig, type TransportConfig } from "./config.ts";
import { encodeFrame, FrameDecoder } from "./frames.ts";
import { Handshake, HANDSHAKE_MAX_FRAME_BYTES } from "./handshake.ts";
import {
  isEndpoint,
  type MessageHandler,
  parseEndpoint,
  PeerUnavailableError,
  QueueFullError,
  RemoteError,
  type RequestHandler,
  RequestTimeoutError,
  type Transport,
} from "./transport.ts";

/** Options of {@link listenTcpTransport}. */
export interface TcpTransportOptions {
  /** Address to bind and advertise (`clusterConfig.host`). */
  host: string;
  /** Port to bind (`clusterConfig.port`); 0 picks a free one (tests). */
  port: number;
  /** Cluster environment; peers of another env are refused. */
  env: string;
  /** Shared cluster secret; proven, never sent. */
  secret: string;
  config?: Partial<TransportConfig>;
  log: Logger;
}

const KIND_MESSAGE = 0;
const KIND_REQUEST = 1;
const KIND_RESPONSE = 2;
const KIND_ERROR = 3;
const REJECT_LOG_INTERVAL_MS = 5000;
const MAX_REJECT_LOG_KEYS = 1024;
const CLOSE_WAIT_MS = 2000;

interface Connection {
  readonly socket: net.Socket;
  readonly outbound: boolean;
  readonly remote: string;
  readonly decoder: FrameDecoder;
  peerId: string | undefined;
  ready: boolean;
  closed: boolean;
  congested: boolean;
  serving: number;
  readonly handshake: Handshake;
  handshakeTimer: ReturnType<typeof setTimeout> | undefined;
  killTimer: ReturnType<typeof setTimeout> | undefined;
  readonly closedPromise: Promise<void>;
}

interface PeerLink {
  readonly peer: string;
  readonly conns: Connection[];
  readonly queue: Uint8Array[];
  queuedBytes: number;
  dialing: boolean;
  backoffMs: number;
  nextDialAtMs: number;
  dialTimer: ReturnType<typeof setTimeout> | undefined;
  inflight: number;
}

interface PendingRequest {
  readonly peer: string;
  readonly resolve: (payload: Uint8Array) => void;
  readonly reject: (err: Error) => void;
  readonly timer: ReturnType<typeof setTimeout>;
}

/** Binds the listener and returns the transport. */
export async function listenTcpTransport(options: TcpTransportOptions): Promise<TcpTransport> {
  const config = resolveTransportConfig(options.config);
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: options.host, port: options.port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : options.port;
  return new TcpTransport(server, `${options.host}:${port}`, options, config);
}

/** The TCP transport (create it with {@link listenTcpTransport}). */
export class TcpTransport implements Transport {
  readonly localId: string;
  readonly #server: net.Server;
  readonly #env: string;
  readonly #secret: string;
  readonly #config: TransportConfig;
  readonly #log: Logger;
  readonly #links = new Map<string, PeerLink>();
  readonly #conns = new Set<Connection>();
  readonly #requests = new Map<number, PendingRequest>();
  readonly #messageHandlers = new Map<string, MessageHandler>();
  readonly #requestHandlers = new Map<string, RequestHandler>();
  readonly #unreachableCallbacks: ((peer: string) => void)[] = [];
  readonly #rejectLoggedAt = new Map<string, number>();
  #pendingHandshakes = 0;
  #requestSeq = 0;
  #closed = false;

  /** Use {@link listenTcpTransport}. */
  constructor(
    server: net.Server,
    localId: string,
    options: TcpTransportOptions,
    config: TransportConfig,
  ) {
    this.#server = server;
    this.localId = localId;
    this.#env = options.env;
    this.#secret = options.secret;
    this.#config = config;
    this.#log = options.log;
    server.on("connection", (socket: net.Socket) => this.#accept(socket));
  }

  send(peer: string, channel: string, payload: Uint8Array): boolean {
    if (this.#closed || peer === this.localId) return false;
    return this.#enqueue(this.#link(peer), encodeFrame([KIND_MESSAGE, channel, payload]));
  }

  onMessage(channel: string, handler: MessageHandler): void {
    this.#messageHandlers.set(channel, handler);
  }

  onRequest(channel: string, handler: RequestHandler): void {
    this.#requestHandlers.set(channel, handler);
  }

  resetReconnectBackoff(peer: string): void {
    const link = this.#links.get(peer);
    if (link === undefined || this.#closed) return;
    link.backoffMs = 0;
    link.nextDialAtMs = 0;
    if (link.dialTimer !== undefined) {
      clearTimeout(link.dialTimer);
      link.dialTimer = undefined;
      if (link.queue.length > 0 && link.conns.length === 0) this.#ensureDial(link);
    }
  }

  onPeerUnreachable(callback: (peer: string) => void): void {
    this.#unreachableCallbacks.push(callback);
  }

  request(
    peer: string,
    channel: string,
    payload: Uint8Array,
    timeoutMs: number,
  ): Promise<Uint8Array> {
    if (this.#closed) return Promise.reject(new PeerUnavailableError(peer, "transport closed"));
    if (!isEndpoint(peer)) {
      return Promise.reject(new PeerUnavailableError(peer, "invalid endpoint"));
    }
    const link = this.#link(peer);
    if (link.inflight >= this.#config.maxInflightRequestsPerPeer) {
      return Promise.reject(new QueueFullError(peer, "in-flight request window"));
    }
    const id = ++this.#requestSeq;
    return new Promise<Uint8Array>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#settle(id, new RequestTimeoutError(peer, channel, timeoutMs));
      }, timeoutMs);
      this.#requests.set(id, { peer, resolve, reject, timer });
      link.inflight++;
      if (!this.#enqueue(link, encodeFrame([KIND_REQUEST, channel, id, payload]))) {
        this.#settle(id, new QueueFullError(peer, "send queue"));
      }
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const serverClosed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const link of this.#links.values()) {
      if (link.dialTimer !== undefined) clearTimeout(link.dialTimer);
      link.dialTimer = undefined;
    }
    for (const id of [...this.#requests.keys()]) {
      this.#settle(id, new PeerUnavailableError(this.#requests.get(id)!.peer, "transport closed"));
    }
    const closing = [...this.#conns].map((c) => {
      this.#destroy(c);
      return c.closedPromise;
    });
    let waitTimer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([
      Promise.all([serverClosed, ...closing]),
      new Promise<void>((resolve) => (waitTimer = setTimeout(resolve, CLOSE_WAIT_MS))),
    ]);
    clearTimeout(waitTimer);
  }

  /** Bytes queued towards `peer` and not yet handed to a socket (observability). */
  queuedBytes(peer: string): number {
    return this.#links.get(peer)?.queuedBytes ?? 0;
  }

  /** Peers with at least one authenticated connection. */
  connectedPeers(): string[] {
    return [...this.#links.values()].filter((l) => l.conns.length > 0).map((l) => l.peer);
  }

  // ------------------------------------------------------------ queues and dials

  #link(peer: string): PeerLink {
    let link = this.#links.get(peer);
    if (link === undefined) {
      link = {
        peer,
        conns: [],
        queue: [],
        queuedBytes: 0,
        dialing: false,
        backoffMs: 0,
        nextDialAtMs: 0,
        dialTimer: undefined,
        inflight: 0,
      };
      this.#links.set(peer, link);
    }
    return link;
  }

  #enqueue(link: PeerLink, frame: Uint8Array): boolean {
    if (
      link.queue.length >= this.#config.maxQueuedFramesPerPeer ||
      link.queuedBytes + frame.byteLength > this.#config.maxQueuedBytesPerPeer
    ) return false;
    link.queue.push(frame);
    link.queuedBytes += frame.byteLength;
    this.#flush(link);
    return true;
  }

  #flush(link: PeerLink): void {
    if (link.queue.length === 0) return;
    if (link.conns.length === 0) {
      this.#ensureDial(link);
      return;
    }
    const conn = link.conns.find((c) => !c.congested);
    if (conn === undefined) return; // resumed on 'drain'
    while (link.queue.length > 0 && !conn.congested) {
      const frame = link.queue.shift() as Uint8Array;
      link.queuedBytes -= frame.byteLength;
      this.#write(conn, frame);
    }
  }

  #ensureDial(link: PeerLink): void {
    if (this.#closed || link.dialing || link.dialTimer !== undefined) return;
    if (!isEndpoint(link.peer)) {
      this.#dropQueue(link, "invalid endpoint");
      return;
    }
    const waitMs = link.nextDialAtMs - Date.now();
    if (waitMs > 0) {
      link.dialTimer = setTimeout(() => {
        link.dialTimer = undefined;
        if (link.queue.length > 0 && link.conns.length === 0) this.#ensureDial(link);
      }, waitMs);
      return;
    }
    this.#dial(link);
  }

  #dial(link: PeerLink): void {
    link.dialing = true;
    const { host, port } = parseEndpoint(link.peer);
    const socket = net.connect({ host, port });
    const conn = this.#attach(socket, true, link.peer);
    socket.once("connect", () => this.#write(conn, encodeFrame(conn.handshake.hello())));
  }

  #dialFailed(link: PeerLink, reason: string): void {
    link.dialing = false;
    link.backoffMs = link.backoffMs === 0
      ? this.#config.reconnectInitialDelayMs
      : Math.min(this.#config.reconnectMaxDelayMs, link.backoffMs * 2);
    // Jitter in [50%, 100%] so that nodes do not redial in lockstep.
    link.nextDialAtMs = Date.now() + link.backoffMs * (0.5 + Math.random() / 2);
    this.#log.debug("cluster.peer.dial_failed", {
      peer: link.peer,
      reason,
      backoffMs: link.backoffMs,
    });
    this.#dropQueue(link, reason);
    this.#peerLost(link, reason);
  }

  #dropQueue(link: PeerLink, reason: string): void {
    if (link.queue.length > 0) {
      this.#log.debug("cluster.peer.queue_dropped", {
        peer: link.peer,
        frames: link.queue.length,
        reason,
      });
    }
    link.queue.length = 0;
    link.queuedBytes = 0;
  }

  #peerLost(link: PeerLink, reason: string): void {
    for (const [id, r] of [...this.#requests]) {
      if (r.peer === link.peer) this.#settle(id, new PeerUnavailableError(link.peer, reason));
    }
    if (this.#closed) return;
    for (const cb of this.#unreachableCallbacks) {
      try {
        cb(link.peer);
      } catch (err) {
        this.#log.error("cluster.transport.callback_failed", { error: err });
      }
    }
  }

  #settle(id: number, result: Uint8Array | Error): void {
    const r = this.#requests.get(id);
    if (r === undefined) return;
    this.#requests.delete(id);
    clearTimeout(r.timer);
    const link = this.#links.get(r.peer);
    if (link !== undefined) link.inflight--;
    if (result instanceof Error) r.reject(result);
    else r.resolve(result);
  }

  // ------------------------------------------------------------ connections

  #accept(socket: net.Socket): void {
    if (this.#closed || this.#pendingHandshakes >= this.#config.maxPendingHandshakes) {
      this.#logReject(String(socket.remoteAddress), undefined, "too many pending handshakes");
      socket.destroy();
      return;
    }
    this.#attach(socket, false, undefined);
  }

  #attach(socket: net.Socket, outbound: boolean, peerId: string | undefined): Connection {
    let markClosed = () => {};
    const closedPromise = new Promise<void>((resolve) => (markClosed = resolve));
    const conn: Connection = {
      socket,
      outbound,
      remote: `${socket.remoteAddress ?? peerId ?? "?"}:${socket.remotePort ?? ""}`,
      decoder: new FrameDecoder(HANDSHAKE_MAX_FRAME_BYTES),
      peerId,
      ready: false,
      closed: false,
      congested: false,
      serving: 0,
      handshake: new Handshake({
        role: outbound ? "client" : "server",
        env: this.#env,
        secret: this.#secret,
        localId: this.localId,
        expectedPeerId: peerId,
        isValidPeerId: isEndpoint,
      }),
      handshakeTimer: undefined,
      killTimer: undefined,
      closedPromise,
    };
    this.#conns.add(conn);
    this.#pendingHandshakes++;
    socket.setNoDelay(true);
    conn.handshakeTimer = setTimeout(() => {
      conn.handshakeTimer = undefined;
      if (!conn.ready) this.#fail(conn, "handshake timeout", !outbound);
    }, this.#config.handshakeTimeoutMs);
    socket.on("data", (chunk: Uint8Array) => this.#onData(conn, chunk));
    socket.on("drain", () => {
      conn.congested = false;
      if (conn.ready && conn.peerId !== undefined) {
        const link = this.#links.get(conn.peerId);
        if (link !== undefined) this.#flush(link);
      }
    });
    socket.on("error", (err: Error) => {
      this.#log.debug("cluster.peer.socket_error", { peer: conn.peerId, error: err.message });
    });
    socket.on("close", () => {
      this.#onClose(conn);
      markClosed();
    });
    return conn;
  }

  #onClose(conn: Connection): void {
    const wasReady = conn.ready;
    conn.closed = true;
    conn.ready = false;
    this.#conns.delete(conn);
    if (conn.handshakeTimer !== undefined) clearTimeout(conn.handshakeTimer);
    conn.handshakeTimer = undefined;
    if (conn.killTimer !== undefined) clearTimeout(conn.killTimer);
    conn.killTimer = undefined;
    if (!wasReady) this.#pendingHandshakes--;
    if (conn.peerId === undefined) return;
    const link = this.#links.get(conn.peerId);
    if (link === undefined) return;
    if (!wasReady) {
      if (conn.outbound) this.#dialFailed(link, "connection closed before authentication");
      return;
    }
    const i = link.conns.indexOf(conn);
    if (i >= 0) link.conns.splice(i, 1);
    this.#log.info("cluster.peer.disconnected", { peer: link.peer });
    if (link.conns.length === 0) {
      this.#peerLost(link, "connection lost");
      if (!this.#closed && link.queue.length > 0) this.#ensureDial(link);
    }
  }

  #write(conn: Connection, frame: Uint8Array): void {
    if (conn.closed) return;
    if (!conn.socket.write(frame)) conn.congested = true;
  }

  #destroy(conn: Connection): void {
    if (!conn.socket.destroyed) conn.socket.destroy();
  }

  #fail(conn: Connection, reason: string, log: boolean, notifyPeer = false): void {
    if (log) this.#logReject(conn.remote, conn.peerId, reason);
    if (notifyPeer && !conn.closed) {
      conn.socket.end(encodeFrame({ t: "reject", reason }));
      // end() flushes; make sure the socket does go away even if the peer stalls.
      conn.killTimer = setTimeout(() => this.#destroy(conn), 100);
      return;
    }
    this.#destroy(conn);
  }

  #logReject(remote: string, peer: string | undefined, reason: string): void {
    const key = `${remote.replace(/:\d*$/, "")}|${peer}|${reason}`;
    const now = Date.now();
    const last = this.#rejectLoggedAt.get(key);
    if (last !== undefined && now - last < REJECT_LOG_INTERVAL_MS) return;
    if (this.#rejectLoggedAt.size >= MAX_REJECT_LOG_KEYS) this.#rejectLoggedAt.clear();
    this.#rejectLoggedAt.set(key, now);
    this.#log.warn("cluster.peer.rejected", { remote, peer, reason });
  }

  #onData(conn: Connection, chunk: Uint8Array): void {
    if (conn.closed) return;
    let frames: unknown[];
    try {
      frames = conn.decoder.push(chunk);
    } catch (err) {
      this.#fail(conn, (err as Error).message, true);
      return;
    }
    for (const frame of frames) {
      if (conn.closed || conn.socket.destroyed) return;
      if (conn.ready) this.#onDataFrame(conn, frame);
      else this.#onHandshakeFrame(conn, frame);
    }
  }

  #onHandshakeFrame(conn: Connection, frame: unknown): void {
    const result = conn.handshake.step(frame);
    conn.peerId = conn.handshake.peerId;
    if (result.refused !== undefined) {
      return this.#fail(conn, result.refused.reason, true, result.refused.notifyPeer);
    }
    if (result.send !== undefined) this.#write(conn, encodeFrame(result.send));
    if (result.admitted === true) this.#admit(conn);
  }

  #admit(conn: Connection): void {
    conn.ready = true;
    this.#pendingHandshakes--;
    if (conn.handshakeTimer !== undefined) clearTimeout(conn.handshakeTimer);
    conn.handshakeTimer = undefined;
    conn.decoder.setMaxFrameBytes(this.#config.maxFrameBytes);
    const link = this.#link(conn.peerId as string);
    if (conn.outbound) link.dialing = false;
    link.backoffMs = 0;
    link.nextDialAtMs = 0;
    if (link.dialTimer !== undefined) clearTimeout(link.dialTimer);
    link.dialTimer = undefined;
    link.conns.push(conn);
    this.#log.info("cluster.peer.connected", {
      peer: link.peer,
      direction: conn.outbound ? "out" : "in",
    });
    this.#flush(link);
  }

  #onDataFrame(conn: Connection, frame: unknown): void {
    const from = conn.peerId as string;
    if (!Array.isArray(frame) || typeof frame[0] !== "number") {
      return this.#fail(conn, "malformed frame", true);
    }
    switch (frame[0]) {
      case KIND_MESSAGE: {
        const [, channel, payload] = frame;
        if (typeof channel !== "string" || !(payload instanceof Uint8Array)) {
          return this.#fail(conn, "malformed message frame", true);
        }
        const handler = this.#messageHandlers.get(channel);
        if (handler === undefined) {
          this.#log.debug("cluster.message.no_handler", { peer: from, channel });
          return;
        }
        try {
          handler(from, payload);
        } catch (err) {
          this.#log.error("cluster.message.handler_failed", { peer: from, channel, error: err });
        }
        return;
      }
      case KIND_REQUEST: {
        const [, channel, id, payload] = frame;
        if (
          typeof channel !== "string" || typeof id !== "number" || !(payload instanceof Uint8Array)
        ) {
          return this.#fail(conn, "malformed request frame", true);
        }
        this.#serve(conn, from, channel, id, payload);
        return;
      }
      case KIND_RESPONSE:
      case KIND_ERROR: {
        const [kind, id, body] = frame;
        const pending = typeof id === "number" ? this.#requests.get(id) : undefined;
        if (pending === undefined || pending.peer !== from) return; // late or foreign: ignore
        if (kind === KIND_RESPONSE && body instanceof Uint8Array) {
          this.#settle(id as number, body);
        } else {
          this.#settle(id as number, new RemoteError(from, String(body).slice(0, 500)));
        }
        return;
      }
      default:
        return this.#fail(conn, `unknown frame kind ${String(frame[0])}`, true);
    }
  }

  #serve(conn: Connection, from: string, channel: string, id: number, payload: Uint8Array): void {
    const handler = this.#requestHandlers.get(channel);
    const reply = (frame: unknown[]) => {
      if (!conn.closed) this.#write(conn, encodeFrame(frame));
    };
    if (handler === undefined) {
      reply([KIND_ERROR, id, `no handler for channel "${channel}"`]);
      return;
    }
    if (conn.serving >= this.#config.maxServingRequestsPerConnection) {
      reply([KIND_ERROR, id, `busy: ${conn.serving} requests being served`]);
      return;
    }
    conn.serving++;
    Promise.resolve()
      .then(() => handler(from, payload))
      .then(
        (response) => reply([KIND_RESPONSE, id, response]),
        (err: unknown) => reply([KIND_ERROR, id, err instanceof Error ? err.message : String(err)]),
      )
      .finally(() => conn.serving--);
  }
}
