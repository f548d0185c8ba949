import { deepStrictEqual } from "node:assert/strict";
import { decode, encode } from "@msgpack/msgpack";
import fc from "fast-check";
import { openDatabase } from "../sqlite/database.ts";
import { type InboxCommand, type InboxCommandResult, InboxStateMachine } from "./inboxCommands.ts";
import type { InboxLimits } from "./inboxStore.ts";

const LIMITS: InboxLimits = {
  maxQueuedMessages: 4,
  overflowPolicy: "drop-oldest",
  maxSubscriptions: 2,
  maxIncomingQos2: 2,
};

const clients = ["a", "b", "c"];
const key = fc.constantFrom(...clients).map((clientId) => ({ tenant: "t", clientId }));
const opts = {
  qos: 1,
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0,
  subscriptionId: null,
} as const;

const ATTACH: fc.Arbitrary<InboxCommand> = fc.record({
  k: key,
  clean: fc.boolean(),
  now: fc.nat(5),
}).map(({ k, clean, now }) => ({
  op: "attach" as const,
  ...k,
  cleanStart: clean,
  sessionExpirySeconds: 1,
  nowMs: now * 1000,
}));

const ENQUEUE: fc.Arbitrary<InboxCommand> = fc.record({
  items: fc.array(
    fc.record({
      k: key,
      inc: fc.integer({ min: 1, max: 4 }),
      exp: fc.option(fc.nat(5)),
      at: fc.nat(5),
    }),
    { minLength: 1, maxLength: 5 },
  ),
}).map(({ items }) => ({
  op: "enqueue" as const,
  items: items.map(({ k, inc, exp, at }) => ({
    key: k,
    incarnation: inc,
    message: {
      tenant: "t",
      topic: "x",
      payload: new Uint8Array([at]),
      qos: 1 as const,
      retain: false,
      publisherClientId: "p",
      receivedAtMs: at,
      expiresAtMs: exp,
      properties: {},
    },
    qos: 1 as const,
    retain: false,
    subscriptionIds: exp === null ? [] : [1, 2],
  })),
}));

const READ: fc.Arbitrary<InboxCommand> = fc.record({
  k: key,
  after: fc.integer({ min: 1, max: 4 }),
  max: fc.integer({ min: 1, max: 3 }),
  now: fc.nat(5),
})
  .map(({ k, after, max, now }) => ({
    op: "read" as const,
    ...k,
    afterSeq: after,
    maxCount: max,
    nowMs: now,
  }));

const commandArb: fc.Arbitrary<InboxCommand> = fc.oneof(
  { weight: 2, arbitrary: ATTACH },
  { weight: 5, arbitrary: ENQUEUE },
  { weight: 4, arbitrary: READ },
  fc.record({ k: key, inc: fc.integer({ min: 1, max: 4 }), s: fc.nat(2), now: fc.nat(5) }).map((
    { k, inc, s, now },
  ) => ({
    op: "detach" as const,
    ...k,
    incarnation: inc,
    sessionExpirySeconds: s,
    nowMs: now * 1000,
  })),
  fc.record({ k: key, seqs: fc.array(fc.integer({ min: 1, max: 8 }), { maxLength: 3 }) }).map((
    { k, seqs },
  ) => ({ op: "remove" as const, ...k, seqs })),
  fc.record({ k: key, seq: fc.integer({ min: 1, max: 8 }) }).map(({ k, seq }) => ({
    op: "markReleased" as const,
    ...k,
    seq,
  })),
  fc.record({
    k: key,
    inc: fc.integer({ min: 1, max: 4 }),
    f: fc.constantFrom("a", "b", "c", "a/#/x"),
  }).map((
    { k, inc, f },
  ) => ({
    op: "putSubscriptions" as const,
    ...k,
    incarnation: inc,
    subscriptions: [{ filter: f, options: opts }],
  })),
  fc.record({ k: key, id: fc.integer({ min: 1, max: 4 }) }).map(({ k, id }) => ({
    op: "addIncomingQos2" as const,
    ...k,
    packetId: id,
  })),
  fc.record({ now: fc.nat(9) }).map(({ now }) => ({
    op: "listExpired" as const,
    nowMs: now * 1000,
    limit: 5,
  })),
  key.map((k) => ({ op: "delete" as const, ...k, incarnation: null })),
);

function dump(db: ReturnType<typeof openDatabase>["db"]): unknown {
  const tables = [
    "inbox_counters",
    "inbox_meta",
    "inbox_subscriptions",
    "inbox_messages",
    "inbox_incoming_qos2",
  ];
  return tables.map((t) => db.prepare(`SELECT * FROM ${t} ORDER BY 1, 2`).all());
}

function plain(r: InboxCommandResult | string): unknown {
  return JSON.parse(JSON.stringify(r, (_k, v) => v instanceof Map ? [...v] : v));
}

Deno.test("InboxStateMachine: replicas applying the same (msgpack round-tripped) commands agree", () => {
  fc.assert(
    fc.property(fc.array(commandArb, { minLength: 10, maxLength: 60 }), (commands) => {
      const a = openDatabase(":memory:");
      const b = openDatabase(":memory:");
      try {
        const smA = new InboxStateMachine(a.db, "a", { limits: LIMITS });
        // Replica B: tiny caches, no recent-entries window, commands via msgpack.
        const smB = new InboxStateMachine(b.db, "b", {
          limits: LIMITS,
          maxCachedInboxes: 1,
          recentEntries: { maxEntriesPerInbox: 0 },
        });
        const applyTx = (
          db: ReturnType<typeof openDatabase>["db"],
          sm: InboxStateMachine,
          cmd: InboxCommand,
        ): InboxCommandResult | string => {
          db.exec("SAVEPOINT c");
          try {
            const r = sm.apply(cmd);
            db.exec("RELEASE c");
            return r;
          } catch (err) {
            db.exec("ROLLBACK TO c");
            db.exec("RELEASE c");
            sm.invalidateCaches();
            return `error: ${err instanceof Error ? err.message : String(err)}`;
          }
        };
        for (const cmd of commands) {
          const ra = applyTx(a.db, smA, cmd);
          const replicated = decode(encode(cmd)) as InboxCommand;
          const rb = applyTx(b.db, smB, replicated);
          deepStrictEqual(plain(rb), plain(ra), `results differ for ${JSON.stringify(cmd)}`);
        }
        deepStrictEqual(dump(b.db), dump(a.db));
      } finally {
        a.db.close();
        b.db.close();
      }
    }),
    { numRuns: 300 },
  );
});
