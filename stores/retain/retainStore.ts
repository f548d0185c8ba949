/**
 * retain: the last retained message per (tenant, topic). Local SQLite
 * implementation with an in-memory index; replicated one later, same suite
 * (`retainStore.case.ts`).
 *
 * @module
 */
import type { StoredMessage } from "../message.ts";

/** What a `set` did. */
export type RetainSetResult = "stored" | "replaced" | "deleted" | "rejected-limit";

/** Retained messages of all tenants. */
export interface RetainStore {
  /**
   * Stores `message` as the retained message of its topic, replacing any other;
   * an empty payload deletes it. Resolves once durable. Returns
   * "rejected-limit" (and stores nothing) when the tenant is at its limit of
   * retained topics and the topic is new.
   */
  set(message: StoredMessage): Promise<RetainSetResult>;
  /**
   * Retained messages whose topic matches `filter` (wildcards allowed; `$`
   * topics not matched by a leading wildcard), expired ones excluded, at most
   * `limit`, in topic order.
   */
  match(tenant: string, filter: string, nowMs: number, limit: number): Promise<StoredMessage[]>;
  /** Number of retained topics of a tenant (expired ones included until purged). */
  count(tenant: string): number;
  /**
   * Optional: deletes up to `limit` messages expired at `nowMs` (earliest
   * expiry first) and resolves with how many. Call it periodically so expired
   * messages stop counting against `maxRetainedPerTenant` and using disk.
   */
  purgeExpired?(nowMs: number, limit: number): Promise<number>;
  close(): Promise<void>;
}
