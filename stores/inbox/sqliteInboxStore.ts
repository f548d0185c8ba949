/**
 * The local (single-node) {@link InboxStore}: SQLite tables written through
 * the group-commit {@link BatchWriter} — every call made in one event-loop
 * turn shares one transaction and one fsync. Reads go through the same queue
 * so they observe every call made before them.
 *
 * @module
 */
import type { ClientKey, SubscriptionOptions } from "../message.ts";
import { BatchWriter, type BatchWriterStats } from "../sqlite/batchWriter.ts";
import {
  type OpenDatabaseOptions,
  type OpenedDatabase,
  openStoreDatabase,
  withCorruptionCheck,
} from "../sqlite/database.ts";
import { type InboxCommand, type InboxCommandResult, InboxStateMachine } from "./inboxCommands.ts";
import { validateInboxLimits } from "./inboxRules.ts";
import type { RecentEntriesOptions } from "./recentEntries.ts";
import type {
  AttachOptions,
  EnqueueItem,
  EnqueueResult,
  InboxEntry,
  InboxLimits,
  InboxMeta,
  InboxStore,
} from "./inboxStore.ts";

/** Options of {@link SqliteInboxStore} beyond the limits. */
export interface SqliteInboxStoreOptions extends OpenDatabaseOptions {
  /** Most commands per transaction (see BatchWriter). Default 1024. */
  readonly maxCommandsPerBatch?: number;
  /** Inboxes whose meta is cached in memory. Default 100,000 (~200 B each). */
  readonly maxCachedInboxes?: number;
  /**
   * Bounds of the in-memory copy of each inbox's newest entries, which serves
   * reads of just-enqueued messages without a query. Defaults: 256 per inbox,
   * 65,536 in all, 64 MiB of payload.
   */
  readonly recentEntries?: RecentEntriesOptions;
  /** "ASYNC" mode: WAL size that triggers a checkpoint. Default 16 MiB. */
  readonly checkpointWalBytes?: number;
}

/** Commands that answer without waiting for the fsync ("ASYNC" mode). */
const READ_ONLY_OPS: ReadonlySet<InboxCommand["op"]> = new Set([
  "get",
  "read",
  "listExpired",
  "incomingQos2",
]);

function expect<K extends InboxCommandResult["kind"]>(
  r: InboxCommandResult,
  kind: K,
): Extract<InboxCommandResult, { kind: K }> {
  if (r.kind !== kind) throw new Error(`inbox command returned ${r.kind}, expected ${kind}`);
  return r as Extract<InboxCommandResult, { kind: K }>;
}

/** Local persistent inbox store; see the module docs. */
export class SqliteInboxStore implements InboxStore {
  readonly #opened: OpenedDatabase;
  readonly #ownsDb: boolean;
  readonly #sm: InboxStateMachine;
  readonly #writer: BatchWriter<InboxCommand, InboxCommandResult>;
  #closed = false;

  /**
   * Opens the store on the database file `db` (created if absent) or on an
   * already opened database (which the caller keeps and closes).
   */
  constructor(
    db: string | OpenedDatabase,
    limits: InboxLimits,
    options: SqliteInboxStoreOptions = {},
  ) {
    validateInboxLimits(limits);
    const { opened, ownsDb, state } = openStoreDatabase(
      db,
      options,
      ({ db, path }) =>
        withCorruptionCheck(
          path,
          () =>
            new InboxStateMachine(db, path, {
              limits: { ...limits },
              maxCachedInboxes: options.maxCachedInboxes,
              recentEntries: options.recentEntries,
            }),
        ),
    );
    this.#opened = opened;
    this.#ownsDb = ownsDb;
    this.#sm = state;
    const path = opened.path;
    this.#writer = new BatchWriter({
      name: `inbox store ${path}`,
      opened: this.#opened,
      maxCommandsPerBatch: options.maxCommandsPerBatch,
      apply: (cmd) => this.#sm.apply(cmd),
      afterRollback: () => this.#sm.invalidateCaches(),
      needsSync: (cmd) => !READ_ONLY_OPS.has(cmd.op),
      checkpointWalBytes: options.checkpointWalBytes,
    });
  }

  /** Group-commit counters (transactions, commands). */
  stats(): BatchWriterStats {
    return this.#writer.stats();
  }

  async attach(
    key: ClientKey,
    options: AttachOptions,
  ): Promise<{ meta: InboxMeta; resumed: boolean }> {
    const r = await this.#writer.submit({
      op: "attach",
      tenant: key.tenant,
      clientId: key.clientId,
      cleanStart: options.cleanStart,
      sessionExpirySeconds: options.sessionExpirySeconds,
      nowMs: options.nowMs,
    });
    const { meta, resumed } = expect(r, "attached");
    return { meta, resumed };
  }

  async detach(
    key: ClientKey,
    incarnation: number,
    sessionExpirySeconds: number,
    nowMs: number,
  ): Promise<void> {
    await this.#writer.submit({
      op: "detach",
      ...k(key),
      incarnation,
      sessionExpirySeconds,
      nowMs,
    });
  }

  /**
   * The inbox meta of `key` read at once when no call is queued (every earlier
   * call is applied and committed, as `get` would see it); else undefined.
   */
  getNow(key: ClientKey): InboxMeta | null | undefined {
    if (this.#closed || this.#writer.pendingCount > 0) return undefined;
    return withCorruptionCheck(this.#opened.path, () => this.#sm.peek(key));
  }

  /** The inbox meta of `key`, or null. */
  async get(key: ClientKey): Promise<InboxMeta | null> {
    return expect(await this.#writer.submit({ op: "get", ...k(key) }), "meta").meta;
  }

  async delete(key: ClientKey, incarnation?: number): Promise<boolean> {
    const r = await this.#writer.submit({
      op: "delete",
      ...k(key),
      incarnation: incarnation ?? null,
    });
    return expect(r, "bool").value;
  }

  async listExpired(
    nowMs: number,
    limit: number,
  ): Promise<{ key: ClientKey; incarnation: number }[]> {
    return expect(await this.#writer.submit({ op: "listExpired", nowMs, limit }), "expired").list;
  }

  async putSubscriptions(
    key: ClientKey,
    incarnation: number,
    subscriptions: readonly { filter: string; options: SubscriptionOptions }[],
  ): Promise<void> {
    await this.#writer.submit({ op: "putSubscriptions", ...k(key), incarnation, subscriptions });
  }

  /** Removes subscriptions (ignored for another incarnation). */
  async removeSubscriptions(
    key: ClientKey,
    incarnation: number,
    filters: readonly string[],
  ): Promise<void> {
    await this.#writer.submit({ op: "removeSubscriptions", ...k(key), incarnation, filters });
  }

  async enqueue(items: readonly EnqueueItem[]): Promise<EnqueueResult[]> {
    if (items.length === 0) return [];
    return expect(await this.#writer.submit({ op: "enqueue", items }), "enqueued").results;
  }

  async read(
    key: ClientKey,
    afterSeq: number,
    maxCount: number,
    nowMs: number,
    incarnation?: number,
  ): Promise<InboxEntry[]> {
    const r = await this.#writer.submit({
      op: "read",
      ...k(key),
      afterSeq,
      maxCount,
      nowMs,
      incarnation: incarnation ?? null,
    });
    return expect(r, "entries").entries;
  }

  async markReleased(key: ClientKey, seq: number, incarnation?: number): Promise<void> {
    await this.#writer.submit({
      op: "markReleased",
      ...k(key),
      seq,
      incarnation: incarnation ?? null,
    });
  }

  async remove(key: ClientKey, seqs: readonly number[], incarnation?: number): Promise<void> {
    if (seqs.length === 0) return;
    await this.#writer.submit({ op: "remove", ...k(key), seqs, incarnation: incarnation ?? null });
  }

  async addIncomingQos2(key: ClientKey, packetId: number, incarnation?: number): Promise<boolean> {
    const r = await this.#writer.submit({
      op: "addIncomingQos2",
      ...k(key),
      packetId,
      incarnation: incarnation ?? null,
    });
    return expect(r, "bool").value;
  }

  async removeIncomingQos2(key: ClientKey, packetId: number, incarnation?: number): Promise<void> {
    await this.#writer.submit({
      op: "removeIncomingQos2",
      ...k(key),
      packetId,
      incarnation: incarnation ?? null,
    });
  }

  async incomingQos2(key: ClientKey): Promise<number[]> {
    return expect(await this.#writer.submit({ op: "incomingQos2", ...k(key) }), "packetIds").ids;
  }

  /** Flushes pending writes; closes the database if this store opened it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writer.close();
    if (this.#ownsDb) this.#opened.db.close();
  }
}

function k(key: ClientKey): { tenant: string; clientId: string } {
  return { tenant: key.tenant, clientId: key.clientId };
}
