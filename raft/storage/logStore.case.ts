/**
 * The shared test suite every {@link LogStore} implementation must pass
 * (run by `memoryLogStore_test.ts` and `sqliteLogStore_test.ts`).
 *
 * @module
 */

import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import {
  CompactedError,
  type ConfState,
  type Entry,
  EntryType,
  type LogStore,
  type Snapshot,
  UnavailableError,
} from "./logStorage.ts";

/** How the suite opens an implementation. */
export interface LogStoreHarness {
  /** Opens the store (again). Every store opened is closed by the suite. */
  open(): LogStore;
  /** Whether closing and opening again preserves the contents. */
  readonly durable: boolean;
  /** Removes whatever `open` created; called once at the end of each test. */
  cleanup(): void;
}

/** Builds an entry whose payload is `bytes` long and recognisable from index and term. */
export function entry(index: number, term: number, bytes = 8): Entry {
  const data = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) data[i] = (index * 31 + term * 7 + i) & 0xff;
  return { index, term, type: EntryType.Normal, data };
}

/** Entries lo..=hi all in `term`. */
export function entryRange(lo: number, hi: number, term: number, bytes = 8): Entry[] {
  const out: Entry[] = [];
  for (let i = lo; i <= hi; i++) out.push(entry(i, term, bytes));
  return out;
}

const CONF: ConfState = {
  voters: ["a", "b", "c"],
  learners: ["d"],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
};

function snapshotAt(index: number, term: number, data = [1, 2, 3]): Snapshot {
  return { metadata: { index, term, confState: CONF }, data: new Uint8Array(data) };
}

function plain(es: readonly Entry[]): unknown[] {
  return es.map((e) => ({ index: e.index, term: e.term, type: e.type, data: [...e.data] }));
}

/**
 * Registers the shared tests under `name`. `makeHarness` is called once per test.
 */
export function logStoreSuite(name: string, makeHarness: () => LogStoreHarness): void {
  function run(title: string, body: (h: LogStoreHarness, stores: LogStore[]) => void): void {
    Deno.test(`${name}: ${title}`, () => {
      const h = makeHarness();
      const stores: LogStore[] = [];
      const tracked: LogStoreHarness = {
        durable: h.durable,
        cleanup: () => {},
        open: () => {
          const s = h.open();
          stores.push(s);
          return s;
        },
      };
      try {
        body(tracked, stores);
      } finally {
        for (const s of stores) s.close();
        h.cleanup();
      }
    });
  }

  /** Closes the store and opens it again when durable; otherwise keeps it. */
  function reopen(h: LogStoreHarness, s: LogStore): LogStore {
    if (!h.durable) return s;
    s.close();
    return h.open();
  }

  run("an empty group has the empty log, hard state and snapshot", (h) => {
    const s = h.open();
    const g = s.group("g1");
    strictEqual(g.groupId, "g1");
    strictEqual(g.firstIndex(), 1);
    strictEqual(g.lastIndex(), 0);
    strictEqual(g.term(0), 0);
    deepStrictEqual(g.entries(1, 1, 100), []);
    throws(() => g.entries(1, 2, 100), UnavailableError);
    throws(() => g.term(1), UnavailableError);
    deepStrictEqual(g.initialState().hardState, { term: 0, vote: null, commit: 0 });
    deepStrictEqual(g.initialState().confState.voters, []);
    strictEqual(g.snapshot().metadata.index, 0);
    deepStrictEqual(s.groups(), []);
  });

  run("appended entries are read back with terms and a byte limit", (h) => {
    let s = h.open();
    s.write([{ groupId: "g", entries: [...entryRange(1, 3, 1, 10), ...entryRange(4, 6, 2, 10)] }]);
    s = reopen(h, s);
    const g = s.group("g");
    strictEqual(g.firstIndex(), 1);
    strictEqual(g.lastIndex(), 6);
    deepStrictEqual([0, 1, 2, 3, 4, 5, 6].map((i) => g.term(i)), [0, 1, 1, 1, 2, 2, 2]);
    deepStrictEqual(
      plain(g.entries(2, 6, 1000)),
      plain(entryRange(2, 3, 1, 10).concat(entryRange(4, 5, 2, 10))),
    );
    deepStrictEqual(g.entries(2, 6, 25).map((e) => e.index), [2, 3]);
    // At least one entry even if it alone exceeds the limit.
    deepStrictEqual(g.entries(2, 6, 0).map((e) => e.index), [2]);
    throws(() => g.entries(5, 8, 1000), UnavailableError);
    throws(() => g.term(7), UnavailableError);
    deepStrictEqual(s.groups(), ["g"]);
  });

  run("appending over existing entries truncates the conflicting suffix", (h) => {
    let s = h.open();
    s.write([{ groupId: "g", entries: entryRange(1, 5, 1) }]);
    s.write([{ groupId: "g", entries: entryRange(3, 4, 2) }]);
    const g = () => s.group("g");
    strictEqual(g().lastIndex(), 4);
    deepStrictEqual(
      plain(g().entries(1, 5, 1000)),
      plain([...entryRange(1, 2, 1), ...entryRange(3, 4, 2)]),
    );
    s = reopen(h, s);
    strictEqual(g().lastIndex(), 4);
    strictEqual(g().term(4), 2);
    throws(() => g().term(5), UnavailableError);
    // Re-appending the same suffix is idempotent.
    s.write([{ groupId: "g", entries: entryRange(4, 4, 2) }]);
    strictEqual(g().lastIndex(), 4);
    s.write([{ groupId: "g", entries: entryRange(5, 7, 3) }]);
    s = reopen(h, s);
    deepStrictEqual([4, 5, 7].map((i) => g().term(i)), [2, 3, 3]);
  });

  run("a batch with a contract violation changes nothing, in any group", (h) => {
    const s = h.open();
    s.write([{ groupId: "a", entries: entryRange(1, 2, 1) }]);
    throws(() =>
      s.write([
        {
          groupId: "a",
          entries: entryRange(3, 4, 1),
          hardState: { term: 1, vote: "x", commit: 4 },
        },
        { groupId: "b", entries: entryRange(1, 1, 1) },
        { groupId: "c", entries: entryRange(5, 6, 1) }, // gap
      ]), RangeError);
    strictEqual(s.group("a").lastIndex(), 2);
    strictEqual(s.group("a").initialState().hardState.commit, 0);
    strictEqual(s.group("b").lastIndex(), 0);
    deepStrictEqual(s.groups(), ["a"]);
    throws(() => s.write([{ groupId: "a", entries: [entry(3, 1), entry(5, 1)] }]), RangeError);
    throws(() => s.write([{ groupId: "a", compactTo: 3 }]), RangeError);
    strictEqual(s.group("a").lastIndex(), 2);
  });

  run("several writes to one group in a batch apply in order, or not at all", (h) => {
    const s = h.open();
    s.write([
      { groupId: "a", entries: entryRange(1, 3, 1) },
      { groupId: "a", entries: entryRange(3, 4, 2), compactTo: 2 },
      { groupId: "b", entries: entryRange(1, 1, 1) },
    ]);
    strictEqual(s.group("a").firstIndex(), 3);
    deepStrictEqual([2, 3, 4].map((i) => s.group("a").term(i)), [1, 2, 2]);
    throws(() =>
      s.write([
        { groupId: "a", entries: entryRange(5, 5, 2) },
        { groupId: "a", entries: entryRange(7, 7, 2) }, // gap after 5
      ]), RangeError);
    strictEqual(s.group("a").lastIndex(), 4);
  });

  run("hard state round-trips, including a null vote", (h) => {
    let s = h.open();
    s.write([{ groupId: "g", hardState: { term: 5, vote: "node-2", commit: 0 } }]);
    s = reopen(h, s);
    deepStrictEqual(s.group("g").initialState().hardState, { term: 5, vote: "node-2", commit: 0 });
    s.write([{
      groupId: "g",
      entries: entryRange(1, 3, 5),
      hardState: { term: 6, vote: null, commit: 3 },
    }]);
    s = reopen(h, s);
    deepStrictEqual(s.group("g").initialState().hardState, { term: 6, vote: null, commit: 3 });
    deepStrictEqual(s.groups(), ["g"]);
  });

  run("compaction discards a prefix and keeps the term of the compaction point", (h) => {
    let s = h.open();
    s.write([{ groupId: "g", entries: [...entryRange(1, 4, 1), ...entryRange(5, 8, 2)] }]);
    s.write([{ groupId: "g", compactTo: 5 }]);
    s = reopen(h, s);
    const g = () => s.group("g");
    strictEqual(g().firstIndex(), 6);
    strictEqual(g().lastIndex(), 8);
    strictEqual(g().term(5), 2);
    throws(() => g().term(4), CompactedError);
    throws(() => g().entries(5, 7, 100), CompactedError);
    deepStrictEqual(g().entries(6, 9, 100).map((e) => e.index), [6, 7, 8]);
    // Compacting to an already compacted index is a no-op.
    s.write([{ groupId: "g", compactTo: 3 }]);
    strictEqual(g().firstIndex(), 6);
    // Appending entries that start in the compacted prefix keeps only the new part.
    s.write([{ groupId: "g", entries: entryRange(4, 10, 2) }]);
    strictEqual(g().firstIndex(), 6);
    strictEqual(g().lastIndex(), 10);
    // Compacting everything leaves an empty log whose last index is the compaction point.
    s.write([{ groupId: "g", compactTo: 10 }]);
    s = reopen(h, s);
    strictEqual(g().firstIndex(), 11);
    strictEqual(g().lastIndex(), 10);
    strictEqual(g().term(10), 2);
    deepStrictEqual(g().entries(11, 11, 100), []);
    s.write([{ groupId: "g", entries: entryRange(11, 12, 3) }]);
    s = reopen(h, s);
    deepStrictEqual(g().entries(11, 13, 100).map((e) => e.term), [3, 3]);
  });

  run("a snapshot matching a log entry keeps the entries after it", (h) => {
    let s = h.open();
    s.write([{ groupId: "g", entries: [...entryRange(1, 5, 1), ...entryRange(6, 9, 2)] }]);
    s.write([{ groupId: "g", snapshot: snapshotAt(6, 2, [9, 9]) }]);
    s = reopen(h, s);
    const g = s.group("g");
    strictEqual(g.firstIndex(), 7);
    strictEqual(g.lastIndex(), 9);
    strictEqual(g.term(6), 2);
    strictEqual(g.snapshot().metadata.index, 6);
    strictEqual(g.snapshot().metadata.term, 2);
    deepStrictEqual([...g.snapshot().data], [9, 9]);
    deepStrictEqual(g.snapshot().metadata.confState, CONF);
    deepStrictEqual(g.initialState().confState, CONF);
  });

  run("a snapshot not matching the log replaces the whole log", (h) => {
    let s = h.open();
    s.write([{ groupId: "g", entries: entryRange(1, 5, 1) }]);
    s.write([{
      groupId: "g",
      snapshot: snapshotAt(4, 3),
      entries: entryRange(5, 6, 3),
      hardState: { term: 3, vote: null, commit: 4 },
    }]);
    s = reopen(h, s);
    const g = s.group("g");
    strictEqual(g.firstIndex(), 5);
    strictEqual(g.lastIndex(), 6);
    deepStrictEqual([4, 5, 6].map((i) => g.term(i)), [3, 3, 3]);
    // A snapshot past the end of the log also replaces it.
    s.write([{ groupId: "g", snapshot: snapshotAt(20, 4) }]);
    strictEqual(g.firstIndex(), 21);
    strictEqual(g.lastIndex(), 20);
    strictEqual(g.term(20), 4);
    // A snapshot older than the compacted prefix is a contract violation.
    throws(() => s.write([{ groupId: "g", snapshot: snapshotAt(10, 4) }]), RangeError);
    strictEqual(s.group("g").snapshot().metadata.index, 20);
  });

  run("one batch writes many groups, which stay isolated; dropGroup removes one", (h) => {
    let s = h.open();
    const batch = [];
    for (let gi = 0; gi < 50; gi++) {
      batch.push({
        groupId: `range/${String(gi).padStart(3, "0")}`,
        entries: entryRange(1, 1 + (gi % 5), gi + 1),
        hardState: { term: gi + 1, vote: `n${gi % 3}`, commit: 1 },
      });
    }
    s.write(batch);
    s = reopen(h, s);
    strictEqual(s.groups().length, 50);
    for (let gi = 0; gi < 50; gi++) {
      const g = s.group(`range/${String(gi).padStart(3, "0")}`);
      strictEqual(g.lastIndex(), 1 + (gi % 5));
      strictEqual(g.term(1), gi + 1);
      strictEqual(g.initialState().hardState.vote, `n${gi % 3}`);
    }
    s.dropGroup("range/007");
    s = reopen(h, s);
    strictEqual(s.groups().length, 49);
    ok(!s.groups().includes("range/007"));
    strictEqual(s.group("range/007").lastIndex(), 0);
    // A dropped group can be recreated from scratch.
    s.write([{ groupId: "range/007", entries: entryRange(1, 1, 9) }]);
    strictEqual(s.group("range/007").term(1), 9);
  });

  run("entries and group ids are binary- and unicode-safe", (h) => {
    let s = h.open();
    const data = new Uint8Array(256).map((_, i) => i);
    const big = new Uint8Array(100_000).fill(0xab);
    s.write([{
      groupId: "inbox/ünïcødé 'quoted'",
      entries: [
        { index: 1, term: 1, type: EntryType.ConfChange, data },
        { index: 2, term: 1, type: EntryType.Normal, data: new Uint8Array(0) },
        { index: 3, term: 1, type: EntryType.Normal, data: big },
      ],
    }]);
    s = reopen(h, s);
    const es = s.group("inbox/ünïcødé 'quoted'").entries(1, 4, Infinity);
    strictEqual(es[0].type, EntryType.ConfChange);
    deepStrictEqual([...es[0].data], [...data]);
    strictEqual(es[1].data.length, 0);
    strictEqual(es[2].data.length, 100_000);
    strictEqual(es[2].data[99_999], 0xab);
  });

  run("random operations agree with a naive model", (h) => {
    let s = h.open();
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return (seed >>> 8) % n;
    };
    // Model: term per index, plus the compaction point.
    const model = new Map<string, { dummy: number; dummyTerm: number; terms: number[] }>();
    const groupIds = ["x", "y", "z"];
    for (const id of groupIds) model.set(id, { dummy: 0, dummyTerm: 0, terms: [] });
    let term = 1;
    for (let step = 0; step < 400; step++) {
      const id = groupIds[rand(groupIds.length)];
      const m = model.get(id)!;
      const last = m.dummy + m.terms.length;
      const op = rand(10);
      if (op < 6) {
        const from = Math.max(m.dummy + 1, last + 1 - rand(4));
        const n = 1 + rand(5);
        if (rand(3) === 0) term++;
        s.write([{ groupId: id, entries: entryRange(from, from + n - 1, term) }]);
        m.terms.length = from - m.dummy - 1;
        for (let i = 0; i < n; i++) m.terms.push(term);
      } else if (op < 8 && last > m.dummy) {
        const to = m.dummy + 1 + rand(last - m.dummy);
        s.write([{ groupId: id, compactTo: to }]);
        m.dummyTerm = m.terms[to - m.dummy - 1];
        m.terms = m.terms.slice(to - m.dummy);
        m.dummy = to;
      } else if (op === 8) {
        const at = Math.max(1, m.dummy + rand(last - m.dummy + 3));
        const matchTerm = at <= last
          ? (at === m.dummy ? m.dummyTerm : m.terms[at - m.dummy - 1])
          : -1;
        const snapTerm = rand(2) === 0 && matchTerm > 0 ? matchTerm : term;
        s.write([{ groupId: id, snapshot: snapshotAt(at, snapTerm) }]);
        m.terms = matchTerm === snapTerm ? m.terms.slice(at - m.dummy) : [];
        m.dummy = at;
        m.dummyTerm = snapTerm;
      } else {
        s = reopen(h, s);
      }
      for (const gid of groupIds) {
        const mm = model.get(gid)!;
        const g = s.group(gid);
        strictEqual(g.firstIndex(), mm.dummy + 1, `first index of ${gid} at step ${step}`);
        strictEqual(
          g.lastIndex(),
          mm.dummy + mm.terms.length,
          `last index of ${gid} at step ${step}`,
        );
        if (mm.dummy > 0 || mm.terms.length > 0) strictEqual(g.term(mm.dummy), mm.dummyTerm);
        const es = g.entries(mm.dummy + 1, mm.dummy + mm.terms.length + 1, Infinity);
        deepStrictEqual(es.map((e) => e.term), mm.terms, `terms of ${gid} at step ${step}`);
        deepStrictEqual(
          es.map((e) => e.index),
          mm.terms.map((_, i) => mm.dummy + 1 + i),
        );
        for (let i = 0; i < mm.terms.length; i++) {
          strictEqual(g.term(mm.dummy + 1 + i), mm.terms[i]);
        }
      }
    }
  });
}
