/**
 * Errors that callers of the Raft core and driver handle.
 *
 * @module
 */

import type { ReplicaId } from "../storage/logStorage.ts";

/** The replica is not the leader; retry on `leaderHint` if known. */
export class NotLeaderError extends Error {
  constructor(readonly leaderHint: ReplicaId | null, readonly replicaId: ReplicaId) {
    super(
      `replica ${replicaId} is not the leader` +
        (leaderHint === null ? " (leader unknown)" : ` (leader hint ${leaderHint})`),
    );
    this.name = "NotLeaderError";
  }
}

/**
 * The proposal was not (or will not be) committed: leadership changed, a
 * transfer is in progress, a bound was exceeded, or the entry at its index was
 * overwritten. Safe to retry (the command was not applied).
 */
export class ProposalDroppedError extends Error {
  constructor(readonly reason: string) {
    super(`proposal dropped: ${reason}`);
    this.name = "ProposalDroppedError";
  }
}

/** The leader could not confirm contact with a quorum in time. */
export class NoQuorumError extends Error {
  constructor(readonly replicaId: ReplicaId, readonly waitedMs: number) {
    super(`replica ${replicaId} leads but has no quorum contact (waited ${waitedMs} ms)`);
    this.name = "NoQuorumError";
  }
}

/** An operation did not complete in time; its outcome is unknown for writes. */
export class RaftTimeoutError extends Error {
  constructor(readonly operation: string, readonly timeoutMs: number) {
    super(`${operation} timed out after ${timeoutMs} ms (outcome unknown)`);
    this.name = "RaftTimeoutError";
  }
}

/** A membership change was rejected because it would break an invariant. */
export class ConfChangeError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ConfChangeError";
  }
}
