import { ok, rejects, strictEqual } from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { StoreClosedError, StoreCorruptError } from "../sqlite/database.ts";
import { fileStoreHarness } from "../sqlite/testing.ts";
import { inboxStoreSuite, item, SUITE_LIMITS } from "./inboxStore.case.ts";
import { SqliteInboxStore } from "./sqliteInboxStore.ts";
import { MemoryInboxStore } from "./memoryInboxStore.ts";
import type { InboxStore } from "./inboxStore.ts";
import fc from "fast-check";

inboxStoreSuite(
  "SqliteInboxStore (file)",
  () => fileStoreHarness("inbox.db", (path, limits) => new SqliteInboxStore(path, limits)),
);

inboxStoreSuite(
  "SqliteInboxStore (file, ASYNC fsync, tiny WAL)",
  () =>
    fileStoreHarness("inbox.db", (path, limits) =>
      new SqliteInboxStore(path, limits, {
        synchronous: "ASYNC",
        checkpointWalBytes: 4096,
      })),
);

inboxStoreSuite("SqliteInboxStore (:memory:, tiny caches)", () => {
  let store: SqliteInboxStore | null = null;
  return {
    durable: false,
    open: (limits) =>
      Promise.resolve(
        store = new SqliteInboxStore(":memory:", limits, {
          maxCachedInboxes: 1,
          recentEntries: { maxEntriesPerInbox: 2, maxEntries: 3 },
        }),
      ),
    cleanup: async () => await store?.close(),
  };
});

inboxStoreSuite("SqliteInboxStore (:memory:, no recent entries)", () => {
  let store: SqliteInboxStore | null = null;
  return {
    durable: false,
    open: (limits) =>
      Promise.resolve(
        store = new SqliteInboxStore(":memory:", limits, {
          recentEntries: { maxEntriesPerInbox: 0 },
        }),
      ),
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

Deno.test("SqliteInboxStore: getNow answers as get when nothing is queued", async () => {
  const s = new SqliteInboxStore(":memory:", SUITE_LIMITS);
  try {
    strictEqual(s.getNow(K), null);
    const attached = s.attach(K, { cleanStart: false, sessionExpirySeconds: 9, nowMs: 0 });
    strictEqual(s.getNow(K), undefined); // the attach is still queued
    const { meta } = await attached;
    strictEqual(s.getNow(K)?.incarnation, meta.incarnation);
    strictEqual(s.getNow(K)?.queuedCount, (await s.get(K))?.queuedCount);
  } finally {
    await s.close();
  }
  strictEqual(s.getNow(K), undefined);
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

Deno.test("SqliteInboxStore behaves like MemoryInboxStore under random operations", async () => {
  const keys = [{ tenant: "t", clientId: "a" }, { tenant: "t", clientId: "b" }];
  const w = <T>(weight: number, arbitrary: fc.Arbitrary<T>) => ({ weight, arbitrary });
  const op = fc.oneof(
    w(1, fc.record({ kind: fc.constant("attach" as const), k: fc.nat(1), clean: fc.boolean() })),
    w(
      4,
      fc.record({
        kind: fc.constant("enqueue" as const),
        ks: fc.array(fc.nat(1), { minLength: 1, maxLength: 4 }),
        expiring: fc.boolean(),
        now: fc.nat(3),
      }),
    ),
    w(
      4,
      fc.record({
        kind: fc.constant("read" as const),
        k: fc.nat(1),
        after: fc.nat(6),
        max: fc.integer({ min: 1, max: 4 }),
        now: fc.nat(3),
      }),
    ),
    w(
      2,
      fc.record({
        kind: fc.constant("remove" as const),
        k: fc.nat(1),
        inc: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
        seqs: fc.array(fc.integer({ min: 1, max: 8 }), { maxLength: 4 }),
      }),
    ),
    w(
      3,
      fc.record({
        kind: fc.constant("release" as const),
        k: fc.nat(1),
        inc: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
        seq: fc.integer({ min: 1, max: 6 }),
      }),
    ),
    w(1, fc.record({ kind: fc.constant("detach0" as const), k: fc.nat(1) })),
  );
  const limitsArb = fc.record({
    maxQueuedMessages: fc.integer({ min: 0, max: 6 }),
    overflowPolicy: fc.constantFrom("drop-newest" as const, "drop-oldest" as const),
    maxSubscriptions: fc.constant(5),
    maxIncomingQos2: fc.constant(5),
  });
  await fc.assert(
    fc.asyncProperty(
      limitsArb,
      fc.array(op, { minLength: 5, maxLength: 30 }),
      async (limits, ops) => {
        const mem = new MemoryInboxStore(limits);
        const sql = new SqliteInboxStore(":memory:", limits, {
          recentEntries: { maxEntriesPerInbox: 2, maxEntries: 3 },
          maxCachedInboxes: 1,
        });
        try {
          const start = [0, 1].map((k) => ({ kind: "attach" as const, k, clean: false }));
          for (const o of [...start, ...ops]) {
            const run = async (s: InboxStore): Promise<unknown> => {
              switch (o.kind) {
                case "attach": {
                  const r = await s.attach(keys[o.k], {
                    cleanStart: o.clean,
                    sessionExpirySeconds: 100,
                    nowMs: 0,
                  });
                  return {
                    ...r.meta,
                    subscriptions: [...r.meta.subscriptions],
                    resumed: r.resumed,
                  };
                }
                case "enqueue": {
                  const items = await Promise.all(o.ks.map(async (k) => {
                    const meta = await s.get(keys[k]);
                    return item(keys[k], meta?.incarnation ?? 0, `m${k}`, {
                      receivedAtMs: o.now,
                      expiresAtMs: o.expiring ? 2 : null,
                    });
                  }));
                  return await s.enqueue(items);
                }
                case "read":
                  return (await s.read(keys[o.k], o.after, o.max, o.now)).map((
                    e,
                  ) => [e.seq, e.state]);
                case "remove":
                  await s.remove(keys[o.k], o.seqs, o.inc);
                  return (await s.get(keys[o.k]))?.queuedCount ?? null;
                case "release":
                  await s.markReleased(keys[o.k], o.seq, o.inc);
                  return null;
                case "detach0": {
                  const meta = await s.get(keys[o.k]);
                  if (meta !== null) await s.detach(keys[o.k], meta.incarnation, 0, 0);
                  return null;
                }
              }
            };
            const want = await run(mem);
            const got = await run(sql);
            if (JSON.stringify(want) !== JSON.stringify(got)) {
              throw new Error(
                `${JSON.stringify(o)}: memory ${JSON.stringify(want)} vs sqlite ${
                  JSON.stringify(got)
                }`,
              );
            }
          }
        } finally {
          await mem.close();
          await sql.close();
        }
      },
    ),
    { numRuns: 300 },
  );
});
