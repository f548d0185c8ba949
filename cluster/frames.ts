/**
 * Length-prefixed msgpack frames: a 4-byte big-endian length, then a msgpack value.
 * The decoder rejects a frame whose announced length exceeds its bound before
 * buffering it.
 *
 * @module
 */

import { decode, encode } from "@msgpack/msgpack";

/** Bytes of the length prefix. */
export const FRAME_PREFIX_BYTES = 4;

/** Raised when a peer violates the framing (oversized or undecodable frame). */
export class FrameError extends Error {
  override name = "FrameError";
}

/** Encodes `value` as one frame. */
export function encodeFrame(value: unknown): Uint8Array {
  const body = encode(value);
  const frame = new Uint8Array(FRAME_PREFIX_BYTES + body.byteLength);
  new DataView(frame.buffer).setUint32(0, body.byteLength);
  frame.set(body, FRAME_PREFIX_BYTES);
  return frame;
}

/** Incremental decoder of a byte stream into frame values. */
export class FrameDecoder {
  #chunks: Uint8Array[] = [];
  #buffered = 0;
  #maxFrameBytes: number;

  /** @param maxFrameBytes largest accepted frame body */
  constructor(maxFrameBytes: number) {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Changes the bound (e.g. after the handshake). */
  setMaxFrameBytes(maxFrameBytes: number): void {
    this.#maxFrameBytes = maxFrameBytes;
  }

  /** Appends bytes and returns every complete frame value; throws {@link FrameError}. */
  push(chunk: Uint8Array): unknown[] {
    if (chunk.byteLength > 0) {
      this.#chunks.push(chunk);
      this.#buffered += chunk.byteLength;
    }
    const values: unknown[] = [];
    while (this.#buffered >= FRAME_PREFIX_BYTES) {
      const prefix = this.#peek(FRAME_PREFIX_BYTES);
      const length = new DataView(prefix.buffer, prefix.byteOffset, 4).getUint32(0);
      if (length > this.#maxFrameBytes) {
        throw new FrameError(
          `frame of ${length} bytes exceeds the limit of ${this.#maxFrameBytes}`,
        );
      }
      if (this.#buffered < FRAME_PREFIX_BYTES + length) break;
      this.#consume(FRAME_PREFIX_BYTES);
      const body = this.#consume(length);
      try {
        values.push(decode(body));
      } catch (err) {
        throw new FrameError(`undecodable frame: ${(err as Error).message}`);
      }
    }
    return values;
  }

  #peek(n: number): Uint8Array {
    const first = this.#chunks[0];
    if (first.byteLength >= n) return first.subarray(0, n);
    const out = new Uint8Array(n);
    let offset = 0;
    for (const c of this.#chunks) {
      const take = Math.min(n - offset, c.byteLength);
      out.set(c.subarray(0, take), offset);
      offset += take;
      if (offset === n) break;
    }
    return out;
  }

  #consume(n: number): Uint8Array {
    const first = this.#chunks[0];
    if (first !== undefined && first.byteLength >= n) {
      const out = first.subarray(0, n);
      if (first.byteLength === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      this.#buffered -= n;
      return out;
    }
    const out = new Uint8Array(n);
    let offset = 0;
    while (offset < n) {
      const c = this.#chunks[0];
      const take = Math.min(n - offset, c.byteLength);
      out.set(c.subarray(0, take), offset);
      offset += take;
      if (take === c.byteLength) this.#chunks.shift();
      else this.#chunks[0] = c.subarray(take);
    }
    this.#buffered -= n;
    return out;
  }
}
