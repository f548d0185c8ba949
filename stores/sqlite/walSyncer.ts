/**
 * Group commit with the fsync off the JavaScript thread. In "ASYNC" mode a
 * database commits with `synchronous=OFF` (COMMIT only writes the WAL into the
 * page cache, so it does not block the event loop on the disk), and this
 * syncer `fdatasync`s the WAL file on Deno's blocking-I/O thread pool before
 * any write is reported durable. One sync covers every commit made before it
 * started. Up to `MAX_SYNCS_IN_FLIGHT` syncs overlap (a commit need not wait
 * for an older sync to finish before its own starts); past that, commits wait
 * for the next sync together.
 *
 * The same guarantee as `synchronous=FULL` needs checkpoints to be safe too:
 * auto-checkpoints are off, and `maybeCheckpoint` runs a checkpoint with
 * `synchronous=FULL` (WAL synced before, database file synced after, then the
 * WAL truncated) once the WAL has grown past a threshold, and again at close.
 *
 * @module
 */
import type { OpenedDatabase } from "./database.ts";

/** Most fdatasync calls running at once (Deno's blocking pool runs them in parallel). */
const MAX_SYNCS_IN_FLIGHT = 4;

/** Counters of a {@link WalSyncer}. */
export interface WalSyncStats {
  /** fdatasync calls completed. */
  readonly syncs: number;
  /** Wall time of those calls, summed (ms); they run off the JS thread. */
  readonly syncMsTotal: number;
  /** Checkpoints run. */
  readonly checkpoints: number;
  /** Wall time of checkpoints (they run on the JS thread), summed (ms). */
  readonly checkpointMsTotal: number;
}

interface Deferred {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

function deferred(): Deferred {
  return Promise.withResolvers<void>();
}

/** See the module docs. */
export class WalSyncer {
  readonly #opened: OpenedDatabase;
  readonly #walPath: string;
  readonly #checkpointWalBytes: number;
  #file: Deno.FsFile | null = null;
  readonly #inFlight = new Set<Promise<void>>();
  /** Waiters for the sync that starts when one in flight completes. */
  #next: Deferred | null = null;
  #failed: unknown = null;
  #syncs = 0;
  #syncMs = 0;
  #checkpoints = 0;
  #checkpointMs = 0;

  /**
   * `checkpointWalBytes`: WAL size past which a (blocking, fully synced)
   * checkpoint runs after a commit. Smaller means shorter but more frequent
   * stalls and less disk used by the WAL.
   */
  constructor(opened: OpenedDatabase, checkpointWalBytes: number) {
    if (!Number.isSafeInteger(checkpointWalBytes) || checkpointWalBytes < 1) {
      throw new RangeError(
        `checkpointWalBytes must be a positive integer, got ${checkpointWalBytes}`,
      );
    }
    this.#opened = opened;
    this.#walPath = `${opened.path}-wal`;
    this.#checkpointWalBytes = checkpointWalBytes;
  }

  /** Counters since construction. */
  stats(): WalSyncStats {
    return {
      syncs: this.#syncs,
      syncMsTotal: this.#syncMs,
      checkpoints: this.#checkpoints,
      checkpointMsTotal: this.#checkpointMs,
    };
  }

  /** Resolves once everything committed before this call is on disk. */
  durable(): Promise<void> {
    if (this.#failed !== null) return Promise.reject(this.#failed);
    if (this.#inFlight.size < MAX_SYNCS_IN_FLIGHT) return this.#start();
    this.#next ??= deferred();
    return this.#next.promise;
  }

  #start(): Promise<void> {
    let self: Promise<void> | null = null;
    const run = async (): Promise<void> => {
      try {
        // Opened synchronously so that overlapping syncs share one handle.
        this.#file ??= Deno.openSync(this.#walPath, { read: true });
        const t0 = performance.now();
        await this.#file.syncData();
        this.#syncMs += performance.now() - t0;
        this.#syncs++;
      } catch (err) {
        // A failed fsync leaves the page cache in an unknown state: the store is unusable.
        this.#failed = new Error(
          `fsync of ${this.#walPath} failed; writes since the last sync may be lost: ${
            err instanceof Error ? err.message : String(err)
          }`,
          { cause: err },
        );
        throw this.#failed;
      } finally {
        if (self !== null) this.#inFlight.delete(self);
        const next = this.#next;
        this.#next = null;
        if (next !== null) {
          if (this.#failed !== null) next.reject(this.#failed);
          else this.#start().then(next.resolve, next.reject);
        }
      }
    };
    const p = run();
    self = p;
    this.#inFlight.add(p);
    return p;
  }

  /** After a commit: checkpoints (blocking, fully synced) when the WAL is past the threshold. */
  maybeCheckpoint(): void {
    let size: number;
    try {
      size = Deno.statSync(this.#walPath).size;
    } catch {
      return; // no WAL yet
    }
    if (size < this.#checkpointWalBytes) return;
    this.checkpoint();
  }

  /** Runs a checkpoint with synchronous=FULL and truncates the WAL. */
  checkpoint(): void {
    const db = this.#opened.db;
    const t0 = performance.now();
    db.exec("PRAGMA synchronous = FULL");
    try {
      db.prepare("PRAGMA wal_checkpoint(TRUNCATE)").get();
    } finally {
      db.exec("PRAGMA synchronous = OFF");
    }
    this.#checkpoints++;
    this.#checkpointMs += performance.now() - t0;
  }

  /**
   * Waits for syncs in flight, then leaves the connection in
   * synchronous=FULL so that the checkpoint SQLite runs when the database is
   * closed is synced too. Call before closing the database.
   */
  async close(): Promise<void> {
    while (this.#inFlight.size > 0 || this.#next !== null) {
      try {
        await (this.#next?.promise ?? Promise.all(this.#inFlight));
      } catch {
        break;
      }
    }
    this.#file?.close();
    this.#file = null;
    this.#opened.db.exec("PRAGMA synchronous = FULL");
  }
}
