/**
 * One MQTT connection over a byte channel (a node:net/node:tls socket or a
 * WebSocket): frame guard on the way in, write batching and backpressure on
 * the way out.
 *
 * Writes are queued and flushed once per event-loop turn for all connections
 * together (one shared microtask), so the replies to all packets of one
 * received chunk, or a fan-out to many subscribers, become one socket write
 * per connection. Several queued packets are joined into one buffer (one copy,
 * one write call) rather than corked, which Deno's node:net compat turns into
 * separate writes anyway.
 *
 * Overflow behaviour: when the bytes queued here plus the bytes the socket
 * still holds would exceed `maxWriteBufferBytes`, the connection is destroyed
 * as a slow consumer (logged at warn as `conn.slow-consumer`).
 *
 * @module
 */

import type { Logger } from "../../log/jsonLog.ts";
import { FrameGuard } from "./frameGuard.ts";
import type {
  ClientCertificateInfo,
  ConnectionEvents,
  FrameError,
  ListenerKind,
  MqttConnection,
  TransportLimits,
} from "./types.ts";

/** The socket underneath a {@link Connection}, adapted by each listener kind. */
export interface ByteChannel {
  /** Sends bytes; calls `onWritten` (if given) once they have left the process. */
  send(bytes: Uint8Array, onWritten?: () => void): void;
  /** Bytes accepted by send() but not yet written to the OS. */
  readonly pendingBytes: number;
  pauseReading(): void;
  resumeReading(): void;
  /** Graceful close after pending writes. */
  end(): void;
  /** Immediate close. */
  destroy(): void;
}

/** What the listener's connection-lifecycle bookkeeping needs to know. */
export interface ConnectionOwner {
  /** The connection called markConnected() (or closed): stop its connect timeout. */
  connected(conn: Connection): void;
  /** The connection called end(): destroy it if the peer has not closed within the linger time. */
  ending(conn: Connection): void;
  /** The connection closed. */
  closed(conn: Connection): void;
}

let nextConnectionId = 1;

/** Connections with queued writes, flushed together once per turn. */
let dirty: Connection[] = [];
let flushScheduled = false;

function flushAll(): void {
  flushScheduled = false;
  const batch = dirty;
  dirty = [];
  for (let i = 0; i < batch.length; i++) batch[i].flush();
}

const NO_EVENTS: ConnectionEvents = {
  onPacket() {},
  onFrameError() {},
  onDrain() {},
  onClose() {},
};

/** An MQTT connection; see {@link MqttConnection}. */
export class Connection implements MqttConnection {
  readonly id: number;
  readonly listener: ListenerKind;
  readonly remoteAddress: string;
  readonly remotePort: number;
  readonly clientCertificate: ClientCertificateInfo | null;
  /** Monotonic accept time (ms), for the connect-timeout sweep. */
  readonly acceptedAtMs: number;
  /** Time end() was called (ms), for the linger sweep; 0 when not ending. */
  endingSinceMs = 0;

  readonly #channel: ByteChannel;
  readonly #limits: TransportLimits;
  readonly #owner: ConnectionOwner;
  readonly #log: Logger;
  readonly #guard: FrameGuard;
  #events: ConnectionEvents = NO_EVENTS;

  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #inDirtyList = false;
  #needDrain = false;
  #connected = false;
  #ending = false;
  #destroyed = false;
  #closed = false;
  #paused = false;
  #stoppedReading = false;
  readonly #onWritten = (): void => this.#checkDrain();

  constructor(
    init: {
      listener: ListenerKind;
      remoteAddress: string;
      remotePort: number;
      clientCertificate: ClientCertificateInfo | null;
      nowMs: number;
    },
    channel: ByteChannel,
    limits: TransportLimits,
    owner: ConnectionOwner,
    log: Logger,
  ) {
    this.id = nextConnectionId++;
    this.listener = init.listener;
    this.remoteAddress = init.remoteAddress;
    this.remotePort = init.remotePort;
    this.clientCertificate = init.clientCertificate;
    this.acceptedAtMs = init.nowMs;
    this.#channel = channel;
    this.#limits = limits;
    this.#owner = owner;
    this.#log = log;
    this.#guard = new FrameGuard(limits.maxPacketBytes, {
      onPacket: (packet) => this.#events.onPacket(packet),
      onFrameError: (error) => this.#frameError(error),
    });
  }

  /** Installs the handler's callbacks (once, right after construction). */
  attach(events: ConnectionEvents): void {
    this.#events = events;
  }

  /** True once markConnected() was called. */
  get connected(): boolean {
    return this.#connected;
  }

  /** True once end() or destroy() was called, or the peer closed. */
  get closing(): boolean {
    return this.#ending || this.#destroyed || this.#closed;
  }

  get bufferedBytes(): number {
    return this.#queuedBytes + this.#channel.pendingBytes;
  }

  /** Bytes received from the channel. */
  receive(chunk: Uint8Array): void {
    if (this.#stoppedReading) return;
    try {
      this.#guard.push(chunk);
    } catch (error) {
      // A session bug must not take the node down: drop this connection only.
      this.#log.error("conn.handler-error", {
        connId: this.id,
        remoteAddress: this.remoteAddress,
        error,
      });
      this.destroy();
    }
  }

  write(packet: Uint8Array): boolean {
    if (this.#ending || this.#destroyed || this.#closed) return false;
    const buffered = this.#queuedBytes + this.#channel.pendingBytes + packet.length;
    if (buffered > this.#limits.maxWriteBufferBytes) {
      this.#log.warn("conn.slow-consumer", {
        connId: this.id,
        remoteAddress: this.remoteAddress,
        bufferedBytes: buffered,
        maxWriteBufferBytes: this.#limits.maxWriteBufferBytes,
      });
      this.destroy();
      return false;
    }
    this.#queue.push(packet);
    this.#queuedBytes += packet.length;
    if (!this.#inDirtyList) {
      this.#inDirtyList = true;
      dirty.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        queueMicrotask(flushAll);
      }
    }
    if (buffered > this.#limits.writeHighWaterMarkBytes) {
      this.#needDrain = true;
      return false;
    }
    return true;
  }

  /** Sends everything queued as one buffer. Called by the shared flush. */
  flush(): void {
    this.#inDirtyList = false;
    const queue = this.#queue;
    if (queue.length === 0 || this.#destroyed || this.#closed) return;
    const bytes = queue.length === 1 ? queue[0] : joinBuffers(queue, this.#queuedBytes);
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#channel.send(bytes, this.#needDrain ? this.#onWritten : undefined);
    if (this.#ending) this.#channel.end();
  }

  /** The channel's own buffer drained (e.g. node 'drain'). */
  channelDrained(): void {
    this.#checkDrain();
  }

  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    if (!this.#stoppedReading) this.#channel.pauseReading();
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (!this.#stoppedReading) this.#channel.resumeReading();
  }

  markConnected(): void {
    if (this.#connected) return;
    this.#connected = true;
    this.#owner.connected(this);
  }

  setMaxInboundPacketBytes(bytes: number): void {
    this.#guard.setMaxPacketBytes(bytes);
  }

  end(): void {
    if (this.#ending || this.#destroyed || this.#closed) return;
    this.#ending = true;
    this.#stopReading();
    this.#owner.ending(this);
    // With writes queued, flush() ends the channel after sending them.
    if (this.#queue.length === 0) this.#channel.end();
  }

  destroy(): void {
    if (this.#destroyed || this.#closed) return;
    this.#destroyed = true;
    this.#stopReading();
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#channel.destroy();
  }

  /** The connect deadline passed without markConnected(). */
  connectTimedOut(): void {
    if (this.#connected || this.closing) return;
    this.#frameError({
      kind: "connect-timeout",
      message: `no CONNECT accepted within connectTimeoutMs=${this.#limits.connectTimeoutMs}`,
    });
  }

  /** The channel closed (either side). Emits onClose exactly once. */
  channelClosed(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stopReading();
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#owner.closed(this);
    const events = this.#events;
    this.#events = NO_EVENTS;
    try {
      events.onClose();
    } catch (error) {
      this.#log.error("conn.handler-error", { connId: this.id, event: "onClose", error });
    }
  }

  #stopReading(): void {
    if (this.#stoppedReading) return;
    this.#stoppedReading = true;
    this.#guard.stop();
    if (!this.#paused) this.#channel.pauseReading();
  }

  #frameError(error: FrameError): void {
    this.#stopReading();
    this.#log.debug("conn.frame-error", {
      connId: this.id,
      remoteAddress: this.remoteAddress,
      kind: error.kind,
      message: error.message,
    });
    try {
      this.#events.onFrameError(error);
    } catch (handlerError) {
      this.#log.error("conn.handler-error", {
        connId: this.id,
        event: "onFrameError",
        error: handlerError,
      });
    }
    if (!this.#ending) this.destroy();
  }

  #checkDrain(): void {
    if (!this.#needDrain || this.closing) return;
    if (this.#queuedBytes + this.#channel.pendingBytes > this.#limits.writeHighWaterMarkBytes) {
      return;
    }
    this.#needDrain = false;
    try {
      this.#events.onDrain();
    } catch (error) {
      this.#log.error("conn.handler-error", { connId: this.id, event: "onDrain", error });
      this.destroy();
    }
  }
}

function joinBuffers(parts: Uint8Array[], totalBytes: number): Uint8Array {
  const out = new Uint8Array(totalBytes);
  let off = 0;
  for (let i = 0; i < parts.length; i++) {
    out.set(parts[i], off);
    off += parts[i].length;
  }
  return out;
}
