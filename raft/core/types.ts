/**
 * Wire and interface types of the Raft core: messages, Ready, status.
 *
 * Messages are plain objects (no class instances, no Maps) with byte payloads
 * as `Uint8Array`, so they survive msgpack encoding unchanged. They carry no
 * group id: the driver adds it when it multiplexes many groups on one link.
 *
 * @module
 */

import type {
  ConfState,
  Entry,
  HardState,
  ReplicaId,
  Snapshot,
  SnapshotMetadata,
} from "../storage/logStorage.ts";

/** Kinds of Raft messages (string values keep traces readable). */
export const MessageType = {
  /** Local: start an election (sent to self on election timeout). */
  Hup: "MsgHup",
  /** Local: the leader should broadcast heartbeats. */
  Beat: "MsgBeat",
  /** A client proposal (local, or forwarded by a follower to the leader). */
  Prop: "MsgProp",
  /** Leader → follower: append entries. */
  App: "MsgApp",
  /** Follower → leader: append accepted (index = last matched) or rejected (hint). */
  AppResp: "MsgAppResp",
  /** Candidate → peers: request a vote. */
  Vote: "MsgVote",
  VoteResp: "MsgVoteResp",
  /** Pre-candidate → peers: would you vote for me at term+1? (no state change). */
  PreVote: "MsgPreVote",
  PreVoteResp: "MsgPreVoteResp",
  /** Leader → follower: one chunk of a snapshot. */
  Snap: "MsgSnap",
  Heartbeat: "MsgHeartbeat",
  HeartbeatResp: "MsgHeartbeatResp",
  /** Local: the transport could not reach `from`. */
  Unreachable: "MsgUnreachable",
  /** Local: the driver reports a snapshot send outcome (`reject` = failed). */
  SnapStatus: "MsgSnapStatus",
  /** Local: the leader checks it heard from a quorum during the last election timeout. */
  CheckQuorum: "MsgCheckQuorum",
  /** Ask the leader to transfer leadership to `from`. */
  TransferLeader: "MsgTransferLeader",
  /** Leader → transferee: campaign now, ignoring the election timer and lease. */
  TimeoutNow: "MsgTimeoutNow",
  /** Request a read index (context identifies the request). */
  ReadIndex: "MsgReadIndex",
  ReadIndexResp: "MsgReadIndexResp",
} as const;
/** One of the {@link MessageType} values. */
export type MessageType = typeof MessageType[keyof typeof MessageType];

/** A chunk of a snapshot in flight (chunks of one snapshot share metadata). */
export interface SnapshotChunk {
  readonly metadata: SnapshotMetadata;
  /** Byte offset of `data` inside the whole snapshot data. */
  readonly offset: number;
  /** Size of the whole snapshot data in bytes. */
  readonly totalBytes: number;
  readonly data: Uint8Array;
}

/**
 * A Raft message. Every field is always present (use {@link newMessage}) so
 * that encode/decode round trips are exact; unused fields hold zero values.
 */
export interface Message {
  readonly type: MessageType;
  readonly from: ReplicaId;
  readonly to: ReplicaId;
  readonly term: number;
  /** Term of the entry at `index` (MsgApp), or of the candidate's last entry (votes). */
  readonly logTerm: number;
  /**
   * MsgApp: index preceding `entries`; MsgAppResp: matched/rejected index;
   * votes: last index; MsgHeartbeat(Resp): the leader's tick count (lease).
   */
  readonly index: number;
  readonly entries: readonly Entry[];
  /** Leader's commit index (MsgApp, MsgHeartbeat). */
  readonly commit: number;
  readonly reject: boolean;
  /** MsgAppResp reject: the follower's hint index for fast back-off. */
  readonly rejectHint: number;
  /** Term of the follower's entry at `rejectHint` (0 if unknown). */
  readonly rejectHintTerm: number;
  /** Read-index request context, or the campaign-transfer marker on votes. */
  readonly context: Uint8Array | null;
  readonly snapshot: SnapshotChunk | null;
}

/** Builds a message with zero values for every field not given. */
export function newMessage(
  fields: Partial<Message> & Pick<Message, "type" | "from" | "to">,
): Message {
  return {
    term: 0,
    logTerm: 0,
    index: 0,
    entries: [],
    commit: 0,
    reject: false,
    rejectHint: 0,
    rejectHintTerm: 0,
    context: null,
    snapshot: null,
    ...fields,
  };
}

/** Role of a replica. */
export const StateType = {
  Follower: "follower",
  Candidate: "candidate",
  Leader: "leader",
  PreCandidate: "pre-candidate",
} as const;
/** One of the {@link StateType} values. */
export type StateType = typeof StateType[keyof typeof StateType];

/** Volatile state worth logging or exposing; not persisted. */
export interface SoftState {
  readonly lead: ReplicaId | null;
  readonly raftState: StateType;
}

/** The answer to a read-index request: reads are linearizable once `index` is applied. */
export interface ReadState {
  readonly index: number;
  readonly requestCtx: Uint8Array;
}

/**
 * Work the application must do, in this order: persist `snapshot`, `entries`
 * and `hardState` durably (one batch); then send `messages`; then apply
 * `committedEntries` (and install `snapshot` in the state machine); then call
 * `advance(ready)`.
 */
export interface Ready {
  /** Present when the leader or role changed since the last Ready. */
  readonly softState?: SoftState;
  /** Present when term, vote or commit changed; persist it. */
  readonly hardState?: HardState;
  /** Entries to append durably (replacing any stored suffix from entries[0].index). */
  readonly entries: readonly Entry[];
  /** A snapshot received from the leader: persist it and restore the state machine. */
  readonly snapshot?: Snapshot;
  /** Messages to send after the persist step is durable. */
  readonly messages: readonly Message[];
  /** Committed entries to apply to the state machine, in order. */
  readonly committedEntries: readonly Entry[];
  /** Answers to read-index requests. */
  readonly readStates: readonly ReadState[];
  /** True when the persist step must be fsynced (entries, term or vote changed). */
  readonly mustSync: boolean;
}

/** Replication state of a follower as seen by the leader. */
export const ProgressState = {
  /** Sending one append at a time until the match point is found. */
  Probe: "probe",
  /** Streaming appends optimistically (pipelined) within the in-flight window. */
  Replicate: "replicate",
  /** Waiting for a snapshot to be installed. */
  Snapshot: "snapshot",
} as const;
/** One of the {@link ProgressState} values. */
export type ProgressState = typeof ProgressState[keyof typeof ProgressState];

/** Read-only view of a follower's progress (leader only). */
export interface ProgressStatus {
  readonly match: number;
  readonly next: number;
  readonly state: ProgressState;
  readonly isLearner: boolean;
  readonly recentActive: boolean;
  readonly inflightCount: number;
  readonly inflightBytes: number;
  readonly pendingSnapshot: number;
}

/** A snapshot of a replica's state for status pages and tests. */
export interface Status {
  readonly id: ReplicaId;
  readonly term: number;
  readonly vote: ReplicaId | null;
  readonly commit: number;
  readonly applied: number;
  readonly lead: ReplicaId | null;
  readonly raftState: StateType;
  readonly lastIndex: number;
  readonly confState: ConfState;
  /** Per-replica progress; empty unless this replica is the leader. */
  readonly progress: Readonly<Record<ReplicaId, ProgressStatus>>;
  readonly leadTransferee: ReplicaId | null;
}

/** Kinds of single membership changes. */
export const ConfChangeType = {
  /** Add a voter, or promote a learner to voter. */
  AddNode: "add-node",
  /** Remove a voter or a learner. */
  RemoveNode: "remove-node",
  /** Add a learner, or demote a voter to learner. */
  AddLearner: "add-learner",
} as const;
/** One of the {@link ConfChangeType} values. */
export type ConfChangeType = typeof ConfChangeType[keyof typeof ConfChangeType];

/** One membership change. */
export interface ConfChangeSingle {
  readonly type: ConfChangeType;
  readonly replicaId: ReplicaId;
}

/**
 * How a multi-change proposal transitions: `auto` uses joint consensus when
 * needed and leaves it automatically; `implicit` always enters joint and
 * leaves automatically; `explicit` enters joint and waits for an empty
 * ConfChange (no changes) to leave.
 */
export type ConfChangeTransition = "auto" | "implicit" | "explicit";

/**
 * A membership change (etcd ConfChangeV2). An empty `changes` list leaves a
 * joint configuration. `forceVoters` (set only by forced recovery) replaces
 * the whole configuration.
 */
export interface ConfChange {
  readonly transition: ConfChangeTransition;
  readonly changes: readonly ConfChangeSingle[];
  /** Forced recovery only: the new voter set, applied unconditionally. */
  readonly forceVoters?: readonly ReplicaId[];
  /** Opaque application data carried with the change. */
  readonly context?: Uint8Array;
}

/** The log position a proposal was appended at (leader only). */
export interface ProposalPosition {
  readonly index: number;
  readonly term: number;
}

/** Outcome of a snapshot send reported by the driver. */
export type SnapshotStatus = "finish" | "failure";
