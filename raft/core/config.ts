/**
 * Configuration of one Raft replica. Every knob states its trade-off and
 * default; {@link defaultRaftConfig} fills them in and
 * {@link validateRaftConfig} rejects inconsistent values.
 *
 * @module
 */

import type { ReplicaId } from "../storage/logStorage.ts";

/** How read-only queries are made linearizable. */
export type ReadOnlyOption = "safe" | "lease-based";

/** Configuration of one replica of one group. */
export interface RaftConfig {
  /** This replica's id (never empty). */
  readonly id: ReplicaId;
  /**
   * Ticks a follower waits without hearing from a leader before it campaigns;
   * the actual timeout is randomized in [electionTicks, 2*electionTicks).
   * Larger: fewer spurious elections on a slow network; slower fail-over.
   * Must be > heartbeatTicks. Default 10.
   */
  readonly electionTicks: number;
  /**
   * Ticks between leader heartbeats. Smaller: faster commit propagation and
   * failure detection, more traffic. Default 1.
   */
  readonly heartbeatTicks: number;
  /**
   * Run a pre-vote round before a real election, so a replica that was
   * partitioned away does not bump the term and depose a healthy leader when it
   * rejoins. Costs one extra round trip per election. Default true.
   */
  readonly preVote: boolean;
  /**
   * The leader steps down when it has not heard from a quorum within an
   * election timeout, and followers ignore votes while they hear from a leader.
   * Required by lease-based reads. Default true.
   */
  readonly checkQuorum: boolean;
  /**
   * "safe": every read index is confirmed by a heartbeat round to a quorum
   * (one round trip, robust to clock drift). "lease-based": the leader answers
   * from its lease without a round trip; correct only if tick rates on all
   * replicas are bounded in drift. Requires checkQuorum. Default "safe".
   */
  readonly readOnlyOption: ReadOnlyOption;
  /**
   * Upper bound of entry data bytes in one append message (at least one entry
   * is always sent). Smaller: lower latency per message, more messages.
   * Default 1 MiB.
   */
  readonly maxSizePerMsgBytes: number;
  /**
   * Maximum number of append messages in flight per follower while
   * replicating (pipelining window). Overflow: the leader pauses sending to
   * that follower until acknowledgements arrive. Default 256.
   */
  readonly maxInflightMsgs: number;
  /**
   * Maximum entry bytes in flight per follower. Overflow: as maxInflightMsgs.
   * Default 16 MiB.
   */
  readonly maxInflightBytes: number;
  /**
   * Maximum bytes of appended but uncommitted entries on the leader. Overflow:
   * proposals are rejected with ProposalDroppedError (backpressure when a
   * quorum is slow). Default 64 MiB.
   */
  readonly maxUncommittedEntriesBytes: number;
  /**
   * Maximum bytes of committed entries handed to the application in one
   * Ready. Default 16 MiB.
   */
  readonly maxCommittedSizePerReadyBytes: number;
  /**
   * Size of one snapshot chunk message. Smaller: less head-of-line blocking on
   * a shared link; more messages. Default 1 MiB.
   */
  readonly maxSnapshotChunkBytes: number;
  /**
   * Largest snapshot a follower accepts (it buffers the chunks until
   * complete). Larger snapshots are rejected and the leader retries later.
   * Default 1 GiB.
   */
  readonly maxSnapshotBytes: number;
  /**
   * Ticks the leader waits for a follower to install a snapshot before it
   * assumes the chunks were lost and probes again. Default 5 * electionTicks.
   */
  readonly snapshotTimeoutTicks: number;
  /**
   * Maximum read-index requests waiting for confirmation (or for the leader's
   * first commit in its term). Overflow: the request is dropped; the driver
   * fails it. Default 4096.
   */
  readonly maxPendingReadIndex: number;
  /**
   * Source of randomness in [0, 1), injected and seeded so runs replay.
   * Default: a fixed-seed generator (tests should inject their own).
   */
  readonly random: () => number;
  /**
   * Last index applied to the state machine at start-up (committed entries at
   * or below it are not handed out again). Default 0.
   */
  readonly applied: number;
  /**
   * When true a follower rejects proposals with NotLeaderError instead of
   * forwarding them to the leader. The driver sets it (callers re-route with
   * the hint). Default false.
   */
  readonly disableProposalForwarding: boolean;
  /**
   * A leader removed from the configuration steps down once the removal is
   * applied. Default true.
   */
  readonly stepDownOnRemoval: boolean;
}

/** Creates a splitmix32 generator in [0, 1) from a seed (deterministic). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) >>> 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    z = (z ^ (z >>> 16)) >>> 0;
    return z / 0x1_0000_0000;
  };
}

/** A configuration with every default filled in; override as needed. */
export function defaultRaftConfig(
  id: ReplicaId,
  overrides: Partial<RaftConfig> = {},
): RaftConfig {
  const electionTicks = overrides.electionTicks ?? 10;
  return {
    id,
    electionTicks,
    heartbeatTicks: 1,
    preVote: true,
    checkQuorum: true,
    readOnlyOption: "safe",
    maxSizePerMsgBytes: 1 << 20,
    maxInflightMsgs: 256,
    maxInflightBytes: 16 << 20,
    maxUncommittedEntriesBytes: 64 << 20,
    maxCommittedSizePerReadyBytes: 16 << 20,
    maxSnapshotChunkBytes: 1 << 20,
    maxSnapshotBytes: 1 << 30,
    snapshotTimeoutTicks: 5 * electionTicks,
    maxPendingReadIndex: 4096,
    random: seededRandom(1),
    applied: 0,
    disableProposalForwarding: false,
    stepDownOnRemoval: true,
    ...overrides,
  };
}

/** Throws a RangeError naming the first invalid field. */
export function validateRaftConfig(c: RaftConfig): void {
  const positive: (keyof RaftConfig)[] = [
    "electionTicks",
    "heartbeatTicks",
    "maxSizePerMsgBytes",
    "maxInflightMsgs",
    "maxInflightBytes",
    "maxUncommittedEntriesBytes",
    "maxCommittedSizePerReadyBytes",
    "maxSnapshotChunkBytes",
    "maxSnapshotBytes",
    "snapshotTimeoutTicks",
    "maxPendingReadIndex",
  ];
  if (c.id === "") throw new RangeError("raft config: id must not be empty");
  for (const k of positive) {
    const v = c[k];
    if (typeof v !== "number" || !Number.isInteger(v) || v <= 0) {
      throw new RangeError(`raft config: ${k} must be a positive integer, got ${String(v)}`);
    }
  }
  if (c.electionTicks <= c.heartbeatTicks) {
    throw new RangeError(
      `raft config: electionTicks (${c.electionTicks}) must exceed heartbeatTicks (${c.heartbeatTicks})`,
    );
  }
  if (c.readOnlyOption === "lease-based" && !c.checkQuorum) {
    throw new RangeError("raft config: readOnlyOption lease-based requires checkQuorum");
  }
  if (!Number.isInteger(c.applied) || c.applied < 0) {
    throw new RangeError(`raft config: applied must be a non-negative integer, got ${c.applied}`);
  }
}
