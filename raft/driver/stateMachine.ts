/**
 * The replicated state machine interface the driver applies committed
 * entries to (the KV stores plug in here).
 *
 * @module
 */

import type { Entry } from "../storage/logStorage.ts";

/**
 * A deterministic state machine. `apply` must produce the same state on every
 * replica for the same entries; it must not throw for a bad command (return an
 * error result instead), since every replica applies every committed entry.
 */
export interface StateMachine<Result = unknown, Query = unknown, QueryResult = unknown> {
  /** Applies one committed command (entry.data) and returns its result. */
  apply(entry: Entry): Result;
  /** Serialises the whole state (taken at the last applied index). */
  snapshot(): Uint8Array;
  /** Replaces the whole state with a snapshot. */
  restore(data: Uint8Array): void;
  /** Answers a read-only query on the current state. */
  query(q: Query): QueryResult;
}
