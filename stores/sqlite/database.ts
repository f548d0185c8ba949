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
   * Durability mode. Default "FULL": SQLite fsyncs the WAL inside every
   * COMMIT, which blocks the event loop for the disk's flush time.
   * "ASYNC": the same guarantee — a write resolves only once fsynced — but
   * COMMIT runs with `synchronous=OFF` and the BatchWriter fdatasyncs the WAL
   * off the JS thread (see walSyncer.ts), so the broker keeps working while
   * the disk flushes; checkpoints are run fully synced by the writer.
   * "NORMAL": may lose the last commits on power loss (never corrupts); for
   * tests and benchmarks only.
   */
  readonly synchronous?: SyncMode;
  /**
   * Hold an exclusive lock on the file for as long as it is open, so that a
   * second process (say, a second broker started on the same data directory)
   * fails at once with a clear error instead of writing behind this one's
   * caches. Default false.
   */
  readonly exclusive?: boolean;
}

/** How commits are made durable; see {@link OpenDatabaseOptions.synchronous}. */
export type SyncMode = "FULL" | "ASYNC" | "NORMAL";

/** The database file is not a database, is corrupt, or holds rows this code cannot read. */
export class StoreCorruptError extends Error {
  /** Creates the instance; see the class docs for the options. */
  constructor(readonly path: string, detail: string, options?: ErrorOptions) {
    super(`store database ${path} is corrupt or unreadable: ${detail}`, options);
    this.name = "StoreCorruptError";
  }
}

/** A store was used after `close()`. */
export class StoreClosedError extends Error {
  /** Creates the instance; see the class docs for the options. */
  constructor(readonly what: string) {
    super(`${what} is closed`);
    this.name = "StoreClosedError";
  }
}

/** An open SQLite database together with the path it came from (for error messages). */
export interface OpenedDatabase {
  /** The connection. */
  readonly db: DatabaseSync;
  /** File path, or ":memory:". */
  readonly path: string;
  /** Durability mode it was opened with. */
  readonly synchronous: SyncMode;
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

/** A store's database, and the state the store loaded from it. */
export interface StoreDatabase<T> {
  readonly opened: OpenedDatabase;
  /** Whether the database was opened here (the store closes it) rather than given. */
  readonly ownsDb: boolean;
  readonly state: T;
}

/**
 * Opens a store on the database file `db` (created if absent; the store owns
 * it) or on an already opened database (which the caller keeps and closes),
 * and loads the store's state with `load`. If `load` throws, a database
 * opened here is closed again and the error passes through.
 */
export function openStoreDatabase<T>(
  db: string | OpenedDatabase,
  options: OpenDatabaseOptions,
  load: (opened: OpenedDatabase) => T,
): StoreDatabase<T> {
  const ownsDb = typeof db === "string";
  const opened = typeof db === "string" ? openDatabase(db, options) : db;
  try {
    return { opened, ownsDb, state: load(opened) };
  } catch (err) {
    if (ownsDb) opened.db.close();
    throw err;
  }
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
  if (synchronous !== "FULL" && synchronous !== "ASYNC" && synchronous !== "NORMAL") {
    throw new RangeError(`synchronous must be FULL, ASYNC or NORMAL, got ${String(synchronous)}`);
  }
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
      if (synchronous === "ASYNC") {
        db.exec("PRAGMA synchronous = OFF");
        // Checkpoints must be fully synced; the BatchWriter runs them (WalSyncer).
        db.exec("PRAGMA wal_autocheckpoint = 0");
      } else db.exec(`PRAGMA synchronous = ${synchronous}`);
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
  return { db, path, synchronous };
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

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * A text column that may contain U+0000 (receiver ids `i:<tenant>\0<client>`).
 * node:sqlite cuts TEXT values at the first NUL when reading them, so such
 * columns are selected as `CAST(col AS BLOB) AS col` and decoded here. Plain
 * strings are accepted too. Anything else is a {@link StoreCorruptError}.
 */
export function textColumn(
  path: string,
  row: Readonly<Record<string, unknown>>,
  col: string,
  table: string,
): string {
  const v = row[col];
  if (typeof v === "string") return v;
  if (v instanceof Uint8Array) {
    try {
      return utf8.decode(v);
    } catch {
      throw new StoreCorruptError(path, `${table}.${col} is not valid UTF-8`);
    }
  }
  throw new StoreCorruptError(
    path,
    `${table}.${col} is ${v === null ? "NULL" : typeof v}, not text`,
  );
}
