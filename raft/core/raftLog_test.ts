import { deepStrictEqual, ok, strictEqual, throws } from "node:assert/strict";
import { CompactedError, type Entry, EntryType } from "../storage/logStorage.ts";
import { MemoryLogStore } from "../storage/memoryLogStore.ts";
import { RaftLog } from "./raftLog.ts";

function ent(term: number, index: number, data = ""): Entry {
  return { term, index, type: EntryType.Normal, data: new TextEncoder().encode(data) };
}

function logWith(stored: Entry[], compactTo = 0): RaftLog {
  const store = new MemoryLogStore();
  if (stored.length > 0) store.write([{ groupId: "g", entries: stored }]);
  if (compactTo > 0) store.write([{ groupId: "g", compactTo }]);
  return new RaftLog(store.group("g"), 1 << 20);
}

const terms = (es: Entry[]) => es.map((e) => `${e.term}/${e.index}`);

Deno.test("raftLog: maybeAppend appends, truncates conflicts, and commits", () => {
  const log = logWith([ent(1, 1), ent(2, 2), ent(3, 3)]);
  strictEqual(log.maybeAppend(3, 2, 3, [ent(4, 4)]), null, "prev term mismatch");
  strictEqual(log.maybeAppend(2, 2, 2, [ent(4, 3), ent(4, 4)]), 4);
  strictEqual(log.committed, 2);
  deepStrictEqual(terms(log.entries(1, 1 << 20)), ["1/1", "2/2", "4/3", "4/4"]);
  // A duplicate (already present) append changes nothing.
  strictEqual(log.maybeAppend(2, 2, 4, [ent(4, 3)]), 3);
  strictEqual(log.committed, 3, "commit capped at the last new index of the message");
  strictEqual(log.lastIndex(), 4);
});

Deno.test("raftLog: a conflict below the commit index is a bug and throws", () => {
  const log = logWith([ent(1, 1), ent(1, 2)]);
  log.commitTo(2);
  throws(() => log.maybeAppend(1, 1, 2, [ent(2, 2)]), /conflicts with committed/);
});

Deno.test("raftLog: findConflictByTerm skips a whole term", () => {
  const log = logWith([ent(1, 1), ent(1, 2), ent(2, 3), ent(2, 4), ent(2, 5), ent(5, 6)]);
  deepStrictEqual(log.findConflictByTerm(6, 4), [5, 2]);
  deepStrictEqual(log.findConflictByTerm(6, 1), [2, 1]);
  deepStrictEqual(log.findConflictByTerm(6, 0), [0, 0]);
  const compacted = logWith([ent(1, 1), ent(1, 2), ent(2, 3), ent(3, 4)], 2);
  deepStrictEqual(compacted.findConflictByTerm(4, 1), [2, 1], "the dummy entry's term is known");
  deepStrictEqual(logWith([ent(3, 1), ent(3, 2), ent(3, 3)], 2).findConflictByTerm(3, 1), [1, 0]);
});

Deno.test("raftLog: only entries of the given term are committed by maybeCommit", () => {
  const log = logWith([ent(1, 1), ent(2, 2)]);
  ok(!log.maybeCommit(2, 3), "term 2 entry is not committed by a term-3 leader counting");
  ok(log.maybeCommit(2, 2));
  strictEqual(log.committed, 2);
});

Deno.test("raftLog: slices span storage and the unstable tail, size-limited", () => {
  const log = logWith([ent(1, 1, "aaaa"), ent(1, 2, "bbbb")]);
  log.append([ent(2, 3, "cccc"), ent(2, 4, "dddd")]);
  deepStrictEqual(terms(log.slice(1, 5, 1 << 20)), ["1/1", "1/2", "2/3", "2/4"]);
  deepStrictEqual(terms(log.slice(1, 5, 9)), ["1/1", "1/2"]);
  deepStrictEqual(terms(log.slice(2, 5, 9)), ["1/2", "2/3"]);
  deepStrictEqual(terms(log.slice(3, 5, 1)), ["2/3"], "at least one entry");
  deepStrictEqual(terms(log.unstableEntries()), ["2/3", "2/4"]);
  log.stableTo(3, 2);
  deepStrictEqual(terms(log.unstableEntries()), ["2/4"]);
});

Deno.test("raftLog: terms outside the log throw; compacted ranges throw CompactedError", () => {
  const log = logWith([ent(1, 1), ent(1, 2), ent(2, 3)], 2);
  strictEqual(log.firstIndex(), 3);
  strictEqual(log.term(2), 1);
  throws(() => log.term(1), CompactedError);
  throws(() => log.slice(2, 3, 100), CompactedError);
  strictEqual(log.termOrZero(9), 0);
  ok(log.isUpToDate(3, 2));
  ok(!log.isUpToDate(9, 1));
  ok(log.isUpToDate(1, 3));
});

Deno.test("raftLog: committed entries are handed out once and after a pending snapshot", () => {
  const log = logWith([ent(1, 1), ent(1, 2), ent(1, 3)]);
  log.commitTo(2);
  deepStrictEqual(terms(log.nextCommittedEnts()), ["1/1", "1/2"]);
  log.applyingTo(2);
  ok(!log.hasNextCommittedEnts());
  log.restore({
    metadata: {
      index: 10,
      term: 4,
      confState: {
        voters: ["a"],
        learners: [],
        votersOutgoing: [],
        learnersNext: [],
        autoLeave: false,
      },
    },
    data: new Uint8Array(),
  });
  strictEqual(log.lastIndex(), 10);
  strictEqual(log.committed, 10);
  deepStrictEqual(log.nextCommittedEnts(), [], "nothing while the snapshot is pending");
});
