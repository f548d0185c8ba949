/**
 * SQLite {@link LogStore}: the logs of every group of a node in one database
 * (`node:sqlite`, WAL, `synchronous=FULL`). A {@link LogWriteBatch} is one
 * transaction, hence one WAL fsync, whatever the number of groups in it.
 *
 * Every record (group row, snapshot row, entry row) carries a CRC-32C over its
 * fields. Opening verifies the SQLite structure (`PRAGMA quick_check`), every
 * record's checksum and that each group's log is contiguous and as long as
 * its group row says; any mismatch throws {@link StorageCorruptionError} so
 * the replica refuses to serve instead of serving wrong data. Reads that go
 * to disk verify checksums again.
 *
 * Hot reads stay in memory: the term of every stored entry (as runs of equal
 * terms), each group's bounds and hard state, and a bounded cache of the tail
 * of each log (what followers and the apply loop read).
 *
 * Known limit: a WAL file cut at a frame boundary rolls back to an earlier
 * consistent state, which SQLite (by design) cannot tell from a crash before
 * the lost commits; the WAL is checkpointed and truncated on close to keep
 * that window small.
 *
 * @module
 */

import { DatabaseSync, type StatementSync } from "node:sqlite";
import {
  bytes,
  discardUpTo,
  entryCrc,
  groupCrc,
  type GroupMeta,
  guard,
  num,
  parseConfState,
  serializeConfState,
  snapshotCrc,
  str,
  termOf,
  truncateFrom,
} from "./sqliteRecords.ts";
import {
  CompactedError,
  type ConfState,
  type Entry,
  type EntryType,
  type GroupId,
  type GroupLogStorage,
  type GroupWrite,
  type HardState,
  type LogStore,
  type LogWriteBatch,
  type Snapshot,
  StorageCorruptionError,
  UnavailableError,
} from "./logStorage.ts";
import {
  appendGapError,
  assertContiguous,
  cached,
  compactPastLastError,
  EMPTY_HARD_STATE,
  EMPTY_SNAPSHOT,
  entryBytes,
  snapshotTooOldError,
} from "./logRules.ts";

/** Options of {@link SqliteLogStore.open}. */
export interface SqliteLogStoreOptions {
  /** Database file path (created if absent). */
  readonly path: string;
  /**
   * Verify the whole file on open: SQLite structure plus every record's
   * checksum. Costs one full read of the log at start-up; turning it off
   * still verifies group rows and every record read later. Default true.
   */
  readonly verifyOnOpen?: boolean;
  /**
   * Most entries of each group's tail kept in memory for reads. Larger:
   * lagging followers are served without disk reads; more memory per group.
   * Default 1024.
   */
  readonly tailCacheEntries?: number;
  /** Most entry bytes of each group's tail kept in memory. Default 256 KiB. */
  readonly tailCacheBytes?: number;
  /**
   * Bound of the WAL file size kept after a checkpoint (SQLite
   * `journal_size_limit`). Default 64 MiB.
   */
  readonly walSizeLimitBytes?: number;
}

/** The log database is open in another store (this or another process). */
export class LogStoreInUseError extends Error {
  constructor(readonly path: string) {
    super(`log store ${path} is in use by another process or store (exclusive lock held)`);
    this.name = "LogStoreInUseError";
  }
}

/** Counters of a {@link SqliteLogStore} since it was opened. */
export interface SqliteLogStoreStats {
  /** Committed write batches; each is one transaction and one WAL fsync. */
  readonly writeBatches: number;
  readonly entriesWritten: number;
  readonly entryBytesWritten: number;
  /** Entry reads served by the in-memory tail cache / by the database. */
  readonly cacheReads: number;
  readonly diskReads: number;
}

const SCHEMA_VERSION = "1";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS groups (
  gid INTEGER PRIMARY KEY,
  name TEXT NOT NULL UNIQUE,
  dummy_index INTEGER NOT NULL,
  dummy_term INTEGER NOT NULL,
  last_index INTEGER NOT NULL,
  hs_term INTEGER NOT NULL,
  hs_vote TEXT,
  hs_commit INTEGER NOT NULL,
  crc INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS snapshots (
  gid INTEGER PRIMARY KEY,
  snap_index INTEGER NOT NULL,
  snap_term INTEGER NOT NULL,
  conf TEXT NOT NULL,
  data BLOB NOT NULL,
  crc INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
  gid INTEGER NOT NULL,
  idx INTEGER NOT NULL,
  term INTEGER NOT NULL,
  type INTEGER NOT NULL,
  data BLOB NOT NULL,
  crc INTEGER NOT NULL,
  PRIMARY KEY (gid, idx)
) WITHOUT ROWID;
`;

/** Read view of one group of a {@link SqliteLogStore}. */
class SqliteGroupLogStorage implements GroupLogStorage {
  constructor(readonly groupId: GroupId, private readonly store: SqliteLogStore) {}

  initialState(): { hardState: HardState; confState: ConfState } {
    const m = this.store.metaOf(this.groupId);
    return { hardState: m.hardState, confState: m.snapMeta.confState };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    return this.store.readEntries(this.store.metaOf(this.groupId), lo, hi, maxBytes);
  }

  term(index: number): number {
    return termOf(this.store.metaOf(this.groupId), index);
  }

  firstIndex(): number {
    return this.store.metaOf(this.groupId).dummyIndex + 1;
  }

  lastIndex(): number {
    return this.store.metaOf(this.groupId).lastIndex;
  }

  snapshot(): Snapshot {
    return this.store.readSnapshot(this.store.metaOf(this.groupId));
  }
}

/** Log store of many groups in one SQLite database. Open with {@link SqliteLogStore.open}. */
export class SqliteLogStore implements LogStore {
  readonly #db: DatabaseSync;
  readonly #path: string;
  readonly #tailCacheEntries: number;
  readonly #tailCacheBytes: number;
  readonly #metas = new Map<GroupId, GroupMeta>();
  readonly #views = new Map<GroupId, SqliteGroupLogStorage>();
  #nextGid = 1;
  #closed = false;
  #stats = {
    writeBatches: 0,
    entriesWritten: 0,
    entryBytesWritten: 0,
    cacheReads: 0,
    diskReads: 0,
  };

  readonly #insEntry: StatementSync;
  readonly #delFrom: StatementSync;
  readonly #delUpTo: StatementSync;
  readonly #delAll: StatementSync;
  readonly #upsertGroup: StatementSync;
  readonly #delGroup: StatementSync;
  readonly #upsertSnap: StatementSync;
  readonly #delSnap: StatementSync;
  readonly #selEntries: StatementSync;
  readonly #selSnap: StatementSync;

  private constructor(db: DatabaseSync, opts: SqliteLogStoreOptions) {
    this.#db = db;
    this.#path = opts.path;
    this.#tailCacheEntries = opts.tailCacheEntries ?? 1024;
    this.#tailCacheBytes = opts.tailCacheBytes ?? 256 * 1024;
    this.#insEntry = db.prepare(
      "INSERT INTO entries (gid, idx, term, type, data, crc) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.#delFrom = db.prepare("DELETE FROM entries WHERE gid = ? AND idx >= ?");
    this.#delUpTo = db.prepare("DELETE FROM entries WHERE gid = ? AND idx <= ?");
    this.#delAll = db.prepare("DELETE FROM entries WHERE gid = ?");
    this.#upsertGroup = db.prepare(
      `INSERT INTO groups (gid, name, dummy_index, dummy_term, last_index, hs_term, hs_vote, hs_commit, crc)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (gid) DO UPDATE SET dummy_index = excluded.dummy_index,
         dummy_term = excluded.dummy_term, last_index = excluded.last_index,
         hs_term = excluded.hs_term, hs_vote = excluded.hs_vote,
         hs_commit = excluded.hs_commit, crc = excluded.crc`,
    );
    this.#delGroup = db.prepare("DELETE FROM groups WHERE gid = ?");
    this.#upsertSnap = db.prepare(
      "INSERT OR REPLACE INTO snapshots (gid, snap_index, snap_term, conf, data, crc) VALUES (?, ?, ?, ?, ?, ?)",
    );
    this.#delSnap = db.prepare("DELETE FROM snapshots WHERE gid = ?");
    this.#selEntries = db.prepare(
      "SELECT idx, term, type, data, crc FROM entries WHERE gid = ? AND idx >= ? AND idx < ? ORDER BY idx",
    );
    this.#selSnap = db.prepare(
      "SELECT snap_index, snap_term, conf, data, crc FROM snapshots WHERE gid = ?",
    );
  }

  /**
   * Opens (creating if absent) the database at `opts.path` and loads every
   * group. Throws StorageCorruptionError if verification fails.
   */
  static open(opts: SqliteLogStoreOptions): SqliteLogStore {
    const db = guard(`open ${opts.path}`, () => new DatabaseSync(opts.path));
    try {
      return guard(`open ${opts.path}`, () => {
        // Exclusive: a second process (or store) opening the same log would
        // silently fork it; it gets LogStoreInUseError instead. (Also keeps the
        // WAL index in heap memory, no -shm file.)
        try {
          db.exec("PRAGMA locking_mode = EXCLUSIVE");
          db.exec("PRAGMA journal_mode = WAL");
          db.exec("PRAGMA synchronous = FULL");
          db.exec("BEGIN EXCLUSIVE");
          db.exec("COMMIT");
        } catch (e) {
          if (e instanceof Error && /locked|busy/i.test(e.message)) {
            throw new LogStoreInUseError(opts.path);
          }
          throw e;
        }
        db.exec(`PRAGMA journal_size_limit = ${opts.walSizeLimitBytes ?? 64 * 1024 * 1024}`);
        if (opts.verifyOnOpen ?? true) {
          const rows = db.prepare("PRAGMA quick_check").all();
          const results = rows.map((r) => String(Object.values(r)[0]));
          if (results.length !== 1 || results[0] !== "ok") {
            throw new StorageCorruptionError(
              `open ${opts.path}: SQLite quick_check failed: ${results.slice(0, 3).join("; ")}`,
            );
          }
        }
        db.exec(SCHEMA);
        const version = db.prepare("SELECT value FROM meta WHERE key = 'schema'").get();
        if (version === undefined) {
          db.prepare("INSERT INTO meta (key, value) VALUES ('schema', ?)").run(SCHEMA_VERSION);
        } else if (version.value !== SCHEMA_VERSION) {
          throw new Error(
            `open ${opts.path}: unsupported log schema version ${String(version.value)}`,
          );
        }
        const store = new SqliteLogStore(db, opts);
        store.#load(opts.verifyOnOpen ?? true);
        return store;
      });
    } catch (e) {
      db.close();
      throw e;
    }
  }

  /** Loads every group's metadata, verifying checksums and contiguity. */
  #load(verifyEntries: boolean): void {
    const where = `open ${this.#path}`;
    const metas: GroupMeta[] = [];
    for (const row of this.#db.prepare("SELECT * FROM groups ORDER BY gid").iterate()) {
      const voteRaw = row.hs_vote;
      if (voteRaw !== null && typeof voteRaw !== "string") {
        throw new StorageCorruptionError(`${where}: group row vote is not text`);
      }
      const m: GroupMeta = {
        gid: num(row, "gid"),
        name: str(row, "name"),
        persisted: true,
        dummyIndex: num(row, "dummy_index"),
        dummyTerm: num(row, "dummy_term"),
        lastIndex: num(row, "last_index"),
        hardState: { term: num(row, "hs_term"), vote: voteRaw, commit: num(row, "hs_commit") },
        snapMeta: EMPTY_SNAPSHOT.metadata,
        hasSnapshot: false,
        runs: [],
        tail: [],
        tailBytes: 0,
      };
      if (groupCrc(m) !== num(row, "crc")) {
        throw new StorageCorruptionError(
          `${where}: checksum mismatch in the group row of ${m.name}`,
        );
      }
      if (m.lastIndex < m.dummyIndex) {
        throw new StorageCorruptionError(
          `${where}: group ${m.name} has last index below first index`,
        );
      }
      metas.push(m);
      this.#nextGid = Math.max(this.#nextGid, m.gid + 1);
    }
    const byGid = new Map(metas.map((m) => [m.gid, m]));
    for (
      const row of this.#db.prepare(
        "SELECT gid, snap_index, snap_term, conf, data, crc FROM snapshots",
      ).iterate()
    ) {
      const gid = num(row, "gid");
      const m = byGid.get(gid);
      if (m === undefined) {
        throw new StorageCorruptionError(`${where}: snapshot of unknown group ${gid}`);
      }
      this.#checkSnapshotRow(m, row, verifyEntries);
      m.hasSnapshot = true;
      m.snapMeta = {
        index: num(row, "snap_index"),
        term: num(row, "snap_term"),
        confState: parseConfState(str(row, "conf"), `${where}: snapshot of ${m.name}`),
      };
    }
    for (const m of metas) {
      this.#loadEntries(m, verifyEntries);
      this.#metas.set(m.name, m);
    }
    if (verifyEntries) {
      const orphan = this.#db.prepare(
        "SELECT count(*) AS n FROM entries WHERE gid NOT IN (SELECT gid FROM groups)",
      ).get();
      if (orphan !== undefined && num(orphan, "n") > 0) {
        throw new StorageCorruptionError(
          `${where}: ${num(orphan, "n")} entries belong to no group`,
        );
      }
    }
  }

  #checkSnapshotRow(m: GroupMeta, row: Record<string, unknown>, verifyData: boolean): void {
    if (!verifyData) return;
    const crc = snapshotCrc(
      m.gid,
      num(row, "snap_index"),
      num(row, "snap_term"),
      str(row, "conf"),
      bytes(row, "data"),
    );
    if (crc !== num(row, "crc")) {
      throw new StorageCorruptionError(
        `${this.#path}: checksum mismatch in the snapshot of ${m.name}`,
      );
    }
  }

  /** Scans a group's entries to rebuild term runs and the tail cache. */
  #loadEntries(m: GroupMeta, verify: boolean): void {
    const where = `open ${this.#path}: group ${m.name}`;
    m.runs = [];
    m.tail = [];
    m.tailBytes = 0;
    let expected = m.dummyIndex + 1;
    const sql = verify
      ? "SELECT idx, term, type, data, crc FROM entries WHERE gid = ? ORDER BY idx"
      : "SELECT idx, term FROM entries WHERE gid = ? ORDER BY idx";
    const tailFrom = m.lastIndex - this.#tailCacheEntries + 1;
    for (const row of this.#db.prepare(sql).iterate(m.gid)) {
      const idx = num(row, "idx");
      const term = num(row, "term");
      if (idx !== expected) {
        throw new StorageCorruptionError(
          `${where}: expected entry ${expected}, found ${idx} (entries missing or out of range)`,
        );
      }
      expected++;
      if (m.runs.length === 0 || m.runs[m.runs.length - 1].term !== term) {
        m.runs.push({ start: idx, term });
      }
      if (verify) {
        const e = this.#rowToEntry(m, row);
        if (idx >= tailFrom) this.#pushTail(m, e);
      }
    }
    if (expected !== m.lastIndex + 1) {
      throw new StorageCorruptionError(
        `${where}: log ends at ${expected - 1} but the group row says ${m.lastIndex} (truncated)`,
      );
    }
    if (!verify && m.lastIndex > m.dummyIndex) {
      const lo = Math.max(m.dummyIndex + 1, tailFrom);
      for (const e of this.#selectEntries(m, lo, m.lastIndex + 1, Infinity)) this.#pushTail(m, e);
    }
  }

  #rowToEntry(m: GroupMeta, row: Record<string, unknown>): Entry {
    const index = num(row, "idx");
    const term = num(row, "term");
    const type = num(row, "type");
    const data = bytes(row, "data");
    if (entryCrc(m.gid, index, term, type, data) !== num(row, "crc")) {
      throw new StorageCorruptionError(
        `${this.#path}: checksum mismatch in entry ${index} of group ${m.name}`,
      );
    }
    if (type !== 0 && type !== 1) {
      throw new StorageCorruptionError(
        `${this.#path}: entry ${index} of group ${m.name} has type ${type}`,
      );
    }
    return { index, term, type: type as EntryType, data };
  }

  #pushTail(m: GroupMeta, e: Entry): void {
    m.tail.push(e);
    m.tailBytes += entryBytes(e);
    // Trim lazily (amortized O(1) per entry): let the array overshoot the
    // entry bound by half before cutting it back.
    const overCount = m.tail.length > this.#tailCacheEntries + (this.#tailCacheEntries >>> 1);
    if (!overCount && m.tailBytes <= this.#tailCacheBytes) return;
    let drop = 0;
    while (
      m.tail.length - drop > 1 &&
      (m.tail.length - drop > this.#tailCacheEntries || m.tailBytes > this.#tailCacheBytes)
    ) {
      m.tailBytes -= entryBytes(m.tail[drop]);
      drop++;
    }
    if (drop > 0) m.tail = m.tail.slice(drop);
  }

  /** Reads [lo, hi) from the database, at most maxBytes (at least one entry). */
  #selectEntries(m: GroupMeta, lo: number, hi: number, maxBytes: number): Entry[] {
    return guard(`read ${this.#path}`, () => {
      const out: Entry[] = [];
      let total = 0;
      let expected = lo;
      for (const row of this.#selEntries.iterate(m.gid, lo, hi)) {
        const e = this.#rowToEntry(m, row);
        if (e.index !== expected) {
          throw new StorageCorruptionError(
            `${this.#path}: entry ${expected} of group ${m.name} is missing`,
          );
        }
        total += entryBytes(e);
        if (out.length > 0 && total > maxBytes) break;
        out.push(e);
        expected++;
      }
      if (out.length === 0 && lo < hi) {
        throw new StorageCorruptionError(
          `${this.#path}: entry ${lo} of group ${m.name} is missing`,
        );
      }
      return out;
    });
  }

  /** @internal */
  metaOf(groupId: GroupId): GroupMeta {
    this.#assertOpen();
    let m = this.#metas.get(groupId);
    if (m === undefined) {
      m = {
        gid: this.#nextGid++,
        name: groupId,
        persisted: false,
        dummyIndex: 0,
        dummyTerm: 0,
        lastIndex: 0,
        hardState: EMPTY_HARD_STATE,
        snapMeta: EMPTY_SNAPSHOT.metadata,
        hasSnapshot: false,
        runs: [],
        tail: [],
        tailBytes: 0,
      };
      this.#metas.set(groupId, m);
    }
    return m;
  }

  /** @internal */
  readEntries(m: GroupMeta, lo: number, hi: number, maxBytes: number): Entry[] {
    if (lo <= m.dummyIndex) throw new CompactedError(lo, m.dummyIndex + 1);
    if (hi > m.lastIndex + 1) throw new UnavailableError(hi - 1, m.lastIndex);
    if (lo >= hi) return [];
    if (m.tail.length > 0 && lo >= m.tail[0].index) {
      this.#stats.cacheReads++;
      const out: Entry[] = [];
      let total = 0;
      for (let i = lo - m.tail[0].index; i < m.tail.length && m.tail[i].index < hi; i++) {
        total += entryBytes(m.tail[i]);
        if (out.length > 0 && total > maxBytes) break;
        out.push(m.tail[i]);
      }
      return out;
    }
    this.#stats.diskReads++;
    return this.#selectEntries(m, lo, hi, maxBytes);
  }

  /** @internal */
  readSnapshot(m: GroupMeta): Snapshot {
    if (!m.hasSnapshot) return EMPTY_SNAPSHOT;
    return guard(`read ${this.#path}`, () => {
      const row = this.#selSnap.get(m.gid);
      if (row === undefined) {
        throw new StorageCorruptionError(`${this.#path}: snapshot of group ${m.name} is missing`);
      }
      this.#checkSnapshotRow(m, row, true);
      return {
        metadata: {
          index: num(row, "snap_index"),
          term: num(row, "snap_term"),
          confState: parseConfState(str(row, "conf"), `snapshot of ${m.name}`),
        },
        data: bytes(row, "data"),
      };
    });
  }

  group(groupId: GroupId): GroupLogStorage {
    this.#assertOpen();
    return cached(this.#views, groupId, () => new SqliteGroupLogStorage(groupId, this));
  }

  groups(): GroupId[] {
    this.#assertOpen();
    return [...this.#metas.values()].filter((m) => m.persisted).map((m) => m.name).sort();
  }

  dropGroup(groupId: GroupId): void {
    this.#assertOpen();
    const m = this.#metas.get(groupId);
    if (m === undefined) return;
    if (m.persisted) {
      this.#transaction(() => {
        this.#delAll.run(m.gid);
        this.#delSnap.run(m.gid);
        this.#delGroup.run(m.gid);
      });
    }
    this.#metas.delete(groupId);
  }

  write(batch: LogWriteBatch): void {
    this.#assertOpen();
    if (batch.length === 0) return;
    const touched = new Set<GroupMeta>();
    let entries = 0;
    let entryBytes = 0;
    try {
      this.#transaction(() => {
        for (const w of batch) {
          const m = this.metaOf(w.groupId);
          touched.add(m);
          const n = this.#applyGroupWrite(m, w);
          entries += n.entries;
          entryBytes += n.bytes;
        }
        for (const m of touched) {
          const v = m.hardState;
          this.#upsertGroup.run(
            m.gid,
            m.name,
            m.dummyIndex,
            m.dummyTerm,
            m.lastIndex,
            v.term,
            v.vote,
            v.commit,
            groupCrc(m),
          );
        }
      });
    } catch (e) {
      // The transaction rolled back: reload what we may have changed in memory.
      for (const m of touched) this.#reloadMeta(m);
      throw e;
    }
    for (const m of touched) m.persisted = true;
    this.#stats.writeBatches++;
    this.#stats.entriesWritten += entries;
    this.#stats.entryBytesWritten += entryBytes;
  }

  /** Applies one group's writes to the database and to `m` (validating first). */
  #applyGroupWrite(m: GroupMeta, w: GroupWrite): { entries: number; bytes: number } {
    let count = 0;
    let total = 0;
    if (w.snapshot !== undefined) {
      const meta = w.snapshot.metadata;
      if (meta.index < m.dummyIndex) {
        throw snapshotTooOldError(m.name, meta.index, m.dummyIndex);
      }
      const matches = meta.index <= m.lastIndex && termOf(m, meta.index) === meta.term;
      if (matches) {
        this.#delUpTo.run(m.gid, meta.index);
        discardUpTo(m, meta.index);
      } else {
        this.#delAll.run(m.gid);
        m.runs = [];
        m.tail = [];
        m.tailBytes = 0;
        m.lastIndex = meta.index;
      }
      m.dummyIndex = meta.index;
      m.dummyTerm = meta.term;
      const conf = serializeConfState(meta.confState);
      this.#upsertSnap.run(
        m.gid,
        meta.index,
        meta.term,
        conf,
        w.snapshot.data,
        snapshotCrc(m.gid, meta.index, meta.term, conf, w.snapshot.data),
      );
      m.snapMeta = meta;
      m.hasSnapshot = true;
    }
    if (w.entries !== undefined && w.entries.length > 0) {
      assertContiguous(m.name, w.entries);
      const first = w.entries[0].index;
      if (first > m.lastIndex + 1) {
        throw appendGapError(m.name, first, m.lastIndex);
      }
      const skip = Math.max(0, m.dummyIndex + 1 - first);
      if (skip < w.entries.length) {
        const from = first + skip;
        if (from <= m.lastIndex) {
          this.#delFrom.run(m.gid, from);
          truncateFrom(m, from);
        }
        for (let i = skip; i < w.entries.length; i++) {
          const e = w.entries[i];
          this.#insEntry.run(
            m.gid,
            e.index,
            e.term,
            e.type,
            e.data,
            entryCrc(m.gid, e.index, e.term, e.type, e.data),
          );
          if (m.runs.length === 0 || m.runs[m.runs.length - 1].term !== e.term) {
            m.runs.push({ start: e.index, term: e.term });
          }
          this.#pushTail(m, e);
          m.lastIndex = e.index;
          count++;
          total += entryBytes(e);
        }
      }
    }
    if (w.hardState !== undefined) m.hardState = w.hardState;
    if (w.compactTo !== undefined && w.compactTo > m.dummyIndex) {
      if (w.compactTo > m.lastIndex) {
        throw compactPastLastError(m.name, w.compactTo, m.lastIndex);
      }
      m.dummyTerm = termOf(m, w.compactTo);
      this.#delUpTo.run(m.gid, w.compactTo);
      discardUpTo(m, w.compactTo);
      m.dummyIndex = w.compactTo;
    }
    return { entries: count, bytes: total };
  }

  /** Restores `m` from the database after a rolled-back write. */
  #reloadMeta(m: GroupMeta): void {
    this.#metas.delete(m.name);
    const row = this.#db.prepare("SELECT * FROM groups WHERE gid = ?").get(m.gid);
    if (row === undefined) return;
    const voteRaw = row.hs_vote;
    m.persisted = true;
    m.dummyIndex = num(row, "dummy_index");
    m.dummyTerm = num(row, "dummy_term");
    m.lastIndex = num(row, "last_index");
    m.hardState = {
      term: num(row, "hs_term"),
      vote: typeof voteRaw === "string" ? voteRaw : null,
      commit: num(row, "hs_commit"),
    };
    const snap = this.#selSnap.get(m.gid);
    m.hasSnapshot = snap !== undefined;
    m.snapMeta = snap === undefined ? EMPTY_SNAPSHOT.metadata : {
      index: num(snap, "snap_index"),
      term: num(snap, "snap_term"),
      confState: parseConfState(str(snap, "conf"), `snapshot of ${m.name}`),
    };
    this.#loadEntries(m, false);
    this.#metas.set(m.name, m);
  }

  #transaction(fn: () => void): void {
    guard(`write ${this.#path}`, () => {
      this.#db.exec("BEGIN IMMEDIATE");
      try {
        fn();
        this.#db.exec("COMMIT");
      } catch (e) {
        if (this.#db.isTransaction) this.#db.exec("ROLLBACK");
        throw e;
      }
    });
  }

  /** Counters since open. */
  stats(): SqliteLogStoreStats {
    return { ...this.#stats };
  }

  /** Checkpoints and truncates the WAL, then closes the database. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.#db.exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } finally {
      this.#db.close();
    }
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error(`SqliteLogStore ${this.#path}: used after close()`);
  }
}
