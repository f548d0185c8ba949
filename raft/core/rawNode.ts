/**
 * RawNode: the application-facing handle on one replica of one group
 * (etcd-io/raft `rawnode.go`). Synchronous and pure: no clock, no I/O.
 *
 * Usage per loop iteration: feed `tick()` / `step()` / `propose()`; if
 * `hasReady()`, take `ready()`, persist → send → apply, then `advance(rd)`.
 * Only one Ready may be outstanding at a time.
 *
 * Bootstrapping a new group: every initial replica stores
 * `bootstrapSnapshot(confState)` (index 1, term 1) first. A replica added
 * later starts empty and is caught up by the leader (snapshot, then log).
 *
 * Applying a committed entry of type ConfChange: decode it with
 * `decodeConfChange(entry.data)` and call `applyConfChange(cc)`.
 *
 * @module
 */

import {
  type ConfState,
  type Entry,
  EntryType,
  type GroupLogStorage,
  type HardState,
  type ReplicaId,
} from "../storage/logStorage.ts";
import type { RaftConfig } from "./config.ts";
import { encodeConfChange } from "./confChangeCodec.ts";
import { ConfChangeError, NotLeaderError, ProposalDroppedError } from "./errors.ts";
import { Raft } from "./raft.ts";
import { entriesSizeBytes } from "./raftLog.ts";
import {
  type ConfChange,
  type Message,
  MessageType,
  newMessage,
  type ProgressStatus,
  type ProposalPosition,
  type Ready,
  type SnapshotStatus,
  type SoftState,
  StateType,
  type Status,
} from "./types.ts";

const LOCAL_ONLY: ReadonlySet<string> = new Set([
  MessageType.Hup,
  MessageType.Beat,
  MessageType.Unreachable,
  MessageType.SnapStatus,
  MessageType.CheckQuorum,
]);

function sameHardState(a: HardState, b: HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

/** One replica of one Raft group. */
export class RawNode {
  readonly #raft: Raft;
  #prevSoftState: SoftState;
  #prevHardState: HardState;
  #outstanding: Ready | null = null;

  /** Creates a replica reading its durable state from `storage`. */
  constructor(readonly config: RaftConfig, readonly storage: GroupLogStorage) {
    this.#raft = new Raft(config, storage);
    this.#prevSoftState = this.#raft.softState();
    this.#prevHardState = this.#raft.hardState();
  }

  /** This replica's id. */
  get id(): ReplicaId {
    return this.#raft.id;
  }

  /** Advances logical time by one tick (election / heartbeat timers). */
  tick(): void {
    this.#raft.tick();
  }

  /** Starts an election now (pre-vote first if enabled). */
  campaign(): void {
    this.#raft.step(newMessage({ type: MessageType.Hup, from: this.id, to: this.id }));
  }

  /**
   * Feeds a message received from a peer. Messages addressed to another
   * replica and local-only message types are ignored; peer input never throws.
   */
  step(msg: Message): void {
    if (msg.to !== this.id || LOCAL_ONLY.has(msg.type)) return;
    try {
      this.#raft.step(msg);
    } catch (e) {
      // Forwarded proposals the leader refuses are dropped silently (the
      // origin times out), as in etcd.
      if (
        e instanceof ProposalDroppedError || e instanceof NotLeaderError ||
        e instanceof ConfChangeError
      ) return;
      throw e;
    }
  }

  #propose(entry: Entry): ProposalPosition | null {
    const r = this.#raft;
    r.lastProposal = null;
    r.step(newMessage({ type: MessageType.Prop, from: this.id, to: this.id, entries: [entry] }));
    return r.state === StateType.Leader ? r.lastProposal : null;
  }

  /**
   * Proposes a command. On the leader returns where it was appended; throws
   * NotLeaderError (forwarding disabled or no leader), ProposalDroppedError
   * (transfer in progress, uncommitted bytes over the limit). On a follower
   * with forwarding enabled returns null (forwarded, position unknown).
   */
  propose(data: Uint8Array): ProposalPosition | null {
    return this.#propose({ term: 0, index: 0, type: EntryType.Normal, data });
  }

  /**
   * Proposes a membership change (same outcomes as propose; also throws
   * ConfChangeError when another change is pending or joint state forbids it).
   */
  proposeConfChange(cc: ConfChange): ProposalPosition | null {
    return this.#propose({
      term: 0,
      index: 0,
      type: EntryType.ConfChange,
      data: encodeConfChange(cc),
    });
  }

  /**
   * Applies a committed ConfChange entry (call while applying it) and returns
   * the resulting configuration, to be stored with the next snapshot. A change
   * that breaks an invariant is a no-op on every replica.
   */
  applyConfChange(cc: ConfChange): ConfState {
    return this.#raft.applyConfChange(cc);
  }

  /** True when ready() would return work. */
  hasReady(): boolean {
    const r = this.#raft;
    const ss = r.softState();
    if (ss.lead !== this.#prevSoftState.lead || ss.raftState !== this.#prevSoftState.raftState) {
      return true;
    }
    const hs = r.hardState();
    if (!sameHardState(hs, this.#prevHardState)) return true;
    return r.raftLog.hasPendingSnapshot() || r.raftLog.unstable.entries.length > 0 ||
      r.msgs.length > 0 || r.readStates.length > 0 || r.raftLog.hasNextCommittedEnts();
  }

  /**
   * Returns the pending work; hand it back to advance() once persisted, sent
   * and applied. Throws if the previous Ready was not advanced.
   */
  ready(): Ready {
    if (this.#outstanding !== null) {
      throw new Error(`replica ${this.id}: ready() called before advance() of the previous Ready`);
    }
    const r = this.#raft;
    const ss = r.softState();
    const hs = r.hardState();
    const entries = r.raftLog.unstableEntries();
    const snapshot = r.raftLog.unstable.snapshot ?? undefined;
    const committedEntries = r.raftLog.nextCommittedEnts();
    const softChanged = ss.lead !== this.#prevSoftState.lead ||
      ss.raftState !== this.#prevSoftState.raftState;
    const hardChanged = !sameHardState(hs, this.#prevHardState);
    const rd: Ready = {
      ...(softChanged ? { softState: ss } : {}),
      ...(hardChanged ? { hardState: hs } : {}),
      entries,
      ...(snapshot !== undefined ? { snapshot } : {}),
      messages: r.msgs,
      committedEntries,
      readStates: r.readStates,
      mustSync: entries.length > 0 || snapshot !== undefined ||
        hs.term !== this.#prevHardState.term || hs.vote !== this.#prevHardState.vote,
    };
    r.msgs = [];
    r.readStates = [];
    if (softChanged) this.#prevSoftState = ss;
    if (committedEntries.length > 0) {
      r.raftLog.applyingTo(committedEntries[committedEntries.length - 1].index);
    }
    this.#outstanding = rd;
    return rd;
  }

  /** Acknowledges that a Ready was persisted, sent and applied. */
  advance(rd: Ready): void {
    if (rd !== this.#outstanding) {
      throw new Error(`replica ${this.id}: advance() with a Ready that is not outstanding`);
    }
    this.#outstanding = null;
    const r = this.#raft;
    if (rd.hardState !== undefined) this.#prevHardState = rd.hardState;
    if (rd.entries.length > 0) {
      const last = rd.entries[rd.entries.length - 1];
      r.raftLog.stableTo(last.index, last.term);
    }
    let applied = 0;
    if (rd.snapshot !== undefined) {
      r.raftLog.stableSnapTo(rd.snapshot.metadata.index);
      applied = rd.snapshot.metadata.index;
    }
    if (rd.committedEntries.length > 0) {
      applied = Math.max(applied, rd.committedEntries[rd.committedEntries.length - 1].index);
    }
    if (applied > 0) r.appliedTo(applied, entriesSizeBytes(rd.committedEntries));
  }

  /**
   * Requests a linearizable read point; the answer arrives as a ReadState in
   * a later Ready with the same context. Throws NotLeaderError as propose,
   * ProposalDroppedError when too many reads are pending or the context is a
   * duplicate.
   */
  readIndex(requestCtx: Uint8Array): void {
    this.#raft.step(newMessage({
      type: MessageType.ReadIndex,
      from: this.id,
      to: this.id,
      context: requestCtx,
    }));
  }

  /** Asks the leader to hand leadership to `to` (dropped if no leader is known). */
  transferLeader(to: ReplicaId): void {
    this.#raft.step(newMessage({ type: MessageType.TransferLeader, from: to, to: this.id }));
  }

  /** Tells the leader that a peer could not be reached (back to probing). */
  reportUnreachable(id: ReplicaId): void {
    this.#raft.step(newMessage({ type: MessageType.Unreachable, from: id, to: this.id }));
  }

  /** Tells the leader whether a snapshot send to `id` finished or failed. */
  reportSnapshot(id: ReplicaId, status: SnapshotStatus): void {
    this.#raft.step(newMessage({
      type: MessageType.SnapStatus,
      from: id,
      to: this.id,
      reject: status === "failure",
    }));
  }

  /**
   * LOSSY. Rewrites the voters of a group that lost its majority to
   * `newVoters` (which must include this replica; the others must be
   * reachable) and campaigns at once. Once elected, the leader replicates the
   * forced configuration as a ConfChange entry (with `forceVoters`) that every
   * replica applies. Call it on the most up-to-date surviving replica only.
   * Consequences: entries committed only on the lost replicas are gone;
   * uncommitted entries on the survivors may become committed; old learners
   * stay learners, every other old member is dropped. For the opt-in
   * recovery balancer only.
   */
  forceRecovery(newVoters: readonly ReplicaId[]): void {
    this.#raft.forceRecovery(newVoters);
  }

  /** Current state for status pages and tests. */
  status(): Status {
    const r = this.#raft;
    const progress: Record<ReplicaId, ProgressStatus> = {};
    if (r.state === StateType.Leader) {
      for (const [id, pr] of r.trk.progress) progress[id] = pr.toStatus();
    }
    return {
      id: r.id,
      term: r.term,
      vote: r.vote,
      commit: r.raftLog.committed,
      applied: r.raftLog.applied,
      lead: r.lead,
      raftState: r.state,
      lastIndex: r.raftLog.lastIndex(),
      confState: r.trk.confState(),
      progress,
      leadTransferee: r.leadTransferee,
    };
  }
}
