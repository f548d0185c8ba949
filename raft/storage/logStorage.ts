/**
 * Log storage contract shared by the Raft core, the driver and every storage
 * implementation (memory, SQLite). Modelled on etcd-io/raft `storage.go`:
 * reads are synchronous (the core is synchronous); writes are grouped into
 * batches that may span many Raft groups and are made durable together
 * (one fsync per batch).
 *
 * @module
 */

/** Identifier of a replica (a node id string such as "127.0.0.1:8899"). */
export type ReplicaId = string;

/** Identifier of a Raft group (one range of a store kind), e.g. "inbox/0001". */
export type GroupId = string;

/** Kinds of log entries. */
export const EntryType = {
  /** An application command (or an empty entry appended by a new leader). */
  Normal: 0,
  /** A membership change (joint consensus enter / leave), encoded by raft/. */
  ConfChange: 1,
} as const;
/** One of the {@link EntryType} values. */
export type EntryType = typeof EntryType[keyof typeof EntryType];

/** One Raft log entry. */
export interface Entry {
  readonly term: number;
  readonly index: number;
  readonly type: EntryType;
  readonly data: Uint8Array;
}

/** State that must be durable before any message that depends on it is sent. */
export interface HardState {
  readonly term: number;
  /** The replica voted for in `term`, or null. */
  readonly vote: ReplicaId | null;
  readonly commit: number;
}

/** Membership of a group, including a joint configuration in progress. */
export interface ConfState {
  /** Voters of the incoming (or only) configuration. */
  readonly voters: readonly ReplicaId[];
  readonly learners: readonly ReplicaId[];
  /** Voters of the outgoing configuration; empty unless in a joint configuration. */
  readonly votersOutgoing: readonly ReplicaId[];
  /** Voters of the outgoing configuration that become learners when the joint state is left. */
  readonly learnersNext: readonly ReplicaId[];
  /** Leave the joint configuration automatically once it is committed. */
  readonly autoLeave: boolean;
}

/** Metadata of a state-machine snapshot. */
export interface SnapshotMetadata {
  readonly index: number;
  readonly term: number;
  readonly confState: ConfState;
}

/** A state-machine snapshot; `data` is opaque to Raft. */
export interface Snapshot {
  readonly metadata: SnapshotMetadata;
  readonly data: Uint8Array;
}

/** The log is compacted past the requested index. */
export class CompactedError extends Error {
  constructor(readonly requestedIndex: number, readonly firstIndex: number) {
    super(`log index ${requestedIndex} is compacted (first available index ${firstIndex})`);
    this.name = "CompactedError";
  }
}

/** The requested index is past the end of the stored log. */
export class UnavailableError extends Error {
  constructor(readonly requestedIndex: number, readonly lastIndex: number) {
    super(`log index ${requestedIndex} is not available (last index ${lastIndex})`);
    this.name = "UnavailableError";
  }
}

/** The stored data failed its checksum or is truncated; the replica must not serve. */
export class StorageCorruptionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StorageCorruptionError";
  }
}

/**
 * Read view of one group's durable log (as etcd-io/raft `Storage`). All
 * methods are synchronous and reflect every batch written so far.
 */
export interface GroupLogStorage {
  readonly groupId: GroupId;
  /** Durable hard state and the configuration of the latest snapshot/applied conf. */
  initialState(): { hardState: HardState; confState: ConfState };
  /**
   * Entries in [lo, hi), at most `maxBytes` of data in total but always at least
   * one entry when lo < hi. Throws CompactedError / UnavailableError.
   */
  entries(lo: number, hi: number, maxBytes: number): Entry[];
  /** Term of entry i; valid for firstIndex()-1 ..= lastIndex(). */
  term(index: number): number;
  /** Index of the first entry still available (snapshot index + 1). */
  firstIndex(): number;
  /** Index of the last entry (snapshot index if the log is empty). */
  lastIndex(): number;
  /** The most recent snapshot stored for this group. */
  snapshot(): Snapshot;
}

/** Writes for one group inside a {@link LogWriteBatch}. Applied in field order. */
export interface GroupWrite {
  readonly groupId: GroupId;
  /** Install this snapshot first (discards the log up to its index). */
  readonly snapshot?: Snapshot;
  /**
   * Entries to append; any stored entries with index >= entries[0].index are
   * replaced (conflict truncation).
   */
  readonly entries?: readonly Entry[];
  readonly hardState?: HardState;
  /** Discard entries up to and including this index (log compaction). */
  readonly compactTo?: number;
}

/** A batch of writes across groups made durable together. */
export type LogWriteBatch = readonly GroupWrite[];

/**
 * A log store holding the logs of many groups (one SQLite database per node).
 * `write` makes the whole batch durable (one transaction, one fsync) before it
 * returns; it is synchronous because node:sqlite is.
 */
export interface LogStore {
  /** Opens (creating if absent) the log of a group. */
  group(groupId: GroupId): GroupLogStorage;
  /** Lists the groups that have stored state. */
  groups(): GroupId[];
  /** Removes a group's log entirely (replica removed from this node). */
  dropGroup(groupId: GroupId): void;
  /** Writes a batch durably. */
  write(batch: LogWriteBatch): void;
  close(): void;
}
