/**
 * The local (single-node) {@link DistStore}: routes in SQLite, matching on an
 * in-memory {@link RouteIndex} rebuilt on open.
 *
 * `addRoutes` / `removeRoutes` change the index at once, when called, with the
 * rules of the dist commands (incarnation guards), then write: a subscription
 * is in force as soon as the SUBSCRIBE is handled, not a commit (~1 ms) later
 * (a PUBLISH right behind it must reach it). Their promises still resolve only
 * once committed. The changes not yet committed are kept in call order: after
 * a commit the index holds what was predicted (checked; otherwise the pending
 * changes are undone and the committed results applied); after a rollback they
 * are undone, so a failed write leaves the index as the database is.
 *
 * @module
 */
import { type AppliedCommand, BatchWriter } from "../sqlite/batchWriter.ts";
import {
  type OpenDatabaseOptions,
  type OpenedDatabase,
  openStoreDatabase,
  StoreClosedError,
  withCorruptionCheck,
} from "../sqlite/database.ts";
import {
  type DistCommand,
  type DistCommandResult,
  DistStateMachine,
  validateRoute,
} from "./distCommands.ts";
import type { DistStore, MatchResult, Route, RouteRemoval } from "./distStore.ts";
import { RouteIndex, type RouteIndexChange } from "./routeIndex.ts";

/** An add/remove call applied to the index but not committed yet. */
interface PendingChange {
  readonly command: DistCommand;
  readonly changes: RouteIndexChange[];
}

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
  /** Calls applied to the index and not committed yet, in call order (bounded by one batch). */
  readonly #pending: PendingChange[] = [];
  #closed = false;

  /**
   * Opens the store on the database file `db` (created if absent) or on an
   * already opened database (which the caller keeps and closes).
   */
  constructor(db: string | OpenedDatabase, options: SqliteDistStoreOptions = {}) {
    const { opened, ownsDb, state } = openStoreDatabase(db, options, ({ db, path }) => {
      const sm = withCorruptionCheck(path, () => new DistStateMachine(db, path));
      const index = new RouteIndex({ matchCacheEntries: options.matchCacheEntries });
      for (const r of withCorruptionCheck(path, () => sm.loadAll())) index.put(r);
      return { sm, index };
    });
    this.#opened = opened;
    this.#ownsDb = ownsDb;
    this.#sm = state.sm;
    this.#index = state.index;
    this.#writer = new BatchWriter({
      name: `dist store ${this.#opened.path}`,
      opened: this.#opened,
      maxCommandsPerBatch: options.maxCommandsPerBatch,
      checkpointWalBytes: options.checkpointWalBytes,
      apply: (cmd) => this.#sm.apply(cmd),
      afterCommit: (applied) => this.#afterCommit(applied),
      afterRollback: () => this.#undoPending(),
    });
  }

  /**
   * Adds or replaces routes; matched at once, resolves when committed. A route
   * carrying an older incarnation than the stored one is ignored. Invalid
   * routes reject the call and change nothing.
   */
  addRoutes(routes: readonly Route[]): Promise<void> {
    if (routes.length === 0) return Promise.resolve();
    try {
      this.#checkOpen();
      for (const r of routes) validateRoute(r);
    } catch (err) {
      return Promise.reject(err);
    }
    const command: DistCommand = { op: "addRoutes", routes };
    const changes: RouteIndexChange[] = [];
    this.#index.addGuarded(routes, changes);
    return this.#submit(command, changes);
  }

  /**
   * Removes routes whose stored incarnation is <= the removal's; no longer
   * matched at once, resolves when committed.
   */
  removeRoutes(removals: readonly RouteRemoval[]): Promise<void> {
    if (removals.length === 0) return Promise.resolve();
    try {
      this.#checkOpen();
    } catch (err) {
      return Promise.reject(err);
    }
    const command: DistCommand = { op: "removeRoutes", removals };
    const changes: RouteIndexChange[] = [];
    this.#index.removeGuarded(removals, changes);
    return this.#submit(command, changes);
  }

  async #submit(command: DistCommand, changes: RouteIndexChange[]): Promise<void> {
    // Recorded before submit: a full batch is flushed inside submit.
    this.#pending.push({ command, changes });
    await this.#writer.submit(command);
  }

  /**
   * After COMMIT: the index already holds the batch's changes when every
   * pending call committed with the predicted effect (the usual case).
   * Otherwise (a command failed, a node's transient routes were removed, a
   * batch split) undo what is pending and apply the committed results.
   */
  #afterCommit(applied: readonly AppliedCommand<DistCommand, DistCommandResult>[]): void {
    const pending = this.#pending;
    let predicted = applied.length === pending.length;
    for (let i = 0; predicted && i < applied.length; i++) {
      const { command, result } = applied[i];
      const p = pending[i];
      predicted = p.command === command &&
        p.changes.length === result.upserted.length + result.removed.length;
    }
    if (predicted) {
      pending.length = 0;
      return;
    }
    this.#undoPending();
    for (const { result } of applied) {
      for (const k of result.removed) this.#index.remove(k);
      for (const r of result.upserted) this.#index.put(r);
    }
  }

  /** Reverts every change not committed yet (newest first): the index is the database again. */
  #undoPending(): void {
    const pending = this.#pending;
    for (let i = pending.length - 1; i >= 0; i--) this.#index.undo(pending[i].changes);
    pending.length = 0;
  }

  #checkOpen(): void {
    if (this.#closed) throw new StoreClosedError(`dist store ${this.#opened.path}`);
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
