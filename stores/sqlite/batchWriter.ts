/**
 * Group commit for SQLite state machines. Writes are deterministic commands
 * (plain data) applied by a state machine's `apply(command)`; every command
 * submitted during one event-loop turn is applied inside ONE transaction,
 * committed (one fsync) in the next macrotask, and each caller's promise
 * resolves with its own command's result. A command that throws is rolled back
 * alone (SAVEPOINT per command) and rejects only its own promise.
 *
 * The same commands are what base-kv will later propose through Raft, which
 * is why `apply` must be deterministic: it reads no clock and no randomness,
 * only the command and the database.
 *
 * @module
 */
import type { StatementSync } from "node:sqlite";
import { clearImmediate, setImmediate } from "node:timers";
import {
  isCorruptionError,
  type OpenedDatabase,
  StoreClosedError,
  StoreCorruptError,
  withCorruptionCheck,
} from "./database.ts";
import { WalSyncer, type WalSyncStats } from "./walSyncer.ts";

/** One applied command and its result, as passed to {@link BatchWriterOptions.afterCommit}. */
export interface AppliedCommand<C, R> {
  /** The command as submitted. */
  readonly command: C;
  /** Its result. */
  readonly result: R;
}

/** Configuration of a {@link BatchWriter}. */
export interface BatchWriterOptions<C, R> {
  /** Names the writer in error messages (e.g. "inbox store /data/inbox.db"). */
  readonly name: string;
  /** The database the commands apply to. */
  readonly opened: OpenedDatabase;
  /** Applies one command inside the open transaction; deterministic. */
  readonly apply: (command: C) => R;
  /**
   * Called after COMMIT succeeded, before the callers' promises resolve, with the
   * commands that succeeded in order: keep in-memory indexes in step here.
   */
  readonly afterCommit?: (applied: readonly AppliedCommand<C, R>[]) => void;
  /**
   * Called when a command was rolled back to its savepoint, or when the whole
   * transaction was rolled back: any in-memory cache `apply` touched may now be
   * ahead of the database and must be reloaded.
   */
  readonly afterRollback?: () => void;
  /**
   * Most commands in one transaction. When a turn submits more, the batch is
   * flushed early (synchronously) and a new one starts. Bounds the memory of the
   * pending queue and the latency of one commit. Default 1024.
   */
  readonly maxCommandsPerBatch?: number;
  /**
   * Whether a command's promise must wait until its commit is on disk (only
   * matters in "ASYNC" mode; default: every command). Pure reads answer right
   * after COMMIT: they may show writes not yet fsynced, as a reader of a
   * replicated store may see a write before the leader acknowledges it.
   */
  readonly needsSync?: (command: C) => boolean;
  /** In "ASYNC" mode: WAL size that triggers a checkpoint after a commit. Default 16 MiB. */
  readonly checkpointWalBytes?: number;
}

interface Pending<C, R> {
  readonly command: C;
  readonly resolve: (r: R) => void;
  readonly reject: (e: unknown) => void;
}

/** A corruption error from SQLite inside one command, as a StoreCorruptError naming the file. */
function named(path: string, error: unknown): unknown {
  if (error instanceof StoreCorruptError || !isCorruptionError(error)) return error;
  return new StoreCorruptError(path, error instanceof Error ? error.message : String(error), {
    cause: error,
  });
}

type Outcome<R> = { ok: true; result: R } | { ok: false; error: unknown };

/** The whole transaction failed. */
class Failure {
  constructor(readonly error: unknown) {}
}

/** Counters for metrics and tests. */
export interface BatchWriterStats {
  /** Transactions committed. */
  readonly batches: number;
  /** Commands applied successfully. */
  readonly commands: number;
  /** Commands that failed (their own promise rejected). */
  readonly failedCommands: number;
  /** Wall time spent in COMMIT, summed (ms). */
  readonly commitMsTotal: number;
  /** The longest COMMIT (ms). */
  readonly commitMsMax: number;
  /** "ASYNC" mode only: WAL syncs and checkpoints. */
  readonly wal: WalSyncStats | null;
}

/** Group-commit writer over one SQLite connection. See the module docs. */
export class BatchWriter<C, R> {
  readonly #opts: BatchWriterOptions<C, R>;
  readonly #maxCommands: number;
  #pending: Pending<C, R>[] = [];
  #timer: ReturnType<typeof setImmediate> | null = null;
  #closed = false;
  #flushing = false;
  #batches = 0;
  readonly #syncer: WalSyncer | null;
  #commitMsTotal = 0;
  #commitMsMax = 0;
  #commands = 0;
  #failed = 0;
  readonly #begin: StatementSync;
  readonly #commit: StatementSync;
  readonly #rollback: StatementSync;
  readonly #savepoint: StatementSync;
  readonly #release: StatementSync;
  readonly #rollbackTo: StatementSync;

  /** Creates the instance; see the class docs for the options. */
  constructor(options: BatchWriterOptions<C, R>) {
    const max = options.maxCommandsPerBatch ?? 1024;
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`maxCommandsPerBatch must be a positive integer, got ${max}`);
    }
    this.#opts = options;
    this.#maxCommands = max;
    const db = options.opened.db;
    this.#begin = db.prepare("BEGIN IMMEDIATE");
    this.#commit = db.prepare("COMMIT");
    this.#rollback = db.prepare("ROLLBACK");
    this.#savepoint = db.prepare("SAVEPOINT cmd");
    this.#release = db.prepare("RELEASE cmd");
    this.#rollbackTo = db.prepare("ROLLBACK TO cmd");
    this.#syncer = options.opened.synchronous === "ASYNC" && options.opened.path !== ":memory:"
      ? new WalSyncer(options.opened, options.checkpointWalBytes ?? 16 * 1024 * 1024)
      : null;
  }

  /** Queues `command` for the current turn's transaction; resolves with its result once committed. */
  submit(command: C): Promise<R> {
    if (this.#closed) return Promise.reject(new StoreClosedError(this.#opts.name));
    return new Promise<R>((resolve, reject) => {
      this.#pending.push({ command, resolve, reject });
      if (this.#pending.length >= this.#maxCommands && !this.#flushing) {
        this.flush();
      } else if (this.#timer === null) {
        this.#timer = setImmediate(() => {
          this.#timer = null;
          this.flush();
        });
      }
    });
  }

  /** Commands waiting for the next flush. */
  get pendingCount(): number {
    return this.#pending.length;
  }

  /** Counters since construction. */
  stats(): BatchWriterStats {
    return {
      batches: this.#batches,
      commands: this.#commands,
      failedCommands: this.#failed,
      commitMsTotal: this.#commitMsTotal,
      commitMsMax: this.#commitMsMax,
      wal: this.#syncer?.stats() ?? null,
    };
  }

  /** Applies and commits everything pending now (synchronously). */
  flush(): void {
    if (this.#flushing) return;
    this.#flushing = true;
    try {
      while (this.#pending.length > 0) {
        const batch = this.#pending.splice(0, this.#maxCommands);
        this.#flushBatch(batch);
      }
    } finally {
      this.#flushing = false;
    }
  }

  #flushBatch(batch: Pending<C, R>[]): void {
    // Optimistic first: no savepoints (they cost ~10 µs a command). If a command
    // throws, the whole transaction is rolled back and the batch re-applied with
    // a savepoint per command; `apply` is deterministic, so the others come out
    // the same, as if the failed command had never been submitted.
    let outcomes = this.#tryApply(batch, false);
    if (outcomes === "retry") outcomes = this.#tryApply(batch, true);
    if (outcomes === "retry") throw new Error("unreachable: savepoint mode does not retry");
    if (outcomes instanceof Failure) {
      this.#opts.afterRollback?.();
      this.#failed += batch.length;
      for (const p of batch) p.reject(outcomes.error);
      return;
    }
    this.#batches++;
    const applied: AppliedCommand<C, R>[] = [];
    for (let i = 0; i < batch.length; i++) {
      const o = outcomes[i];
      if (o.ok) applied.push({ command: batch[i].command, result: o.result });
    }
    let afterError: unknown = null;
    try {
      this.#opts.afterCommit?.(applied);
    } catch (err) {
      afterError = err;
    }
    const syncer = this.#syncer;
    let durable: Promise<void> | null = null;
    if (syncer !== null && afterError === null) {
      try {
        syncer.maybeCheckpoint();
      } catch (err) {
        afterError = err;
      }
    }
    const needsSync = this.#opts.needsSync;
    for (let i = 0; i < batch.length; i++) {
      const o = outcomes[i];
      const p = batch[i];
      if (afterError !== null) p.reject(afterError);
      else if (o.ok) {
        this.#commands++;
        if (syncer === null || (needsSync !== undefined && !needsSync(p.command))) {
          p.resolve(o.result);
        } else {
          durable ??= syncer.durable();
          const result = o.result;
          durable.then(() => p.resolve(result), p.reject);
        }
      } else {
        this.#failed++;
        p.reject(o.error);
      }
    }
  }

  /**
   * Applies the batch in one transaction and commits. Without savepoints, a
   * failing command aborts the attempt ("retry"); with them, it is rolled back
   * alone. A failure of the transaction itself (BEGIN/COMMIT, I/O, corruption)
   * is a {@link Failure} for every command.
   */
  #tryApply(batch: Pending<C, R>[], savepoints: boolean): Outcome<R>[] | "retry" | Failure {
    const { apply, afterRollback, opened } = this.#opts;
    const outcomes: Outcome<R>[] = [];
    let anyFailed = false;
    try {
      const retry = withCorruptionCheck(opened.path, () => {
        this.#begin.run();
        try {
          for (const p of batch) {
            if (!savepoints) {
              try {
                outcomes.push({ ok: true, result: apply(p.command) });
              } catch (error) {
                if (batch.length === 1) {
                  outcomes.push({ ok: false, error: named(opened.path, error) });
                  anyFailed = true;
                  this.#rollback.run();
                  return false;
                }
                this.#rollback.run();
                return true;
              }
              continue;
            }
            this.#savepoint.run();
            try {
              const result = apply(p.command);
              this.#release.run();
              outcomes.push({ ok: true, result });
            } catch (error) {
              this.#rollbackTo.run();
              this.#release.run();
              outcomes.push({ ok: false, error: named(opened.path, error) });
              anyFailed = true;
            }
          }
          const t0 = performance.now();
          this.#commit.run();
          const ms = performance.now() - t0;
          this.#commitMsTotal += ms;
          if (ms > this.#commitMsMax) this.#commitMsMax = ms;
          return false;
        } catch (err) {
          try {
            this.#rollback.run();
          } catch {
            // The transaction may already be gone (e.g. SQLite rolled back on its own).
          }
          throw err;
        }
      });
      if (anyFailed || retry) afterRollback?.();
      if (retry) return "retry";
    } catch (error) {
      return new Failure(error);
    }
    return outcomes;
  }

  /** Flushes what is pending, then refuses further commands. Does not close the database. */
  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    if (this.#timer !== null) {
      clearImmediate(this.#timer);
      this.#timer = null;
    }
    this.flush();
    this.#closed = true;
    return this.#syncer?.close() ?? Promise.resolve();
  }
}
