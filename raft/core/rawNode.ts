/**
 * RawNode: the application-facing handle on one replica of one group
 * (etcd-io/raft `rawnode.go`). Synchronous and pure: no clock, no I/O.
 *
 * Usage per loop iteration: feed `tick()` / `step()` / `propose()`; if
 * `hasReady()`, take `ready()`, persist → send → apply, then `advance(rd)`.
 *
 * @module
 */

import type { ConfState, GroupLogStorage, ReplicaId } from "../storage/logStorage.ts";
import type { RaftConfig } from "./config.ts";
import type {
  ConfChange,
  Message,
  ProposalPosition,
  Ready,
  SnapshotStatus,
  Status,
} from "./types.ts";

/** One replica of one Raft group. */
export class RawNode {
  /** Creates a replica reading its durable state from `storage`. */
  constructor(readonly config: RaftConfig, readonly storage: GroupLogStorage) {
    throw new Error("RawNode: not implemented yet");
  }

  /** Advances logical time by one tick (election / heartbeat timers). */
  tick(): void {}

  /** Starts an election now (pre-vote first if enabled). */
  campaign(): void {}

  /** Feeds a message received from a peer. Messages for other replicas are ignored. */
  step(_msg: Message): void {}

  /**
   * Proposes a command. On the leader returns where it was appended; throws
   * NotLeaderError (forwarding disabled or no leader) or ProposalDroppedError.
   * On a follower with forwarding enabled returns null (forwarded).
   */
  propose(_data: Uint8Array): ProposalPosition | null {
    return null;
  }

  /** Proposes a membership change (same outcomes as propose). */
  proposeConfChange(_cc: ConfChange): ProposalPosition | null {
    return null;
  }

  /**
   * Applies a committed ConfChange entry (call while applying it) and returns
   * the resulting configuration, to be stored with the next snapshot.
   */
  applyConfChange(_cc: ConfChange): ConfState {
    throw new Error("not implemented");
  }

  /** True when ready() would return work. */
  hasReady(): boolean {
    return false;
  }

  /** Returns the pending work; hand it back to advance() once done. */
  ready(): Ready {
    throw new Error("not implemented");
  }

  /** Acknowledges that a Ready was persisted, sent and applied. */
  advance(_rd: Ready): void {}

  /**
   * Requests a linearizable read point; the answer arrives as a ReadState in
   * a later Ready with the same context. Throws NotLeaderError as propose.
   */
  readIndex(_requestCtx: Uint8Array): void {}

  /** Asks the leader to hand leadership to `to`. */
  transferLeader(_to: ReplicaId): void {}

  /** Tells the leader that a peer could not be reached (back to probing). */
  reportUnreachable(_id: ReplicaId): void {}

  /** Tells the leader whether a snapshot send to `id` finished or failed. */
  reportSnapshot(_id: ReplicaId, _status: SnapshotStatus): void {}

  /**
   * LOSSY. Rewrites the voters of a group that lost its majority to
   * `newVoters` (which must include this replica and be reachable) and
   * campaigns. Entries committed only on lost replicas are lost; uncommitted
   * entries on this replica may become committed. For the opt-in recovery
   * balancer only.
   */
  forceRecovery(_newVoters: readonly ReplicaId[]): void {}

  /** Current state for status pages and tests. */
  status(): Status {
    throw new Error("not implemented");
  }
}
