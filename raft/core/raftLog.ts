/**
 * The Raft log: durable storage plus the unstable tail (etcd-io/raft
 * `log.go`). Tracks commit, applied and handed-out ("applying") indexes.
 *
 * @module
 */

import {
  CompactedError,
  type Entry,
  type GroupLogStorage,
  type Snapshot,
  UnavailableError,
} from "../storage/logStorage.ts";
import { Unstable } from "./unstable.ts";

/** Payload bytes of an entry, as counted by every size limit. */
export function entrySizeBytes(e: Entry): number {
  return e.data.byteLength;
}

/** Payload bytes of a list of entries. */
export function entriesSizeBytes(ents: readonly Entry[]): number {
  let n = 0;
  for (const e of ents) n += e.data.byteLength;
  return n;
}

/** Keeps a prefix of `ents` within `maxBytes` (always at least one entry). */
export function limitSize(ents: Entry[], maxBytes: number): Entry[] {
  if (ents.length === 0) return ents;
  let size = entrySizeBytes(ents[0]);
  let n = 1;
  for (; n < ents.length; n++) {
    size += entrySizeBytes(ents[n]);
    if (size > maxBytes) break;
  }
  return n === ents.length ? ents : ents.slice(0, n);
}

/** The log of one replica. */
export class RaftLog {
  readonly unstable: Unstable;
  /** Highest index known committed. */
  committed: number;
  /** Highest index applied by the application. */
  applied: number;
  /** Highest index handed to the application to apply (>= applied). */
  applying: number;

  constructor(readonly storage: GroupLogStorage, readonly maxApplyingBytes: number) {
    const first = storage.firstIndex();
    const last = storage.lastIndex();
    this.unstable = new Unstable(last + 1);
    this.committed = first - 1;
    this.applied = first - 1;
    this.applying = first - 1;
  }

  /** First available index. */
  firstIndex(): number {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  /** Last index. */
  lastIndex(): number {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Term of entry i; throws CompactedError / UnavailableError. */
  term(i: number): number {
    const t = this.maybeTerm(i);
    if (t !== null) return t;
    const first = this.firstIndex();
    if (i < first - 1) throw new CompactedError(i, first);
    throw new UnavailableError(i, this.lastIndex());
  }

  /**
   * Term of entry i, or null when it is outside [firstIndex-1, lastIndex].
   * Never throws for out-of-range indexes (hot path: no exceptions).
   */
  maybeTerm(i: number): number | null {
    if (i < this.firstIndex() - 1 || i > this.lastIndex()) return null;
    const t = this.unstable.maybeTerm(i);
    if (t !== null) return t;
    return this.storage.term(i);
  }

  /** Term of entry i, or 0 when out of range. */
  termOrZero(i: number): number {
    return this.maybeTerm(i) ?? 0;
  }

  /** Term of the last entry. */
  lastTerm(): number {
    return this.term(this.lastIndex());
  }

  /** True when entry i exists with term t. */
  matchTerm(i: number, t: number): boolean {
    return this.maybeTerm(i) === t;
  }

  /** True when a log ending at (lastIndex, term) is at least as up to date as ours. */
  isUpToDate(lastIndex: number, term: number): boolean {
    const ourTerm = this.lastTerm();
    return term > ourTerm || (term === ourTerm && lastIndex >= this.lastIndex());
  }

  /**
   * Follower append: if our entry at `index` has `logTerm`, appends `ents`
   * (truncating conflicts) and commits up to `committed`. Returns the new last
   * index covered by the message, or null on mismatch.
   */
  maybeAppend(index: number, logTerm: number, committed: number, ents: readonly Entry[]) {
    if (!this.matchTerm(index, logTerm)) return null;
    const lastNew = index + ents.length;
    const ci = this.findConflict(ents);
    if (ci !== 0) {
      if (ci <= this.committed) {
        throw new Error(`entry ${ci} conflicts with committed entry (committed ${this.committed})`);
      }
      this.append(ents.slice(ci - (index + 1)));
    }
    this.commitTo(Math.min(committed, lastNew));
    return lastNew;
  }

  /** Appends entries (truncating from entries[0].index); returns the last index. */
  append(ents: readonly Entry[]): number {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0].index - 1;
    if (after < this.committed) {
      throw new Error(`append after ${after} is below committed ${this.committed}`);
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /** Index of the first entry that conflicts or is new, 0 if all match. */
  findConflict(ents: readonly Entry[]): number {
    for (const e of ents) {
      if (!this.matchTerm(e.index, e.term)) return e.index;
    }
    return 0;
  }

  /**
   * Largest index <= `index` whose term is <= `term`, with that term (fast
   * back-off). An unknown term returns [index, 0].
   */
  findConflictByTerm(index: number, term: number): [number, number] {
    for (; index > 0; index--) {
      // An unknown term (compacted or unavailable) may still match: stop there.
      const ourTerm = this.maybeTerm(index);
      if (ourTerm === null) return [index, 0];
      if (ourTerm <= term) return [index, ourTerm];
    }
    return [0, 0];
  }

  /** Entries not yet persisted. */
  unstableEntries(): Entry[] {
    return [...this.unstable.entries];
  }

  /** True while a received snapshot waits to be persisted and applied. */
  hasPendingSnapshot(): boolean {
    return this.unstable.snapshot !== null;
  }

  /** Committed entries not yet handed to the application (size-limited). */
  nextCommittedEnts(): Entry[] {
    if (this.hasPendingSnapshot()) return [];
    const off = Math.max(this.applying + 1, this.firstIndex());
    if (this.committed + 1 <= off) return [];
    return this.slice(off, this.committed + 1, this.maxApplyingBytes);
  }

  /** True if nextCommittedEnts() would return something. */
  hasNextCommittedEnts(): boolean {
    if (this.hasPendingSnapshot()) return false;
    return this.committed + 1 > Math.max(this.applying + 1, this.firstIndex());
  }

  /** The newest snapshot (pending or stored). */
  snapshot(): Snapshot {
    return this.unstable.snapshot ?? this.storage.snapshot();
  }

  /** Raises the commit index. */
  commitTo(toCommit: number): void {
    if (this.committed < toCommit) {
      const last = this.lastIndex();
      if (last < toCommit) {
        throw new Error(`commit ${toCommit} is out of range (last index ${last})`);
      }
      this.committed = toCommit;
    }
  }

  /** Commits maxIndex if its term is `term` (only current-term entries count). */
  maybeCommit(maxIndex: number, term: number): boolean {
    if (maxIndex > this.committed && this.termOrZero(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  /** Entries up to i were handed out to apply. */
  applyingTo(i: number): void {
    if (i > this.applying) this.applying = i;
  }

  /** Entries up to i were applied. */
  appliedTo(i: number): void {
    if (i === 0 || i <= this.applied) return;
    if (this.committed < i) {
      throw new Error(`applied ${i} is beyond committed ${this.committed}`);
    }
    this.applied = i;
    if (this.applying < i) this.applying = i;
  }

  /** Entries up to (i, t) were persisted. */
  stableTo(i: number, t: number): void {
    this.unstable.stableTo(i, t);
  }

  /** The snapshot at index i was persisted. */
  stableSnapTo(i: number): void {
    this.unstable.stableSnapTo(i);
  }

  /** Entries from i to the end, size-limited. */
  entries(i: number, maxBytes: number): Entry[] {
    const last = this.lastIndex();
    if (i > last) return [];
    return this.slice(i, last + 1, maxBytes);
  }

  /** Installs a snapshot received from the leader. */
  restore(s: Snapshot): void {
    this.committed = s.metadata.index;
    this.unstable.restore(s);
  }

  /** Entries in [lo, hi), size-limited; throws CompactedError / UnavailableError. */
  slice(lo: number, hi: number, maxBytes: number): Entry[] {
    const first = this.firstIndex();
    if (lo < first) throw new CompactedError(lo, first);
    const last = this.lastIndex();
    if (hi > last + 1) throw new UnavailableError(hi - 1, last);
    if (lo >= hi) return [];
    const offset = this.unstable.offset;
    let ents: Entry[] = [];
    if (lo < offset) {
      const storedHi = Math.min(hi, offset);
      ents = this.storage.entries(lo, storedHi, maxBytes);
      if (ents.length < storedHi - lo) return ents;
    }
    if (hi > offset) {
      const tail = this.unstable.slice(Math.max(lo, offset), hi);
      ents = ents.length > 0 ? ents.concat(tail) : tail;
    }
    return limitSize(ents, maxBytes);
  }
}
