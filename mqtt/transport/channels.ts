/**
 * {@link ByteChannel} adapters: node:net / node:tls sockets and ws WebSockets.
 *
 * @module
 */

import type net from "node:net";
import type { RawData, WebSocket } from "ws";
import type { ByteChannel } from "./connection.ts";

/** {@link ByteChannel} over a node:net or node:tls socket. */
export class SocketChannel implements ByteChannel {
  readonly #socket: net.Socket;
  constructor(socket: net.Socket) {
    this.#socket = socket;
  }
  get remoteAddress(): string {
    return this.#socket.remoteAddress ?? "";
  }
  get remotePort(): number {
    return this.#socket.remotePort ?? 0;
  }
  send(bytes: Uint8Array, onWritten?: () => void): void {
    if (onWritten === undefined) this.#socket.write(bytes);
    else this.#socket.write(bytes, () => onWritten());
  }
  get pendingBytes(): number {
    return this.#socket.writableLength;
  }
  pauseReading(): void {
    this.#socket.pause();
  }
  resumeReading(): void {
    this.#socket.resume();
  }
  end(): void {
    this.#socket.end();
  }
  destroy(): void {
    this.#socket.destroy();
  }
}

/** {@link ByteChannel} over a ws WebSocket (one binary message per flush). */
export class WebSocketChannel implements ByteChannel {
  readonly #ws: WebSocket;
  readonly #socket: net.Socket;
  constructor(ws: WebSocket, socket: net.Socket) {
    this.#ws = ws;
    this.#socket = socket;
  }
  get remoteAddress(): string {
    return this.#socket.remoteAddress ?? "";
  }
  get remotePort(): number {
    return this.#socket.remotePort ?? 0;
  }
  send(bytes: Uint8Array, onWritten?: () => void): void {
    if (this.#ws.readyState !== this.#ws.OPEN) return;
    this.#ws.send(bytes, { binary: true }, onWritten === undefined ? undefined : () => onWritten());
  }
  get pendingBytes(): number {
    return this.#ws.bufferedAmount;
  }
  pauseReading(): void {
    this.#ws.pause();
  }
  resumeReading(): void {
    this.#ws.resume();
  }
  end(): void {
    this.#ws.close(1000);
  }
  destroy(): void {
    this.#ws.terminate();
  }
}

/** The bytes of a ws message, whatever form ws delivered them in. */
export function rawDataBytes(data: RawData): Uint8Array {
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  if (Array.isArray(data)) {
    const total = data.reduce((sum, part) => sum + part.length, 0);
    const out = new Uint8Array(total);
    let off = 0;
    for (const part of data) {
      out.set(part, off);
      off += part.length;
    }
    return out;
  }
  return data;
}
