/**
 * In-memory {@link LogStore}: the reference implementation of the storage
 * contract, used by tests and the simulator. Nothing is durable across
 * process restarts; within a process it behaves exactly as the SQLite store
 * (both pass `logStore.case.ts`).
 *
 * @module
 */

import {
  CompactedError,
  type ConfState,
  type Entry,
  type GroupId,
  type GroupLogStorage,
  type GroupWrite,
  type HardState,
  type LogStore,
  type LogWriteBatch,
  type Snapshot,
  UnavailableError,
} from "./logStorage.ts";
import {
  appendGapError,
  assertContiguous,
  cached,
  compactPastLastError,
  EMPTY_HARD_STATE,
  EMPTY_SNAPSHOT,
  entryBytes,
  snapshotTooOldError,
} from "./logRules.ts";

/** Mutable state of one group; `entries[i].index === dummyIndex + 1 + i`. */
interface MemGroupState {
  hardState: HardState;
  snapshot: Snapshot;
  /** Index of the last discarded entry (first index − 1). */
  dummyIndex: number;
  /** Term of the entry at `dummyIndex`. */
  dummyTerm: number;
  entries: Entry[];
  /** Whether anything was ever written (listed by `groups()`). */
  written: boolean;
}

function newGroupState(): MemGroupState {
  return {
    hardState: EMPTY_HARD_STATE,
    snapshot: EMPTY_SNAPSHOT,
    dummyIndex: 0,
    dummyTerm: 0,
    entries: [],
    written: false,
  };
}

function cloneGroupState(s: MemGroupState): MemGroupState {
  return { ...s, entries: s.entries.slice() };
}

/** Read view over a {@link MemGroupState}; always sees the store's current state. */
class MemoryGroupLogStorage implements GroupLogStorage {
  constructor(readonly groupId: GroupId, private readonly store: MemoryLogStore) {}

  private get s(): MemGroupState {
    return this.store.stateOf(this.groupId);
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    const s = this.s;
    return { hardState: s.hardState, confState: s.snapshot.metadata.confState };
  }

  entries(lo: number, hi: number, maxBytes: number): Entry[] {
    const s = this.s;
    if (lo <= s.dummyIndex) throw new CompactedError(lo, s.dummyIndex + 1);
    const last = s.dummyIndex + s.entries.length;
    if (hi > last + 1) throw new UnavailableError(hi - 1, last);
    const out: Entry[] = [];
    let bytes = 0;
    for (let i = lo; i < hi; i++) {
      const e = s.entries[i - s.dummyIndex - 1];
      bytes += entryBytes(e);
      if (out.length > 0 && bytes > maxBytes) break;
      out.push(e);
    }
    return out;
  }

  term(index: number): number {
    const s = this.s;
    if (index < s.dummyIndex) throw new CompactedError(index, s.dummyIndex + 1);
    if (index === s.dummyIndex) return s.dummyTerm;
    const last = s.dummyIndex + s.entries.length;
    if (index > last) throw new UnavailableError(index, last);
    return s.entries[index - s.dummyIndex - 1].term;
  }

  firstIndex(): number {
    return this.s.dummyIndex + 1;
  }

  lastIndex(): number {
    const s = this.s;
    return s.dummyIndex + s.entries.length;
  }

  snapshot(): Snapshot {
    return this.s.snapshot;
  }
}

/**
 * Applies one group's writes to `s` in contract order (snapshot, entries,
 * hard state, compaction). Throws RangeError on a contract violation; the
 * caller discards `s` then.
 */
function applyGroupWrite(s: MemGroupState, w: GroupWrite): void {
  s.written = true;
  if (w.snapshot !== undefined) {
    const meta = w.snapshot.metadata;
    if (meta.index < s.dummyIndex) {
      throw snapshotTooOldError(w.groupId, meta.index, s.dummyIndex);
    }
    const last = s.dummyIndex + s.entries.length;
    const matches = meta.index <= last &&
      (meta.index === s.dummyIndex
          ? s.dummyTerm
          : s.entries[meta.index - s.dummyIndex - 1].term) ===
        meta.term;
    // Raft §7: keep the entries that follow a matching entry, else drop the whole log.
    s.entries = matches ? s.entries.slice(meta.index - s.dummyIndex) : [];
    s.dummyIndex = meta.index;
    s.dummyTerm = meta.term;
    s.snapshot = w.snapshot;
  }
  if (w.entries !== undefined && w.entries.length > 0) {
    assertContiguous(w.groupId, w.entries);
    const last = s.dummyIndex + s.entries.length;
    const first = w.entries[0].index;
    if (first > last + 1) {
      throw appendGapError(w.groupId, first, last);
    }
    // Entries at or below the compaction point are committed and already discarded.
    const skip = Math.max(0, s.dummyIndex + 1 - first);
    if (skip < w.entries.length) {
      const from = first + skip;
      s.entries.length = from - s.dummyIndex - 1;
      for (let i = skip; i < w.entries.length; i++) s.entries.push(w.entries[i]);
    }
  }
  if (w.hardState !== undefined) s.hardState = w.hardState;
  if (w.compactTo !== undefined && w.compactTo > s.dummyIndex) {
    const last = s.dummyIndex + s.entries.length;
    if (w.compactTo > last) {
      throw compactPastLastError(w.groupId, w.compactTo, last);
    }
    const k = w.compactTo - s.dummyIndex;
    s.dummyTerm = s.entries[k - 1].term;
    s.dummyIndex = w.compactTo;
    s.entries = s.entries.slice(k);
  }
}

/**
 * Throws the RangeError `applyGroupWrite` would throw for `w` on `s`, without
 * changing anything (tracks only the log bounds through the write).
 */
function validateGroupWrite(s: MemGroupState, w: GroupWrite): void {
  let dummy = s.dummyIndex;
  let last = s.dummyIndex + s.entries.length;
  if (w.snapshot !== undefined) {
    const meta = w.snapshot.metadata;
    if (meta.index < dummy) {
      throw snapshotTooOldError(w.groupId, meta.index, dummy);
    }
    const matches = meta.index <= last &&
      (meta.index === dummy ? s.dummyTerm : s.entries[meta.index - dummy - 1].term) === meta.term;
    if (!matches) last = meta.index;
    dummy = meta.index;
  }
  if (w.entries !== undefined && w.entries.length > 0) {
    assertContiguous(w.groupId, w.entries);
    const first = w.entries[0].index;
    if (first > last + 1) {
      throw appendGapError(w.groupId, first, last);
    }
    const end = w.entries[w.entries.length - 1].index;
    if (end > dummy) last = end;
  }
  if (w.compactTo !== undefined && w.compactTo > dummy && w.compactTo > last) {
    throw compactPastLastError(w.groupId, w.compactTo, last);
  }
}

/** In-memory log store for many groups. Writes are atomic per batch. */
export class MemoryLogStore implements LogStore {
  readonly #groups = new Map<GroupId, MemGroupState>();
  readonly #views = new Map<GroupId, MemoryGroupLogStorage>();
  #closed = false;
  /** Number of batches written (one "fsync" each). */
  writeBatches = 0;

  /** @internal Current state of a group (created empty if absent). */
  stateOf(groupId: GroupId): MemGroupState {
    this.#assertOpen();
    return cached(this.#groups, groupId, newGroupState);
  }

  group(groupId: GroupId): GroupLogStorage {
    this.#assertOpen();
    return cached(this.#views, groupId, () => new MemoryGroupLogStorage(groupId, this));
  }

  groups(): GroupId[] {
    this.#assertOpen();
    return [...this.#groups].filter(([, s]) => s.written).map(([id]) => id).sort();
  }

  dropGroup(groupId: GroupId): void {
    this.#assertOpen();
    this.#groups.delete(groupId);
  }

  write(batch: LogWriteBatch): void {
    this.#assertOpen();
    const ids = new Set<GroupId>();
    for (const w of batch) ids.add(w.groupId);
    if (ids.size === batch.length) {
      // Common case, one write per group: validate against the current state,
      // then apply in place (no copy of the logs).
      for (const w of batch) {
        const cur = this.#groups.get(w.groupId);
        validateGroupWrite(cur ?? newGroupState(), w);
      }
      for (const w of batch) {
        applyGroupWrite(cached(this.#groups, w.groupId, newGroupState), w);
      }
      this.writeBatches++;
      return;
    }
    // Several writes to one group: stage on copies so that a contract
    // violation leaves the store unchanged.
    const staged = new Map<GroupId, MemGroupState>();
    for (const w of batch) {
      let s = staged.get(w.groupId);
      if (s === undefined) {
        s = cloneGroupState(this.#groups.get(w.groupId) ?? newGroupState());
        staged.set(w.groupId, s);
      }
      applyGroupWrite(s, w);
    }
    for (const [id, s] of staged) this.#groups.set(id, s);
    this.writeBatches++;
  }

  /** A deep-enough copy (entries are immutable) with the same contents. */
  clone(): MemoryLogStore {
    this.#assertOpen();
    const copy = new MemoryLogStore();
    for (const [id, s] of this.#groups) copy.#groups.set(id, cloneGroupState(s));
    return copy;
  }

  close(): void {
    this.#closed = true;
  }

  #assertOpen(): void {
    if (this.#closed) throw new Error("MemoryLogStore: used after close()");
  }
}
