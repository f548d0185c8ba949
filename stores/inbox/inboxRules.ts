/**
 * Semantics shared by every inbox implementation: default limits, argument
 * checks, and the small decisions (expiry time, resumability) that must come
 * out the same in memory, in SQLite and in base-kv.
 *
 * @module
 */
import type { ClientKey, SubscriptionOptions } from "../message.ts";
import { parseSharedFilter } from "../dist/topicValidation.ts";
import { type EnqueueItem, type InboxLimits, SESSION_NEVER_EXPIRES } from "./inboxStore.ts";
import { isQoS } from "../qos.ts";

/**
 * Default limits:
 * - `maxQueuedMessages` 1000: bounds memory/disk per offline client; past it
 *   the policy applies (raise for clients that go offline for long with high traffic);
 * - `overflowPolicy` "drop-newest": the queue keeps the oldest undelivered
 *   messages, the publisher gets a "quota exceeded"-style outcome;
 * - `maxSubscriptions` 100 per inbox;
 * - `maxIncomingQos2` 65535 (the packet id space; receive maximum bounds it further).
 */
export function defaultInboxLimits(): InboxLimits {
  return {
    maxQueuedMessages: 1000,
    overflowPolicy: "drop-newest",
    maxSubscriptions: 100,
    maxIncomingQos2: 65535,
  };
}

/** Throws a RangeError naming the field when `limits` is malformed. */
export function validateInboxLimits(limits: InboxLimits): void {
  for (const f of ["maxQueuedMessages", "maxSubscriptions", "maxIncomingQos2"] as const) {
    const v = limits[f];
    if (!Number.isSafeInteger(v) || v < 0) {
      throw new RangeError(`inbox limit ${f} must be a non-negative integer, got ${v}`);
    }
  }
  if (limits.overflowPolicy !== "drop-newest" && limits.overflowPolicy !== "drop-oldest") {
    throw new RangeError(
      `inbox limit overflowPolicy must be "drop-newest" or "drop-oldest", got ${
        JSON.stringify(limits.overflowPolicy)
      }`,
    );
  }
}

/** Throws when `key` is not two strings. */
export function checkKey(key: ClientKey): void {
  if (typeof key.tenant !== "string" || typeof key.clientId !== "string") {
    throw new TypeError(
      `client key must have string tenant and clientId, got ${JSON.stringify(key)}`,
    );
  }
  // U+0000 separates tenant and client id in receiver ids and cache keys.
  if (key.tenant.includes("\u0000")) {
    throw new RangeError(`tenant ${JSON.stringify(key.tenant)} contains U+0000`);
  }
}

/** Throws when `v` is not an integer within [min, max]. */
export function checkInt(what: string, v: number, min: number, max: number): void {
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new RangeError(`${what} must be an integer in ${min}..${max}, got ${v}`);
  }
}

/** Throws when the session expiry interval is out of range. */
export function checkSessionExpiry(seconds: number): void {
  checkInt("sessionExpirySeconds", seconds, 0, SESSION_NEVER_EXPIRES);
}

/** Throws when a subscription filter or its options are malformed. */
export function checkSubscription(filter: string, options: SubscriptionOptions): void {
  const parsed = parseSharedFilter(filter);
  if (!parsed.ok) throw new RangeError(`subscription filter rejected: ${parsed.error}`);
  if (options.qos !== 0 && options.qos !== 1 && options.qos !== 2) {
    throw new RangeError(`subscription ${JSON.stringify(filter)}: qos ${options.qos}`);
  }
}

/** When a detached session expires, or null if never. `seconds` > 0. */
export function detachedExpiresAtMs(seconds: number, nowMs: number): number | null {
  return seconds === SESSION_NEVER_EXPIRES ? null : nowMs + seconds * 1000;
}

/** Whether a stored session can be resumed at `nowMs` (not already past its expiry). */
export function resumable(expiresAtMs: number | null, nowMs: number): boolean {
  return expiresAtMs === null || expiresAtMs > nowMs;
}

/** Whether a message with this expiry has expired at `nowMs`. */
export function messageExpired(expiresAtMs: number | null, nowMs: number): boolean {
  return expiresAtMs !== null && expiresAtMs <= nowMs;
}

/** Map key of a client key (NUL cannot occur in a tenant name). */
export function keyString(key: ClientKey): string {
  return `${key.tenant}\u0000${key.clientId}`;
}

/** Throws when an enqueue item is malformed (checked before any item of the call is applied). */
export function checkEnqueueItem(item: EnqueueItem, index: number): void {
  const where = `enqueue item ${index} (client ${JSON.stringify(item.key?.clientId)})`;
  if (!isQoS(item.qos)) throw new RangeError(`${where}: qos ${String(item.qos)}`);
  if (!(item.message?.payload instanceof Uint8Array)) {
    throw new TypeError(`${where}: message payload is not a Uint8Array`);
  }
  if (!Number.isSafeInteger(item.incarnation)) {
    throw new RangeError(`${where}: incarnation ${item.incarnation}`);
  }
  for (const id of item.subscriptionIds) {
    if (!Number.isInteger(id) || id < 1 || id > 268435455) {
      throw new RangeError(`${where}: subscription id ${id} not in 1..268435455`);
    }
  }
}
