import { ok, rejects, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { StoreClosedError, StoreCorruptError } from "../sqlite/database.ts";
import { inboxStoreSuite, item, SUITE_LIMITS } from "./inboxStore.case.ts";
import { SqliteInboxStore } from "./sqliteInboxStore.ts";

inboxStoreSuite("SqliteInboxStore (file)", () => {
  let dir: string | null = null;
  const opened: SqliteInboxStore[] = [];
  return {
    durable: true,
    open: async (limits) => {
      dir ??= await Deno.makeTempDir();
      const s = new SqliteInboxStore(join(dir, "inbox.db"), limits);
      opened.push(s);
      return s;
    },
    cleanup: async () => {
      for (const s of opened) await s.close();
      if (dir !== null) await Deno.remove(dir, { recursive: true });
    },
  };
});

inboxStoreSuite("SqliteInboxStore (:memory:, tiny cache)", () => {
  let store: SqliteInboxStore | null = null;
  return {
    durable: false,
    open: (limits) =>
      Promise.resolve(store = new SqliteInboxStore(":memory:", limits, { maxCachedInboxes: 1 })),
    cleanup: async () => await store?.close(),
  };
});

const K = { tenant: "t", clientId: "c" };

Deno.test("SqliteInboxStore: one turn of calls is one transaction", async () => {
  const s = new SqliteInboxStore(":memory:", { ...SUITE_LIMITS, maxQueuedMessages: 1000 });
  try {
    const { meta } = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 9, nowMs: 0 });
    const before = s.stats().batches;
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => s.enqueue([item(K, meta.incarnation, `${i}`)])),
    );
    strictEqual(s.stats().batches, before + 1);
    strictEqual((await s.get(K))?.queuedCount, 100);
  } finally {
    await s.close();
  }
  await rejects(s.get(K), StoreClosedError);
});

Deno.test("SqliteInboxStore: a limit error in a batch leaves the other calls intact", async () => {
  const s = new SqliteInboxStore(":memory:", SUITE_LIMITS);
  try {
    const { meta } = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 9, nowMs: 0 });
    const opts = {
      qos: 1,
      noLocal: false,
      retainAsPublished: false,
      retainHandling: 0,
      subscriptionId: null,
    } as const;
    const subs = ["a", "b", "c", "d"].map((filter) => ({ filter, options: opts }));
    const [e1, bad, e2] = await Promise.allSettled([
      s.enqueue([item(K, meta.incarnation, "x")]),
      s.putSubscriptions(K, meta.incarnation, subs),
      s.enqueue([item(K, meta.incarnation, "y")]),
    ]);
    strictEqual(e1.status, "fulfilled");
    strictEqual(bad.status, "rejected");
    strictEqual(e2.status, "fulfilled");
    const m = await s.get(K);
    strictEqual(m?.queuedCount, 2);
    strictEqual(m?.lastSeq, 2);
    strictEqual(m?.subscriptions.size, 0);
  } finally {
    await s.close();
  }
});

Deno.test("SqliteInboxStore: an unreadable message row is an error naming the file", async () => {
  const dir = await Deno.makeTempDir();
  const path = join(dir, "inbox.db");
  try {
    let s = new SqliteInboxStore(path, SUITE_LIMITS);
    const { meta } = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 9, nowMs: 0 });
    await s.enqueue([item(K, meta.incarnation, "x")]);
    await s.close();
    const db = new DatabaseSync(path);
    db.exec("UPDATE inbox_messages SET message = x'c1c1c1'");
    db.close();
    s = new SqliteInboxStore(path, SUITE_LIMITS);
    await rejects(
      s.read(K, 0, 10, 0),
      (e: unknown) =>
        e instanceof StoreCorruptError && e.message.includes(path) && e.message.includes("seq 1"),
    );
    ok((await s.get(K)) !== null, "the store keeps working after a failed read");
    await s.close();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
