/**
 * Narrowing helpers for the small integer enums stored in rows.
 *
 * @module
 */
import type { QoS } from "./message.ts";

/** Whether `v` is a QoS level (0, 1 or 2). */
export function isQoS(v: unknown): v is QoS {
  return v === 0 || v === 1 || v === 2;
}

/** Whether `v` is a retain-handling option (0, 1 or 2). */
export function isRetainHandling(v: unknown): v is 0 | 1 | 2 {
  return v === 0 || v === 1 || v === 2;
}
