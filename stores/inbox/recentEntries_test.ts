import { deepStrictEqual, strictEqual, throws } from "node:assert/strict";
import type { InboxEntry } from "./inboxStore.ts";
import { RecentEntries } from "./recentEntries.ts";

function entry(seq: number, bytes = 10): InboxEntry {
  return {
    seq,
    message: {
      tenant: "t",
      topic: "x",
      payload: new Uint8Array(bytes),
      qos: 1,
      retain: false,
      publisherClientId: "p",
      receivedAtMs: 0,
      expiresAtMs: null,
      properties: {},
    },
    qos: 1,
    retain: false,
    subscriptionIds: [],
    state: "queued",
  };
}

function scan(r: RecentEntries, key: string, after: number): number[] | null {
  const out: number[] = [];
  return r.scan(key, after, (e) => {
      out.push(e.seq);
      return true;
    })
    ? out
    : null;
}

Deno.test("RecentEntries: a window serves reads at or after its start, not before", () => {
  const r = new RecentEntries({ maxEntriesPerInbox: 3 });
  for (let s = 1; s <= 5; s++) r.appended("a", entry(s));
  deepStrictEqual(scan(r, "a", 2), [3, 4, 5]);
  deepStrictEqual(scan(r, "a", 4), [5]);
  strictEqual(scan(r, "a", 1), null, "seq 2 fell out of the window");
  strictEqual(scan(r, "b", 0), null);
  r.removed("a", 4);
  r.released("a", 5);
  deepStrictEqual(scan(r, "a", 2), [3, 5]);
  let state = "";
  r.scan("a", 4, (e) => {
    state = e.state;
    return false;
  });
  strictEqual(state, "released");
  deepStrictEqual(r.stats().entries, 2);
});

Deno.test("RecentEntries: total entry and byte bounds evict least recently written inboxes", () => {
  const r = new RecentEntries({ maxEntriesPerInbox: 10, maxEntries: 4, maxBytes: 1_000_000 });
  r.appended("a", entry(1));
  r.appended("a", entry(2));
  r.appended("b", entry(1));
  r.appended("b", entry(2));
  r.appended("c", entry(1)); // 5 > 4: "a" (least recently written) goes
  strictEqual(scan(r, "a", 0), null);
  deepStrictEqual(scan(r, "b", 0), [1, 2]);
  strictEqual(r.stats().entries, 3);
  const small = new RecentEntries({ maxBytes: 3 * (100 + 256) });
  for (let s = 1; s <= 5; s++) small.appended("x", entry(s, 100));
  strictEqual(small.stats().bytes <= 3 * 356, true);
  deepStrictEqual(scan(small, "x", 2), [3, 4, 5], "a single inbox is trimmed from the front");
  r.drop("b");
  r.clear();
  strictEqual(r.stats().entries, 0);
  throws(() => new RecentEntries({ maxEntries: -1 }), /maxEntries.*-1/);
});
