/**
 * A bounds-checked cursor over one received packet, and strict UTF-8 string
 * decoding (invalid UTF-8 and U+0000 rejected, MQTT §1.5.4).
 *
 * @module
 */
import { MqttProtocolError, ReasonCode } from "./types.ts";

const strictDecoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Decodes `bytes[start, end)` as an MQTT UTF-8 string. Throws
 * {@link MqttProtocolError} 0x81 on invalid UTF-8 or U+0000. ASCII strings
 * (the common case for topics) avoid TextDecoder.
 */
export function decodeMqttString(bytes: Uint8Array, start: number, end: number): string {
  let ascii = true;
  for (let i = start; i < end; i++) {
    const b = bytes[i];
    if (b === 0) {
      throw new MqttProtocolError(ReasonCode.MALFORMED_PACKET, "string contains U+0000");
    }
    if (b >= 0x80) ascii = false;
  }
  if (ascii && end - start <= 256) {
    return String.fromCharCode.apply(null, bytes.subarray(start, end) as unknown as number[]);
  }
  try {
    return strictDecoder.decode(bytes.subarray(start, end));
  } catch {
    throw new MqttProtocolError(ReasonCode.MALFORMED_PACKET, "string is not valid UTF-8");
  }
}

function truncated(what: string): MqttProtocolError {
  return new MqttProtocolError(ReasonCode.MALFORMED_PACKET, `packet too short: truncated ${what}`);
}

/** Cursor over `buf[pos, end)`. Every read checks bounds (0x81 when short). */
export class ByteReader {
  constructor(public buf: Uint8Array, public pos: number, public end: number) {}

  /** Bytes left. */
  get remaining(): number {
    return this.end - this.pos;
  }

  /** One byte. */
  u8(): number {
    if (this.pos + 1 > this.end) throw truncated("byte");
    return this.buf[this.pos++];
  }

  /** Big-endian 16-bit integer. */
  u16(): number {
    if (this.pos + 2 > this.end) throw truncated("two-byte integer");
    const v = (this.buf[this.pos] << 8) | this.buf[this.pos + 1];
    this.pos += 2;
    return v;
  }

  /** Big-endian 32-bit unsigned integer. */
  u32(): number {
    if (this.pos + 4 > this.end) throw truncated("four-byte integer");
    const b = this.buf;
    const p = this.pos;
    this.pos += 4;
    return ((b[p] << 24) >>> 0) + (b[p + 1] << 16) + (b[p + 2] << 8) + b[p + 3];
  }

  /** Variable byte integer (1–4 bytes). */
  varint(): number {
    let value = 0;
    let mult = 1;
    for (let i = 0; i < 4; i++) {
      const b = this.u8();
      value += (b & 0x7f) * mult;
      if ((b & 0x80) === 0) return value;
      mult *= 128;
    }
    throw new MqttProtocolError(
      ReasonCode.MALFORMED_PACKET,
      "variable byte integer longer than 4 bytes",
    );
  }

  /** Length-prefixed UTF-8 string. */
  string(): string {
    const len = this.u16();
    if (this.pos + len > this.end) throw truncated(`string of ${len} bytes`);
    const s = decodeMqttString(this.buf, this.pos, this.pos + len);
    this.pos += len;
    return s;
  }

  /** Length-prefixed binary data (a copy, safe to keep). */
  binary(): Uint8Array {
    const len = this.u16();
    if (this.pos + len > this.end) throw truncated(`binary data of ${len} bytes`);
    const v = this.buf.slice(this.pos, this.pos + len);
    this.pos += len;
    return v;
  }
}
