/**
 * A minimal MQTT 3.1.1 client for the load generator over raw `node:net`
 * sockets: CONNECT/CONNACK, SUBSCRIBE/SUBACK, and a per-packet callback for
 * everything else. No codec on the hot path; see {@link PacketReader}.
 *
 * @module
 */
import net from "node:net";
import type { Buffer } from "node:buffer";
import {
  DISCONNECT,
  encodeConnect,
  encodeSubscribe,
  type PacketHandler,
  PacketReader,
  PacketType,
} from "./wire.ts";

/** The broker address every bench client connects to (loopback only). */
export const BROKER_HOST = "127.0.0.1";

/** Options to open one client connection. */
export interface ClientOptions {
  /** Broker TCP port on 127.0.0.1. */
  readonly port: number;
  /** Client identifier. */
  readonly clientId: string;
  /** cleanSession flag (default true). */
  readonly clean?: boolean;
  /** Keep-alive seconds (default 600: bench runs are shorter, no PINGREQ needed). */
  readonly keepaliveSeconds?: number;
  /** Source address on 127.0.0.0/8, to spread many connections over addresses. */
  readonly localAddress?: string;
  /** Give up after this long waiting for CONNACK (default 10 s). */
  readonly timeoutMs?: number;
  /**
   * Installed before CONNECT is sent: a broker may send queued messages in
   * the same read as the CONNACK (persistent sessions).
   */
  readonly onPacket?: PacketHandler;
  /** Installed before CONNECT is sent, see {@link ClientOptions.onPacket}. */
  readonly onChunkEnd?: () => void;
}

/** A connected client. Set {@link GenClient.onPacket} to receive packets. */
export class GenClient {
  /** The underlying socket. */
  readonly socket: net.Socket;
  /** Receives every packet that no {@link GenClient.waitFor} call claimed. */
  onPacket: PacketHandler = () => {};
  /** Called after all packets of one socket read were handled (batch replies here). */
  onChunkEnd: () => void = () => {};
  /** Set when the socket closed; `closedByUs` tells whether we asked for it. */
  closed = false;
  /** Whether {@link GenClient.close} or {@link GenClient.destroy} was called. */
  closedByUs = false;
  readonly #waiters = new Map<number, () => void>();

  private constructor(socket: net.Socket) {
    this.socket = socket;
  }

  /** Connect, send CONNECT and resolve once a successful CONNACK arrived. */
  static connect(opts: ClientOptions): Promise<GenClient> {
    const timeoutMs = opts.timeoutMs ?? 10_000;
    return new Promise<GenClient>((resolve, reject) => {
      const socket = net.connect({
        host: BROKER_HOST,
        port: opts.port,
        localAddress: opts.localAddress,
      });
      const client = new GenClient(socket);
      if (opts.onPacket !== undefined) client.onPacket = opts.onPacket;
      if (opts.onChunkEnd !== undefined) client.onChunkEnd = opts.onChunkEnd;
      let settled = false;
      const fail = (err: Error): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        socket.destroy();
        reject(err);
      };
      const timer = setTimeout(
        () => fail(new Error(`no CONNACK for ${opts.clientId} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      const reader = new PacketReader((type, flags, buf, start, end) => {
        if (!settled) {
          if (type !== PacketType.CONNACK) {
            fail(new Error(`expected CONNACK, got packet type ${type}`));
            return;
          }
          const rc = buf[start + 1];
          if (rc !== 0) {
            fail(new Error(`CONNACK return code ${rc} for ${opts.clientId}`));
            return;
          }
          settled = true;
          clearTimeout(timer);
          resolve(client);
          return;
        }
        client.#dispatch(type, flags, buf, start, end);
      });
      socket.setNoDelay(true);
      socket.on("connect", () => {
        socket.write(encodeConnect({
          clientId: opts.clientId,
          clean: opts.clean ?? true,
          keepaliveSeconds: opts.keepaliveSeconds ?? 600,
        }));
      });
      socket.on("data", (chunk: Buffer) => {
        try {
          reader.push(chunk);
          if (settled) client.onChunkEnd();
        } catch (err) {
          socket.destroy(err instanceof Error ? err : new Error(String(err)));
        }
      });
      socket.on("error", (err: Error) => fail(err));
      socket.on("close", () => {
        client.closed = true;
        fail(new Error(`connection closed before CONNACK for ${opts.clientId}`));
      });
    });
  }

  #dispatch(type: number, flags: number, buf: Buffer, start: number, end: number): void {
    if (this.#waiters.size > 0) {
      const w = this.#waiters.get(type);
      if (w !== undefined) {
        this.#waiters.delete(type);
        w();
        return;
      }
    }
    this.onPacket(type, flags, buf, start, end);
  }

  /** Resolve on the next packet of `type` (claimed: not passed to onPacket). */
  waitFor(type: number, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.delete(type);
        reject(new Error(`no packet of type ${type} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.#waiters.set(type, () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** Subscribe to one filter and wait for the SUBACK. */
  async subscribe(filter: string, qos: 0 | 1, messageId = 1): Promise<void> {
    const acked = this.waitFor(PacketType.SUBACK, 10_000);
    this.socket.write(encodeSubscribe(filter, qos, messageId));
    await acked;
  }

  /** Send DISCONNECT, half-close, and wait (bounded) until the socket closed. */
  close(timeoutMs = 3000): Promise<void> {
    this.closedByUs = true;
    if (this.closed) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.socket.destroy();
        resolve();
      }, timeoutMs);
      this.socket.once("close", () => {
        clearTimeout(timer);
        resolve();
      });
      this.socket.end(DISCONNECT);
    });
  }

  /** Drop the connection at once. */
  destroy(): void {
    this.closedByUs = true;
    this.socket.destroy();
  }
}

/** Resolve after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
