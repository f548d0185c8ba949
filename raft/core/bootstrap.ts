/**
 * Bootstrapping a new group.
 *
 * Every initial replica stores the same bootstrap snapshot (index 1, term 1)
 * whose ConfState lists the initial members, before creating its RawNode. A
 * replica added later starts with an empty store and empty configuration; the
 * leader catches it up with a snapshot (the bootstrap one at the latest),
 * which carries the configuration, then with the log.
 *
 * @module
 */

import type { ConfState, ReplicaId, Snapshot } from "../storage/logStorage.ts";

/** Index (and term) of the bootstrap snapshot. */
export const BOOTSTRAP_INDEX = 1;

/** The ConfState of a plain (non-joint) configuration. */
export function simpleConfState(
  voters: readonly ReplicaId[],
  learners: readonly ReplicaId[] = [],
): ConfState {
  return {
    voters: [...voters].sort(),
    learners: [...learners].sort(),
    votersOutgoing: [],
    learnersNext: [],
    autoLeave: false,
  };
}

/**
 * The snapshot each initial replica of a new group writes before starting:
 * `data` is the state machine's initial (usually empty) snapshot.
 */
export function bootstrapSnapshot(
  confState: ConfState,
  data: Uint8Array = new Uint8Array(),
): Snapshot {
  if (confState.voters.length === 0) {
    throw new RangeError("bootstrap: the initial configuration needs at least one voter");
  }
  return {
    metadata: { index: BOOTSTRAP_INDEX, term: BOOTSTRAP_INDEX, confState },
    data,
  };
}
