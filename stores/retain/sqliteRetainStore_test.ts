import { ok, rejects } from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { StoreCorruptError } from "../sqlite/database.ts";
import { fileStoreHarness } from "../sqlite/testing.ts";
import { retained, retainStoreSuite } from "./retainStore.case.ts";
import { SqliteRetainStore } from "./sqliteRetainStore.ts";

retainStoreSuite(
  "SqliteRetainStore (file)",
  () => fileStoreHarness("retain.db", (path, limits) => new SqliteRetainStore(path, limits)),
);

retainStoreSuite(
  "SqliteRetainStore (file, ASYNC fsync)",
  () =>
    fileStoreHarness("retain.db", (path, limits) =>
      new SqliteRetainStore(path, {
        ...limits,
        synchronous: "ASYNC",
        checkpointWalBytes: 4096,
      })),
);

retainStoreSuite("SqliteRetainStore (:memory:)", () => {
  let store: SqliteRetainStore | null = null;
  return {
    durable: false,
    open: (limits) => Promise.resolve(store = new SqliteRetainStore(":memory:", limits)),
    cleanup: async () => await store?.close(),
  };
});

Deno.test("SqliteRetainStore: an unreadable row is an error naming the file and topic", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "retain.db");
  try {
    let s = new SqliteRetainStore(path, { maxRetainedPerTenant: 10 });
    await s.set(retained("a/b"));
    await s.close();
    const db = new DatabaseSync(path);
    db.exec("UPDATE retained SET message = x'00'");
    db.close();
    s = new SqliteRetainStore(path, { maxRetainedPerTenant: 10 });
    await rejects(
      s.match("t", "#", 0, 10),
      (e: unknown) =>
        e instanceof StoreCorruptError && e.message.includes(path) && e.message.includes("a/b"),
    );
    ok(s.count("t") === 1);
    await s.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
