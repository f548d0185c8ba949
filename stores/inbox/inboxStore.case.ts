/**
 * The shared test suite every {@link InboxStore} implementation must pass
 * (memory and SQLite now, base-kv later). Run by `memoryInboxStore_test.ts`
 * and `sqliteInboxStore_test.ts`.
 *
 * @module
 */
import { deepStrictEqual, ok, rejects, strictEqual } from "node:assert/strict";
import type { ClientKey, StoredMessage, SubscriptionOptions } from "../message.ts";
import {
  type EnqueueItem,
  InboxLimitError,
  type InboxLimits,
  type InboxStore,
  SESSION_NEVER_EXPIRES,
} from "./inboxStore.ts";
import { caseRunner } from "../caseSuite.ts";

/** How the suite opens an implementation. */
export interface InboxStoreHarness {
  /** Opens the store (again, after a close, when durable) with `limits`. */
  open(limits: InboxLimits): Promise<InboxStore>;
  /** Whether closing and opening again preserves the contents. */
  readonly durable: boolean;
  /** Closes what is still open and removes what `open` created; once per test. */
  cleanup(): Promise<void>;
}

/** Limits used unless a test says otherwise. */
export const SUITE_LIMITS: InboxLimits = {
  maxQueuedMessages: 5,
  overflowPolicy: "drop-newest",
  maxSubscriptions: 3,
  maxIncomingQos2: 3,
};

const T0 = 1_700_000_000_000;
const K: ClientKey = { tenant: "t", clientId: "c" };
const K2: ClientKey = { tenant: "t", clientId: "c2" };
const OPTS: SubscriptionOptions = {
  qos: 1,
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0,
  subscriptionId: null,
};

/** A message on `topic` with a recognisable payload. */
export function msg(topic: string, extra: Partial<StoredMessage> = {}): StoredMessage {
  return {
    tenant: "t",
    topic,
    payload: new TextEncoder().encode(`payload of ${topic}`),
    qos: 1,
    retain: false,
    publisherClientId: "pub",
    receivedAtMs: T0,
    expiresAtMs: null,
    properties: {},
    ...extra,
  };
}

/** An enqueue item for `key` at `incarnation`. */
export function item(
  key: ClientKey,
  incarnation: number,
  topic: string,
  extra: Partial<StoredMessage> = {},
): EnqueueItem {
  return {
    key,
    incarnation,
    message: msg(topic, extra),
    qos: 1,
    retain: false,
    subscriptionIds: [],
  };
}

/** Registers the shared tests under `name`; `makeHarness` is called once per test. */
export function inboxStoreSuite(name: string, makeHarness: () => InboxStoreHarness): void {
  const run = caseRunner(name, makeHarness);

  async function reopen(
    h: InboxStoreHarness,
    s: InboxStore,
    limits = SUITE_LIMITS,
  ): Promise<InboxStore> {
    if (!h.durable) return s;
    await s.close();
    return await h.open(limits);
  }

  run("attach creates, resumes, and a clean start replaces the session", async (h) => {
    const s = await h.open(SUITE_LIMITS);
    strictEqual(await s.get(K), null);
    const a = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 60, nowMs: T0 });
    strictEqual(a.resumed, false);
    deepStrictEqual(a.meta.key, K);
    strictEqual(a.meta.createdAtMs, T0);
    strictEqual(a.meta.lastSeq, 0);
    strictEqual(a.meta.queuedCount, 0);
    strictEqual(a.meta.expiresAtMs, null);
    await s.putSubscriptions(K, a.meta.incarnation, [{ filter: "a/#", options: OPTS }]);
    await s.enqueue([item(K, a.meta.incarnation, "a/1")]);
    strictEqual(await s.addIncomingQos2(K, 7), true);

    const b = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 30, nowMs: T0 + 1 });
    strictEqual(b.resumed, true);
    strictEqual(b.meta.incarnation, a.meta.incarnation);
    strictEqual(b.meta.sessionExpirySeconds, 30);
    strictEqual(b.meta.queuedCount, 1);
    deepStrictEqual([...b.meta.subscriptions.keys()], ["a/#"]);

    const c = await s.attach(K, { cleanStart: true, sessionExpirySeconds: 30, nowMs: T0 + 2 });
    strictEqual(c.resumed, false);
    ok(c.meta.incarnation > b.meta.incarnation, "clean start bumps the incarnation");
    strictEqual(c.meta.queuedCount, 0);
    strictEqual(c.meta.lastSeq, 0);
    strictEqual(c.meta.subscriptions.size, 0);
    strictEqual(c.meta.createdAtMs, T0 + 2);
    deepStrictEqual(await s.incomingQos2(K), []);
    deepStrictEqual(await s.read(K, 0, 10, T0), []);
    await s.close();
  });

  run("incarnations never repeat, even after delete", async (h) => {
    let s = await h.open(SUITE_LIMITS);
    const seen = new Set<number>();
    for (let i = 0; i < 3; i++) {
      const a = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 10, nowMs: T0 });
      ok(!seen.has(a.meta.incarnation));
      seen.add(a.meta.incarnation);
      strictEqual(await s.delete(K, a.meta.incarnation + 1), false);
      strictEqual(await s.delete(K, a.meta.incarnation), true);
      strictEqual(await s.delete(K), false);
      s = await reopen(h, s);
    }
    await s.close();
  });

  run("detach sets expiry; 0 deletes; wrong incarnation is ignored; never-expiring", async (h) => {
    let s = await h.open(SUITE_LIMITS);
    const a = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 5, nowMs: T0 });
    await s.detach(K, a.meta.incarnation + 1, 0, T0); // stale connection: ignored
    ok((await s.get(K)) !== null);
    await s.detach(K, a.meta.incarnation, 5, T0);
    strictEqual((await s.get(K))?.expiresAtMs, T0 + 5000);
    s = await reopen(h, s);
    deepStrictEqual(await s.listExpired(T0 + 4999, 10), []);
    deepStrictEqual(await s.listExpired(T0 + 5000, 10), [{
      key: K,
      incarnation: a.meta.incarnation,
    }]);
    // Resume before expiry clears it.
    const b = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 5, nowMs: T0 + 4000 });
    strictEqual(b.resumed, true);
    strictEqual(b.meta.expiresAtMs, null);
    deepStrictEqual(await s.listExpired(T0 + 99_999, 10), []);
    await s.detach(K, b.meta.incarnation, SESSION_NEVER_EXPIRES, T0);
    strictEqual((await s.get(K))?.expiresAtMs, null);
    strictEqual((await s.get(K))?.sessionExpirySeconds, SESSION_NEVER_EXPIRES);
    deepStrictEqual(await s.listExpired(Number.MAX_SAFE_INTEGER, 10), []);
    await s.detach(K, b.meta.incarnation, 0, T0);
    strictEqual(await s.get(K), null);
    await s.close();
  });

  run("an expired but not yet collected session is not resumed", async (h) => {
    const s = await h.open(SUITE_LIMITS);
    const a = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 1, nowMs: T0 });
    await s.enqueue([item(K, a.meta.incarnation, "x")]);
    await s.detach(K, a.meta.incarnation, 1, T0);
    const b = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 1, nowMs: T0 + 1000 });
    strictEqual(b.resumed, false);
    ok(b.meta.incarnation > a.meta.incarnation);
    strictEqual(b.meta.queuedCount, 0);
    await s.close();
  });

  run("client ids with U+0000 are kept intact", async (h) => {
    let s = await h.open(SUITE_LIMITS);
    const odd = { tenant: "t", clientId: "a\u0000b" };
    const a = await s.attach(odd, { cleanStart: false, sessionExpirySeconds: 1, nowMs: T0 });
    strictEqual(await s.get({ tenant: "t", clientId: "a" }), null);
    await s.detach(odd, a.meta.incarnation, 1, T0);
    s = await reopen(h, s);
    deepStrictEqual(await s.listExpired(T0 + 1000, 10), [{
      key: odd,
      incarnation: a.meta.incarnation,
    }]);
    await rejects(
      s.attach({ tenant: "t\u0000u", clientId: "c" }, {
        cleanStart: false,
        sessionExpirySeconds: 1,
        nowMs: T0,
      }),
      /tenant/,
    );
    await s.close();
  });

  run("listExpired is ordered by expiry and limited", async (h) => {
    const s = await h.open(SUITE_LIMITS);
    const incs: number[] = [];
    for (let i = 0; i < 4; i++) {
      const key = { tenant: "t", clientId: `c${i}` };
      const a = await s.attach(key, { cleanStart: false, sessionExpirySeconds: 10, nowMs: T0 });
      incs.push(a.meta.incarnation);
      await s.detach(key, a.meta.incarnation, 10 - i, T0); // c3 expires first
    }
    const got = await s.listExpired(T0 + 100_000, 3);
    deepStrictEqual(got.map((e) => e.key.clientId), ["c3", "c2", "c1"]);
    deepStrictEqual(got.map((e) => e.incarnation), [incs[3], incs[2], incs[1]]);
    deepStrictEqual((await s.listExpired(T0 + 8000, 10)).map((e) => e.key.clientId), ["c3", "c2"]);
    // Ties: by tenant, then client id.
    for (const clientId of ["z", "b", "m"]) {
      const key = { tenant: "t", clientId };
      const a = await s.attach(key, { cleanStart: false, sessionExpirySeconds: 10, nowMs: T0 });
      await s.detach(key, a.meta.incarnation, 1, T0 - 100_000);
    }
    deepStrictEqual((await s.listExpired(T0, 10)).map((e) => e.key.clientId), ["b", "m", "z"]);
    await s.close();
  });

  run("subscriptions: add, replace, remove, limit, stale incarnation", async (h) => {
    let s = await h.open(SUITE_LIMITS);
    const { meta } = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 10, nowMs: T0 });
    const inc = meta.incarnation;
    await s.putSubscriptions(K, inc, [
      { filter: "a/+", options: OPTS },
      { filter: "$share/g/b/#", options: { ...OPTS, qos: 2, subscriptionId: 9 } },
    ]);
    await s.putSubscriptions(K, inc, [{
      filter: "a/+",
      options: { ...OPTS, qos: 0, noLocal: true },
    }]);
    s = await reopen(h, s);
    let got = (await s.get(K))?.subscriptions;
    deepStrictEqual(got?.get("a/+"), { ...OPTS, qos: 0, noLocal: true });
    deepStrictEqual(got?.get("$share/g/b/#"), { ...OPTS, qos: 2, subscriptionId: 9 });
    await rejects(
      s.putSubscriptions(K, inc, [{ filter: "x", options: OPTS }, { filter: "y", options: OPTS }]),
      (e: unknown) =>
        e instanceof InboxLimitError && e.limit === "maxSubscriptions" && e.value === 3,
    );
    strictEqual((await s.get(K))?.subscriptions.size, 2, "a rejected put stores nothing");
    await s.putSubscriptions(K, inc, [{ filter: "x", options: OPTS }, {
      filter: "a/+",
      options: OPTS,
    }]);
    await rejects(s.putSubscriptions(K, inc, [{ filter: "a/#/b", options: OPTS }]), /a\/#\/b/);
    await s.putSubscriptions(K, inc + 1, [{ filter: "stale", options: OPTS }]);
    await s.removeSubscriptions(K, inc + 1, ["x"]);
    got = (await s.get(K))?.subscriptions;
    deepStrictEqual([...(got?.keys() ?? [])].sort(), ["$share/g/b/#", "a/+", "x"]);
    await s.removeSubscriptions(K, inc, ["x", "a/+", "absent"]);
    deepStrictEqual([...((await s.get(K))?.subscriptions.keys() ?? [])], ["$share/g/b/#"]);
    await s.close();
  });

  run("enqueue to many inboxes in one call: results in order, per-inbox seqs", async (h) => {
    const s = await h.open(SUITE_LIMITS);
    const a = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 10, nowMs: T0 });
    const b = await s.attach(K2, { cleanStart: false, sessionExpirySeconds: 10, nowMs: T0 });
    const results = await s.enqueue([
      item(K, a.meta.incarnation, "1"),
      item(K2, b.meta.incarnation, "2"),
      item(K, a.meta.incarnation, "3"),
      item({ tenant: "t", clientId: "nobody" }, 1, "4"),
      item(K2, b.meta.incarnation + 1, "5"),
      item(K2, b.meta.incarnation, "6"),
    ]);
    deepStrictEqual(results, [
      { ok: true, seq: 1, evictedSeq: null },
      { ok: true, seq: 1, evictedSeq: null },
      { ok: true, seq: 2, evictedSeq: null },
      { ok: false, reason: "no-inbox" },
      { ok: false, reason: "no-inbox" },
      { ok: true, seq: 2, evictedSeq: null },
    ]);
    deepStrictEqual((await s.read(K, 0, 10, T0)).map((e) => e.message.topic), ["1", "3"]);
    deepStrictEqual((await s.read(K2, 0, 10, T0)).map((e) => e.message.topic), ["2", "6"]);
    strictEqual((await s.get(K))?.lastSeq, 2);
    strictEqual((await s.get(K))?.queuedCount, 2);
    await s.close();
  });

  run("calls of one turn resolve in order with their own results", async (h) => {
    const s = await h.open(SUITE_LIMITS);
    const a = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 10, nowMs: T0 });
    const inc = a.meta.incarnation;
    const [r1, r2, read, r3] = await Promise.all([
      s.enqueue([item(K, inc, "1")]),
      s.enqueue([item(K, inc, "2")]),
      s.read(K, 0, 10, T0),
      s.enqueue([item(K, inc + 5, "3")]),
    ]);
    deepStrictEqual([r1[0], r2[0], r3[0]], [
      { ok: true, seq: 1, evictedSeq: null },
      { ok: true, seq: 2, evictedSeq: null },
      { ok: false, reason: "no-inbox" },
    ]);
    deepStrictEqual(read.map((e) => e.seq), [1, 2]);
    await s.close();
  });

  run("a full inbox drops the newest (drop-newest)", async (h) => {
    let s = await h.open(SUITE_LIMITS);
    const { meta } = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 10, nowMs: T0 });
    const items = Array.from({ length: 7 }, (_, i) => item(K, meta.incarnation, `m${i}`));
    const r = await s.enqueue(items);
    deepStrictEqual(r.map((x) => x.ok), [true, true, true, true, true, false, false]);
    deepStrictEqual(r[6], { ok: false, reason: "queue-full" });
    s = await reopen(h, s);
    deepStrictEqual((await s.read(K, 0, 10, T0)).map((e) => e.message.topic), [
      "m0",
      "m1",
      "m2",
      "m3",
      "m4",
    ]);
    await s.remove(K, [1]);
    deepStrictEqual(await s.enqueue([item(K, meta.incarnation, "m7")]), [{
      ok: true,
      seq: 6,
      evictedSeq: null,
    }]);
    await s.close();
  });

  run("a full inbox evicts the oldest (drop-oldest)", async (h) => {
    const limits: InboxLimits = {
      ...SUITE_LIMITS,
      overflowPolicy: "drop-oldest",
      maxQueuedMessages: 3,
    };
    let s = await h.open(limits);
    const { meta } = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 10, nowMs: T0 });
    const items = Array.from({ length: 5 }, (_, i) => item(K, meta.incarnation, `m${i}`));
    const r = await s.enqueue(items);
    deepStrictEqual(r, [
      { ok: true, seq: 1, evictedSeq: null },
      { ok: true, seq: 2, evictedSeq: null },
      { ok: true, seq: 3, evictedSeq: null },
      { ok: true, seq: 4, evictedSeq: 1 },
      { ok: true, seq: 5, evictedSeq: 2 },
    ]);
    s = await reopen(h, s, limits);
    deepStrictEqual((await s.read(K, 0, 10, T0)).map((e) => e.seq), [3, 4, 5]);
    strictEqual((await s.get(K))?.queuedCount, 3);
    await s.close();
  });

  run("a full inbox first drops its expired messages", async (h) => {
    const s = await h.open(SUITE_LIMITS);
    const { meta } = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 10, nowMs: T0 });
    const inc = meta.incarnation;
    const items = Array.from(
      { length: 5 },
      (_, i) => item(K, inc, `m${i}`, { expiresAtMs: i < 2 ? T0 + 10 : null }),
    );
    await s.enqueue(items);
    const r = await s.enqueue([item(K, inc, "late", { receivedAtMs: T0 + 10 })]);
    deepStrictEqual(r, [{ ok: true, seq: 6, evictedSeq: null }]);
    deepStrictEqual((await s.read(K, 0, 10, T0)).map((e) => e.seq), [3, 4, 5, 6]);
    await s.close();
  });

  run("read: after a seq, at most maxCount, expired skipped and removed", async (h) => {
    const s = await h.open({ ...SUITE_LIMITS, maxQueuedMessages: 100 });
    const { meta } = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 10, nowMs: T0 });
    const inc = meta.incarnation;
    await s.enqueue([
      item(K, inc, "1"),
      item(K, inc, "2", { expiresAtMs: T0 + 100 }),
      item(K, inc, "3"),
      item(K, inc, "4", { expiresAtMs: T0 + 100 }),
      item(K, inc, "5"),
      item(K, inc, "6"),
    ]);
    await s.markReleased(K, 4); // released: the PUBREL is owed even after expiry
    deepStrictEqual((await s.read(K, 0, 3, T0)).map((e) => e.seq), [1, 2, 3]);
    deepStrictEqual((await s.read(K, 1, 2, T0 + 100)).map((e) => e.seq), [3, 4]);
    strictEqual((await s.get(K))?.queuedCount, 5, "expired seq 2 removed");
    deepStrictEqual((await s.read(K, 0, 10, T0)).map((e) => e.seq), [1, 3, 4, 5, 6]);
    deepStrictEqual(await s.read(K, 6, 10, T0), []);
    deepStrictEqual(await s.read(K, 0, 0, T0), []);
    deepStrictEqual(await s.read(K2, 0, 10, T0), []);
    await s.close();
  });

  run("entries keep message, qos, retain, subscription ids and state across reopen", async (h) => {
    let s = await h.open(SUITE_LIMITS);
    const { meta } = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 10, nowMs: T0 });
    const m = msg("a/b", {
      qos: 2,
      retain: true,
      payload: new Uint8Array([0, 255, 7]),
      expiresAtMs: T0 + 60_000,
      properties: {
        payloadFormatIndicator: true,
        contentType: "ct",
        responseTopic: "rt",
        correlationData: new Uint8Array([1, 2]),
        userProperties: [["a", "1"], ["a", "2"]],
      },
    });
    await s.enqueue([
      {
        key: K,
        incarnation: meta.incarnation,
        message: m,
        qos: 2,
        retain: true,
        subscriptionIds: [3, 9],
      },
      {
        key: K,
        incarnation: meta.incarnation,
        message: m,
        qos: 0,
        retain: false,
        subscriptionIds: [],
      },
    ]);
    await s.markReleased(K, 1);
    await s.markReleased(K, 99); // absent: no-op
    s = await reopen(h, s);
    const got = await s.read(K, 0, 10, T0);
    deepStrictEqual(got, [
      { seq: 1, message: m, qos: 2, retain: true, subscriptionIds: [3, 9], state: "released" },
      { seq: 2, message: m, qos: 0, retain: false, subscriptionIds: [], state: "queued" },
    ]);
    await s.close();
  });

  run("remove: acknowledged entries go; sequence numbers continue", async (h) => {
    let s = await h.open(SUITE_LIMITS);
    const { meta } = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 10, nowMs: T0 });
    await s.enqueue([item(K, meta.incarnation, "1"), item(K, meta.incarnation, "2")]);
    await s.remove(K, [1, 2, 42]);
    s = await reopen(h, s);
    const m = await s.get(K);
    strictEqual(m?.queuedCount, 0);
    strictEqual(m?.lastSeq, 2);
    deepStrictEqual(await s.enqueue([item(K, meta.incarnation, "3")]), [{
      ok: true,
      seq: 3,
      evictedSeq: null,
    }]);
    await s.remove(K2, [1]); // no inbox: no-op
    await s.close();
  });

  run("incoming QoS 2 packet ids: duplicates, release, limit, persistence", async (h) => {
    let s = await h.open(SUITE_LIMITS);
    await s.attach(K, { cleanStart: false, sessionExpirySeconds: 10, nowMs: T0 });
    strictEqual(await s.addIncomingQos2(K, 5), true);
    strictEqual(await s.addIncomingQos2(K, 5), false);
    strictEqual(await s.addIncomingQos2(K, 1), true);
    strictEqual(await s.addIncomingQos2(K, 65535), true);
    await rejects(
      s.addIncomingQos2(K, 2),
      (e: unknown) => e instanceof InboxLimitError && e.limit === "maxIncomingQos2",
    );
    strictEqual(
      await s.addIncomingQos2(K, 5),
      false,
      "a duplicate at the limit is still a duplicate",
    );
    await rejects(s.addIncomingQos2(K, 0), /packetId/);
    s = await reopen(h, s);
    deepStrictEqual(await s.incomingQos2(K), [1, 5, 65535]);
    await s.removeIncomingQos2(K, 5);
    await s.removeIncomingQos2(K, 4);
    deepStrictEqual(await s.incomingQos2(K), [1, 65535]);
    deepStrictEqual(await s.incomingQos2(K2), []);
    await s.close();
  });

  run("calls guarded by a stale incarnation change nothing", async (h) => {
    const s = await h.open(SUITE_LIMITS);
    const old = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 10, nowMs: T0 });
    const cur = await s.attach(K, { cleanStart: true, sessionExpirySeconds: 10, nowMs: T0 });
    const stale = old.meta.incarnation;
    const inc = cur.meta.incarnation;
    await s.enqueue([item(K, inc, "1"), item(K, inc, "2")]);
    strictEqual(await s.addIncomingQos2(K, 9, inc), true);
    deepStrictEqual(await s.read(K, 0, 10, T0, stale), []);
    await s.remove(K, [1], stale);
    await s.markReleased(K, 2, stale);
    strictEqual(await s.addIncomingQos2(K, 10, stale), false);
    await s.removeIncomingQos2(K, 9, stale);
    deepStrictEqual((await s.read(K, 0, 10, T0, inc)).map((e) => [e.seq, e.state]), [
      [1, "queued"],
      [2, "queued"],
    ]);
    deepStrictEqual(await s.incomingQos2(K), [9]);
    await s.markReleased(K, 2, inc);
    await s.remove(K, [1], inc);
    await s.removeIncomingQos2(K, 9, inc);
    deepStrictEqual((await s.read(K, 0, 10, T0)).map((e) => [e.seq, e.state]), [[2, "released"]]);
    deepStrictEqual(await s.incomingQos2(K), []);
    await s.close();
  });

  run("tenants are separate", async (h) => {
    const s = await h.open(SUITE_LIMITS);
    const other = { tenant: "u", clientId: "c" };
    const a = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 10, nowMs: T0 });
    strictEqual(await s.get(other), null);
    const b = await s.attach(other, { cleanStart: false, sessionExpirySeconds: 10, nowMs: T0 });
    ok(a.meta.incarnation !== b.meta.incarnation);
    await s.enqueue([item(K, a.meta.incarnation, "x")]);
    strictEqual((await s.get(other))?.queuedCount, 0);
    await s.close();
  });

  run("invalid arguments are rejected with the offending value", async (h) => {
    const s = await h.open(SUITE_LIMITS);
    await rejects(s.attach(K, { cleanStart: false, sessionExpirySeconds: -1, nowMs: T0 }), /-1/);
    await rejects(
      s.attach(K, { cleanStart: false, sessionExpirySeconds: 2 ** 32, nowMs: T0 }),
      /4294967296/,
    );
    await rejects(s.read(K, 0, -2, T0), /maxCount.*-2/);
    await rejects(s.remove(K, [1, 0.5]), /seq.*0\.5/);
    const { meta } = await s.attach(K, { cleanStart: false, sessionExpirySeconds: 10, nowMs: T0 });
    await rejects(
      s.enqueue([item(K, meta.incarnation, "ok"), {
        ...item(K, meta.incarnation, "bad"),
        qos: 3 as 0,
      }]),
      /item 1.*qos 3/,
    );
    await rejects(
      s.enqueue([{ ...item(K, meta.incarnation, "bad"), subscriptionIds: [0] }]),
      /subscription id 0/,
    );
    strictEqual((await s.get(K))?.queuedCount, 0, "a rejected enqueue stores nothing");
    await rejects(s.addIncomingQos2(K, 70000), /packetId.*70000/);
    await s.close();
  });
}
