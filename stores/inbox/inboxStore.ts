/**
 * inbox: persistent sessions (cleanSession=false / session expiry > 0):
 * their subscriptions, expiry and queued messages in sequence order, with a
 * bounded queue and a documented drop policy. Local SQLite implementation;
 * the replicated one (base-kv) passes the same suite (`inboxStore.case.ts`).
 *
 * Writes resolve once durable and are batched: all calls made in one
 * event-loop turn share one transaction (one fsync).
 *
 * @module
 */
import type { ClientKey, QoS, StoredMessage, SubscriptionOptions } from "../message.ts";

/** Session expiry interval meaning "never expires" (MQTT 5: 0xFFFFFFFF). */
export const SESSION_NEVER_EXPIRES = 0xFFFFFFFF;

/** Metadata of one inbox. */
export interface InboxMeta {
  readonly key: ClientKey;
  /** Bumps whenever a clean start replaces the previous session of the key. */
  readonly incarnation: number;
  readonly sessionExpirySeconds: number;
  /** While detached: when the session expires (ms since epoch); null while attached or never expiring. */
  readonly expiresAtMs: number | null;
  readonly createdAtMs: number;
  /** Subscriptions by full filter (including any `$share/{group}/` prefix). */
  readonly subscriptions: ReadonlyMap<string, SubscriptionOptions>;
  /** Messages currently queued (all states). */
  readonly queuedCount: number;
  /** Highest sequence number assigned so far (0 if none). */
  readonly lastSeq: number;
}

/**
 * Delivery state of a queued message:
 * - `queued`: not yet acknowledged (may have been sent: resend with DUP);
 * - `released`: QoS 2 PUBREC received; a PUBREL (not the PUBLISH) is owed.
 */
export type InboxEntryState = "queued" | "released";

/** One queued message of an inbox. */
export interface InboxEntry {
  /** Sequence number, starting at 1, strictly increasing per inbox incarnation. */
  readonly seq: number;
  readonly message: StoredMessage;
  /** QoS to deliver with: min(published, granted). */
  readonly qos: QoS;
  /** RETAIN flag to deliver with. */
  readonly retain: boolean;
  /** v5 subscription identifiers of the matching subscriptions. */
  readonly subscriptionIds: readonly number[];
  readonly state: InboxEntryState;
}

/**
 * Packet identifier used to deliver the entry with sequence number `seq`.
 * Deriving it from the sequence number persists it for free; the session
 * must keep every in-flight seq within 65,535 of the oldest un-acknowledged
 * one so that identifiers never collide.
 */
export function packetIdForSeq(seq: number): number {
  return ((seq - 1) % 65535) + 1;
}

/** One message to append to one inbox. */
export interface EnqueueItem {
  readonly key: ClientKey;
  /** Only append if the inbox still has this incarnation. */
  readonly incarnation: number;
  readonly message: StoredMessage;
  readonly qos: QoS;
  readonly retain: boolean;
  readonly subscriptionIds: readonly number[];
}

/**
 * Outcome of one append:
 * - ok with its sequence number (and, under the drop-oldest policy, the seq it evicted);
 * - `no-inbox`: the inbox does not exist (or has another incarnation);
 * - `queue-full`: dropped under the drop-newest policy.
 */
export type EnqueueResult =
  | { readonly ok: true; readonly seq: number; readonly evictedSeq: number | null }
  | { readonly ok: false; readonly reason: "no-inbox" | "queue-full" };

/** What a full inbox drops. */
export type QueueOverflowPolicy = "drop-newest" | "drop-oldest";

/** Limits of the inbox store; each is a documented config field. */
export interface InboxLimits {
  /** Maximum queued messages per inbox. */
  readonly maxQueuedMessages: number;
  /** What a full inbox drops. */
  readonly overflowPolicy: QueueOverflowPolicy;
  /** Maximum subscriptions per inbox. */
  readonly maxSubscriptions: number;
  /** Maximum QoS 2 packet ids awaiting PUBREL per inbox (the receive maximum bounds it too). */
  readonly maxIncomingQos2: number;
}

/** Options of {@link InboxStore.attach}. */
export interface AttachOptions {
  /** Discard any existing session (and bump the incarnation). */
  readonly cleanStart: boolean;
  readonly sessionExpirySeconds: number;
  readonly nowMs: number;
}

/** Persistent sessions of all tenants. */
export interface InboxStore {
  /**
   * Attaches a connection: creates the inbox if absent or on clean start
   * (dropping the old one's subscriptions and messages), else resumes it.
   * Clears `expiresAtMs`.
   */
  attach(key: ClientKey, options: AttachOptions): Promise<{ meta: InboxMeta; resumed: boolean }>;
  /**
   * Detaches the connection: the inbox expires `sessionExpirySeconds` from
   * `nowMs` (deleted at once when 0). Ignored if the incarnation changed.
   */
  detach(
    key: ClientKey,
    incarnation: number,
    sessionExpirySeconds: number,
    nowMs: number,
  ): Promise<void>;
  get(key: ClientKey): Promise<InboxMeta | null>;
  /**
   * What `get(key)` would resolve with, when the store can answer without
   * waiting (no earlier call still queued); otherwise undefined (use `get`).
   * Optional: a store without it is always asked through `get`.
   */
  getNow?(key: ClientKey): InboxMeta | null | undefined;
  /** Deletes the inbox (if `incarnation` is given, only that incarnation). Returns whether it existed. */
  delete(key: ClientKey, incarnation?: number): Promise<boolean>;
  /** Inboxes whose expiry has passed, at most `limit`. */
  listExpired(nowMs: number, limit: number): Promise<{ key: ClientKey; incarnation: number }[]>;
  /** Adds or replaces subscriptions. Rejects with InboxLimitError past `maxSubscriptions`. */
  putSubscriptions(
    key: ClientKey,
    incarnation: number,
    subscriptions: readonly { filter: string; options: SubscriptionOptions }[],
  ): Promise<void>;
  removeSubscriptions(
    key: ClientKey,
    incarnation: number,
    filters: readonly string[],
  ): Promise<void>;
  /** Appends messages (any number of inboxes) in one durable batch; one result per item, in order. */
  enqueue(items: readonly EnqueueItem[]): Promise<EnqueueResult[]>;
  /**
   * Queued entries with seq > `afterSeq`, in order, at most `maxCount`.
   * Entries whose message expired by `nowMs` are skipped and removed.
   *
   * The trailing optional `incarnation` of this and the calls below (an
   * additive extension): when given and the inbox has another incarnation (a
   * stale connection after a takeover), nothing changes — read resolves [],
   * addIncomingQos2 false.
   */
  read(
    key: ClientKey,
    afterSeq: number,
    maxCount: number,
    nowMs: number,
    incarnation?: number,
  ): Promise<InboxEntry[]>;
  /** QoS 2: PUBREC received for `seq`; state becomes `released`. */
  markReleased(key: ClientKey, seq: number, incarnation?: number): Promise<void>;
  /** Removes acknowledged (or QoS 0 delivered) entries. */
  remove(key: ClientKey, seqs: readonly number[], incarnation?: number): Promise<void>;
  /**
   * Incoming QoS 2: records `packetId` as received-not-released. Resolves
   * false if it was already recorded (a duplicate PUBLISH: do not deliver again).
   */
  addIncomingQos2(key: ClientKey, packetId: number, incarnation?: number): Promise<boolean>;
  /** PUBREL received: forgets the packet id. */
  removeIncomingQos2(key: ClientKey, packetId: number, incarnation?: number): Promise<void>;
  /** Packet ids awaiting PUBREL (restored on resume). */
  incomingQos2(key: ClientKey): Promise<number[]>;
  close(): Promise<void>;
}

/** A per-inbox limit was hit; `limit` names the config field. */
export class InboxLimitError extends Error {
  constructor(readonly limit: keyof InboxLimits, readonly value: number) {
    super(`inbox limit ${limit}=${value} reached`);
    this.name = "InboxLimitError";
  }
}
