/**
 * The frame guard: an incremental splitter that cuts an MQTT byte stream into
 * whole packets before the codec sees them.
 *
 * It reads the fixed header (one type byte and a variable-length remaining
 * length of at most 4 bytes) and checks `1 + lengthBytes + remainingLength`
 * against the maximum packet size BEFORE it buffers any byte of the body, so a
 * client that declares 200 MiB and then stays silent costs nothing.
 *
 * A packet that lies within one received chunk is delivered as a zero-copy
 * view (`subarray`) into that chunk. A packet spread over several chunks is
 * reassembled in a buffer that grows geometrically with the bytes actually
 * received (at most twice the received bytes, never more than the declared
 * packet size), so memory per connection stays bounded by `maxPacketBytes`
 * and by what the client really sent.
 *
 * @module
 */

import type { FrameError } from "./types.ts";

/** Largest remaining length MQTT can encode in 4 bytes (256 MiB - 1). */
export const MAX_REMAINING_LENGTH = 268_435_455;

/** Smallest reassembly buffer allocated for a packet that spans chunks. */
const MIN_REASSEMBLY_BYTES = 4096;

/** Where the frame guard delivers packets and errors. */
export interface FrameSink {
  /** One whole packet (possibly a view into the pushed chunk). */
  framePacket(packet: Uint8Array): void;
  /** The single frame error; the guard has stopped. */
  frameError(error: FrameError): void;
}

/**
 * Splits chunks into MQTT packets. After a frame error (or {@link stop}) it
 * ignores all further input. A sink callback may call hold(), release(),
 * stop(), or push() (which then queues the chunk behind the current one).
 */
export class FrameGuard {
  #maxPacketBytes: number;
  readonly #sink: FrameSink;
  #stopped = false;

  /** Header bytes of a packet whose fixed header spans chunks (at most 5); allocated only then. */
  #header: Uint8Array | null = null;
  #headerBytes = 0;

  /** Reassembly of a packet whose body spans chunks. */
  #reassembly: Uint8Array | null = null;
  #reassembledBytes = 0;
  #reassemblyTotalBytes = 0;

  /** Set by #parseHeader: remaining length of the header just parsed. */
  #parsedRemaining = 0;

  /** hold() was called and release() not yet. */
  #holding = false;
  /** Inside #deliverChunk (a sink callback may call hold/release/push). */
  #delivering = false;
  /** Chunks (or the rest of one) waiting while held; null when none. */
  #held: Uint8Array[] | null = null;

  /**
   * @param maxPacketBytes largest packet accepted, fixed header included (>= 2).
   * @param sink receives packets and the (single) frame error.
   */
  constructor(maxPacketBytes: number, sink: FrameSink) {
    checkMaxPacketBytes(maxPacketBytes);
    this.#maxPacketBytes = maxPacketBytes;
    this.#sink = sink;
  }

  /** The current maximum packet size. */
  get maxPacketBytes(): number {
    return this.#maxPacketBytes;
  }

  /** True after a frame error or {@link stop}. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** Bytes currently buffered for an incomplete packet (header or body), not counting held chunks. */
  get bufferedBytes(): number {
    return this.#reassembly !== null ? this.#reassembly.length : this.#headerBytes;
  }

  /** Bytes received but held back by {@link hold}. */
  get heldBytes(): number {
    let total = 0;
    for (const c of this.#held ?? []) total += c.length;
    return total;
  }

  /** Lowers (never raises) the maximum packet size. Applies to packets whose header is not yet complete. */
  setMaxPacketBytes(bytes: number): void {
    checkMaxPacketBytes(bytes);
    if (bytes < this.#maxPacketBytes) this.#maxPacketBytes = bytes;
  }

  /** Stops delivery and drops any partial packet. */
  stop(): void {
    this.#stopped = true;
    this.#reassembly = null;
    this.#header = null;
    this.#headerBytes = 0;
    this.#held = null;
  }

  /**
   * Feeds one received chunk. The chunk must not be mutated afterwards
   * (packets may be views into it). While held (see {@link hold}) the chunk
   * is queued, not parsed.
   */
  push(chunk: Uint8Array): void {
    if (this.#stopped) return;
    if (this.#holding || this.#delivering || this.#held !== null) {
      (this.#held ??= []).push(chunk);
      if (!this.#holding && !this.#delivering) this.#drainHeld();
      return;
    }
    this.#deliverChunk(chunk);
    if (this.#held !== null && !this.#holding) this.#drainHeld();
  }

  /**
   * Stops delivering packets, also in the middle of a chunk: the rest of the
   * chunk and later chunks are kept (as views, no copy) until {@link release}.
   * Bounded by what the socket had already read when the caller paused it.
   */
  hold(): void {
    this.#holding = true;
  }

  /** Delivers what was held, then continues normally. Safe to call from a sink callback. */
  release(): void {
    this.#holding = false;
    if (!this.#delivering) this.#drainHeld();
  }

  #drainHeld(): void {
    while (!this.#holding && !this.#stopped && this.#held !== null) {
      const next = this.#held.shift() as Uint8Array;
      if (this.#held.length === 0) this.#held = null;
      this.#deliverChunk(next);
    }
  }

  #deliverChunk(chunk: Uint8Array): void {
    this.#delivering = true;
    try {
      this.#splitChunk(chunk);
    } finally {
      this.#delivering = false;
    }
  }

  #splitChunk(chunk: Uint8Array): void {
    const n = chunk.length;
    let off = 0;
    if (this.#reassembly !== null) {
      off = this.#continueReassembly(chunk);
      if (off < 0) return;
    } else if (this.#headerBytes > 0) {
      off = this.#continueHeader(chunk);
      if (off < 0) return;
    }
    while (off < n && !this.#stopped) {
      if (this.#holding) {
        // Keep the rest, ahead of anything pushed meanwhile.
        (this.#held ??= []).unshift(chunk.subarray(off));
        return;
      }
      const start = off;
      const headerLen = this.#parseHeader(chunk, start, n);
      if (headerLen === HEADER_INCOMPLETE) {
        this.#header = new Uint8Array(5);
        this.#header.set(chunk.subarray(start, n));
        this.#headerBytes = n - start;
        return;
      }
      if (headerLen === HEADER_MALFORMED) {
        this.#fail(malformed(chunk[start]));
        return;
      }
      const total = headerLen + this.#parsedRemaining;
      if (total > this.#maxPacketBytes) {
        this.#fail(tooLarge(chunk[start], total, this.#maxPacketBytes));
        return;
      }
      if (n - start >= total) {
        off = start + total;
        this.#sink.framePacket(chunk.subarray(start, off));
        continue;
      }
      this.#startReassembly(total, chunk.subarray(start, n));
      return;
    }
  }

  /** Parses a fixed header at chunk[start..end). Returns its length, or a HEADER_* code. */
  #parseHeader(bytes: Uint8Array, start: number, end: number): number {
    let remaining = 0;
    let multiplier = 1;
    for (let i = 1; i <= 4; i++) {
      const at = start + i;
      if (at >= end) return HEADER_INCOMPLETE;
      const b = bytes[at];
      remaining += (b & 0x7f) * multiplier;
      if ((b & 0x80) === 0) {
        this.#parsedRemaining = remaining;
        return i + 1;
      }
      multiplier *= 128;
    }
    return HEADER_MALFORMED;
  }

  /** Completes a header that began in an earlier chunk. Returns the offset reached in chunk, or -1 when done with it. */
  #continueHeader(chunk: Uint8Array): number {
    const n = chunk.length;
    const header = this.#header as Uint8Array;
    let off = 0;
    // The header needs at most 5 bytes; take them one at a time.
    while (off < n) {
      header[this.#headerBytes++] = chunk[off++];
      const headerLen = this.#parseHeader(header, 0, this.#headerBytes);
      if (headerLen === HEADER_INCOMPLETE) continue; // 5 bytes always decide
      const type = header[0];
      this.#headerBytes = 0;
      this.#header = null;
      if (headerLen === HEADER_MALFORMED) {
        this.#fail(malformed(type));
        return -1;
      }
      const total = headerLen + this.#parsedRemaining;
      if (total > this.#maxPacketBytes) {
        this.#fail(tooLarge(type, total, this.#maxPacketBytes));
        return -1;
      }
      const bodyInChunk = Math.min(total - headerLen, n - off);
      if (bodyInChunk === total - headerLen) {
        // Whole packet available now: one copy of header + body.
        const packet = new Uint8Array(total);
        packet.set(header.subarray(0, headerLen));
        packet.set(chunk.subarray(off, off + bodyInChunk), headerLen);
        this.#sink.framePacket(packet);
        return off + bodyInChunk;
      }
      this.#startReassembly(total, header.subarray(0, headerLen));
      this.#continueReassembly(chunk.subarray(off)); // uses up the chunk
      return -1;
    }
    return -1;
  }

  #startReassembly(totalBytes: number, firstBytes: Uint8Array): void {
    const capacity = Math.min(totalBytes, Math.max(MIN_REASSEMBLY_BYTES, 2 * firstBytes.length));
    const buf = new Uint8Array(capacity);
    buf.set(firstBytes);
    this.#reassembly = buf;
    this.#reassembledBytes = firstBytes.length;
    this.#reassemblyTotalBytes = totalBytes;
  }

  /** Appends to the packet being reassembled. Returns the offset in chunk after it, or -1 when the chunk is used up. */
  #continueReassembly(chunk: Uint8Array): number {
    let buf = this.#reassembly as Uint8Array;
    const missing = this.#reassemblyTotalBytes - this.#reassembledBytes;
    const take = Math.min(missing, chunk.length);
    const needed = this.#reassembledBytes + take;
    if (needed > buf.length) {
      const grown = new Uint8Array(
        Math.min(this.#reassemblyTotalBytes, Math.max(needed, 2 * buf.length)),
      );
      grown.set(buf.subarray(0, this.#reassembledBytes));
      buf = grown;
      this.#reassembly = grown;
    }
    buf.set(chunk.subarray(0, take), this.#reassembledBytes);
    this.#reassembledBytes = needed;
    if (needed < this.#reassemblyTotalBytes) return -1;
    this.#reassembly = null;
    this.#reassembledBytes = 0;
    this.#sink.framePacket(buf);
    return take < chunk.length ? take : -1;
  }

  #fail(error: FrameError): void {
    this.stop();
    this.#sink.frameError(error);
  }
}

const HEADER_INCOMPLETE = -1;
const HEADER_MALFORMED = -2;

function checkMaxPacketBytes(bytes: number): void {
  if (!Number.isInteger(bytes) || bytes < 2) {
    throw new RangeError(`maxPacketBytes must be an integer >= 2, got ${bytes}`);
  }
}

function malformed(firstByte: number): FrameError {
  const packetType = firstByte >> 4;
  return {
    kind: "malformed-remaining-length",
    message: `remaining length of packet type ${packetType} continues past 4 bytes ` +
      `(MQTT allows at most 4 length bytes)`,
    packetType,
  };
}

function tooLarge(firstByte: number, declaredBytes: number, maxBytes: number): FrameError {
  const packetType = firstByte >> 4;
  return {
    kind: "packet-too-large",
    message: `packet type ${packetType} declares ${declaredBytes} bytes, ` +
      `more than the maximum packet size ${maxBytes}`,
    packetType,
    declaredBytes,
  };
}
