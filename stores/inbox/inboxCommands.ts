/**
 * The inbox state machine: SQLite schema and deterministic commands. Time
 * arrives inside the commands (`nowMs`, a message's `receivedAtMs`); `apply`
 * reads no clock. This is what base-kv replicates later; the local store runs
 * it through a {@link BatchWriter}.
 *
 * A per-inbox cache of meta (incarnation, lastSeq, queuedCount, ...) spares
 * enqueue any read; it is derived state, dropped whenever a rollback may have
 * left it ahead of the database.
 *
 * @module
 */
import type { DatabaseSync, SQLOutputValue } from "node:sqlite";
import { Decoder, Encoder } from "@msgpack/msgpack";
import type { ClientKey, StoredMessage, SubscriptionOptions } from "../message.ts";
import { decodeStoredMessage, encodeStoredMessage } from "../messageCodec.ts";
import { StoreCorruptError, textColumn } from "../sqlite/database.ts";
import {
  type EnqueueItem,
  type EnqueueResult,
  type InboxEntry,
  InboxLimitError,
  type InboxLimits,
  type InboxMeta,
} from "./inboxStore.ts";
import { isQoS, isRetainHandling } from "../qos.ts";
import { RecentEntries, type RecentEntriesOptions } from "./recentEntries.ts";
import { createInboxTables, type InboxStatements } from "./inboxTables.ts";
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
} from "./inboxRules.ts";

/** The inbox a command addresses. */
export type InboxCommandKey = { readonly tenant: string; readonly clientId: string };
/** Optional incarnation guard: absent or null means any incarnation. */
export type InboxCommandGuard = { readonly incarnation?: number | null };

/** A command on the inbox tables, as plain data. */
export type InboxCommand =
  | InboxCommandKey & {
    readonly op: "attach";
    readonly cleanStart: boolean;
    readonly sessionExpirySeconds: number;
    readonly nowMs: number;
  }
  | InboxCommandKey & {
    readonly op: "detach";
    readonly incarnation: number;
    readonly sessionExpirySeconds: number;
    readonly nowMs: number;
  }
  | InboxCommandKey & { readonly op: "get" }
  | InboxCommandKey & { readonly op: "delete"; readonly incarnation: number | null }
  | { readonly op: "listExpired"; readonly nowMs: number; readonly limit: number }
  | InboxCommandKey & {
    readonly op: "putSubscriptions";
    readonly incarnation: number;
    readonly subscriptions: readonly { filter: string; options: SubscriptionOptions }[];
  }
  | InboxCommandKey & {
    readonly op: "removeSubscriptions";
    readonly incarnation: number;
    readonly filters: readonly string[];
  }
  | { readonly op: "enqueue"; readonly items: readonly EnqueueItem[] }
  | InboxCommandKey & {
    readonly op: "read";
    /** Only if the inbox has this incarnation (absent/null: any). */
    readonly incarnation?: number | null;
    readonly afterSeq: number;
    readonly maxCount: number;
    readonly nowMs: number;
  }
  | InboxCommandKey & InboxCommandGuard & { readonly op: "markReleased"; readonly seq: number }
  | InboxCommandKey & InboxCommandGuard & {
    readonly op: "remove";
    readonly seqs: readonly number[];
  }
  | InboxCommandKey & InboxCommandGuard & {
    readonly op: "addIncomingQos2";
    readonly packetId: number;
  }
  | InboxCommandKey & InboxCommandGuard & {
    readonly op: "removeIncomingQos2";
    readonly packetId: number;
  }
  | InboxCommandKey & { readonly op: "incomingQos2" };

type Key = InboxCommandKey;
type ReadCommand = Extract<InboxCommand, { op: "read" }>;

/** Result of a command, tagged by kind. */
export type InboxCommandResult =
  | { readonly kind: "none" }
  | { readonly kind: "attached"; readonly meta: InboxMeta; readonly resumed: boolean }
  | { readonly kind: "meta"; readonly meta: InboxMeta | null }
  | { readonly kind: "bool"; readonly value: boolean }
  | { readonly kind: "expired"; readonly list: { key: ClientKey; incarnation: number }[] }
  | { readonly kind: "enqueued"; readonly results: EnqueueResult[] }
  | { readonly kind: "entries"; readonly entries: InboxEntry[] }
  | { readonly kind: "packetIds"; readonly ids: number[] };

const NONE: InboxCommandResult = Object.freeze({ kind: "none" });

/** Cached meta of one inbox (derived from the tables). */
interface CachedMeta {
  incarnation: number;
  sessionExpirySeconds: number;
  expiresAtMs: number | null;
  createdAtMs: number;
  /** Highest seq assigned: max(inbox_meta.last_seq, max seq of the inbox's rows). */
  lastSeq: number;
  /** inbox_meta.last_seq as stored; written only before rows are deleted (see #persistLastSeq). */
  persistedLastSeq: number;
  queuedCount: number;
}

/** Options of {@link InboxStateMachine}. */
export interface InboxStateMachineOptions {
  /** Per-inbox limits. */
  readonly limits: InboxLimits;
  /** Inboxes whose meta is cached (oldest-inserted evicted first). Default 100,000. */
  readonly maxCachedInboxes?: number;
  /** Bounds of the in-memory copy of the newest entries (see RecentEntries). */
  readonly recentEntries?: RecentEntriesOptions;
}

const idEncoder = new Encoder();
const idDecoder = new Decoder();

/** Deterministic application of {@link InboxCommand}s to one SQLite database. */
export class InboxStateMachine {
  readonly #path: string;
  readonly #limits: InboxLimits;
  readonly #maxCached: number;
  /** keyString → meta, or null for "known absent". */
  readonly #cache = new Map<string, CachedMeta | null>();
  readonly #recent: RecentEntries;
  #nextIncarnation: number | null = null;
  readonly #s: InboxStatements;

  /** Creates the schema if absent. `path` names the file in error messages. */
  constructor(db: DatabaseSync, path: string, options: InboxStateMachineOptions) {
    this.#path = path;
    this.#limits = options.limits;
    this.#maxCached = options.maxCachedInboxes ?? 100_000;
    checkInt("maxCachedInboxes", this.#maxCached, 1, Number.MAX_SAFE_INTEGER);
    this.#recent = new RecentEntries(options.recentEntries);
    this.#s = createInboxTables(db);
  }

  /** Drops derived state (after a rollback): it is reloaded from the tables on demand. */
  invalidateCaches(): void {
    this.#cache.clear();
    this.#recent.clear();
    this.#nextIncarnation = null;
  }

  #corrupt(detail: string): never {
    throw new StoreCorruptError(this.#path, detail);
  }

  #int(row: Record<string, SQLOutputValue>, col: string, table: string): number {
    const v = row[col];
    if (typeof v !== "number" || !Number.isSafeInteger(v)) {
      this.#corrupt(`${table}.${col} is ${String(v)}, not an integer`);
    }
    return v;
  }

  #intOrNull(row: Record<string, SQLOutputValue>, col: string, table: string): number | null {
    return row[col] === null ? null : this.#int(row, col, table);
  }

  /** The inbox's meta (cached); `ks` is `keyString(key)` when the caller has it. */
  #meta(key: Key, ks: string = keyString(key)): CachedMeta | null {
    const hit = this.#cache.get(ks);
    if (hit !== undefined) return hit;
    const row = this.#s.metaGet.get(key.tenant, key.clientId);
    let m: CachedMeta | null = null;
    if (row !== undefined) {
      const count = this.#s.metaCount.get(key.tenant, key.clientId);
      const persisted = this.#int(row, "last_seq", "inbox_meta");
      const maxRowSeq = count === undefined ? null : this.#intOrNull(count, "m", "inbox_messages");
      m = {
        incarnation: this.#int(row, "incarnation", "inbox_meta"),
        sessionExpirySeconds: this.#int(row, "session_expiry_s", "inbox_meta"),
        expiresAtMs: this.#intOrNull(row, "expires_at_ms", "inbox_meta"),
        createdAtMs: this.#int(row, "created_at_ms", "inbox_meta"),
        lastSeq: Math.max(persisted, maxRowSeq ?? 0),
        persistedLastSeq: persisted,
        queuedCount: count === undefined ? 0 : this.#int(count, "n", "inbox_messages"),
      };
    }
    this.#remember(ks, m);
    return m;
  }

  /**
   * What the "get" command returns, read outside a batch (the caller makes
   * sure nothing is queued). An absent inbox is not cached: a clean session's
   * CONNECT asks once per client id, and remembering every miss would cost
   * memory per connection.
   */
  peek(key: Key): InboxMeta | null {
    const hit = this.#cache.get(keyString(key));
    if (hit === undefined && this.#s.metaGet.get(key.tenant, key.clientId) === undefined) {
      return null;
    }
    const m = hit !== undefined ? hit : this.#meta(key);
    return m === null ? null : this.#fullMeta(key, m);
  }

  #remember(ks: string, m: CachedMeta | null): void {
    this.#cache.delete(ks);
    if (this.#cache.size >= this.#maxCached) {
      const oldest = this.#cache.keys().next();
      if (oldest.done !== true) this.#cache.delete(oldest.value);
    }
    this.#cache.set(ks, m);
  }

  /**
   * Enqueue does not write last_seq: it is derived from the rows on load. Before
   * rows are deleted (which may delete the highest), the stored value catches up.
   */
  #persistLastSeq(key: Key, m: CachedMeta): void {
    if (m.persistedLastSeq >= m.lastSeq) return;
    this.#s.metaLastSeq.run(m.lastSeq, key.tenant, key.clientId);
    m.persistedLastSeq = m.lastSeq;
  }

  /** Whether a guarded call targets another incarnation than the stored one. */
  #stale(key: Key, incarnation: number | null | undefined): boolean {
    if (incarnation === undefined || incarnation === null) return false;
    return this.#meta(key)?.incarnation !== incarnation;
  }

  #live(key: Key, incarnation: number, ks?: string): CachedMeta | null {
    const m = this.#meta(key, ks);
    return m !== null && m.incarnation === incarnation ? m : null;
  }

  #subscriptions(key: Key): Map<string, SubscriptionOptions> {
    const out = new Map<string, SubscriptionOptions>();
    for (const row of this.#s.subsGet.all(key.tenant, key.clientId)) {
      const filter = row["filter"];
      if (typeof filter !== "string") this.#corrupt("inbox_subscriptions.filter is not text");
      const qos = this.#int(row, "qos", "inbox_subscriptions");
      const rh = this.#int(row, "retain_handling", "inbox_subscriptions");
      if (!isQoS(qos) || !isRetainHandling(rh)) {
        this.#corrupt(`inbox_subscriptions row ${JSON.stringify(filter)} has qos=${qos} rh=${rh}`);
      }
      out.set(filter, {
        qos,
        noLocal: this.#int(row, "no_local", "inbox_subscriptions") !== 0,
        retainAsPublished: this.#int(row, "retain_as_published", "inbox_subscriptions") !== 0,
        retainHandling: rh,
        subscriptionId: this.#intOrNull(row, "subscription_id", "inbox_subscriptions"),
      });
    }
    return out;
  }

  #fullMeta(key: Key, m: CachedMeta): InboxMeta {
    return {
      key: { tenant: key.tenant, clientId: key.clientId },
      incarnation: m.incarnation,
      sessionExpirySeconds: m.sessionExpirySeconds,
      expiresAtMs: m.expiresAtMs,
      createdAtMs: m.createdAtMs,
      subscriptions: this.#subscriptions(key),
      queuedCount: m.queuedCount,
      lastSeq: m.lastSeq,
    };
  }

  #takeIncarnation(): number {
    if (this.#nextIncarnation === null) {
      const row = this.#s.counterGet.get();
      this.#nextIncarnation = row === undefined ? 1 : this.#int(row, "value", "inbox_counters");
    }
    const inc = this.#nextIncarnation;
    this.#s.counterSet.run(inc + 1);
    this.#nextIncarnation = inc + 1;
    return inc;
  }

  #wipe(key: Key): void {
    const { tenant, clientId } = key;
    this.#s.msgsDelete.run(tenant, clientId);
    this.#s.subsDelete.run(tenant, clientId);
    this.#s.q2DeleteAll.run(tenant, clientId);
    this.#s.metaDelete.run(tenant, clientId);
    this.#remember(keyString(key), null);
    this.#recent.drop(keyString(key));
  }

  #writeMeta(key: Key, m: CachedMeta): void {
    this.#s.metaPut.run(
      key.tenant,
      key.clientId,
      m.incarnation,
      m.sessionExpirySeconds,
      m.expiresAtMs,
      m.createdAtMs,
      m.lastSeq,
    );
    m.persistedLastSeq = m.lastSeq;
  }

  /** Applies one command. Throws (having changed nothing) on invalid input or a limit. */
  apply(cmd: InboxCommand): InboxCommandResult {
    switch (cmd.op) {
      case "attach": {
        checkKey(cmd);
        checkSessionExpiry(cmd.sessionExpirySeconds);
        const m = this.#meta(cmd);
        if (m !== null && !cmd.cleanStart && resumable(m.expiresAtMs, cmd.nowMs)) {
          m.expiresAtMs = null;
          m.sessionExpirySeconds = cmd.sessionExpirySeconds;
          this.#s.metaExpiry.run(m.sessionExpirySeconds, null, cmd.tenant, cmd.clientId);
          return { kind: "attached", meta: this.#fullMeta(cmd, m), resumed: true };
        }
        if (m !== null) this.#wipe(cmd);
        const fresh: CachedMeta = {
          incarnation: this.#takeIncarnation(),
          sessionExpirySeconds: cmd.sessionExpirySeconds,
          expiresAtMs: null,
          createdAtMs: cmd.nowMs,
          lastSeq: 0,
          persistedLastSeq: 0,
          queuedCount: 0,
        };
        this.#writeMeta(cmd, fresh);
        this.#remember(keyString(cmd), fresh);
        return { kind: "attached", meta: this.#fullMeta(cmd, fresh), resumed: false };
      }
      case "detach": {
        checkSessionExpiry(cmd.sessionExpirySeconds);
        const m = this.#live(cmd, cmd.incarnation);
        if (m === null) return NONE;
        if (cmd.sessionExpirySeconds === 0) {
          this.#wipe(cmd);
          return NONE;
        }
        m.sessionExpirySeconds = cmd.sessionExpirySeconds;
        m.expiresAtMs = detachedExpiresAtMs(cmd.sessionExpirySeconds, cmd.nowMs);
        this.#s.metaExpiry.run(m.sessionExpirySeconds, m.expiresAtMs, cmd.tenant, cmd.clientId);
        return NONE;
      }
      case "get": {
        const m = this.#meta(cmd);
        return { kind: "meta", meta: m === null ? null : this.#fullMeta(cmd, m) };
      }
      case "delete": {
        const m = this.#meta(cmd);
        if (m === null || (cmd.incarnation !== null && m.incarnation !== cmd.incarnation)) {
          return { kind: "bool", value: false };
        }
        this.#wipe(cmd);
        return { kind: "bool", value: true };
      }
      case "listExpired": {
        checkInt("limit", cmd.limit, 0, Number.MAX_SAFE_INTEGER);
        const rows = this.#s.expired.all(cmd.nowMs, cmd.limit);
        const list = rows.map((r) => {
          const tenant = textColumn(this.#path, r, "tenant", "inbox_meta");
          const clientId = textColumn(this.#path, r, "client_id", "inbox_meta");
          return {
            key: { tenant, clientId },
            incarnation: this.#int(r, "incarnation", "inbox_meta"),
          };
        });
        return { kind: "expired", list };
      }
      case "putSubscriptions": {
        for (const s of cmd.subscriptions) checkSubscription(s.filter, s.options);
        const m = this.#live(cmd, cmd.incarnation);
        if (m === null) return NONE;
        const { tenant, clientId } = cmd;
        const countRow = this.#s.subsCount.get(tenant, clientId);
        const existing = countRow === undefined
          ? 0
          : this.#int(countRow, "n", "inbox_subscriptions");
        const added = new Set<string>();
        for (const s of cmd.subscriptions) {
          if (this.#s.subHas.get(tenant, clientId, s.filter) === undefined) added.add(s.filter);
        }
        if (existing + added.size > this.#limits.maxSubscriptions) {
          throw new InboxLimitError("maxSubscriptions", this.#limits.maxSubscriptions);
        }
        for (const { filter, options: o } of cmd.subscriptions) {
          this.#s.subPut.run(
            tenant,
            clientId,
            filter,
            o.qos,
            o.noLocal ? 1 : 0,
            o.retainAsPublished ? 1 : 0,
            o.retainHandling,
            o.subscriptionId,
          );
        }
        return NONE;
      }
      case "removeSubscriptions": {
        if (this.#live(cmd, cmd.incarnation) === null) return NONE;
        for (const f of cmd.filters) this.#s.subDelete.run(cmd.tenant, cmd.clientId, f);
        return NONE;
      }
      case "enqueue":
        return { kind: "enqueued", results: this.#enqueue(cmd.items) };
      case "read":
        return { kind: "entries", entries: this.#read(cmd) };
      case "markReleased": {
        if (this.#stale(cmd, cmd.incarnation)) return NONE;
        this.#s.msgRelease.run(cmd.tenant, cmd.clientId, cmd.seq);
        this.#recent.released(keyString(cmd), cmd.seq);
        return NONE;
      }
      case "remove": {
        for (const seq of cmd.seqs) checkInt("seq", seq, 1, Number.MAX_SAFE_INTEGER);
        const m = this.#meta(cmd);
        if (m === null || this.#stale(cmd, cmd.incarnation)) return NONE;
        m.queuedCount -= this.#removeSeqs(cmd, m, cmd.seqs);
        return NONE;
      }
      case "addIncomingQos2": {
        checkInt("packetId", cmd.packetId, 1, 65535);
        const { tenant, clientId } = cmd;
        if (this.#meta(cmd) === null) {
          throw new Error(
            `no inbox for client ${JSON.stringify(clientId)} of tenant ${JSON.stringify(tenant)}`,
          );
        }
        if (
          this.#stale(cmd, cmd.incarnation) ||
          this.#s.q2Has.get(tenant, clientId, cmd.packetId) !== undefined
        ) {
          return { kind: "bool", value: false };
        }
        const countRow = this.#s.q2Count.get(tenant, clientId);
        const n = countRow === undefined ? 0 : this.#int(countRow, "n", "inbox_incoming_qos2");
        if (n >= this.#limits.maxIncomingQos2) {
          throw new InboxLimitError("maxIncomingQos2", this.#limits.maxIncomingQos2);
        }
        this.#s.q2Add.run(tenant, clientId, cmd.packetId);
        return { kind: "bool", value: true };
      }
      case "removeIncomingQos2": {
        if (this.#stale(cmd, cmd.incarnation)) return NONE;
        this.#s.q2Delete.run(cmd.tenant, cmd.clientId, cmd.packetId);
        return NONE;
      }
      case "incomingQos2": {
        const ids = this.#s.q2List.all(cmd.tenant, cmd.clientId)
          .map((r) => this.#int(r, "packet_id", "inbox_incoming_qos2"));
        return { kind: "packetIds", ids };
      }
    }
  }

  /**
   * Deletes the entries `seqs` (any order, duplicates allowed); acks mostly
   * arrive in order, so contiguous runs become one range delete each.
   */
  #removeSeqs(key: Key, m: CachedMeta, seqs: readonly number[]): number {
    if (seqs.length === 0) return 0;
    this.#persistLastSeq(key, m);
    for (const seq of seqs) checkInt("seq", seq, 1, Number.MAX_SAFE_INTEGER);
    const sorted = [...seqs].sort((a, b) => a - b);
    const ks = keyString(key);
    let removed = 0;
    let i = 0;
    while (i < sorted.length) {
      let j = i;
      while (j + 1 < sorted.length && sorted[j + 1] <= sorted[j] + 1) j++;
      const { changes } = i === j
        ? this.#s.msgDelete.run(key.tenant, key.clientId, sorted[i])
        : this.#s.msgDeleteRange.run(key.tenant, key.clientId, sorted[i], sorted[j]);
      removed += Number(changes);
      if (Number(changes) > 0) {
        for (let x = i; x <= j; x++) this.#recent.removed(ks, sorted[x]);
      }
      i = j + 1;
    }
    return removed;
  }

  #enqueue(items: readonly EnqueueItem[]): EnqueueResult[] {
    items.forEach(checkEnqueueItem);
    const max = this.#limits.maxQueuedMessages;
    const dropOldest = this.#limits.overflowPolicy === "drop-oldest";
    // One message usually fans out to many inboxes: encode it once.
    const encoded = new Map<StoredMessage, Uint8Array>();
    const results: EnqueueResult[] = [];
    for (const it of items) {
      const { key } = it;
      const ks = keyString(key);
      const m = this.#live(key, it.incarnation, ks);
      if (m === null) {
        results.push({ ok: false, reason: "no-inbox" });
        continue;
      }
      const { tenant, clientId } = key;
      let evictedSeq: number | null = null;
      if (m.queuedCount >= max && m.queuedCount > 0) {
        // Full: first make room from messages that expired by this one's arrival.
        this.#persistLastSeq(key, m);
        const purged = this.#s.msgPurgeExpired.run(tenant, clientId, it.message.receivedAtMs);
        if (Number(purged.changes) > 0) this.#recent.drop(ks);
        m.queuedCount -= Number(purged.changes);
      }
      if (m.queuedCount >= max) {
        const oldest = dropOldest && m.queuedCount > 0
          ? this.#s.msgOldest.get(tenant, clientId)
          : undefined;
        if (oldest === undefined) {
          results.push({ ok: false, reason: "queue-full" });
          continue;
        }
        evictedSeq = this.#int(oldest, "seq", "inbox_messages");
        this.#persistLastSeq(key, m);
        this.#s.msgDelete.run(tenant, clientId, evictedSeq);
        this.#recent.removed(ks, evictedSeq);
        m.queuedCount--;
      }
      let blob = encoded.get(it.message);
      if (blob === undefined) {
        blob = encodeStoredMessage(it.message);
        encoded.set(it.message, blob);
      }
      const seq = m.lastSeq + 1;
      this.#s.msgInsert.run(
        tenant,
        clientId,
        seq,
        it.qos,
        it.retain ? 1 : 0,
        it.subscriptionIds.length === 0 ? null : idEncoder.encode(it.subscriptionIds),
        it.message.expiresAtMs,
        blob,
      );
      m.lastSeq = seq;
      m.queuedCount++;
      if (this.#recent.enabled) {
        this.#recent.appended(ks, {
          seq,
          message: it.message,
          qos: it.qos,
          retain: it.retain,
          subscriptionIds: [...it.subscriptionIds],
          state: "queued",
        });
      }
      results.push({ ok: true, seq, evictedSeq });
    }
    return results;
  }

  #read(cmd: ReadCommand): InboxEntry[] {
    checkInt("maxCount", cmd.maxCount, 0, Number.MAX_SAFE_INTEGER);
    const m = this.#meta(cmd);
    if (m === null || cmd.maxCount === 0 || this.#stale(cmd, cmd.incarnation)) return [];
    const out: InboxEntry[] = [];
    const expired: number[] = [];
    const fromMemory = this.#recent.scan(keyString(cmd), cmd.afterSeq, (e) => {
      if (e.state === "queued" && messageExpired(e.message.expiresAtMs, cmd.nowMs)) {
        expired.push(e.seq);
        return true;
      }
      out.push(e);
      return out.length < cmd.maxCount;
    });
    if (fromMemory) {
      m.queuedCount -= this.#removeSeqs(cmd, m, expired);
      return out;
    }
    let after = cmd.afterSeq;
    // Pages of rows (one native call each) until maxCount live entries or the end.
    for (;;) {
      const want = cmd.maxCount - out.length;
      const rows = this.#s.msgRead.all(cmd.tenant, cmd.clientId, after, want);
      for (const row of rows) this.#readRow(row, cmd, out, expired);
      if (rows.length < want || out.length >= cmd.maxCount) break;
      after = this.#int(rows[rows.length - 1], "seq", "inbox_messages");
    }
    m.queuedCount -= this.#removeSeqs(cmd, m, expired);
    return out;
  }

  #readRow(
    row: Record<string, SQLOutputValue>,
    cmd: ReadCommand,
    out: InboxEntry[],
    expired: number[],
  ): void {
    const seq = this.#int(row, "seq", "inbox_messages");
    const bad: (detail: string) => never = (detail) =>
      this.#corrupt(
        `inbox ${JSON.stringify(cmd.tenant)}/${JSON.stringify(cmd.clientId)} seq ${seq}: ${detail}`,
      );
    const stateCode = this.#int(row, "state", "inbox_messages");
    if (stateCode !== 0 && stateCode !== 1) bad(`state=${stateCode}`);
    if (
      stateCode === 0 &&
      messageExpired(this.#intOrNull(row, "expires_at_ms", "inbox_messages"), cmd.nowMs)
    ) {
      expired.push(seq);
      return;
    }
    const qos = this.#int(row, "qos", "inbox_messages");
    if (!isQoS(qos)) bad(`qos=${qos}`);
    const blob = row["message"];
    const ids = row["subscription_ids"];
    if (!(blob instanceof Uint8Array)) bad("message is not a blob");
    let message: StoredMessage;
    let subscriptionIds: number[] = [];
    try {
      message = decodeStoredMessage(blob);
      if (ids !== null) {
        const decoded: unknown = ids instanceof Uint8Array ? idDecoder.decode(ids) : null;
        if (!Array.isArray(decoded) || !decoded.every((x) => Number.isInteger(x))) {
          throw new Error(`subscription ids are ${String(decoded)}`);
        }
        subscriptionIds = decoded;
      }
    } catch (err) {
      bad(err instanceof Error ? err.message : String(err));
    }
    out.push({
      seq,
      message,
      qos,
      retain: this.#int(row, "retain", "inbox_messages") !== 0,
      subscriptionIds,
      state: stateCode === 0 ? "queued" : "released",
    });
  }
}
