/**
 * Semantics shared by every retain implementation: limits, defaults, checks.
 *
 * @module
 */
import type { StoredMessage } from "../message.ts";
import { topicFilterError, topicNameError } from "../dist/topicValidation.ts";

/** Limits of a retain store; each is a documented config field. */
export interface RetainLimits {
  /**
   * Most retained topics per tenant. A retained PUBLISH to a new topic past it
   * is not stored (`set` returns "rejected-limit"; the message is still
   * delivered to subscribers). Expired messages are dropped first to make room.
   * Default 100,000.
   */
  readonly maxRetainedPerTenant: number;
}

/** Default retain limits (see {@link RetainLimits}). */
export function defaultRetainLimits(): RetainLimits {
  return { maxRetainedPerTenant: 100_000 };
}

/** Throws a RangeError naming the field when `limits` is malformed. */
export function validateRetainLimits(limits: RetainLimits): void {
  const v = limits.maxRetainedPerTenant;
  if (!Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(
      `retain limit maxRetainedPerTenant must be a non-negative integer, got ${v}`,
    );
  }
}

/** Throws when `message` cannot be retained (its topic is not a valid topic name). */
export function checkRetainedMessage(message: StoredMessage): void {
  const e = topicNameError(message.topic);
  if (e !== null) throw new RangeError(`cannot retain message: ${e}`);
  if (typeof message.tenant !== "string") {
    throw new TypeError(`cannot retain message: tenant is ${String(message.tenant)}`);
  }
}

/** Throws when `filter` is not a valid topic filter or `limit` is negative. */
export function checkMatchArgs(filter: string, limit: number): void {
  const e = topicFilterError(filter);
  if (e !== null) throw new RangeError(`cannot match retained messages: ${e}`);
  if (!Number.isSafeInteger(limit) || limit < 0) {
    throw new RangeError(`retained match limit must be a non-negative integer, got ${limit}`);
  }
}

/** Whether a retained message with this expiry is gone at `nowMs`. */
export function retainedExpired(expiresAtMs: number | null, nowMs: number): boolean {
  return expiresAtMs !== null && expiresAtMs <= nowMs;
}

/** Orders topics the same way in every implementation (UTF-16 code units). */
export function compareTopics(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
