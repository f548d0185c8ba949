/**
 * A raw-socket MQTT client for tests that must control every byte: keep-alive
 * expiry, QoS 2 across reconnects, unacknowledged deliveries and malformed input.
 * Packets are built with mqtt-packet's generator (or by hand) and parsed with its
 * parser; every wait is bounded.
 *
 * @module
 */

import { Socket } from "node:net";
import { Buffer } from "node:buffer";
import mqttPacket from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import { Waiters } from "./waiters.ts";

export type { Packet };

/** A parsed packet, or a parse error of the server's bytes. */
export type RawEvent = { packet: Packet } | { parseError: string };

/** A raw MQTT connection over node:net. */
export class RawClient {
  readonly events: RawEvent[] = [];
  #cursor = 0;
  #closed = false;
  #waiters = new Waiters();
  #parser: ReturnType<typeof mqttPacket.parser>;

  private constructor(readonly socket: Socket, readonly protocolVersion: 3 | 4 | 5) {
    this.#parser = mqttPacket.parser({ protocolVersion });
    this.#parser.on("packet", (p: Packet) => this.#push({ packet: p }));
    this.#parser.on("error", (e: Error) => this.#push({ parseError: e.message }));
    socket.on("data", (d: Buffer) => this.#parser.parse(d));
    socket.on("error", () => {});
    socket.on("close", () => {
      this.#closed = true;
      this.#wake();
    });
  }

  /** Open a TCP connection to 127.0.0.1:port (no CONNECT sent). */
  static open(port: number, protocolVersion: 3 | 4 | 5 = 4, timeoutMs = 3_000): Promise<RawClient> {
    return new Promise<RawClient>((resolve, reject) => {
      const s = new Socket();
      const t = setTimeout(() => {
        s.destroy();
        reject(new Error(`connect to 127.0.0.1:${port} timed out`));
      }, timeoutMs);
      s.once("error", (e) => {
        clearTimeout(t);
        s.destroy();
        reject(e);
      });
      s.connect(port, "127.0.0.1", () => {
        clearTimeout(t);
        s.removeAllListeners("error");
        resolve(new RawClient(s, protocolVersion));
      });
    });
  }

  /**
   * Open a connection, send CONNECT, and return the client with its CONNACK.
   * Throws when no CONNACK arrives.
   */
  static async connect(
    port: number,
    opts: {
      clientId: string;
      protocolVersion?: 3 | 4 | 5;
      clean?: boolean;
      keepalive?: number;
      will?: mqttPacket.IConnectPacket["will"];
      properties?: mqttPacket.IConnectPacket["properties"];
      username?: string;
      password?: string;
    },
  ): Promise<{ client: RawClient; connack: mqttPacket.IConnackPacket }> {
    const v = opts.protocolVersion ?? 4;
    const client = await RawClient.open(port, v);
    try {
      client.sendPacket({
        cmd: "connect",
        protocolId: v === 3 ? "MQIsdp" : "MQTT",
        protocolVersion: v,
        clean: opts.clean ?? true,
        clientId: opts.clientId,
        // below the 30 s maxKeepAliveSeconds some test brokers use
        keepalive: opts.keepalive ?? 20,
        will: opts.will,
        properties: opts.properties,
        username: opts.username,
        password: opts.password === undefined ? undefined : Buffer.from(opts.password),
      });
      const connack = await client.expect("connack");
      return { client, connack };
    } catch (e) {
      client.close();
      throw e;
    }
  }

  /** True once the server (or we) closed the socket. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Write raw bytes (ignored when already closed). */
  send(bytes: Uint8Array): void {
    if (!this.#closed && !this.socket.destroyed) this.socket.write(bytes);
  }

  /** Encode and send a packet with this connection's protocol version. */
  sendPacket(p: Packet): void {
    this.send(encode(p, this.protocolVersion));
  }

  /** Next packet from the server; throws on timeout, close, or a parse error. */
  async next(timeoutMs = 3_000): Promise<Packet> {
    await this.#waitFor(() => this.events.length > this.#cursor || this.#closed, timeoutMs);
    if (this.events.length > this.#cursor) {
      const ev = this.events[this.#cursor++];
      if ("packet" in ev) return ev.packet;
      throw new Error(`server sent bytes that do not parse: ${ev.parseError}`);
    }
    throw new Error("connection closed by the server");
  }

  /** Next packet, which must be of type cmd (other types are an error). */
  async expect<C extends Packet["cmd"]>(
    cmd: C,
    timeoutMs = 3_000,
  ): Promise<Extract<Packet, { cmd: C }>> {
    const p = await this.next(timeoutMs);
    if (p.cmd !== cmd) throw new Error(`expected ${cmd}, got ${JSON.stringify(p)}`);
    return p as Extract<Packet, { cmd: C }>;
  }

  /** Packets received but not yet consumed with next(), without waiting. */
  pending(): Packet[] {
    const out: Packet[] = [];
    for (const ev of this.events.slice(this.#cursor)) if ("packet" in ev) out.push(ev.packet);
    return out;
  }

  /**
   * Wait until the server closes the connection; returns the packets it sent before
   * (typically a DISCONNECT or an error CONNACK). Throws after timeoutMs.
   */
  async waitClosed(timeoutMs = 3_000): Promise<Packet[]> {
    await this.#waitFor(() => this.#closed, timeoutMs, "server to close the connection");
    const rest = this.pending();
    this.#cursor = this.events.length;
    return rest;
  }

  /** Destroy the socket. */
  close(): void {
    this.socket.destroy();
    this.#closed = true;
    this.#wake();
  }

  #push(ev: RawEvent): void {
    this.events.push(ev);
    this.#wake();
  }

  #wake(): void {
    this.#waiters.wake();
  }

  #waitFor(cond: () => boolean, timeoutMs: number, what = "a packet"): Promise<void> {
    return this.#waiters.waitFor(cond, timeoutMs, what);
  }
}

/** Encode a packet with mqtt-packet for a protocol version. */
export function encode(p: Packet, protocolVersion: 3 | 4 | 5 = 4): Uint8Array {
  return new Uint8Array(mqttPacket.generate(p, { protocolVersion }));
}

/** Encode an MQTT variable byte integer (remaining length). */
export function varInt(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/** An MQTT UTF-8 string field: 2-byte length then the bytes. */
export function mqttString(bytes: Uint8Array | string): number[] {
  const b = typeof bytes === "string" ? new TextEncoder().encode(bytes) : bytes;
  return [b.length >> 8, b.length & 0xff, ...b];
}

/** Build a packet from a first byte and a body, computing the remaining length. */
export function frame(firstByte: number, body: number[]): Uint8Array {
  return new Uint8Array([firstByte, ...varInt(body.length), ...body]);
}
