/**
 * An {@link InboxStore} in memory: the reference semantics, and what the broker
 * uses for clean (transient) sessions so that session code is the same for
 * both kinds. Nothing survives the process.
 *
 * @module
 */
import type { ClientKey, SubscriptionOptions } from "../message.ts";
import { StoreClosedError } from "../sqlite/database.ts";
import {
  type AttachOptions,
  type EnqueueItem,
  type EnqueueResult,
  type InboxEntry,
  InboxLimitError,
  type InboxLimits,
  type InboxMeta,
  type InboxStore,
} from "./inboxStore.ts";
import {
  checkEnqueueItem,
  checkInt,
  checkKey,
  checkSessionExpiry,
  checkSubscription,
  detachedExpiresAtMs,
  keyString,
  messageExpired,
  resumable,
  validateInboxLimits,
} from "./inboxRules.ts";

interface MemInbox {
  readonly key: ClientKey;
  readonly incarnation: number;
  sessionExpirySeconds: number;
  expiresAtMs: number | null;
  readonly createdAtMs: number;
  readonly subscriptions: Map<string, SubscriptionOptions>;
  /** By seq; insertion order is seq order. */
  readonly messages: Map<number, InboxEntry>;
  lastSeq: number;
  readonly qos2: Set<number>;
}

/** In-memory inbox store; see the module docs. */
export class MemoryInboxStore implements InboxStore {
  readonly #limits: InboxLimits;
  readonly #inboxes = new Map<string, MemInbox>();
  #nextIncarnation = 1;
  #closed = false;

  /** Creates the instance; see the class docs for the options. */
  constructor(limits: InboxLimits) {
    validateInboxLimits(limits);
    this.#limits = { ...limits };
  }

  /** Number of inboxes held. */
  get size(): number {
    return this.#inboxes.size;
  }

  #check(): void {
    if (this.#closed) throw new StoreClosedError("memory inbox store");
  }

  #meta(b: MemInbox): InboxMeta {
    return {
      key: b.key,
      incarnation: b.incarnation,
      sessionExpirySeconds: b.sessionExpirySeconds,
      expiresAtMs: b.expiresAtMs,
      createdAtMs: b.createdAtMs,
      subscriptions: new Map(b.subscriptions),
      queuedCount: b.messages.size,
      lastSeq: b.lastSeq,
    };
  }

  #live(key: ClientKey, incarnation: number): MemInbox | undefined {
    const b = this.#inboxes.get(keyString(key));
    return b !== undefined && b.incarnation === incarnation ? b : undefined;
  }

  attach(key: ClientKey, options: AttachOptions): Promise<{ meta: InboxMeta; resumed: boolean }> {
    return run(() => {
      this.#check();
      checkKey(key);
      checkSessionExpiry(options.sessionExpirySeconds);
      const k = keyString(key);
      const b = this.#inboxes.get(k);
      if (b !== undefined && !options.cleanStart && resumable(b.expiresAtMs, options.nowMs)) {
        b.expiresAtMs = null;
        b.sessionExpirySeconds = options.sessionExpirySeconds;
        return { meta: this.#meta(b), resumed: true };
      }
      const fresh: MemInbox = {
        key: { tenant: key.tenant, clientId: key.clientId },
        incarnation: this.#nextIncarnation++,
        sessionExpirySeconds: options.sessionExpirySeconds,
        expiresAtMs: null,
        createdAtMs: options.nowMs,
        subscriptions: new Map(),
        messages: new Map(),
        lastSeq: 0,
        qos2: new Set(),
      };
      this.#inboxes.set(k, fresh);
      return { meta: this.#meta(fresh), resumed: false };
    });
  }

  detach(
    key: ClientKey,
    incarnation: number,
    sessionExpirySeconds: number,
    nowMs: number,
  ): Promise<void> {
    return run(() => {
      this.#check();
      checkSessionExpiry(sessionExpirySeconds);
      const b = this.#live(key, incarnation);
      if (b === undefined) return;
      if (sessionExpirySeconds === 0) {
        this.#inboxes.delete(keyString(key));
        return;
      }
      b.sessionExpirySeconds = sessionExpirySeconds;
      b.expiresAtMs = detachedExpiresAtMs(sessionExpirySeconds, nowMs);
    });
  }

  /** The inbox meta of `key`, or null. */
  get(key: ClientKey): Promise<InboxMeta | null> {
    return run(() => {
      this.#check();
      const b = this.#inboxes.get(keyString(key));
      return b === undefined ? null : this.#meta(b);
    });
  }

  delete(key: ClientKey, incarnation?: number): Promise<boolean> {
    return run(() => {
      this.#check();
      const k = keyString(key);
      const b = this.#inboxes.get(k);
      if (b === undefined || (incarnation !== undefined && b.incarnation !== incarnation)) {
        return false;
      }
      this.#inboxes.delete(k);
      return true;
    });
  }

  listExpired(nowMs: number, limit: number): Promise<{ key: ClientKey; incarnation: number }[]> {
    return run(() => {
      this.#check();
      checkInt("limit", limit, 0, Number.MAX_SAFE_INTEGER);
      const expired: MemInbox[] = [];
      for (const b of this.#inboxes.values()) {
        if (b.expiresAtMs !== null && b.expiresAtMs <= nowMs) expired.push(b);
      }
      // Same order as the SQLite store: expiry, then tenant, then client id.
      expired.sort((x, y) =>
        (x.expiresAtMs ?? 0) - (y.expiresAtMs ?? 0) ||
        cmp(x.key.tenant, y.key.tenant) || cmp(x.key.clientId, y.key.clientId)
      );
      return expired.slice(0, limit).map((b) => ({ key: b.key, incarnation: b.incarnation }));
    });
  }

  putSubscriptions(
    key: ClientKey,
    incarnation: number,
    subscriptions: readonly { filter: string; options: SubscriptionOptions }[],
  ): Promise<void> {
    return run(() => {
      this.#check();
      for (const s of subscriptions) checkSubscription(s.filter, s.options);
      const b = this.#live(key, incarnation);
      if (b === undefined) return;
      const added = new Set<string>();
      for (const s of subscriptions) if (!b.subscriptions.has(s.filter)) added.add(s.filter);
      if (b.subscriptions.size + added.size > this.#limits.maxSubscriptions) {
        throw new InboxLimitError("maxSubscriptions", this.#limits.maxSubscriptions);
      }
      for (const s of subscriptions) b.subscriptions.set(s.filter, s.options);
    });
  }

  /** Removes subscriptions (ignored for another incarnation). */
  removeSubscriptions(
    key: ClientKey,
    incarnation: number,
    filters: readonly string[],
  ): Promise<void> {
    return run(() => {
      this.#check();
      const b = this.#live(key, incarnation);
      if (b === undefined) return;
      for (const f of filters) b.subscriptions.delete(f);
    });
  }

  enqueue(items: readonly EnqueueItem[]): Promise<EnqueueResult[]> {
    return run(() => {
      this.#check();
      items.forEach(checkEnqueueItem);
      const max = this.#limits.maxQueuedMessages;
      return items.map((item): EnqueueResult => {
        const b = this.#live(item.key, item.incarnation);
        if (b === undefined) return { ok: false, reason: "no-inbox" };
        let evictedSeq: number | null = null;
        if (b.messages.size >= max) {
          purgeExpired(b, item.message.receivedAtMs);
        }
        if (b.messages.size >= max) {
          if (this.#limits.overflowPolicy === "drop-newest" || b.messages.size === 0) {
            return { ok: false, reason: "queue-full" };
          }
          const oldest = b.messages.keys().next();
          if (oldest.done === true) return { ok: false, reason: "queue-full" };
          b.messages.delete(oldest.value);
          evictedSeq = oldest.value;
        }
        const seq = ++b.lastSeq;
        b.messages.set(seq, {
          seq,
          message: item.message,
          qos: item.qos,
          retain: item.retain,
          subscriptionIds: [...item.subscriptionIds],
          state: "queued",
        });
        return { ok: true, seq, evictedSeq };
      });
    });
  }

  /** The inbox, unless a guard `incarnation` is given and differs. */
  #guarded(key: ClientKey, incarnation: number | undefined): MemInbox | undefined {
    const b = this.#inboxes.get(keyString(key));
    return incarnation === undefined || b?.incarnation === incarnation ? b : undefined;
  }

  read(
    key: ClientKey,
    afterSeq: number,
    maxCount: number,
    nowMs: number,
    incarnation?: number,
  ): Promise<InboxEntry[]> {
    return run(() => {
      this.#check();
      checkInt("maxCount", maxCount, 0, Number.MAX_SAFE_INTEGER);
      const b = this.#guarded(key, incarnation);
      if (b === undefined || maxCount === 0) return [];
      const out: InboxEntry[] = [];
      const expired: number[] = [];
      for (const e of b.messages.values()) {
        if (e.seq <= afterSeq) continue;
        if (e.state === "queued" && messageExpired(e.message.expiresAtMs, nowMs)) {
          expired.push(e.seq);
          continue;
        }
        out.push(e);
        if (out.length >= maxCount) break;
      }
      for (const s of expired) b.messages.delete(s);
      return out;
    });
  }

  markReleased(key: ClientKey, seq: number, incarnation?: number): Promise<void> {
    return run(() => {
      this.#check();
      const b = this.#guarded(key, incarnation);
      const e = b?.messages.get(seq);
      if (b !== undefined && e !== undefined) b.messages.set(seq, { ...e, state: "released" });
    });
  }

  remove(key: ClientKey, seqs: readonly number[], incarnation?: number): Promise<void> {
    return run(() => {
      this.#check();
      for (const seq of seqs) checkInt("seq", seq, 1, Number.MAX_SAFE_INTEGER);
      const b = this.#guarded(key, incarnation);
      if (b === undefined) return;
      for (const s of seqs) b.messages.delete(s);
    });
  }

  addIncomingQos2(key: ClientKey, packetId: number, incarnation?: number): Promise<boolean> {
    return run(() => {
      this.#check();
      checkInt("packetId", packetId, 1, 65535);
      const b = this.#inboxes.get(keyString(key));
      if (b === undefined) {
        throw new Error(
          `no inbox for client ${JSON.stringify(key.clientId)} of tenant ${
            JSON.stringify(key.tenant)
          }`,
        );
      }
      if (b.qos2.has(packetId)) return false;
      if (incarnation !== undefined && b.incarnation !== incarnation) return false;
      if (b.qos2.size >= this.#limits.maxIncomingQos2) {
        throw new InboxLimitError("maxIncomingQos2", this.#limits.maxIncomingQos2);
      }
      b.qos2.add(packetId);
      return true;
    });
  }

  removeIncomingQos2(key: ClientKey, packetId: number, incarnation?: number): Promise<void> {
    return run(() => {
      this.#check();
      this.#guarded(key, incarnation)?.qos2.delete(packetId);
    });
  }

  incomingQos2(key: ClientKey): Promise<number[]> {
    return run(() => {
      this.#check();
      const b = this.#inboxes.get(keyString(key));
      return b === undefined ? [] : [...b.qos2].sort((x, y) => x - y);
    });
  }

  /** Releases what the instance holds; further calls fail. */
  close(): Promise<void> {
    this.#closed = true;
    this.#inboxes.clear();
    return Promise.resolve();
  }
}

/** Drops queued messages expired at `nowMs` (only when the queue is full). */
function purgeExpired(b: MemInbox, nowMs: number): void {
  for (const e of [...b.messages.values()]) {
    if (e.state === "queued" && messageExpired(e.message.expiresAtMs, nowMs)) {
      b.messages.delete(e.seq);
    }
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Runs `body` now; its result or exception becomes a promise. */
function run<T>(body: () => T): Promise<T> {
  try {
    return Promise.resolve(body());
  } catch (err) {
    return Promise.reject(err);
  }
}
