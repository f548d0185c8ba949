/**
 * The shared test suite every {@link DistStore} implementation must pass
 * (local SQLite now, base-kv later). Run by `sqliteDistStore_test.ts`.
 *
 * @module
 */
import { deepStrictEqual, rejects, strictEqual } from "node:assert/strict";
import fc from "fast-check";
import type { SubscriptionOptions } from "../message.ts";
import {
  type DistStore,
  inboxReceiverId,
  type MatchResult,
  type Route,
  transientReceiverId,
} from "./distStore.ts";
import { topicMatchesFilter } from "./topicValidation.ts";
import { caseRunner } from "../caseSuite.ts";

/** How the suite opens an implementation. */
export interface DistStoreHarness {
  /** Opens the store (again, after a close, when durable). */
  open(): Promise<DistStore>;
  /** Whether closing and opening again preserves the routes. */
  readonly durable: boolean;
  /** Removes whatever `open` created; called once at the end of each test. */
  cleanup(): Promise<void>;
  /**
   * Makes every later write (add, replace, remove) of a route whose receiver
   * id starts with `receiverIdPrefix` fail in the store's storage, for the
   * store last opened: that command alone, or with `wholeTransaction` every
   * command written with it (as a failed commit would). Absent when this
   * implementation's writes cannot fail.
   */
  readonly failWritesOf?: (receiverIdPrefix: string, wholeTransaction?: boolean) => void;
}

const OPTS: SubscriptionOptions = {
  qos: 1,
  noLocal: false,
  retainAsPublished: false,
  retainHandling: 0,
  subscriptionId: null,
};

/** A route with default options. */
export function route(
  filter: string,
  receiverId: string,
  extra: Partial<Route> = {},
): Route {
  return {
    tenant: "t",
    filter,
    shareGroup: null,
    receiverId,
    incarnation: 1,
    options: OPTS,
    ...extra,
  };
}

function normalIds(m: MatchResult): string[] {
  return m.normal.map((r) => `${r.receiverId}@${r.filter}`).sort();
}

function sharedIds(m: MatchResult): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const [k, rs] of m.shared) out[k] = rs.map((r) => r.receiverId).sort();
  return out;
}

/** Registers the shared tests under `name`; `makeHarness` is called once per test. */
export function distStoreSuite(name: string, makeHarness: () => DistStoreHarness): void {
  const run = caseRunner(name, makeHarness);

  run("match follows MQTT wildcard rules, per tenant", async (h) => {
    const s = await h.open();
    await s.addRoutes([
      route("a/b", "r1"),
      route("a/+", "r2"),
      route("a/#", "r3"),
      route("#", "r4"),
      route("+/b", "r5"),
      route("$SYS/#", "r6"),
      route("a/b", "other", { tenant: "u" }),
    ]);
    strictEqual(s.routeCount(), 7);
    deepStrictEqual(normalIds(s.match("t", "a/b")), [
      "r1@a/b",
      "r2@a/+",
      "r3@a/#",
      "r4@#",
      "r5@+/b",
    ]);
    deepStrictEqual(normalIds(s.match("t", "a")), ["r3@a/#", "r4@#"]);
    deepStrictEqual(normalIds(s.match("t", "$SYS/b")), ["r6@$SYS/#"]);
    deepStrictEqual(normalIds(s.match("t", "x/y/z")), ["r4@#"]);
    deepStrictEqual(normalIds(s.match("u", "a/b")), ["other@a/b"]);
    deepStrictEqual(normalIds(s.match("nobody", "a/b")), []);
    strictEqual(s.match("t", "a/b").shared.size, 0);
    await s.close();
  });

  run("a receiver with overlapping filters appears once per filter", async (h) => {
    const s = await h.open();
    await s.addRoutes([route("a/+", "r"), route("a/#", "r"), route("a/b", "r")]);
    deepStrictEqual(normalIds(s.match("t", "a/b")), ["r@a/#", "r@a/+", "r@a/b"]);
    await s.close();
  });

  run("shared subscriptions are grouped by group and filter", async (h) => {
    const s = await h.open();
    await s.addRoutes([
      route("a/+", "m1", { shareGroup: "g" }),
      route("a/+", "m2", { shareGroup: "g" }),
      route("a/#", "m3", { shareGroup: "g" }),
      route("a/+", "m4", { shareGroup: "h" }),
      route("a/+", "n1"),
    ]);
    const m = s.match("t", "a/x");
    deepStrictEqual(normalIds(m), ["n1@a/+"]);
    deepStrictEqual(sharedIds(m), {
      "g\u0000a/+": ["m1", "m2"],
      "g\u0000a/#": ["m3"],
      "h\u0000a/+": ["m4"],
    });
    strictEqual(s.routeCount(), 5);
    await s.close();
  });

  run("adding the same key replaces options; an older incarnation does not replace", async (h) => {
    const s = await h.open();
    await s.addRoutes([route("a", "r", { incarnation: 2 })]);
    await s.addRoutes([route("a", "r", { incarnation: 2, options: { ...OPTS, qos: 2 } })]);
    strictEqual(s.routeCount(), 1);
    strictEqual(s.match("t", "a").normal[0].options.qos, 2);
    await s.addRoutes([route("a", "r", { incarnation: 1, options: { ...OPTS, qos: 0 } })]);
    strictEqual(s.match("t", "a").normal[0].options.qos, 2);
    strictEqual(s.match("t", "a").normal[0].incarnation, 2);
    await s.close();
  });

  run("removal is guarded by incarnation", async (h) => {
    const s = await h.open();
    await s.addRoutes([route("a", "r", { incarnation: 5 }), route("a", "q", { shareGroup: "g" })]);
    await s.removeRoutes([{ ...route("a", "r"), incarnation: 4 }]);
    strictEqual(s.match("t", "a").normal.length, 1);
    await s.removeRoutes([{ ...route("a", "r"), incarnation: 5 }]);
    strictEqual(s.match("t", "a").normal.length, 0);
    await s.removeRoutes([{ ...route("a", "q"), incarnation: 9 }]); // wrong share group: no-op
    strictEqual(s.match("t", "a").shared.size, 1);
    await s.removeRoutes([{ ...route("a", "q", { shareGroup: "g" }), incarnation: 9 }]);
    strictEqual(s.match("t", "a").shared.size, 0);
    strictEqual(s.routeCount(), 0);
    await s.close();
  });

  run("removeTransientRoutesOfNode removes exactly that node's sessions", async (h) => {
    const s = await h.open();
    await s.addRoutes([
      route("a", transientReceiverId("n1", "1")),
      route("b/#", transientReceiverId("n1", "2"), { shareGroup: "g" }),
      route("a", transientReceiverId("n10", "1")),
      route("a", transientReceiverId("n2", "1"), { tenant: "u" }),
      route("a", inboxReceiverId("t", "n1")),
    ]);
    strictEqual(await s.removeTransientRoutesOfNode("n1"), 2);
    strictEqual(s.routeCount(), 3);
    deepStrictEqual(normalIds(s.match("t", "a")), [
      `${inboxReceiverId("t", "n1")}@a`,
      `${transientReceiverId("n10", "1")}@a`,
    ]);
    strictEqual(await s.removeTransientRoutesOfNode("n1"), 0);
    // Node ids of the form host:port: a node is not confused with a longer one.
    await s.addRoutes([
      route("h", transientReceiverId("10.0.0.1:8899", "5")),
      route("h", transientReceiverId("10.0.0.1:8899", "6"), { shareGroup: "g" }),
      route("h", transientReceiverId("10.0.0.1", "7")),
      route("h", transientReceiverId("10.0.0.1:88990", "8")),
    ]);
    strictEqual(await s.removeTransientRoutesOfNode("10.0.0.1"), 1);
    strictEqual(await s.removeTransientRoutesOfNode("10.0.0.1:8899"), 2);
    deepStrictEqual(normalIds(s.match("t", "h")), [
      `${transientReceiverId("10.0.0.1:88990", "8")}@h`,
    ]);
    await s.close();
  });

  run("invalid routes are rejected and nothing of the call is stored", async (h) => {
    const s = await h.open();
    await rejects(s.addRoutes([route("ok", "r"), route("a/#/b", "r")]), /a\/#\/b/);
    await rejects(s.addRoutes([route("a", "r", { shareGroup: "g/h" })]), /share group/);
    await rejects(s.addRoutes([route("$share/g/a", "r")]), /\$share/);
    strictEqual(s.routeCount(), 0);
    deepStrictEqual(normalIds(s.match("t", "ok")), []);
    await s.close();
  });

  run("calls made in the same turn all land; match sees them after they resolve", async (h) => {
    const s = await h.open();
    deepStrictEqual(normalIds(s.match("t", "a/b")), []); // primes any cache
    const ps: Promise<void>[] = [];
    for (let i = 0; i < 50; i++) ps.push(s.addRoutes([route("a/+", `r${i}`)]));
    ps.push(s.removeRoutes([{ ...route("a/+", "r0"), incarnation: 1 }]));
    await Promise.all(ps);
    strictEqual(s.match("t", "a/b").normal.length, 49);
    strictEqual(s.routeCount(), 49);
    await s.close();
  });

  run("a route is matched as soon as addRoutes is called, before it resolves", async (h) => {
    const s = await h.open();
    deepStrictEqual(normalIds(s.match("t", "a/b")), []); // primes any cache
    const calls: Promise<void>[] = [];
    calls.push(s.addRoutes([route("a/+", "r1"), route("a/#", "m1", { shareGroup: "g" })]));
    // match runs before the promise can settle (same synchronous turn)
    deepStrictEqual(normalIds(s.match("t", "a/b")), ["r1@a/+"]);
    deepStrictEqual(sharedIds(s.match("t", "a/b")), { "g\u0000a/#": ["m1"] });
    strictEqual(s.routeCount(), 2);
    // the incarnation guards apply at once too
    calls.push(s.addRoutes([route("a/+", "r1", { incarnation: 0, options: { ...OPTS, qos: 0 } })]));
    calls.push(s.removeRoutes([{ ...route("a/+", "r1"), incarnation: 0 }]));
    strictEqual(s.match("t", "a/b").normal[0].options.qos, 1);
    calls.push(s.addRoutes([route("a/+", "r1", { incarnation: 2, options: { ...OPTS, qos: 2 } })]));
    strictEqual(s.match("t", "a/b").normal[0].options.qos, 2);
    calls.push(s.removeRoutes([{ ...route("a/#", "m1", { shareGroup: "g" }), incarnation: 1 }]));
    strictEqual(s.match("t", "a/b").shared.size, 0, "a removal is in force at once");
    await Promise.all(calls);
    deepStrictEqual(s.match("t", "a/b").normal, [
      route("a/+", "r1", { incarnation: 2, options: { ...OPTS, qos: 2 } }),
    ]);
    strictEqual(s.routeCount(), 1);
    await s.close();
    if (!h.durable) return;
    const again = await h.open();
    deepStrictEqual(again.match("t", "a/b").normal, [
      route("a/+", "r1", { incarnation: 2, options: { ...OPTS, qos: 2 } }),
    ]);
    await again.close();
  });

  run("calls not awaited are matched at once, as the model says", async (h) => {
    const s = await h.open();
    const filterArb = fc.constantFrom("a", "a/+", "a/#", "#", "+/b");
    const opArb = fc.tuple(
      fc.boolean(),
      filterArb,
      fc.constantFrom("r1", "r2"),
      fc.integer({ min: 0, max: 2 }),
      fc.constantFrom(0, 1, 2),
    );
    const topics = ["a", "a/b", "x/b"];
    const model = new Map<string, Route>();
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 10 }), async (ops) => {
        const calls: Promise<void>[] = [];
        for (const [add, filter, rid, incarnation, qos] of ops) {
          const r = route(filter, rid, {
            incarnation,
            options: { ...OPTS, qos: qos as 0 | 1 | 2 },
          });
          const k = `${filter}\u0000${rid}`;
          const cur = model.get(k);
          if (add) {
            calls.push(s.addRoutes([r]));
            if (cur === undefined || cur.incarnation <= incarnation) model.set(k, r);
          } else {
            calls.push(s.removeRoutes([{ ...r }]));
            if (cur !== undefined && cur.incarnation <= incarnation) model.delete(k);
          }
          strictEqual(s.routeCount(), model.size);
          for (const topic of topics) {
            const want = [...model.values()].filter((m) => topicMatchesFilter(topic, m.filter))
              .map((m) => `${m.receiverId}@${m.filter}:${m.options.qos}`).sort();
            const got = s.match("t", topic).normal
              .map((m) => `${m.receiverId}@${m.filter}:${m.options.qos}`).sort();
            deepStrictEqual(got, want, `topic ${topic} after ${JSON.stringify(ops)}`);
          }
        }
        await Promise.all(calls);
        strictEqual(s.routeCount(), model.size);
      }),
      { numRuns: 100 },
    );
    await s.close();
    if (!h.durable) return;
    const again = await h.open();
    strictEqual(again.routeCount(), model.size, "committed as matched");
    await again.close();
  });

  run("a failed write is undone: no route is left, the other calls land", async (h) => {
    const fail = h.failWritesOf;
    if (fail === undefined) return;
    const s = await h.open();
    await s.addRoutes([route("y", "bad-old"), route("z", "bad-gone")]);
    fail("bad");
    const qos2 = { ...OPTS, qos: 2 as const };
    // alone in its batch
    const lone = s.addRoutes([route("x", "bad")]);
    deepStrictEqual(normalIds(s.match("t", "x")), ["bad@x"], "matched while the write is pending");
    await rejects(lone, /injected/);
    deepStrictEqual(normalIds(s.match("t", "x")), []);
    // in a batch with calls that succeed: a new route, a replacement, a removal
    const failing = [
      s.addRoutes([route("x", "bad")]),
      s.addRoutes([route("y", "bad-old", { options: qos2 })]),
      s.removeRoutes([{ ...route("z", "bad-gone") }]),
    ];
    const ok = [
      s.addRoutes([route("x", "good")]),
      s.addRoutes([route("y", "good", { options: qos2 })]),
    ];
    deepStrictEqual(normalIds(s.match("t", "x")), ["bad@x", "good@x"]);
    strictEqual(s.match("t", "z").normal.length, 0);
    for (const p of failing) await rejects(p, /injected/);
    await Promise.all(ok);
    deepStrictEqual(normalIds(s.match("t", "x")), ["good@x"]);
    deepStrictEqual(
      s.match("t", "y").normal.map((r) => `${r.receiverId}:${r.options.qos}`).sort(),
      ["bad-old:1", "good:2"],
      "the failed replacement left the old route",
    );
    deepStrictEqual(normalIds(s.match("t", "z")), ["bad-gone@z"], "the failed removal left it");
    strictEqual(s.routeCount(), 4);
    await s.close();
    if (!h.durable) return;
    const again = await h.open();
    strictEqual(again.routeCount(), 4);
    deepStrictEqual(normalIds(again.match("t", "x")), ["good@x"]);
    await again.close();
  });

  run("a failed transaction is undone: every call in it rejects and changes nothing", async (h) => {
    const fail = h.failWritesOf;
    if (fail === undefined) return;
    const s = await h.open();
    await s.addRoutes([route("y", "keep"), route("z", "gone")]);
    fail("bad", true);
    const calls = [
      s.addRoutes([route("x", "good")]),
      s.removeRoutes([{ ...route("z", "gone") }]),
      s.addRoutes([route("y", "keep", { options: { ...OPTS, qos: 2 } })]),
      s.addRoutes([route("x", "bad")]),
    ];
    deepStrictEqual(normalIds(s.match("t", "x")), ["bad@x", "good@x"]);
    deepStrictEqual(normalIds(s.match("t", "z")), []);
    strictEqual(s.match("t", "y").normal[0].options.qos, 2);
    for (const p of calls) await rejects(p);
    deepStrictEqual(normalIds(s.match("t", "x")), []);
    deepStrictEqual(normalIds(s.match("t", "z")), ["gone@z"]);
    strictEqual(s.match("t", "y").normal[0].options.qos, 1);
    strictEqual(s.routeCount(), 2);
    // the store goes on: later calls land
    await s.addRoutes([route("x", "later")]);
    deepStrictEqual(normalIds(s.match("t", "x")), ["later@x"]);
    await s.close();
  });

  run("routes survive close and reopen (durable stores)", async (h) => {
    if (!h.durable) return;
    let s = await h.open();
    await s.addRoutes([
      route("a/+", "r1", { options: { ...OPTS, qos: 2, subscriptionId: 7, noLocal: true } }),
      route("a/#", "r2", { shareGroup: "g", incarnation: 3 }),
      route("x", inboxReceiverId("t", "c\u0000d")),
    ]);
    await s.close();
    s = await h.open();
    strictEqual(s.routeCount(), 3);
    deepStrictEqual(s.match("t", "x").normal.map((r) => r.receiverId), [
      inboxReceiverId("t", "c\u0000d"),
    ]);
    await s.removeRoutes([{ ...route("x", inboxReceiverId("t", "c\u0000d")) }]);
    strictEqual(s.routeCount(), 2);
    const m = s.match("t", "a/b");
    deepStrictEqual(m.normal, [
      route("a/+", "r1", { options: { ...OPTS, qos: 2, subscriptionId: 7, noLocal: true } }),
    ]);
    deepStrictEqual([...m.shared.values()], [[
      route("a/#", "r2", { shareGroup: "g", incarnation: 3 }),
    ]]);
    await s.close();
  });

  run("match agrees with the reference matcher after random adds and removes", async (h) => {
    const s = await h.open();
    const level = fc.constantFrom("", "a", "b", "$s");
    const filterArb = fc.tuple(
      fc.array(fc.constantFrom("", "a", "b", "$s", "+"), { maxLength: 3 }),
      fc.boolean(),
    ).filter(([ls, hash]) => ls.length > 0 || hash)
      .map(([ls, hash]) => (hash ? [...ls, "#"] : ls).join("/")).filter((f) => f !== "");
    const opArb = fc.tuple(fc.boolean(), filterArb, fc.constantFrom("r1", "r2"));
    const topicArb = fc.array(level, { minLength: 1, maxLength: 4 }).map((l) => l.join("/"));
    let model = new Map<string, Route>();
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { maxLength: 8 }), topicArb, async (ops, topic) => {
        for (const [add, filter, rid] of ops) {
          const r = route(filter, rid);
          if (add) {
            await s.addRoutes([r]);
            model.set(`${filter}\u0000${rid}`, r);
          } else {
            await s.removeRoutes([{ ...r }]);
            model.delete(`${filter}\u0000${rid}`);
          }
        }
        strictEqual(s.routeCount(), model.size);
        const want = [...model.values()].filter((r) => topicMatchesFilter(topic, r.filter))
          .map((r) => `${r.receiverId}@${r.filter}`).sort();
        deepStrictEqual(normalIds(s.match("t", topic)), want);
      }),
      { numRuns: 150 },
    );
    model = new Map();
    await s.close();
  });
}
