/**
 * A raw MQTT-over-WebSocket client (Deno's WebSocket) for tests that control WS
 * frames: several packets in one frame, one packet split across frames, text frames.
 *
 * @module
 */

import mqttPacket from "mqtt-packet";
import type { Packet } from "mqtt-packet";
import { Buffer } from "node:buffer";
import { Waiters } from "./waiters.ts";

/** A raw WebSocket connection speaking MQTT in binary frames. */
export class WsRaw {
  readonly packets: Packet[] = [];
  readonly parseErrors: string[] = [];
  #cursor = 0;
  #closed = false;
  #waiters = new Waiters();
  #closedPromise: Promise<void>;

  private constructor(readonly ws: WebSocket, protocolVersion: 4 | 5) {
    const parser = mqttPacket.parser({ protocolVersion });
    parser.on("packet", (p: Packet) => {
      this.packets.push(p);
      this.#wake();
    });
    parser.on("error", (e: Error) => {
      this.parseErrors.push(e.message);
      this.#wake();
    });
    ws.binaryType = "arraybuffer";
    ws.onmessage = (ev) => {
      if (ev.data instanceof ArrayBuffer) parser.parse(Buffer.from(ev.data));
    };
    this.#closedPromise = new Promise<void>((resolve) => {
      ws.onclose = () => {
        this.#closed = true;
        this.#wake();
        resolve();
      };
    });
    ws.onerror = () => {};
  }

  /**
   * Open ws://127.0.0.1:port/path offering the given subprotocols; rejects when the
   * handshake fails (e.g. wrong path) within timeoutMs.
   */
  static open(
    port: number,
    opts: { path?: string; protocols?: string[]; protocolVersion?: 4 | 5; timeoutMs?: number } = {},
  ): Promise<WsRaw> {
    const ws = new WebSocket(
      `ws://127.0.0.1:${port}${opts.path ?? "/mqtt"}`,
      opts.protocols ?? ["mqtt"],
    );
    const raw = new WsRaw(ws, opts.protocolVersion ?? 4);
    return new Promise<WsRaw>((resolve, reject) => {
      const t = setTimeout(() => {
        ws.close();
        raw.#closedPromise.then(() => reject(new Error("WebSocket handshake timed out")));
      }, opts.timeoutMs ?? 3000);
      ws.onopen = () => {
        clearTimeout(t);
        resolve(raw);
      };
      raw.#closedPromise.then(() => {
        clearTimeout(t);
        reject(new Error("WebSocket closed during the handshake"));
      });
    });
  }

  /** True once the connection is closed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Send bytes as one binary frame. */
  send(bytes: Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(bytes);
  }

  /** Next packet; throws on timeout or close. */
  async next(timeoutMs = 3000): Promise<Packet> {
    await this.#waitFor(
      () => this.packets.length > this.#cursor || this.#closed,
      timeoutMs,
      "a packet",
    );
    if (this.packets.length > this.#cursor) return this.packets[this.#cursor++];
    throw new Error("WebSocket closed by the server");
  }

  /** Wait until the server closes; throws after timeoutMs. */
  async waitClosed(timeoutMs = 3000): Promise<void> {
    await this.#waitFor(() => this.#closed, timeoutMs, "the server to close");
  }

  /** Close from our side and wait for the close to complete (bounded). */
  async close(): Promise<void> {
    if (!this.#closed) {
      try {
        this.ws.close();
      } catch { /* closing */ }
    }
    let t: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#closedPromise, new Promise((r) => t = setTimeout(r, 3000))]);
    clearTimeout(t);
  }

  #wake(): void {
    this.#waiters.wake();
  }

  #waitFor(cond: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return this.#waiters.waitFor(cond, timeoutMs, what);
  }
}
