/**
 * CRC-32C (Castagnoli) checksums for stored log records. Table driven
 * (slicing-by-4); incremental, so a record's fields can be folded in one by
 * one without building a buffer.
 *
 * @module
 */

const POLY_REVERSED = 0x82f63b78;

function makeTables(): Uint32Array[] {
  const t0 = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ POLY_REVERSED : c >>> 1;
    t0[n] = c >>> 0;
  }
  const tables = [t0];
  for (let t = 1; t < 4; t++) {
    const prev = tables[t - 1];
    const next = new Uint32Array(256);
    for (let n = 0; n < 256; n++) next[n] = (prev[n] >>> 8) ^ t0[prev[n] & 0xff];
    tables.push(next);
  }
  return tables;
}

const [T0, T1, T2, T3] = makeTables();

/** The initial value to start an incremental checksum with. */
export const CRC32C_INIT = 0xffffffff;

/** Folds `bytes` into a running (non-finalized) CRC-32C state. */
export function crc32cUpdate(state: number, bytes: Uint8Array): number {
  let c = state >>> 0;
  let i = 0;
  const n = bytes.length;
  for (; i + 4 <= n; i += 4) {
    c ^= bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24);
    c = T3[c & 0xff] ^ T2[(c >>> 8) & 0xff] ^ T1[(c >>> 16) & 0xff] ^ T0[c >>> 24];
  }
  for (; i < n; i++) c = T0[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return c >>> 0;
}

/** Folds a 32-bit unsigned integer (little endian) into a running state. */
export function crc32cUpdateU32(state: number, value: number): number {
  let c = (state ^ value) >>> 0;
  c = T3[c & 0xff] ^ T2[(c >>> 8) & 0xff] ^ T1[(c >>> 16) & 0xff] ^ T0[c >>> 24];
  return c >>> 0;
}

/** Folds a non-negative safe integer (as two 32-bit words) into a running state. */
export function crc32cUpdateUint(state: number, value: number): number {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`crc32c: expected a non-negative safe integer, got ${value}`);
  }
  const lo = value % 0x1_0000_0000;
  const hi = Math.floor(value / 0x1_0000_0000);
  return crc32cUpdateU32(crc32cUpdateU32(state, lo), hi);
}

const encoder = new TextEncoder();

/** Folds a string (UTF-8, length-prefixed so field boundaries count) into a running state. */
export function crc32cUpdateString(state: number, value: string): number {
  const bytes = encoder.encode(value);
  return crc32cUpdate(crc32cUpdateU32(state, bytes.length), bytes);
}

/** Finalizes a running state into the CRC value. */
export function crc32cFinish(state: number): number {
  return (state ^ 0xffffffff) >>> 0;
}

/** CRC-32C of a whole byte array. */
export function crc32c(bytes: Uint8Array): number {
  return crc32cFinish(crc32cUpdate(CRC32C_INIT, bytes));
}
