/**
 * The shared test suite every {@link RetainStore} implementation must pass
 * (memory and SQLite now, base-kv later). Run by `memoryRetainStore_test.ts`
 * and `sqliteRetainStore_test.ts`.
 *
 * @module
 */
import { deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import fc from "fast-check";
import type { StoredMessage } from "../message.ts";
import { topicMatchesFilter } from "../dist/topicValidation.ts";
import type { RetainStore } from "./retainStore.ts";
import type { RetainLimits } from "./retainRules.ts";
import { caseRunner } from "../caseSuite.ts";

/** A retain store that can also drop expired messages (all local ones can). */
export type PurgeableRetainStore = RetainStore & {
  purgeExpired(nowMs: number, limit: number): Promise<number>;
};

/** How the suite opens an implementation. */
export interface RetainStoreHarness {
  /** Opens the store (again, after a close, when durable). */
  open(limits: RetainLimits): Promise<PurgeableRetainStore>;
  /** Whether closing and opening again preserves the contents. */
  readonly durable: boolean;
  /** Closes what is still open and removes what `open` created; once per test. */
  cleanup(): Promise<void>;
}

const T0 = 1_700_000_000_000;
const LIMITS: RetainLimits = { maxRetainedPerTenant: 100 };

/** A retained message on `topic` whose payload is `text`. */
export function retained(
  topic: string,
  text = topic,
  extra: Partial<StoredMessage> = {},
): StoredMessage {
  return {
    tenant: "t",
    topic,
    payload: new TextEncoder().encode(text),
    qos: 1,
    retain: true,
    publisherClientId: "pub",
    receivedAtMs: T0,
    expiresAtMs: null,
    properties: {},
    ...extra,
  };
}

function topics(ms: readonly StoredMessage[]): string[] {
  return ms.map((m) => m.topic);
}

/** Registers the shared tests under `name`; `makeHarness` is called once per test. */
export function retainStoreSuite(name: string, makeHarness: () => RetainStoreHarness): void {
  const run = caseRunner(name, makeHarness);

  async function reopen(
    h: RetainStoreHarness,
    s: PurgeableRetainStore,
    limits = LIMITS,
  ): Promise<PurgeableRetainStore> {
    if (!h.durable) return s;
    await s.close();
    return await h.open(limits);
  }

  run("set stores, replaces, and an empty payload deletes", async (h) => {
    let s = await h.open(LIMITS);
    strictEqual(await s.set(retained("a/b", "one")), "stored");
    strictEqual(await s.set(retained("a/b", "two")), "replaced");
    strictEqual(s.count("t"), 1);
    s = await reopen(h, s);
    const got = await s.match("t", "a/b", T0, 10);
    deepStrictEqual(got.map((m) => new TextDecoder().decode(m.payload)), ["two"]);
    strictEqual(await s.set(retained("a/b", "")), "deleted");
    strictEqual(await s.set(retained("never/was", "")), "deleted");
    strictEqual(s.count("t"), 0);
    s = await reopen(h, s);
    deepStrictEqual(await s.match("t", "#", T0, 10), []);
    await s.close();
  });

  run("wildcard match: MQTT rules, topic order, limit", async (h) => {
    let s = await h.open(LIMITS);
    for (const t of ["a/b", "a", "a/c/d", "b", "$SYS/x", "/x", "a//b", "a/"]) {
      await s.set(retained(t));
    }
    s = await reopen(h, s);
    deepStrictEqual(topics(await s.match("t", "#", T0, 100)), [
      "/x",
      "a",
      "a/",
      "a//b",
      "a/b",
      "a/c/d",
      "b",
    ]);
    deepStrictEqual(topics(await s.match("t", "a/#", T0, 100)), [
      "a",
      "a/",
      "a//b",
      "a/b",
      "a/c/d",
    ]);
    deepStrictEqual(topics(await s.match("t", "a/+", T0, 100)), ["a/", "a/b"]);
    deepStrictEqual(topics(await s.match("t", "+", T0, 100)), ["a", "b"]);
    deepStrictEqual(topics(await s.match("t", "+/x", T0, 100)), ["/x"]);
    deepStrictEqual(topics(await s.match("t", "$SYS/#", T0, 100)), ["$SYS/x"]);
    deepStrictEqual(topics(await s.match("t", "+/+/+", T0, 100)), ["a//b", "a/c/d"]);
    deepStrictEqual(topics(await s.match("t", "#", T0, 2)), ["/x", "a"]);
    deepStrictEqual(topics(await s.match("t", "#", T0, 0)), []);
    deepStrictEqual(await s.match("other", "#", T0, 100), []);
    await s.close();
  });

  run("expired messages are not matched; purgeExpired drops them", async (h) => {
    let s = await h.open(LIMITS);
    await s.set(retained("a", "a", { expiresAtMs: T0 + 1000 }));
    await s.set(retained("b", "b", { expiresAtMs: T0 + 2000 }));
    await s.set(retained("c"));
    s = await reopen(h, s);
    deepStrictEqual(topics(await s.match("t", "#", T0 + 999, 10)), ["a", "b", "c"]);
    deepStrictEqual(topics(await s.match("t", "#", T0 + 1000, 10)), ["b", "c"]);
    strictEqual(s.count("t"), 3, "count includes expired ones until purged");
    strictEqual(await s.purgeExpired(T0 + 5000, 1), 1);
    strictEqual(s.count("t"), 2);
    deepStrictEqual(topics(await s.match("t", "#", T0, 10)), ["b", "c"], "earliest expiry first");
    strictEqual(await s.purgeExpired(T0 + 5000, 10), 1);
    strictEqual(s.count("t"), 1);
    deepStrictEqual(topics(await s.match("t", "#", T0, 10)), ["c"]);
    await s.close();
  });

  run(
    "per-tenant limit: new topics rejected, replacements allowed, expired make room",
    async (h) => {
      const limits = { maxRetainedPerTenant: 2 };
      let s = await h.open(limits);
      strictEqual(await s.set(retained("a", "a", { expiresAtMs: T0 + 10 })), "stored");
      strictEqual(await s.set(retained("b")), "stored");
      strictEqual(await s.set(retained("c")), "rejected-limit");
      strictEqual(await s.set(retained("b", "b2")), "replaced");
      strictEqual(await s.set(retained("x", "x", { tenant: "u" })), "stored");
      s = await reopen(h, s, limits);
      strictEqual(await s.set(retained("c", "c", { receivedAtMs: T0 + 10 })), "stored");
      strictEqual(s.count("t"), 2);
      deepStrictEqual(topics(await s.match("t", "#", T0, 10)), ["b", "c"]);
      strictEqual(s.count("u"), 1);
      await s.close();
    },
  );

  run("messages come back exactly as stored", async (h) => {
    let s = await h.open(LIMITS);
    const m = retained("a/b", "x", {
      qos: 2,
      payload: new Uint8Array([0, 1, 2, 255]),
      expiresAtMs: T0 + 60_000,
      properties: {
        payloadFormatIndicator: false,
        contentType: "application/octet-stream",
        responseTopic: "reply/here",
        correlationData: new Uint8Array([42]),
        userProperties: [["k", "v"], ["k", "v2"]],
      },
    });
    await s.set(m);
    s = await reopen(h, s);
    deepStrictEqual(await s.match("t", "a/b", T0, 1), [m]);
    await s.close();
  });

  run("invalid topics and filters are rejected with the value", async (h) => {
    const s = await h.open(LIMITS);
    await rejects(s.set(retained("a/+")), /a\/\+/);
    await rejects(s.set(retained("")), /empty/);
    await rejects(s.match("t", "a/#/b", T0, 10), /a\/#\/b/);
    await rejects(s.match("t", "a", T0, -1), /-1/);
    strictEqual(s.count("t"), 0);
    await s.close();
  });

  run("concurrent sets in one turn each get their own result", async (h) => {
    const s = await h.open({ maxRetainedPerTenant: 2 });
    const rs = await Promise.all([
      s.set(retained("a")),
      s.set(retained("a", "again")),
      s.set(retained("b")),
      s.set(retained("c")),
      s.set(retained("a", "")),
      s.set(retained("c")),
    ]);
    deepStrictEqual(rs, ["stored", "replaced", "stored", "rejected-limit", "deleted", "stored"]);
    deepStrictEqual(topics(await s.match("t", "#", T0, 10)), ["b", "c"]);
    await s.close();
  });

  run("match agrees with the reference matcher after random sets and deletes", async (h) => {
    const s = await h.open({ maxRetainedPerTenant: 1000 });
    const topicArb = fc.array(fc.constantFrom("", "a", "b", "$s"), { minLength: 1, maxLength: 3 })
      .map((l) => l.join("/")).filter((t) => t !== "");
    const filterArb = fc.tuple(
      fc.array(fc.constantFrom("", "a", "b", "$s", "+"), { maxLength: 3 }),
      fc.boolean(),
    ).map(([ls, hash]) => (hash ? [...ls, "#"] : ls).join("/")).filter((f) => f !== "");
    const model = new Set<string>();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.boolean(), topicArb), { maxLength: 6 }),
        filterArb,
        async (ops, filter) => {
          for (const [del, topic] of ops) {
            await s.set(retained(topic, del ? "" : "x"));
            if (del) model.delete(topic);
            else model.add(topic);
          }
          const want = [...model].filter((t) => topicMatchesFilter(t, filter)).sort();
          deepStrictEqual(topics(await s.match("t", filter, T0, 1000)), want);
          strictEqual(s.count("t"), model.size);
        },
      ),
      { numRuns: 150 },
    );
    await s.close();
  });
}
