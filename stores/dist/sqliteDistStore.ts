/**
 * The local (single-node) {@link DistStore}: routes in SQLite, matching on an
 * in-memory {@link RouteIndex} rebuilt on open and updated after each commit.
 *
 * @module
 */
import { BatchWriter } from "../sqlite/batchWriter.ts";
import {
  openDatabase,
  type OpenDatabaseOptions,
  type OpenedDatabase,
  StoreClosedError,
  withCorruptionCheck,
} from "../sqlite/database.ts";
import { type DistCommand, type DistCommandResult, DistStateMachine } from "./distCommands.ts";
import type { DistStore, MatchResult, Route, RouteRemoval } from "./distStore.ts";
import { RouteIndex } from "./routeIndex.ts";

/** Options of {@link SqliteDistStore}. */
export interface SqliteDistStoreOptions extends OpenDatabaseOptions {
  /** Topic → match result LRU cache size; 0 disables. Default 1024. */
  readonly matchCacheEntries?: number;
  /** Most commands per transaction (see BatchWriter). Default 1024. */
  readonly maxCommandsPerBatch?: number;
  /** "ASYNC" mode: WAL size that triggers a checkpoint. Default 16 MiB. */
  readonly checkpointWalBytes?: number;
}

/** Local dist store; see the module docs. */
export class SqliteDistStore implements DistStore {
  readonly #opened: OpenedDatabase;
  readonly #ownsDb: boolean;
  readonly #sm: DistStateMachine;
  readonly #index: RouteIndex;
  readonly #writer: BatchWriter<DistCommand, DistCommandResult>;
  #closed = false;

  /**
   * Opens the store on the database file `db` (created if absent) or on an
   * already opened database (which the caller keeps and closes).
   */
  constructor(db: string | OpenedDatabase, options: SqliteDistStoreOptions = {}) {
    this.#ownsDb = typeof db === "string";
    this.#opened = typeof db === "string" ? openDatabase(db, options) : db;
    try {
      const path = this.#opened.path;
      this.#sm = withCorruptionCheck(path, () => new DistStateMachine(this.#opened.db, path));
      this.#index = new RouteIndex({ matchCacheEntries: options.matchCacheEntries });
      for (const r of withCorruptionCheck(path, () => this.#sm.loadAll())) this.#index.put(r);
    } catch (err) {
      if (this.#ownsDb) this.#opened.db.close();
      throw err;
    }
    this.#writer = new BatchWriter({
      name: `dist store ${this.#opened.path}`,
      opened: this.#opened,
      maxCommandsPerBatch: options.maxCommandsPerBatch,
      checkpointWalBytes: options.checkpointWalBytes,
      apply: (cmd) => this.#sm.apply(cmd),
      afterCommit: (applied) => {
        for (const { result } of applied) {
          for (const k of result.removed) this.#index.remove(k);
          for (const r of result.upserted) this.#index.put(r);
        }
      },
    });
  }

  /** Adds or replaces routes. A route carrying an older incarnation than the stored one is ignored. */
  async addRoutes(routes: readonly Route[]): Promise<void> {
    if (routes.length === 0) return;
    await this.#writer.submit({ op: "addRoutes", routes });
  }

  /** Removes routes whose stored incarnation is <= the removal's. */
  async removeRoutes(removals: readonly RouteRemoval[]): Promise<void> {
    if (removals.length === 0) return;
    await this.#writer.submit({ op: "removeRoutes", removals });
  }

  /**
   * Removes all routes of transient sessions on `nodeId` (receiver ids
   * `s:<nodeId>:<sessionId>`; session ids must not contain ':', node ids may).
   */
  async removeTransientRoutesOfNode(nodeId: string): Promise<number> {
    const r = await this.#writer.submit({ op: "removeTransientRoutesOfNode", nodeId });
    return r.removed.length;
  }

  /** Matching routes, from memory. */
  match(tenant: string, topic: string): MatchResult {
    if (this.#closed) throw new StoreClosedError(`dist store ${this.#opened.path}`);
    return this.#index.match(tenant, topic);
  }

  /** Number of routes (all tenants). */
  routeCount(): number {
    return this.#index.count;
  }

  /** Match cache counters (for metrics). */
  cacheStats(): { hits: number; misses: number; entries: number } {
    return this.#index.cacheStats();
  }

  /** Flushes pending writes; closes the database if this store opened it. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#writer.close();
    if (this.#ownsDb) this.#opened.db.close();
  }
}
