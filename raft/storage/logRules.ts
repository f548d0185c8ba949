/**
 * Constants and contract checks shared by the `LogStore` implementations
 * (memory and SQLite), so that both enforce the same rules with the same
 * messages.
 *
 * @module
 */

import type { ConfState, Entry, GroupId, HardState, Snapshot } from "./logStorage.ts";

/** The configuration of a group that has never had one. */
export const EMPTY_CONF_STATE: ConfState = Object.freeze({
  voters: [],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
});

/** The hard state of a group that has never written one. */
export const EMPTY_HARD_STATE: HardState = Object.freeze({ term: 0, vote: null, commit: 0 });

/** The snapshot of a group that has never installed one (index 0, term 0). */
export const EMPTY_SNAPSHOT: Snapshot = Object.freeze({
  metadata: Object.freeze({ index: 0, term: 0, confState: EMPTY_CONF_STATE }),
  data: new Uint8Array(0),
});

/** Size of an entry's payload, the unit of `maxBytes` limits. */
export function entryBytes(e: Entry): number {
  return e.data.length;
}

/**
 * Validates that `entries` is a contiguous run (indexes increasing by one).
 * Shared by the storage implementations.
 */
export function assertContiguous(groupId: GroupId, entries: readonly Entry[]): void {
  for (let i = 1; i < entries.length; i++) {
    if (entries[i].index !== entries[i - 1].index + 1) {
      throw new RangeError(
        `group ${groupId}: entries to append are not contiguous (index ${
          entries[i - 1].index
        } followed by ${entries[i].index})`,
      );
    }
  }
}

/** Contract violation: a snapshot older than the compacted log. */
export function snapshotTooOldError(
  groupId: GroupId,
  snapshotIndex: number,
  dummyIndex: number,
): RangeError {
  return new RangeError(
    `group ${groupId}: snapshot at index ${snapshotIndex} is older than the compacted log (first index ${
      dummyIndex + 1
    })`,
  );
}

/** Contract violation: an append that would leave a gap after the last index. */
export function appendGapError(groupId: GroupId, first: number, lastIndex: number): RangeError {
  return new RangeError(
    `group ${groupId}: appending at index ${first} would leave a gap after last index ${lastIndex}`,
  );
}

/** Contract violation: a compaction past the last index. */
export function compactPastLastError(
  groupId: GroupId,
  compactTo: number,
  lastIndex: number,
): RangeError {
  return new RangeError(
    `group ${groupId}: cannot compact to ${compactTo}, past last index ${lastIndex}`,
  );
}

/** The value cached in `map` under `key`, created with `create` on first use. */
export function cached<K, V>(map: Map<K, V>, key: K, create: () => V): V {
  let v = map.get(key);
  if (v === undefined) {
    v = create();
    map.set(key, v);
  }
  return v;
}
