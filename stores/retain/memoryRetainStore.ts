/**
 * A {@link RetainStore} in memory: the reference semantics, for tests and for
 * brokers that do not need retained messages to survive a restart.
 *
 * @module
 */
import type { StoredMessage } from "../message.ts";
import { StoreClosedError } from "../sqlite/database.ts";
import { TopicTrie } from "../dist/topicTrie.ts";
import type { RetainSetResult, RetainStore } from "./retainStore.ts";
import {
  checkMatchArgs,
  checkRetainedMessage,
  compareTopics,
  retainedExpired,
  type RetainLimits,
  validateRetainLimits,
} from "./retainRules.ts";

/** In-memory retain store; see the module docs. */
export class MemoryRetainStore implements RetainStore {
  readonly #limits: RetainLimits;
  readonly #tenants = new Map<string, TopicTrie<StoredMessage>>();
  #closed = false;

  /** Creates the instance; see the class docs for the options. */
  constructor(limits: RetainLimits) {
    validateRetainLimits(limits);
    this.#limits = { ...limits };
  }

  set(message: StoredMessage): Promise<RetainSetResult> {
    try {
      if (this.#closed) throw new StoreClosedError("memory retain store");
      checkRetainedMessage(message);
      let trie = this.#tenants.get(message.tenant);
      if (message.payload.length === 0) {
        trie?.delete(message.topic);
        if (trie?.isEmpty()) this.#tenants.delete(message.tenant);
        return Promise.resolve("deleted");
      }
      if (trie === undefined) {
        trie = new TopicTrie();
        this.#tenants.set(message.tenant, trie);
      }
      if (trie.get(message.topic) !== undefined) {
        trie.set(message.topic, message);
        return Promise.resolve("replaced");
      }
      if (trie.size >= this.#limits.maxRetainedPerTenant) {
        purgeExpiredOf(trie, message.receivedAtMs);
        if (trie.size >= this.#limits.maxRetainedPerTenant) {
          if (trie.isEmpty()) this.#tenants.delete(message.tenant);
          return Promise.resolve("rejected-limit");
        }
      }
      trie.set(message.topic, message);
      return Promise.resolve("stored");
    } catch (err) {
      return Promise.reject(err);
    }
  }

  match(tenant: string, filter: string, nowMs: number, limit: number): Promise<StoredMessage[]> {
    try {
      if (this.#closed) throw new StoreClosedError("memory retain store");
      checkMatchArgs(filter, limit);
      const out: StoredMessage[] = [];
      this.#tenants.get(tenant)?.forEachTopicMatching(filter, (m) => {
        if (!retainedExpired(m.expiresAtMs, nowMs)) out.push(m);
      });
      out.sort((a, b) => compareTopics(a.topic, b.topic));
      return Promise.resolve(out.slice(0, limit));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  count(tenant: string): number {
    return this.#tenants.get(tenant)?.size ?? 0;
  }

  /** Deletes up to `limit` messages expired at `nowMs`, earliest expiry first; returns how many. */
  purgeExpired(nowMs: number, limit: number): Promise<number> {
    if (!Number.isSafeInteger(limit) || limit < 0) {
      return Promise.reject(
        new RangeError(`purge limit must be a non-negative integer, got ${limit}`),
      );
    }
    const expired: StoredMessage[] = [];
    for (const trie of this.#tenants.values()) {
      trie.forEach((m) => {
        if (retainedExpired(m.expiresAtMs, nowMs)) expired.push(m);
      });
    }
    expired.sort((a, b) => (a.expiresAtMs ?? 0) - (b.expiresAtMs ?? 0));
    const victims = expired.slice(0, limit);
    for (const m of victims) {
      const trie = this.#tenants.get(m.tenant);
      trie?.delete(m.topic);
      if (trie?.isEmpty()) this.#tenants.delete(m.tenant);
    }
    return Promise.resolve(victims.length);
  }

  /** Releases what the instance holds; further calls fail. */
  close(): Promise<void> {
    this.#closed = true;
    this.#tenants.clear();
    return Promise.resolve();
  }
}

function purgeExpiredOf(trie: TopicTrie<StoredMessage>, nowMs: number): number {
  const expired: string[] = [];
  trie.forEach((m) => {
    if (retainedExpired(m.expiresAtMs, nowMs)) expired.push(m.topic);
  });
  for (const t of expired) trie.delete(t);
  return expired.length;
}
