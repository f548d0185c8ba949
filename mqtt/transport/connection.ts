/**
 * One MQTT connection over a byte channel (a node:net/node:tls socket or a
 * WebSocket): frame guard on the way in, write batching and backpressure on
 * the way out.
 *
 * Writes are queued and flushed once per event-loop turn for all connections
 * together (one shared microtask), so the replies to all packets of one
 * received chunk, or a fan-out to many subscribers, become one socket write
 * per connection. Several queued packets are joined into one buffer (one copy
 * of usually small packets, one write call) rather than corked; a single
 * queued packet is passed on as is, without a copy.
 *
 * Overflow behaviour: when the bytes queued here plus the bytes the socket
 * still holds would exceed `maxWriteBufferBytes`, the connection is destroyed
 * as a slow consumer (logged at warn as `conn.slow-consumer`).
 *
 * @module
 */

import type { Logger } from "../../log/jsonLog.ts";
import { FrameGuard, type FrameSink } from "./frameGuard.ts";
import type {
  ClientCertificateInfo,
  ConnectionEvents,
  FrameError,
  FrameErrorKind,
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
  /** Peer address ("" when unknown); may cost a system call. */
  readonly remoteAddress: string;
  /** Peer port (0 when unknown). */
  readonly remotePort: number;
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

/** Per-listener state shared by all its connections (one object, not one per connection). */
export interface ConnectionContext {
  listener: ListenerKind;
  limits: TransportLimits;
  owner: ConnectionOwner;
  log: Logger;
  /** Counters this connection updates. */
  counters: ConnectionCounters;
}

/** Per-listener counters updated by connections. */
export interface ConnectionCounters {
  frameErrors: Record<FrameErrorKind, number>;
  slowConsumers: number;
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

// State bits, packed into one field to keep idle connections small.
const CONNECTED = 1;
const ENDING = 2;
const DESTROYED = 4;
const CLOSED = 8;
const PAUSED = 16;
const STOPPED_READING = 32;
const NEED_DRAIN = 64;
const IN_DIRTY_LIST = 128;
const FINISHED = ENDING | DESTROYED | CLOSED;

/**
 * An MQTT connection; see {@link MqttConnection}. It is also the sink of its
 * own frame guard (`framePacket` / `frameError`), which saves an object per
 * connection.
 */
export class Connection implements MqttConnection, FrameSink {
  readonly id: number;
  readonly clientCertificate: ClientCertificateInfo | null;
  /** The listener's key for this connection's connect deadline (the raw TCP socket). */
  readonly rawKey: object;

  readonly #ctx: ConnectionContext;
  readonly #channel: ByteChannel;
  readonly #guard: FrameGuard;
  #events: ConnectionEvents = NO_EVENTS;
  #state = 0;
  /** Writes of this turn; null while empty (idle connections hold no array). */
  #queue: Uint8Array[] | null = null;
  #queuedBytes = 0;
  #remoteAddress: string | undefined = undefined;
  #remotePort: number | undefined = undefined;

  constructor(
    ctx: ConnectionContext,
    channel: ByteChannel,
    rawKey: object,
    clientCertificate: ClientCertificateInfo | null,
  ) {
    this.id = nextConnectionId++;
    this.#ctx = ctx;
    this.#channel = channel;
    this.rawKey = rawKey;
    this.clientCertificate = clientCertificate;
    this.#guard = new FrameGuard(ctx.limits.maxPacketBytes, this);
  }

  get listener(): ListenerKind {
    return this.#ctx.listener;
  }

  /**
   * Looked up on first use: asking the OS for the peer name costs about 8%
   * of an accept in Deno, and many connections never need it. Read it before
   * the connection closes (afterwards it may be "").
   */
  get remoteAddress(): string {
    return this.#remoteAddress ??= this.#channel.remoteAddress;
  }

  /** See {@link remoteAddress}. */
  get remotePort(): number {
    return this.#remotePort ??= this.#channel.remotePort;
  }

  /** Installs the handler's callbacks (once, right after construction). */
  attach(events: ConnectionEvents): void {
    this.#events = events;
  }

  /** True once markConnected() was called. */
  get connected(): boolean {
    return (this.#state & CONNECTED) !== 0;
  }

  /** True once end() or destroy() was called, or the peer closed. */
  get closing(): boolean {
    return (this.#state & FINISHED) !== 0;
  }

  get bufferedBytes(): number {
    return this.#queuedBytes + this.#channel.pendingBytes;
  }

  /** Bytes received from the channel. */
  receive(chunk: Uint8Array): void {
    if ((this.#state & STOPPED_READING) !== 0) return;
    try {
      this.#guard.push(chunk);
    } catch (error) {
      // A session bug must not take the node down: drop this connection only.
      this.#ctx.log.error("conn.handler-error", {
        connId: this.id,
        remoteAddress: this.remoteAddress,
        error,
      });
      this.destroy();
    }
  }

  /** Frame guard sink: a whole packet. */
  framePacket(packet: Uint8Array): void {
    this.#events.onPacket(packet);
  }

  /** Frame guard sink: the inbound stream is unusable. */
  frameError(error: FrameError): void {
    this.#stopReading();
    this.#ctx.counters.frameErrors[error.kind]++;
    this.#ctx.log.debug("conn.frame-error", {
      connId: this.id,
      remoteAddress: this.remoteAddress,
      kind: error.kind,
      message: error.message,
    });
    try {
      this.#events.onFrameError(error);
    } catch (handlerError) {
      this.#ctx.log.error("conn.handler-error", {
        connId: this.id,
        event: "onFrameError",
        error: handlerError,
      });
    }
    if ((this.#state & ENDING) === 0) this.destroy();
  }

  write(packet: Uint8Array): boolean {
    if ((this.#state & FINISHED) !== 0) return false;
    const limits = this.#ctx.limits;
    const buffered = this.#queuedBytes + this.#channel.pendingBytes + packet.length;
    if (buffered > limits.maxWriteBufferBytes) {
      this.#ctx.counters.slowConsumers++;
      this.#ctx.log.warn("conn.slow-consumer", {
        connId: this.id,
        remoteAddress: this.remoteAddress,
        bufferedBytes: buffered,
        maxWriteBufferBytes: limits.maxWriteBufferBytes,
      });
      this.destroy();
      return false;
    }
    if (this.#queue === null) this.#queue = [packet];
    else this.#queue.push(packet);
    this.#queuedBytes += packet.length;
    if ((this.#state & IN_DIRTY_LIST) === 0) {
      this.#state |= IN_DIRTY_LIST;
      dirty.push(this);
      if (!flushScheduled) {
        flushScheduled = true;
        queueMicrotask(flushAll);
      }
    }
    if (buffered > limits.writeHighWaterMarkBytes) {
      this.#state |= NEED_DRAIN;
      return false;
    }
    return true;
  }

  /** Sends everything queued as one buffer. Called by the shared flush. */
  flush(): void {
    this.#state &= ~IN_DIRTY_LIST;
    const queue = this.#queue;
    if (queue === null || (this.#state & (DESTROYED | CLOSED)) !== 0) return;
    const bytes = queue.length === 1 ? queue[0] : joinBuffers(queue, this.#queuedBytes);
    this.#queue = null;
    this.#queuedBytes = 0;
    this.#channel.send(bytes, (this.#state & NEED_DRAIN) !== 0 ? this.#onWritten : undefined);
    if ((this.#state & ENDING) !== 0) this.#channel.end();
  }

  /** A fresh callback, created only while a drain is awaited (idle connections hold none). */
  get #onWritten(): () => void {
    return () => this.channelDrained();
  }

  /** The channel's buffer shrank (a write completed, or node 'drain'). */
  channelDrained(): void {
    if ((this.#state & NEED_DRAIN) === 0 || (this.#state & FINISHED) !== 0) return;
    if (this.#queuedBytes + this.#channel.pendingBytes > this.#ctx.limits.writeHighWaterMarkBytes) {
      return;
    }
    this.#state &= ~NEED_DRAIN;
    try {
      this.#events.onDrain();
    } catch (error) {
      this.#ctx.log.error("conn.handler-error", { connId: this.id, event: "onDrain", error });
      this.destroy();
    }
  }

  /** Stops reading and stops delivering at once, even mid-chunk (the rest is held until resume()). */
  pause(): void {
    if ((this.#state & PAUSED) !== 0) return;
    this.#state |= PAUSED;
    this.#guard.hold();
    if ((this.#state & STOPPED_READING) === 0) this.#channel.pauseReading();
  }

  resume(): void {
    if ((this.#state & PAUSED) === 0) return;
    this.#state &= ~PAUSED;
    if ((this.#state & STOPPED_READING) !== 0) return;
    this.#channel.resumeReading();
    try {
      this.#guard.release();
    } catch (error) {
      this.#ctx.log.error("conn.handler-error", { connId: this.id, event: "onPacket", error });
      this.destroy();
    }
  }

  markConnected(): void {
    if ((this.#state & CONNECTED) !== 0) return;
    this.#state |= CONNECTED;
    this.#ctx.owner.connected(this);
  }

  setMaxInboundPacketBytes(bytes: number): void {
    this.#guard.setMaxPacketBytes(bytes);
  }

  end(): void {
    if ((this.#state & FINISHED) !== 0) return;
    this.#state |= ENDING;
    this.#stopReading();
    // Keep reading (and discarding, see receive()) so the peer's FIN or
    // WebSocket close reply is seen and the socket closes without waiting
    // for the linger deadline.
    this.#channel.resumeReading();
    this.#ctx.owner.ending(this);
    // With writes queued, flush() ends the channel after sending them.
    if (this.#queue === null) this.#channel.end();
  }

  destroy(): void {
    if ((this.#state & (DESTROYED | CLOSED)) !== 0) return;
    this.#state |= DESTROYED;
    this.#stopReading();
    this.#queue = null;
    this.#queuedBytes = 0;
    this.#channel.destroy();
  }

  /** The connect deadline passed without markConnected(). */
  connectTimedOut(): void {
    if ((this.#state & (CONNECTED | FINISHED)) !== 0) return;
    this.frameError({
      kind: "connect-timeout",
      message: `no CONNECT accepted within connectTimeoutMs=${this.#ctx.limits.connectTimeoutMs}`,
    });
  }

  /** The channel closed (either side). Emits onClose exactly once. */
  channelClosed(): void {
    if ((this.#state & CLOSED) !== 0) return;
    this.#state |= CLOSED;
    this.#stopReading();
    this.#queue = null;
    this.#queuedBytes = 0;
    this.#ctx.owner.closed(this);
    const events = this.#events;
    this.#events = NO_EVENTS;
    try {
      events.onClose();
    } catch (error) {
      this.#ctx.log.error("conn.handler-error", { connId: this.id, event: "onClose", error });
    }
  }

  #stopReading(): void {
    if ((this.#state & STOPPED_READING) !== 0) return;
    this.#state |= STOPPED_READING;
    this.#guard.stop();
    if ((this.#state & PAUSED) === 0) this.#channel.pauseReading();
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
