/**
 * Entries and snapshot not yet persisted (etcd-io/raft `log_unstable.go`).
 *
 * @module
 */

import type { Entry, Snapshot } from "../storage/logStorage.ts";

/** The unpersisted tail of the log, and a received snapshot not yet persisted. */
export class Unstable {
  /** A snapshot received from the leader, waiting to be persisted. */
  snapshot: Snapshot | null = null;
  /** Unpersisted entries; entries[i].index === offset + i. */
  entries: Entry[] = [];
  offset: number;

  constructor(offset: number) {
    this.offset = offset;
  }

  /** First index if a snapshot is pending, else null. */
  maybeFirstIndex(): number | null {
    return this.snapshot === null ? null : this.snapshot.metadata.index + 1;
  }

  /** Last index of the unstable entries or snapshot, else null. */
  maybeLastIndex(): number | null {
    if (this.entries.length > 0) return this.offset + this.entries.length - 1;
    return this.snapshot === null ? null : this.snapshot.metadata.index;
  }

  /** Term of entry i if known here, else null. */
  maybeTerm(i: number): number | null {
    if (i < this.offset) {
      if (this.snapshot !== null && this.snapshot.metadata.index === i) {
        return this.snapshot.metadata.term;
      }
      return null;
    }
    const last = this.maybeLastIndex();
    if (last === null || i > last) return null;
    return this.entries[i - this.offset].term;
  }

  /** Entries up to (i, t) were persisted; drop them. */
  stableTo(i: number, t: number): void {
    const gt = this.maybeTerm(i);
    if (gt === null) return;
    if (gt === t && i >= this.offset) {
      this.entries = this.entries.slice(i + 1 - this.offset);
      this.offset = i + 1;
    }
  }

  /** The snapshot at index i was persisted. */
  stableSnapTo(i: number): void {
    if (this.snapshot !== null && this.snapshot.metadata.index === i) this.snapshot = null;
  }

  /** Replaces everything with a received snapshot. */
  restore(s: Snapshot): void {
    this.offset = s.metadata.index + 1;
    this.entries = [];
    this.snapshot = s;
  }

  /** Appends, truncating any conflicting suffix. */
  truncateAndAppend(ents: readonly Entry[]): void {
    if (ents.length === 0) return;
    const from = ents[0].index;
    if (from === this.offset + this.entries.length) {
      this.entries = this.entries.concat(ents);
    } else if (from <= this.offset) {
      this.offset = from;
      this.entries = [...ents];
    } else {
      this.entries = this.entries.slice(0, from - this.offset).concat(ents);
    }
  }

  /** Entries in [lo, hi) (caller checks bounds). */
  slice(lo: number, hi: number): Entry[] {
    const last = this.offset + this.entries.length;
    if (lo > hi || lo < this.offset || hi > last) {
      throw new Error(`unstable.slice(${lo}, ${hi}) out of bounds [${this.offset}, ${last}]`);
    }
    return this.entries.slice(lo - this.offset, hi - this.offset);
  }
}
