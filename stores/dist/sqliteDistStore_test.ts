import { ok, strictEqual, throws } from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { openDatabase, type OpenedDatabase, StoreCorruptError } from "../sqlite/database.ts";
import { fileStoreHarness } from "../sqlite/testing.ts";
import { distStoreSuite, route } from "./distStore.case.ts";
import { SqliteDistStore, type SqliteDistStoreOptions } from "./sqliteDistStore.ts";

/**
 * Triggers that make every write of a route whose receiver id starts with
 * `prefix` fail inside the store's transaction ("injected write failure"):
 * that statement (ABORT), or the whole transaction (ROLLBACK).
 */
function failWritesSql(prefix: string, wholeTransaction = false): string {
  const quoted = `'${prefix.replaceAll("'", "''")}'`;
  const when = (row: "NEW" | "OLD") =>
    `WHEN substr(${row}.receiver_id, 1, ${prefix.length}) = ${quoted}`;
  const raise = `BEGIN SELECT RAISE(${
    wholeTransaction ? "ROLLBACK" : "ABORT"
  }, 'injected write failure'); END;`;
  return [
    `CREATE TRIGGER fail_insert BEFORE INSERT ON routes ${when("NEW")} ${raise}`,
    `CREATE TRIGGER fail_update BEFORE UPDATE ON routes ${when("NEW")} ${raise}`,
    `CREATE TRIGGER fail_delete BEFORE DELETE ON routes ${when("OLD")} ${raise}`,
  ].join("\n");
}

/** Injects write failures into the database file at `path` (another connection). */
function failWritesInFile(path: string, prefix: string, wholeTransaction?: boolean): void {
  const db = new DatabaseSync(path);
  try {
    db.exec(failWritesSql(prefix, wholeTransaction));
  } finally {
    db.close();
  }
}

/** A file harness whose writes can be made to fail, the store opened with `options`. */
function distFileHarness(options?: SqliteDistStoreOptions) {
  const h = fileStoreHarness("dist.db", (path) => new SqliteDistStore(path, options));
  return {
    ...h,
    failWritesOf: (prefix: string, whole?: boolean) => failWritesInFile(h.path(), prefix, whole),
  };
}

distStoreSuite("SqliteDistStore (file)", () => distFileHarness());

distStoreSuite(
  "SqliteDistStore (file, ASYNC fsync)",
  () => distFileHarness({ synchronous: "ASYNC", checkpointWalBytes: 4096 }),
);

distStoreSuite("SqliteDistStore (:memory:)", () => {
  let store: SqliteDistStore | null = null;
  let db: OpenedDatabase | null = null;
  return {
    durable: false,
    open: () => {
      db = openDatabase(":memory:");
      return Promise.resolve(store = new SqliteDistStore(db));
    },
    failWritesOf: (prefix, whole) => db!.db.exec(failWritesSql(prefix, whole)),
    cleanup: async () => {
      await store?.close();
      db?.db.close();
    },
  };
});

Deno.test("SqliteDistStore: a damaged row is reported with the file name", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = join(dir, "dist.db");
    const s = new SqliteDistStore(path);
    await s.addRoutes([route("a", "r")]);
    await s.close();
    const { DatabaseSync } = await import("node:sqlite");
    const db = new DatabaseSync(path);
    db.exec("UPDATE routes SET qos = 'x'");
    db.close();
    const err = throws(() => new SqliteDistStore(path), StoreCorruptError);
    void err;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("SqliteDistStore: match cache is invalidated by route changes", async () => {
  const s = new SqliteDistStore(":memory:", { matchCacheEntries: 2 });
  try {
    await s.addRoutes([route("a/+", "r1")]);
    strictEqual(s.match("t", "a/b").normal.length, 1);
    strictEqual(s.match("t", "a/b").normal.length, 1);
    ok(s.cacheStats().hits >= 1);
    await s.addRoutes([route("a/b", "r2")]);
    strictEqual(s.match("t", "a/b").normal.length, 2);
    s.match("t", "a/c");
    s.match("t", "a/d");
    ok(s.cacheStats().entries <= 2);
  } finally {
    await s.close();
  }
});
