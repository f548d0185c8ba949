/**
 * A growable byte buffer for encoding packets, and UTF-8 encoding helpers.
 *
 * @module
 */

const encoder = new TextEncoder();

/** UTF-8 bytes of `s` (ASCII fast path). */
export function utf8Encode(s: string): Uint8Array {
  const n = s.length;
  if (n <= 128) {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x80) return encoder.encode(s);
      out[i] = c;
    }
    return out;
  }
  return encoder.encode(s);
}

/** Appends bytes; grows by doubling. */
export class ByteWriter {
  private buf: Uint8Array;
  pos = 0;

  constructor(initialBytes = 64) {
    this.buf = new Uint8Array(initialBytes);
  }

  private ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  /** One byte. */
  u8(v: number): void {
    this.ensure(1);
    this.buf[this.pos++] = v;
  }

  /** Big-endian 16-bit. */
  u16(v: number): void {
    this.ensure(2);
    this.buf[this.pos++] = v >> 8;
    this.buf[this.pos++] = v & 0xff;
  }

  /** Big-endian 32-bit. */
  u32(v: number): void {
    this.ensure(4);
    this.buf[this.pos++] = (v >>> 24) & 0xff;
    this.buf[this.pos++] = (v >>> 16) & 0xff;
    this.buf[this.pos++] = (v >>> 8) & 0xff;
    this.buf[this.pos++] = v & 0xff;
  }

  /** Variable byte integer. */
  varint(v: number): void {
    do {
      let b = v % 128;
      v = Math.floor(v / 128);
      if (v > 0) b |= 0x80;
      this.u8(b);
    } while (v > 0);
  }

  /** Raw bytes. */
  raw(bytes: Uint8Array): void {
    this.ensure(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
  }

  /** Two-byte length prefix then the bytes. */
  bytes16(bytes: Uint8Array): void {
    this.u16(bytes.length);
    this.raw(bytes);
  }

  /** The written bytes (a view; the writer must not be reused). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

/** Writes a varint into `out` at `pos`; returns the position after it. */
export function putVarint(out: Uint8Array, pos: number, v: number): number {
  do {
    let b = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) b |= 0x80;
    out[pos++] = b;
  } while (v > 0);
  return pos;
}
