/**
 * Opening SQLite databases the way every local store wants them: WAL,
 * `synchronous=FULL` (a commit is fsynced), a busy timeout, and errors that
 * name the file.
 *
 * @module
 */
import { DatabaseSync } from "node:sqlite";

/** Options of {@link openDatabase}. */
export interface OpenDatabaseOptions {
  /** How long a statement waits for a lock held by another connection. Default 5000 ms. */
  readonly busyTimeoutMs?: number;
  /**
   * `PRAGMA synchronous` level. Default "FULL": every commit is fsynced, which
   * is what "resolves once durable" promises. "NORMAL" in WAL mode may lose
   * the last commits on power loss (never corrupts); use only for tests/benchmarks.
   */
  readonly synchronous?: "FULL" | "NORMAL";
  /**
   * Hold an exclusive lock on the file for as long as it is open, so that a
   * second process (say, a second broker started on the same data directory)
   * fails at once with a clear error instead of writing behind this one's
   * caches. Default false.
   */
  readonly exclusive?: boolean;
}

/** The database file is not a database, is corrupt, or holds rows this code cannot read. */
export class StoreCorruptError extends Error {
  constructor(readonly path: string, detail: string, options?: ErrorOptions) {
    super(`store database ${path} is corrupt or unreadable: ${detail}`, options);
    this.name = "StoreCorruptError";
  }
}

/** A store was used after `close()`. */
export class StoreClosedError extends Error {
  constructor(readonly what: string) {
    super(`${what} is closed`);
    this.name = "StoreClosedError";
  }
}

/** An open SQLite database together with the path it came from (for error messages). */
export interface OpenedDatabase {
  readonly db: DatabaseSync;
  /** File path, or ":memory:". */
  readonly path: string;
}

const CORRUPT_PATTERNS = [
  "file is not a database",
  "database disk image is malformed",
  "malformed",
  "SQLITE_CORRUPT",
  "SQLITE_NOTADB",
];

/** Whether a SQLite error says the file is damaged (rather than e.g. locked or full). */
export function isCorruptionError(err: unknown): boolean {
  const msg = err instanceof Error ? err.message : String(err);
  return CORRUPT_PATTERNS.some((p) => msg.includes(p));
}

/**
 * Runs `body`; a corruption error from SQLite becomes a {@link StoreCorruptError}
 * naming `path`, anything else passes through unchanged.
 */
export function withCorruptionCheck<T>(path: string, body: () => T): T {
  try {
    return body();
  } catch (err) {
    if (err instanceof StoreCorruptError || !isCorruptionError(err)) throw err;
    throw new StoreCorruptError(path, err instanceof Error ? err.message : String(err), {
      cause: err,
    });
  }
}

/**
 * Opens (creating if absent) the database at `path` in WAL mode with
 * `synchronous=FULL`, and checks that the file really is a readable SQLite
 * database (a quick header/schema read), so a damaged file fails here with a
 * message naming it rather than later with wrong data.
 */
export function openDatabase(path: string, options: OpenDatabaseOptions = {}): OpenedDatabase {
  const busyTimeoutMs = options.busyTimeoutMs ?? 5000;
  if (!Number.isInteger(busyTimeoutMs) || busyTimeoutMs < 0) {
    throw new RangeError(`busyTimeoutMs must be a non-negative integer, got ${busyTimeoutMs}`);
  }
  const synchronous = options.synchronous ?? "FULL";
  let db: DatabaseSync;
  try {
    db = new DatabaseSync(path);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    throw new Error(`cannot open store database ${path}: ${detail}`, { cause: err });
  }
  try {
    withCorruptionCheck(path, () => {
      if (options.exclusive === true) {
        // Set before the first access so that WAL keeps its index in heap memory.
        db.exec("PRAGMA busy_timeout = 0");
        db.exec("PRAGMA locking_mode = EXCLUSIVE");
      } else db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
      // Reading the schema touches the header and page 1: "file is not a database" shows here.
      try {
        db.prepare("SELECT count(*) AS n FROM sqlite_master").get();
      } catch (err) {
        throw lockedOr(path, err);
      }
      if (path !== ":memory:") {
        const row = db.prepare("PRAGMA journal_mode = WAL").get();
        const mode = row === undefined ? undefined : row["journal_mode"];
        if (mode !== "wal") {
          throw new Error(`cannot switch ${path} to WAL mode (journal_mode=${String(mode)})`);
        }
      }
      db.exec(`PRAGMA synchronous = ${synchronous}`);
      db.exec("PRAGMA foreign_keys = OFF");
      if (options.exclusive === true) {
        try {
          db.exec("BEGIN IMMEDIATE; COMMIT"); // takes the exclusive lock now
        } catch (err) {
          throw lockedOr(path, err);
        }
        db.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
      }
    });
  } catch (err) {
    db.close();
    throw err;
  }
  return { db, path };
}

function lockedOr(path: string, err: unknown): unknown {
  const msg = err instanceof Error ? err.message : String(err);
  if (!msg.includes("database is locked")) return err;
  return new Error(
    `store database ${path} is locked by another process (is another broker using this data directory?)`,
    { cause: err },
  );
}

/**
 * Runs `PRAGMA quick_check` (O(database size)); throws {@link StoreCorruptError}
 * naming the file when it reports a problem. For start-up checks and tools.
 */
export function quickCheck(opened: OpenedDatabase): void {
  withCorruptionCheck(opened.path, () => {
    const rows = opened.db.prepare("PRAGMA quick_check").all();
    const first = rows[0]?.["quick_check"];
    if (rows.length !== 1 || first !== "ok") {
      const detail = rows.map((r) => String(r["quick_check"])).slice(0, 5).join("; ");
      throw new StoreCorruptError(opened.path, `quick_check: ${detail}`);
    }
  });
}
