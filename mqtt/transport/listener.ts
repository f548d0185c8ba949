/**
 * Listeners: TCP (node:net), TLS (node:tls), WebSocket (node:http + ws) and
 * secure WebSocket (node:https + ws).
 *
 * Every accepted TCP socket first passes admission (maxConnections,
 * maxConnectsPerSecond; excess sockets are destroyed at once, counted and
 * logged rate-limited as `conn.rejected`). Its connect deadline starts at
 * accept, so it also bounds a TLS handshake or a WebSocket upgrade that never
 * completes; one shared interval per listener sweeps the deadlines.
 *
 * WebSocket: only `config.path` (default "/mqtt") upgrades, other paths get
 * 404; the subprotocol "mqtt" (or the legacy "mqttv3.1") is selected, a client
 * offering only other subprotocols gets 400, a client offering none is
 * accepted. Binary messages are fed to the same frame guard as TCP (one
 * message may hold several or partial MQTT packets); a text message closes
 * the connection (MQTT 6.0.0-1).
 *
 * @module
 */

import net from "node:net";
import tls from "node:tls";
import http from "node:http";
import https from "node:https";
import type { Duplex } from "node:stream";
import type { Buffer } from "node:buffer";
import { WebSocketServer } from "ws";
import type { RawData, WebSocket } from "ws";
import type { Logger } from "../../log/jsonLog.ts";
import { AdmissionControl, DeadlineQueue } from "./admission.ts";
import { Connection, type ConnectionContext, type ConnectionOwner } from "./connection.ts";
import { rawDataBytes, SocketChannel, WebSocketChannel } from "./channels.ts";
import { validateLimits, validateListenerConfig } from "./listenerConfig.ts";
import { clientCertificateOf, loadServerTlsOptions } from "./tlsFiles.ts";
import type {
  ClientCertificateInfo,
  ConnectionHandler,
  ListenerConfig,
  ListenerKind,
  ListenerStats,
  RunningListener,
  StartListener,
  TransportLimits,
} from "./types.ts";

/** Default of `TransportLimits.endLingerMs`. */
export const END_LINGER_MS = 5000;

/** Default WebSocket path. */
export const DEFAULT_WS_PATH = "/mqtt";

/** WebSocket subprotocols we speak, preferred first. */
const WS_SUBPROTOCOLS = ["mqtt", "mqttv3.1"];

/** Starts one listener and resolves once it is bound; see {@link StartListener}. */
export const startListener: StartListener = async (kind, config, limits, handler, log) => {
  validateListenerConfig(kind, config);
  validateLimits(limits);
  const core = new ListenerCore(kind, limits, handler, log.with({ listener: kind }));
  switch (kind) {
    case "tcp": {
      const server = net.createServer();
      server.on("connection", (socket: net.Socket) => core.acceptTcp(socket));
      return await core.listen(server, config, () => {});
    }
    case "tls": {
      const options = await loadServerTlsOptions(config);
      const server = tls.createServer(options);
      server.on("connection", (socket: net.Socket) => core.acceptRaw(socket));
      server.on("secureConnection", (socket: tls.TLSSocket) => {
        core.attachSocket(rawSocketOf(socket), socket, clientCertificateOf(socket));
      });
      server.on("tlsClientError", (error: Error, socket: tls.TLSSocket) => {
        core.log.debug("conn.tls-error", { remoteAddress: socket.remoteAddress, error });
      });
      return await core.listen(server, config, () => {});
    }
    case "ws":
    case "wss": {
      const path = config.path ?? DEFAULT_WS_PATH;
      const server = kind === "ws"
        ? http.createServer()
        : https.createServer(await loadServerTlsOptions(config));
      const wss = new WebSocketServer({
        noServer: true,
        // One message may carry several packets; beyond this ws closes with 1009.
        maxPayload: 2 * limits.maxPacketBytes,
        perMessageDeflate: false,
        handleProtocols: (offered: Set<string>) => {
          for (const p of WS_SUBPROTOCOLS) if (offered.has(p)) return p;
          return false;
        },
      });
      server.on("connection", (socket: net.Socket) => core.acceptRaw(socket));
      if (server instanceof https.Server) {
        server.on("tlsClientError", (error: Error, socket: tls.TLSSocket) => {
          core.log.debug("conn.tls-error", { remoteAddress: socket.remoteAddress, error });
        });
      }
      server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
        const status = pathOf(req.url) === path ? 426 : 404;
        res.writeHead(status, { "content-type": "text/plain", connection: "close" });
        res.end(status === 426 ? "use a WebSocket with subprotocol mqtt\n" : "not found\n");
      });
      server.on("upgrade", (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
        if (pathOf(req.url) !== path) {
          rejectUpgrade(socket, 404, "Not Found");
          return;
        }
        const offered = req.headers["sec-websocket-protocol"];
        if (offered !== undefined && !offersMqtt(offered)) {
          rejectUpgrade(socket, 400, "Bad Request");
          return;
        }
        wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
          const netSocket = req.socket;
          const cert = netSocket instanceof tls.TLSSocket ? clientCertificateOf(netSocket) : null;
          core.attachWebSocket(rawSocketOf(netSocket), ws, netSocket, cert);
        });
      });
      return await core.listen(server, config, () => wss.close());
    }
  }
};

/**
 * Shared per-listener state: admission, deadlines, open sockets. Per
 * connection it keeps only a Set entry and three event listeners; handlers
 * that need no connection state are shared functions.
 */
class ListenerCore implements ConnectionOwner {
  readonly kind: ListenerKind;
  readonly log: Logger;
  readonly #handler: ConnectionHandler;
  readonly #admission: AdmissionControl;
  readonly #ctx: ConnectionContext;
  /** Keyed by the raw TCP socket; from accept until markConnected(). */
  readonly #connectDeadlines: DeadlineQueue<object>;
  readonly #endDeadlines: DeadlineQueue<Connection>;
  /** Every admitted TCP socket (also under TLS / WebSocket), for close(). */
  readonly #rawSockets = new Set<net.Socket>();
  #closing = false;
  #handshakeTimeouts = 0;
  readonly #onSocketError: (error: Error) => void;
  readonly #onRawClose: (this: net.Socket) => void;

  constructor(
    kind: ListenerKind,
    limits: TransportLimits,
    handler: ConnectionHandler,
    log: Logger,
  ) {
    this.kind = kind;
    this.log = log;
    this.#handler = handler;
    this.#admission = new AdmissionControl(kind, limits, log);
    this.#ctx = {
      listener: kind,
      limits,
      owner: this,
      log,
      counters: {
        frameErrors: {
          "malformed-remaining-length": 0,
          "packet-too-large": 0,
          "connect-timeout": 0,
        },
        slowConsumers: 0,
      },
    };
    this.#connectDeadlines = new DeadlineQueue(limits.connectTimeoutMs, Date.now);
    this.#endDeadlines = new DeadlineQueue(limits.endLingerMs ?? END_LINGER_MS, Date.now);
    this.#onSocketError = (error) => log.debug("conn.socket-error", { error });
    const rawClosed = (socket: net.Socket): void => this.#rawClosed(socket);
    this.#onRawClose = function (this: net.Socket) {
      rawClosed(this);
    };
  }

  /** Admission for a freshly accepted TCP socket; destroys it when refused. */
  #admit(socket: net.Socket, now: number): boolean {
    if (this.#closing) {
      this.#admission.reject("listener-closing", () => socket.remoteAddress ?? "", now);
      socket.destroy();
      return false;
    }
    const refused = this.#admission.tryAdmit(now);
    if (refused !== null) {
      this.#admission.reject(refused, () => socket.remoteAddress ?? "", now);
      socket.destroy();
      return false;
    }
    this.#rawSockets.add(socket);
    return true;
  }

  #rawClosed(socket: net.Socket): void {
    this.#rawSockets.delete(socket);
    this.#connectDeadlines.delete(socket);
    this.#admission.release();
  }

  /** A plain TCP client: admission, then MQTT straight away. */
  acceptTcp(socket: net.Socket): void {
    const now = Date.now();
    if (!this.#admit(socket, now)) return;
    socket.setNoDelay(true);
    const conn = new Connection(
      this.#ctx,
      new SocketChannel(socket),
      socket,
      null,
    );
    this.#connectDeadlines.add(socket, now, () => conn.connectTimedOut());
    socket.on("data", (chunk: Uint8Array) => conn.receive(chunk));
    socket.on("error", this.#onSocketError);
    socket.on("close", () => {
      this.#rawClosed(socket);
      conn.channelClosed();
    });
    this.#start(conn);
  }

  /** A TCP socket that will carry TLS or WebSocket: admission and its deadline. */
  acceptRaw(socket: net.Socket): void {
    const now = Date.now();
    if (!this.#admit(socket, now)) return;
    socket.on("error", this.#onSocketError);
    socket.on("close", this.#onRawClose);
    this.#connectDeadlines.add(socket, now, () => {
      this.#handshakeTimeouts++;
      this.log.debug("conn.handshake-timeout", { remoteAddress: socket.remoteAddress });
      socket.destroy();
    });
  }

  /** A TLS socket ready for MQTT (the raw socket was admitted by acceptRaw). */
  attachSocket(raw: object, socket: net.Socket, cert: ClientCertificateInfo | null): void {
    if (this.#closing || socket.destroyed) {
      socket.destroy();
      return;
    }
    socket.setNoDelay(true);
    const conn = new Connection(
      this.#ctx,
      new SocketChannel(socket),
      raw,
      cert,
    );
    this.#connectDeadlines.retarget(raw, () => conn.connectTimedOut());
    socket.on("data", (chunk: Uint8Array) => conn.receive(chunk));
    socket.on("error", this.#onSocketError);
    socket.on("close", () => conn.channelClosed());
    this.#start(conn);
  }

  /** An upgraded WebSocket ready for MQTT. */
  attachWebSocket(
    raw: object,
    ws: WebSocket,
    socket: net.Socket,
    cert: ClientCertificateInfo | null,
  ): void {
    if (this.#closing || socket.destroyed) {
      ws.terminate();
      return;
    }
    const conn = new Connection(
      this.#ctx,
      new WebSocketChannel(ws, socket),
      raw,
      cert,
    );
    this.#connectDeadlines.retarget(raw, () => conn.connectTimedOut());
    ws.on("message", (data: RawData, isBinary: boolean) => {
      if (isBinary) conn.receive(rawDataBytes(data));
      else {
        this.log.debug("conn.ws-text-frame", { connId: conn.id });
        conn.destroy();
      }
    });
    ws.on("error", this.#onSocketError);
    ws.on("close", () => conn.channelClosed());
    this.#start(conn);
  }

  #start(conn: Connection): void {
    try {
      conn.attach(this.#handler(conn));
    } catch (error) {
      this.log.error("conn.handler-error", { connId: conn.id, event: "handler", error });
      conn.destroy();
    }
  }

  connected(conn: Connection): void {
    this.#connectDeadlines.delete(conn.rawKey);
  }

  /** A snapshot of the counters. */
  stats(): ListenerStats {
    const counters = this.#ctx.counters;
    return {
      openConnections: this.#admission.open,
      accepted: this.#admission.accepted,
      rejected: { ...this.#admission.rejected },
      frameErrors: { ...counters.frameErrors },
      handshakeTimeouts: this.#handshakeTimeouts,
      slowConsumers: counters.slowConsumers,
    };
  }

  ending(conn: Connection): void {
    this.#endDeadlines.add(conn, Date.now(), () => conn.destroy());
  }

  closed(conn: Connection): void {
    this.#endDeadlines.delete(conn);
    this.#connectDeadlines.delete(conn.rawKey);
  }

  /** Binds the server and returns the running listener. */
  listen(
    server: net.Server,
    config: ListenerConfig,
    beforeClose: () => void,
  ): Promise<RunningListener> {
    return new Promise((resolve, reject) => {
      const onStartError = (error: Error): void => {
        reject(
          new Error(
            `cannot start ${this.kind} listener on ${config.host}:${config.port}: ${error.message}`,
          ),
        );
      };
      server.once("error", onStartError);
      server.listen({ host: config.host, port: config.port }, () => {
        server.off("error", onStartError);
        server.on("error", (error: Error) => this.log.error("listener.error", { error }));
        const address = server.address();
        const port = address !== null && typeof address === "object" ? address.port : config.port;
        let closed: Promise<void> | null = null;
        resolve({
          kind: this.kind,
          host: config.host,
          port,
          stats: () => this.stats(),
          close: () => {
            closed ??= this.#close(server, beforeClose);
            return closed;
          },
        });
      });
    });
  }

  #close(server: net.Server, beforeClose: () => void): Promise<void> {
    this.#closing = true;
    return new Promise((resolve) => {
      server.close(() => resolve());
      beforeClose();
      // Destroying the TCP socket closes any TLS / WebSocket on it; each
      // connection then gets its onClose.
      for (const socket of [...this.#rawSockets]) socket.destroy();
      this.#connectDeadlines.clear();
      this.#endDeadlines.clear();
    });
  }
}

/** The TCP socket under a TLS socket (node and Deno keep it as `_parent`). */
function rawSocketOf(socket: net.Socket): object {
  const parent: unknown = (socket as unknown as { _parent?: unknown })._parent;
  return typeof parent === "object" && parent !== null ? parent : socket;
}

function pathOf(url: string | undefined): string {
  if (url === undefined) return "";
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

function offersMqtt(header: string): boolean {
  return header.split(",").some((p) => WS_SUBPROTOCOLS.includes(p.trim()));
}

function rejectUpgrade(socket: Duplex, status: number, text: string): void {
  socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
}
