/**
 * The local (single-node) {@link RetainStore}: messages in SQLite, an
 * in-memory trie of retained topics per tenant for wildcard matching (rebuilt
 * on open, updated after each commit); the messages themselves are read from
 * the database on match.
 *
 * @module
 */
import type { StoredMessage } from "../message.ts";
import { BatchWriter } from "../sqlite/batchWriter.ts";
import {
  type OpenDatabaseOptions,
  type OpenedDatabase,
  openStoreDatabase,
  StoreClosedError,
  withCorruptionCheck,
} from "../sqlite/database.ts";
import { TopicTrie } from "../dist/topicTrie.ts";
import {
  type RetainCommand,
  type RetainCommandResult,
  type RetainedRef,
  RetainStateMachine,
} from "./retainCommands.ts";
import {
  checkMatchArgs,
  compareTopics,
  retainedExpired,
  type RetainLimits,
  validateRetainLimits,
} from "./retainRules.ts";
import type { RetainSetResult, RetainStore } from "./retainStore.ts";

/** Options of {@link SqliteRetainStore}. */
export interface SqliteRetainStoreOptions extends RetainLimits, OpenDatabaseOptions {
  /** Most commands per transaction (see BatchWriter). Default 1024. */
  readonly maxCommandsPerBatch?: number;
  /** "ASYNC" mode: WAL size that triggers a checkpoint. Default 16 MiB. */
  readonly checkpointWalBytes?: number;
}

/** Local retain store; see the module docs. */
export class SqliteRetainStore implements RetainStore {
  readonly #opened: OpenedDatabase;
  readonly #ownsDb: boolean;
  readonly #sm: RetainStateMachine;
  readonly #tenants = new Map<string, TopicTrie<RetainedRef>>();
  readonly #writer: BatchWriter<RetainCommand, RetainCommandResult>;
  #closed = false;

  /**
   * Opens the store on the database file `db` (created if absent) or on an
   * already opened database (which the caller keeps and closes).
   */
  constructor(db: string | OpenedDatabase, options: SqliteRetainStoreOptions) {
    validateRetainLimits(options);
    const { opened, ownsDb, state } = openStoreDatabase(db, options, ({ db, path }) => {
      const sm = withCorruptionCheck(
        path,
        () =>
          new RetainStateMachine(db, path, {
            maxRetainedPerTenant: options.maxRetainedPerTenant,
          }),
      );
      for (const ref of withCorruptionCheck(path, () => sm.loadRefs())) this.#put(ref);
      return sm;
    });
    this.#opened = opened;
    this.#ownsDb = ownsDb;
    this.#sm = state;
    const path = opened.path;
    this.#writer = new BatchWriter({
      name: `retain store ${path}`,
      opened: this.#opened,
      maxCommandsPerBatch: options.maxCommandsPerBatch,
      checkpointWalBytes: options.checkpointWalBytes,
      apply: (cmd) => this.#sm.apply(cmd),
      afterRollback: () => this.#sm.invalidateCaches(),
      afterCommit: (applied) => {
        for (const { result } of applied) {
          for (const k of result.removed) this.#remove(k.tenant, k.topic);
          for (const ref of result.stored) this.#put(ref);
        }
      },
    });
  }

  #put(ref: RetainedRef): void {
    let trie = this.#tenants.get(ref.tenant);
    if (trie === undefined) {
      trie = new TopicTrie();
      this.#tenants.set(ref.tenant, trie);
    }
    trie.set(ref.topic, ref);
  }

  #remove(tenant: string, topic: string): void {
    const trie = this.#tenants.get(tenant);
    if (trie === undefined) return;
    trie.delete(topic);
    if (trie.isEmpty()) this.#tenants.delete(tenant);
  }

  async set(message: StoredMessage): Promise<RetainSetResult> {
    const r = await this.#writer.submit({ op: "set", message });
    if (r.outcome === "purged") throw new Error("retain set returned a purge result");
    return r.outcome;
  }

  match(tenant: string, filter: string, nowMs: number, limit: number): Promise<StoredMessage[]> {
    try {
      if (this.#closed) throw new StoreClosedError(`retain store ${this.#opened.path}`);
      checkMatchArgs(filter, limit);
      const refs: RetainedRef[] = [];
      this.#tenants.get(tenant)?.forEachTopicMatching(filter, (ref) => {
        if (!retainedExpired(ref.expiresAtMs, nowMs)) refs.push(ref);
      });
      refs.sort((a, b) => compareTopics(a.topic, b.topic));
      const out: StoredMessage[] = [];
      withCorruptionCheck(this.#opened.path, () => {
        for (const ref of refs) {
          if (out.length >= limit) break;
          const m = this.#sm.read(tenant, ref.topic);
          if (m !== null) out.push(m);
        }
      });
      return Promise.resolve(out);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  count(tenant: string): number {
    return this.#tenants.get(tenant)?.size ?? 0;
  }

  /** Deletes up to `limit` messages expired at `nowMs` (oldest expiry first); returns how many. */
  async purgeExpired(nowMs: number, limit: number): Promise<number> {
    const r = await this.#writer.submit({ op: "purgeExpired", nowMs, limit });
    return r.removed.length;
  }

  /** Flushes pending writes; closes the database if this store opened it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writer.close();
    if (this.#ownsDb) this.#opened.db.close();
  }
}
