/**
 * The Raft state machine of one replica (etcd-io/raft `raft.go`): roles,
 * elections, replication, commit, reads, membership and leader transfer.
 * Synchronous and pure; RawNode wraps it for applications.
 *
 * @module
 */

import {
  CompactedError,
  type ConfState,
  type Entry,
  EntryType,
  type GroupLogStorage,
  type HardState,
  type ReplicaId,
  type Snapshot,
  UnavailableError,
} from "../storage/logStorage.ts";
import { type RaftConfig, validateRaftConfig } from "./config.ts";
import {
  applyConfChangeTo,
  type ChangeResult,
  isLeaveJoint,
  restoreConfState,
} from "./confchange.ts";
import { decodeConfChange, encodeConfChange } from "./confChangeCodec.ts";
import { ConfChangeError, NotLeaderError, ProposalDroppedError } from "./errors.ts";
import { entriesSizeBytes, RaftLog } from "./raftLog.ts";
import { jointCommittedIndex } from "./quorum.ts";
import { ReadOnly } from "./readOnly.ts";
import { SnapshotAssembler } from "./snapshotAssembler.ts";
import { ProgressTracker } from "./tracker.ts";
import {
  type ConfChange,
  type Message,
  MessageType,
  newMessage,
  ProgressState,
  type ProposalPosition,
  type ReadState,
  type SoftState,
  StateType,
} from "./types.ts";

type CampaignType = "pre-election" | "election" | "transfer";

const CAMPAIGN_TRANSFER = new TextEncoder().encode("CampaignTransfer");

function isCampaignTransfer(ctx: Uint8Array | null): boolean {
  if (ctx === null || ctx.byteLength !== CAMPAIGN_TRANSFER.byteLength) return false;
  for (let i = 0; i < ctx.byteLength; i++) if (ctx[i] !== CAMPAIGN_TRANSFER[i]) return false;
  return true;
}

function voteRespType(t: MessageType): MessageType {
  return t === MessageType.PreVote ? MessageType.PreVoteResp : MessageType.VoteResp;
}

/** One replica's Raft state. Use through RawNode. */
export class Raft {
  readonly id: ReplicaId;
  term = 0;
  vote: ReplicaId | null = null;
  lead: ReplicaId | null = null;
  state: StateType = StateType.Follower;
  readonly raftLog: RaftLog;
  readonly trk: ProgressTracker;
  /** Outgoing messages, drained by Ready. */
  msgs: Message[] = [];
  readStates: ReadState[] = [];
  leadTransferee: ReplicaId | null = null;
  /** Index of the newest conf change appended; a new one waits until it is applied. */
  pendingConfIndex = 0;
  uncommittedSizeBytes = 0;
  readOnly: ReadOnly;
  electionElapsed = 0;
  heartbeatElapsed = 0;
  randomizedElectionTimeout = 0;
  isLearner = false;
  /** Position of the last proposal appended by step(MsgProp) on the leader. */
  lastProposal: ProposalPosition | null = null;
  #pendingReadIndexMessages: Message[] = [];
  readonly #assembler: SnapshotAssembler;
  #pendingForceVoters: ReplicaId[] | null = null;
  /** Ticks since this replica started (the lease clock). */
  #tickCount = 0;
  /** Tick of the latest leader transfer start (voids earlier lease acks). */
  #transferStartedTick = -1;
  /** Ticks into the hand-off of a removed leader, or null. */
  #handoffElapsed: number | null = null;

  constructor(readonly config: RaftConfig, storage: GroupLogStorage) {
    validateRaftConfig(config);
    this.id = config.id;
    this.raftLog = new RaftLog(storage, config.maxCommittedSizePerReadyBytes);
    this.trk = new ProgressTracker(config.maxInflightMsgs, config.maxInflightBytes);
    this.readOnly = new ReadOnly(config.maxPendingReadIndex);
    this.#assembler = new SnapshotAssembler(config.maxSnapshotBytes);
    const { hardState, confState } = storage.initialState();
    this.#switchToConfig(restoreConfState(this.trk, this.raftLog.lastIndex(), confState));
    if (hardState.term !== 0 || hardState.vote !== null || hardState.commit !== 0) {
      this.#loadState(hardState);
    }
    if (config.applied > 0) {
      this.raftLog.appliedTo(Math.min(config.applied, this.raftLog.committed));
    }
    this.becomeFollower(this.term, null);
  }

  // ---- state snapshots -------------------------------------------------

  /** Current hard state. */
  hardState(): HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  /** Current soft state. */
  softState(): SoftState {
    return { lead: this.lead, raftState: this.state };
  }

  #loadState(hs: HardState): void {
    if (hs.commit < this.raftLog.committed || hs.commit > this.raftLog.lastIndex()) {
      throw new Error(
        `replica ${this.id}: stored commit ${hs.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`,
      );
    }
    this.raftLog.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  /** True if this replica may campaign (a voter without a pending snapshot). */
  promotable(): boolean {
    const pr = this.trk.progress.get(this.id);
    return pr !== undefined && !pr.isLearner && !this.raftLog.hasPendingSnapshot();
  }

  // ---- sending ----------------------------------------------------------

  #send(m: Message): void {
    let msg = m.from === this.id ? m : { ...m, from: this.id };
    const t = msg.type;
    if (
      t === MessageType.Vote || t === MessageType.VoteResp || t === MessageType.PreVote ||
      t === MessageType.PreVoteResp
    ) {
      if (msg.term === 0) throw new Error(`term should be set when sending ${t}`);
    } else if (t === MessageType.Prop || t === MessageType.ReadIndex) {
      // Forwarded proposals and read requests are treated as local by the leader.
      msg = { ...msg, term: 0 };
    } else {
      msg = { ...msg, term: this.term };
    }
    this.msgs.push(msg);
  }

  #sendSnapshot(to: ReplicaId, snap: Snapshot): void {
    const chunkBytes = this.config.maxSnapshotChunkBytes;
    const total = snap.data.byteLength;
    let offset = 0;
    do {
      const data = snap.data.subarray(offset, Math.min(offset + chunkBytes, total));
      this.#send(newMessage({
        type: MessageType.Snap,
        from: this.id,
        to,
        snapshot: { metadata: snap.metadata, offset, totalBytes: total, data },
      }));
      offset += data.byteLength;
    } while (offset < total);
  }

  /** Sends an append (or snapshot) to `to` if flow control allows. */
  #maybeSendAppend(to: ReplicaId, sendIfEmpty: boolean): boolean {
    const pr = this.trk.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    let prevTerm: number;
    let ents: Entry[];
    try {
      prevTerm = this.raftLog.term(prevIndex);
      ents = this.raftLog.entries(pr.next, this.config.maxSizePerMsgBytes);
    } catch (e) {
      if (!(e instanceof CompactedError)) {
        if (e instanceof UnavailableError) return false;
        throw e;
      }
      // The entries are compacted: send a snapshot instead.
      if (!pr.recentActive) return false;
      const snap = this.raftLog.snapshot();
      if (snap.metadata.index === 0) return false; // temporarily unavailable
      this.#sendSnapshot(to, snap);
      pr.becomeSnapshot(snap.metadata.index);
      return true;
    }
    if (ents.length === 0 && !sendIfEmpty) return false;
    this.#send(newMessage({
      type: MessageType.App,
      from: this.id,
      to,
      index: prevIndex,
      logTerm: prevTerm,
      entries: ents,
      commit: this.raftLog.committed,
    }));
    pr.sentEntries(
      ents.length,
      entriesSizeBytes(ents),
      ents.length > 0 ? ents[ents.length - 1].index : prevIndex,
    );
    return true;
  }

  /** An entry-less append at next-1 that bypasses the full window (not counted in it). */
  #sendEmptyAppendProbe(to: ReplicaId): void {
    const pr = this.trk.progress.get(to);
    if (pr === undefined) return;
    const prevIndex = pr.next - 1;
    const prevTerm = this.raftLog.termOrZero(prevIndex);
    if (prevTerm === 0 && prevIndex > 0) {
      pr.becomeProbe();
      this.#sendAppend(to);
      return;
    }
    this.#send(newMessage({
      type: MessageType.App,
      from: this.id,
      to,
      index: prevIndex,
      logTerm: prevTerm,
      commit: this.raftLog.committed,
    }));
  }

  #sendAppend(to: ReplicaId): void {
    this.#maybeSendAppend(to, true);
  }

  #sendHeartbeat(to: ReplicaId, ctx: Uint8Array | null): void {
    const pr = this.trk.progress.get(to);
    const commit = Math.min(pr?.match ?? 0, this.raftLog.committed);
    // `index` carries our tick count; the echo tells when the follower last
    // heard from us (for the lease).
    this.#send(newMessage({
      type: MessageType.Heartbeat,
      from: this.id,
      to,
      commit,
      context: ctx,
      index: this.#tickCount,
    }));
  }

  #bcastAppend(): void {
    for (const id of this.trk.progress.keys()) if (id !== this.id) this.#sendAppend(id);
  }

  #bcastHeartbeat(ctx: Uint8Array | null = this.readOnly.lastPendingRequestCtx()): void {
    for (const id of this.trk.progress.keys()) if (id !== this.id) this.#sendHeartbeat(id, ctx);
  }

  // ---- roles ------------------------------------------------------------

  #reset(term: number): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = null;
    }
    this.lead = null;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.#resetRandomizedElectionTimeout();
    this.leadTransferee = null;
    this.trk.resetVotes();
    const last = this.raftLog.lastIndex();
    for (const [id, pr] of this.trk.progress) {
      const fresh = this.trk.newProgress(last + 1, pr.isLearner);
      fresh.recentActive = false;
      if (id === this.id) fresh.match = last;
      this.trk.progress.set(id, fresh);
    }
    this.pendingConfIndex = 0;
    this.#handoffElapsed = null;
    this.uncommittedSizeBytes = 0;
    this.readOnly = new ReadOnly(this.config.maxPendingReadIndex);
    this.#pendingReadIndexMessages = [];
  }

  #resetRandomizedElectionTimeout(): void {
    const e = this.config.electionTicks;
    this.randomizedElectionTimeout = e + Math.floor(this.config.random() * e);
  }

  /** Becomes a follower of `lead` (or of nobody) at `term`. */
  becomeFollower(term: number, lead: ReplicaId | null): void {
    this.#reset(term);
    this.lead = lead;
    this.state = StateType.Follower;
  }

  #becomeCandidate(): void {
    if (this.state === StateType.Leader) throw new Error("invalid transition leader -> candidate");
    this.#reset(this.term + 1);
    this.vote = this.id;
    this.state = StateType.Candidate;
  }

  #becomePreCandidate(): void {
    if (this.state === StateType.Leader) {
      throw new Error("invalid transition leader -> pre-candidate");
    }
    // Pre-vote changes neither term nor vote.
    this.trk.resetVotes();
    this.lead = null;
    this.state = StateType.PreCandidate;
  }

  #becomeLeader(): void {
    if (this.state === StateType.Follower) throw new Error("invalid transition follower -> leader");
    this.#reset(this.term);
    this.lead = this.id;
    this.state = StateType.Leader;
    const self = this.trk.progress.get(this.id);
    if (self !== undefined) {
      self.becomeReplicate();
      self.recentActive = true;
    }
    // Conf changes in the uncommitted tail are treated as pending.
    this.pendingConfIndex = this.raftLog.lastIndex();
    this.#appendEntry([{ term: 0, index: 0, type: EntryType.Normal, data: new Uint8Array() }]);
    if (this.#pendingForceVoters !== null) {
      const cc: ConfChange = {
        transition: "auto",
        changes: [],
        forceVoters: this.#pendingForceVoters,
      };
      this.#pendingForceVoters = null;
      this.#appendEntry([{
        term: 0,
        index: 0,
        type: EntryType.ConfChange,
        data: encodeConfChange(cc),
      }]);
      this.pendingConfIndex = this.raftLog.lastIndex();
    }
  }

  #hup(t: CampaignType): void {
    if (this.state === StateType.Leader) return;
    if (!this.promotable()) return;
    if (this.#hasUnappliedConfChanges()) return;
    this.#campaign(t);
  }

  #hasUnappliedConfChanges(): boolean {
    if (this.raftLog.applied >= this.raftLog.committed) return false;
    let lo = this.raftLog.applied + 1;
    const hi = this.raftLog.committed + 1;
    while (lo < hi) {
      let ents: Entry[];
      try {
        ents = this.raftLog.slice(lo, hi, this.config.maxSizePerMsgBytes);
      } catch {
        return false;
      }
      if (ents.length === 0) return false;
      for (const e of ents) if (e.type === EntryType.ConfChange) return true;
      lo = ents[ents.length - 1].index + 1;
    }
    return false;
  }

  #campaign(t: CampaignType): void {
    let voteMsg: MessageType;
    let term: number;
    if (t === "pre-election") {
      this.#becomePreCandidate();
      voteMsg = MessageType.PreVote;
      term = this.term + 1;
    } else {
      this.#becomeCandidate();
      voteMsg = MessageType.Vote;
      term = this.term;
    }
    if (this.#poll(this.id, voteRespType(voteMsg), true) === "won") {
      // Single voter: won immediately.
      if (t === "pre-election") this.#campaign("election");
      else this.#becomeLeader();
      return;
    }
    const lastIndex = this.raftLog.lastIndex();
    const lastTerm = this.raftLog.lastTerm();
    for (const id of this.trk.voterIds()) {
      if (id === this.id) continue;
      this.#send(newMessage({
        type: voteMsg,
        from: this.id,
        to: id,
        term,
        index: lastIndex,
        logTerm: lastTerm,
        context: t === "transfer" ? CAMPAIGN_TRANSFER : null,
      }));
    }
  }

  #poll(id: ReplicaId, _t: MessageType, granted: boolean) {
    this.trk.recordVote(id, granted);
    return this.trk.tallyVotes().result;
  }

  // ---- ticking ----------------------------------------------------------

  /** Advances the logical clock by one tick. */
  tick(): void {
    this.#tickCount++;
    if (this.state === StateType.Leader) this.#tickHeartbeat();
    else this.#tickElection();
  }

  #pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  #tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.#pastElectionTimeout()) {
      this.electionElapsed = 0;
      this.step(newMessage({ type: MessageType.Hup, from: this.id, to: this.id }));
    }
  }

  #tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    for (const [id, pr] of this.trk.progress) {
      if (pr.state !== ProgressState.Snapshot) continue;
      pr.snapshotTicks++;
      if (pr.snapshotTicks >= this.config.snapshotTimeoutTicks) {
        // Chunks were probably lost: probe again (which re-sends if needed).
        pr.pendingSnapshot = 0;
        pr.becomeProbe();
        this.#sendAppend(id);
      }
    }
    if (this.electionElapsed >= this.config.electionTicks) {
      this.electionElapsed = 0;
      if (this.config.checkQuorum) {
        this.step(newMessage({ type: MessageType.CheckQuorum, from: this.id, to: this.id }));
      }
      if (this.state === StateType.Leader && this.#handoffElapsed !== null) {
        // A removed leader hands off for at most two election timeouts.
        this.#handoffElapsed += this.config.electionTicks;
        if (this.#handoffElapsed >= 2 * this.config.electionTicks) {
          this.becomeFollower(this.term, null);
          return;
        }
      } else if (this.state === StateType.Leader && this.leadTransferee !== null) {
        this.leadTransferee = null; // transfer timed out
      }
    }
    if (this.state !== StateType.Leader) return;
    if (this.heartbeatElapsed >= this.config.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.step(newMessage({ type: MessageType.Beat, from: this.id, to: this.id }));
    }
  }

  // ---- proposals ----------------------------------------------------------

  #appendEntry(es: Entry[]): boolean {
    const li = this.raftLog.lastIndex();
    const ents = es.map((e, i): Entry => ({ ...e, term: this.term, index: li + 1 + i }));
    const size = entriesSizeBytes(ents);
    if (
      this.uncommittedSizeBytes > 0 && size > 0 &&
      this.uncommittedSizeBytes + size > this.config.maxUncommittedEntriesBytes
    ) {
      return false;
    }
    this.uncommittedSizeBytes += size;
    const last = this.raftLog.append(ents);
    this.trk.progress.get(this.id)?.maybeUpdate(last);
    this.#maybeCommit();
    return true;
  }

  /** Releases uncommitted-size budget for applied entries (leader). */
  reduceUncommittedSize(sizeBytes: number): void {
    if (this.state !== StateType.Leader) return;
    this.uncommittedSizeBytes = Math.max(0, this.uncommittedSizeBytes - sizeBytes);
  }

  #maybeCommit(): boolean {
    return this.raftLog.maybeCommit(this.trk.committed(), this.term);
  }

  #committedEntryInCurrentTerm(): boolean {
    return this.raftLog.termOrZero(this.raftLog.committed) === this.term;
  }

  // ---- step ---------------------------------------------------------------

  /**
   * Processes one message. Local proposals/reads throw NotLeaderError or
   * ProposalDroppedError; everything else never throws on peer input.
   */
  step(m: Message): void {
    if (m.term === 0) {
      // local message
    } else if (m.term > this.term) {
      if (m.type === MessageType.Vote || m.type === MessageType.PreVote) {
        const force = isCampaignTransfer(m.context);
        const inLease = this.config.checkQuorum &&
          ((this.lead !== null && this.electionElapsed < this.config.electionTicks) ||
            // A (re)started replica may have promised a lease it no longer
            // remembers: it abstains for one election timeout.
            (this.config.readOnlyOption === "lease-based" &&
              this.#tickCount < this.config.electionTicks));
        if (!force && inLease) return; // a leader is alive: ignore disruptive votes
      }
      if (m.type === MessageType.PreVote) {
        // Never change term in response to a pre-vote.
      } else if (m.type === MessageType.PreVoteResp && !m.reject) {
        // The term is bumped when the pre-vote wins.
      } else if (
        m.type === MessageType.App || m.type === MessageType.Heartbeat ||
        m.type === MessageType.Snap
      ) {
        this.becomeFollower(m.term, m.from);
      } else {
        this.becomeFollower(m.term, null);
      }
    } else if (m.term < this.term) {
      if (
        (this.config.checkQuorum || this.config.preVote) &&
        (m.type === MessageType.Heartbeat || m.type === MessageType.App)
      ) {
        // Tell a stale leader about the newer term so it steps down.
        this.#send(newMessage({ type: MessageType.AppResp, from: this.id, to: m.from }));
      } else if (m.type === MessageType.PreVote) {
        this.#send(newMessage({
          type: MessageType.PreVoteResp,
          from: this.id,
          to: m.from,
          term: this.term,
          reject: true,
        }));
      }
      return;
    }

    switch (m.type) {
      case MessageType.Hup:
        this.#hup(this.config.preVote ? "pre-election" : "election");
        return;
      case MessageType.Vote:
      case MessageType.PreVote: {
        const canVote = this.vote === m.from ||
          (this.vote === null && this.lead === null) ||
          (m.type === MessageType.PreVote && m.term > this.term);
        if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
          this.#send(
            newMessage({ type: voteRespType(m.type), from: this.id, to: m.from, term: m.term }),
          );
          if (m.type === MessageType.Vote) {
            this.electionElapsed = 0;
            this.vote = m.from;
          }
        } else {
          this.#send(newMessage({
            type: voteRespType(m.type),
            from: this.id,
            to: m.from,
            term: this.term,
            reject: true,
          }));
        }
        return;
      }
    }
    switch (this.state) {
      case StateType.Leader:
        this.#stepLeader(m);
        return;
      case StateType.Candidate:
      case StateType.PreCandidate:
        this.#stepCandidate(m);
        return;
      case StateType.Follower:
        this.#stepFollower(m);
        return;
    }
  }

  #stepLeader(m: Message): void {
    switch (m.type) {
      case MessageType.Beat:
        this.#bcastHeartbeat();
        return;
      case MessageType.CheckQuorum:
        if (!this.trk.quorumActive()) {
          this.becomeFollower(this.term, null);
          return;
        }
        for (const [id, pr] of this.trk.progress) if (id !== this.id) pr.recentActive = false;
        return;
      case MessageType.Prop:
        this.#leaderPropose(m);
        return;
      case MessageType.ReadIndex:
        if (this.trk.isSingleton()) {
          this.#respondToReadIndex(m, this.raftLog.committed);
          return;
        }
        if (!this.#committedEntryInCurrentTerm()) {
          // The commit index of a new leader is not yet known to be current.
          if (this.#pendingReadIndexMessages.length >= this.config.maxPendingReadIndex) {
            throw new ProposalDroppedError("too many pending read-index requests");
          }
          this.#pendingReadIndexMessages.push(m);
          return;
        }
        this.#sendReadIndexResponse(m);
        return;
    }

    const pr = this.trk.progress.get(m.from);
    if (pr === undefined) return;
    switch (m.type) {
      case MessageType.AppResp: {
        pr.recentActive = true;
        if (m.reject) {
          let nextProbeIdx = m.rejectHint;
          if (m.rejectHintTerm > 0) {
            nextProbeIdx = this.raftLog.findConflictByTerm(m.rejectHint, m.rejectHintTerm)[0];
          }
          if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
            if (pr.state === ProgressState.Replicate) pr.becomeProbe();
            this.#sendAppend(m.from);
          }
          return;
        }
        const oldPaused = pr.isPaused();
        if (pr.maybeUpdate(m.index) || (pr.match === m.index && pr.state === ProgressState.Probe)) {
          if (pr.state === ProgressState.Probe) {
            pr.becomeReplicate();
          } else if (
            pr.state === ProgressState.Snapshot && pr.match + 1 >= this.raftLog.firstIndex()
          ) {
            pr.becomeProbe();
            pr.becomeReplicate();
          } else if (pr.state === ProgressState.Replicate) {
            pr.inflights.freeLE(m.index);
          }
          if (this.#maybeCommit()) {
            this.#releasePendingReadIndexMessages();
            this.#bcastAppend();
          } else if (oldPaused) {
            this.#sendAppend(m.from);
          }
          // Fill the in-flight window (pipelining), bounded by it.
          for (let i = 0; i < this.config.maxInflightMsgs; i++) {
            if (!this.#maybeSendAppend(m.from, false)) break;
          }
          if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
            this.#sendTimeoutNow(m.from);
          }
        }
        return;
      }
      case MessageType.HeartbeatResp: {
        pr.recentActive = true;
        pr.msgAppFlowPaused = false;
        if (pr.state === ProgressState.Replicate && pr.inflights.full()) {
          // The window may be stuck on a lost append or response. If the
          // match did not move for two heartbeat responses, probe with an
          // empty append to resynchronise (not earlier: under reordering a
          // probe can overtake the append and cost a round of probing).
          pr.stalledHeartbeats = pr.match === pr.matchAtHeartbeat ? pr.stalledHeartbeats + 1 : 0;
          pr.matchAtHeartbeat = pr.match;
          if (pr.stalledHeartbeats >= 2) {
            pr.stalledHeartbeats = 0;
            this.#sendEmptyAppendProbe(m.from);
          }
        } else if (pr.match < this.raftLog.lastIndex() || pr.state === ProgressState.Probe) {
          this.#sendAppend(m.from);
        }
        if (this.#handoffElapsed !== null && m.from === this.leadTransferee) {
          // The transferee may have refused an earlier TimeoutNow while it had
          // not yet applied the configuration change: ask again.
          this.#maybeSendTimeoutNow(m.from);
        }
        if (m.index <= this.#tickCount && m.index > pr.lastHeartbeatAckTick) {
          pr.lastHeartbeatAckTick = m.index;
        }
        if (m.context === null) return;
        const acks = this.readOnly.recvAck(m.from, m.context);
        if (acks === null || this.trk.voteResult((id) => acks.has(id) || undefined) !== "won") {
          return;
        }
        for (const rs of this.readOnly.advance(m.context)) {
          this.#respondToReadIndex(rs.request, rs.index);
        }
        return;
      }
      case MessageType.SnapStatus:
        if (pr.state !== ProgressState.Snapshot) return;
        if (m.reject) pr.pendingSnapshot = 0;
        pr.becomeProbe();
        // Wait for a heartbeat response before probing again.
        pr.msgAppFlowPaused = true;
        return;
      case MessageType.Unreachable:
        if (pr.state === ProgressState.Replicate) pr.becomeProbe();
        return;
      case MessageType.TransferLeader: {
        if (pr.isLearner) return;
        const transferee = m.from;
        if (this.leadTransferee !== null) {
          if (this.leadTransferee === transferee) return;
          this.leadTransferee = null;
        }
        if (transferee === this.id) return;
        this.electionElapsed = 0;
        this.leadTransferee = transferee;
        this.#transferStartedTick = this.#tickCount;
        if (pr.match === this.raftLog.lastIndex()) this.#sendTimeoutNow(transferee);
        else this.#sendAppend(transferee);
        return;
      }
    }
  }

  #leaderPropose(m: Message): void {
    if (m.entries.length === 0) throw new ProposalDroppedError("empty proposal");
    if (!this.trk.progress.has(this.id)) {
      throw new ProposalDroppedError(`leader ${this.id} was removed from the configuration`);
    }
    if (this.leadTransferee !== null) {
      throw new ProposalDroppedError(`leadership transfer to ${this.leadTransferee} in progress`);
    }
    const ents = m.entries.map((e): Entry => ({ ...e }));
    for (let i = 0; i < ents.length; i++) {
      const e = ents[i];
      if (e.type !== EntryType.ConfChange) continue;
      const cc = decodeConfChange(e.data);
      const alreadyPending = this.pendingConfIndex > this.raftLog.applied;
      const alreadyJoint = this.trk.isJoint();
      const wantsLeaveJoint = isLeaveJoint(cc);
      let refused = "";
      if (alreadyPending) {
        refused =
          `conf change pending at index ${this.pendingConfIndex} (applied ${this.raftLog.applied})`;
      } else if (alreadyJoint && !wantsLeaveJoint) {
        refused = "must leave the joint configuration first";
      } else if (!alreadyJoint && wantsLeaveJoint) {
        refused = "not in a joint configuration; refusing empty conf change";
      }
      if (refused !== "") throw new ConfChangeError(refused);
      this.pendingConfIndex = this.raftLog.lastIndex() + i + 1;
    }
    if (!this.#appendEntry(ents)) {
      throw new ProposalDroppedError(
        `uncommitted entries exceed maxUncommittedEntriesBytes (${this.config.maxUncommittedEntriesBytes})`,
      );
    }
    this.lastProposal = { index: this.raftLog.lastIndex(), term: this.term };
    this.#bcastAppend();
  }

  #sendTimeoutNow(to: ReplicaId): void {
    this.#send(newMessage({ type: MessageType.TimeoutNow, from: this.id, to }));
  }

  #releasePendingReadIndexMessages(): void {
    if (this.#pendingReadIndexMessages.length === 0) return;
    if (!this.#committedEntryInCurrentTerm()) return;
    const pending = this.#pendingReadIndexMessages;
    this.#pendingReadIndexMessages = [];
    for (const m of pending) this.#sendReadIndexResponse(m);
  }

  #sendReadIndexResponse(m: Message): void {
    if (this.config.readOnlyOption === "lease-based" && this.#leaseValid()) {
      this.#respondToReadIndex(m, this.raftLog.committed);
      return;
    }
    // Safe path (also the fallback when the lease cannot be vouched for).
    if (m.context === null) return;
    if (!this.readOnly.addRequest(this.raftLog.committed, m)) {
      if (m.from === this.id) {
        throw new ProposalDroppedError("duplicate or too many pending read-index requests");
      }
      return;
    }
    this.readOnly.recvAck(this.id, m.context);
    this.#bcastHeartbeat(m.context);
  }

  /**
   * The leader lease: a quorum acknowledged heartbeats we sent at tick
   * `leaseStart` or later, and none of those voters grants a vote (or
   * pre-vote) to anyone else until an election timeout after receiving it —
   * so no other leader can exist before leaseStart + electionTicks. Two ticks
   * of margin cover tick phase differences; tick rates must not drift more.
   * Leader transfer voids the lease (the transferee's votes bypass it).
   */
  #leaseValid(): boolean {
    const leaseStart = jointCommittedIndex(
      [this.trk.config.voters, this.trk.config.votersOutgoing],
      (id) =>
        id === this.id ? this.#tickCount : this.trk.progress.get(id)?.lastHeartbeatAckTick ?? -1,
    );
    return this.leadTransferee === null && leaseStart > this.#transferStartedTick &&
      this.#tickCount < leaseStart + this.config.electionTicks - 2;
  }

  #respondToReadIndex(req: Message, index: number): void {
    const ctx = req.context ?? new Uint8Array();
    if (req.from === this.id) {
      this.readStates.push({ index, requestCtx: ctx });
      return;
    }
    this.#send(newMessage({
      type: MessageType.ReadIndexResp,
      from: this.id,
      to: req.from,
      index,
      context: ctx,
    }));
  }

  #stepCandidate(m: Message): void {
    const myVoteRespType = this.state === StateType.PreCandidate
      ? MessageType.PreVoteResp
      : MessageType.VoteResp;
    switch (m.type) {
      case MessageType.Prop:
      case MessageType.ReadIndex:
        if (m.from === this.id) throw new NotLeaderError(null, this.id);
        return;
      case MessageType.App:
        this.becomeFollower(m.term, m.from);
        this.#handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.becomeFollower(m.term, m.from);
        this.#handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.becomeFollower(m.term, m.from);
        this.#handleSnapshot(m);
        return;
    }
    if (m.type === myVoteRespType) {
      const res = this.#poll(m.from, m.type, !m.reject);
      if (res === "won") {
        if (this.state === StateType.PreCandidate) {
          this.#campaign("election");
        } else {
          this.#becomeLeader();
          this.#bcastAppend();
        }
      } else if (res === "lost") {
        this.becomeFollower(this.term, null);
      }
    }
  }

  #stepFollower(m: Message): void {
    switch (m.type) {
      case MessageType.Prop:
        if (this.lead === null) {
          if (m.from === this.id) throw new NotLeaderError(null, this.id);
          return;
        }
        if (this.config.disableProposalForwarding) {
          if (m.from === this.id) throw new NotLeaderError(this.lead, this.id);
          return;
        }
        this.#send({ ...m, to: this.lead });
        return;
      case MessageType.App:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.#handleAppendEntries(m);
        return;
      case MessageType.Heartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.#handleHeartbeat(m);
        return;
      case MessageType.Snap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.#handleSnapshot(m);
        return;
      case MessageType.TransferLeader:
        if (this.lead !== null) this.#send({ ...m, to: this.lead });
        return;
      case MessageType.TimeoutNow:
        this.#hup("transfer");
        return;
      case MessageType.ReadIndex:
        if (this.lead === null) {
          if (m.from === this.id) throw new NotLeaderError(null, this.id);
          return;
        }
        if (this.config.disableProposalForwarding && m.from === this.id) {
          throw new NotLeaderError(this.lead, this.id);
        }
        this.#send({ ...m, to: this.lead });
        return;
      case MessageType.ReadIndexResp:
        if (m.context !== null) this.readStates.push({ index: m.index, requestCtx: m.context });
        return;
    }
  }

  #handleAppendEntries(m: Message): void {
    if (m.index < this.raftLog.committed) {
      this.#send(newMessage({
        type: MessageType.AppResp,
        from: this.id,
        to: m.from,
        index: this.raftLog.committed,
      }));
      return;
    }
    const lastNew = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (lastNew !== null) {
      this.#send(
        newMessage({ type: MessageType.AppResp, from: this.id, to: m.from, index: lastNew }),
      );
      return;
    }
    // Reject with a hint: the largest index whose term is <= the leader's term
    // at m.index, so the leader can skip a whole term per round trip.
    const [hintIndex, hintTerm] = this.raftLog.findConflictByTerm(
      Math.min(m.index, this.raftLog.lastIndex()),
      m.logTerm,
    );
    this.#send(newMessage({
      type: MessageType.AppResp,
      from: this.id,
      to: m.from,
      index: m.index,
      reject: true,
      rejectHint: hintIndex,
      rejectHintTerm: hintTerm,
    }));
  }

  #handleHeartbeat(m: Message): void {
    this.raftLog.commitTo(Math.min(m.commit, this.raftLog.lastIndex()));
    this.#send(newMessage({
      type: MessageType.HeartbeatResp,
      from: this.id,
      to: m.from,
      context: m.context,
      index: m.index,
    }));
  }

  #handleSnapshot(m: Message): void {
    if (m.snapshot === null) return;
    const snap = this.#assembler.add(m.term, m.snapshot);
    if (snap === null) return; // more chunks to come (or the leader retries)
    if (this.#restore(snap)) {
      this.#send(newMessage({
        type: MessageType.AppResp,
        from: this.id,
        to: m.from,
        index: this.raftLog.lastIndex(),
      }));
    } else {
      this.#send(newMessage({
        type: MessageType.AppResp,
        from: this.id,
        to: m.from,
        index: this.raftLog.committed,
      }));
    }
  }

  #restore(s: Snapshot): boolean {
    const md = s.metadata;
    if (md.index <= this.raftLog.committed) return false;
    if (this.state !== StateType.Follower) {
      this.becomeFollower(this.term + 1, null);
      return false;
    }
    // A snapshot whose configuration lacks us is still installed: a replica
    // added after the snapshot was taken learns of its membership from the log
    // that follows (it stays unpromotable until then).
    const cs = md.confState;
    if (this.raftLog.matchTerm(md.index, md.term)) {
      // We already have the entries: fast-forward the commit index only.
      this.raftLog.commitTo(md.index);
      return false;
    }
    this.raftLog.restore(s);
    this.#switchToConfig(restoreConfState(this.trk, this.raftLog.lastIndex(), cs));
    const pr = this.trk.progress.get(this.id);
    pr?.maybeUpdate(pr.next - 1);
    return true;
  }

  // ---- membership -------------------------------------------------------

  /** Applies a committed conf change; returns the new configuration. */
  applyConfChange(cc: ConfChange): ConfState {
    let result: ChangeResult;
    try {
      result = applyConfChangeTo(this.trk, this.raftLog.lastIndex(), cc);
    } catch (e) {
      // A committed change must apply identically everywhere; a refused one
      // is a no-op on every replica (the invariants are deterministic).
      if (e instanceof ConfChangeError) return this.trk.confState();
      throw e;
    }
    return this.#switchToConfig(result);
  }

  #switchToConfig(result: ChangeResult): ConfState {
    this.trk.config = result.config;
    this.trk.progress = result.progress;
    const cs = this.trk.confState();
    const pr = this.trk.progress.get(this.id);
    this.isLearner = pr !== undefined && pr.isLearner;
    if ((pr === undefined || this.isLearner) && this.state === StateType.Leader) {
      if (this.config.stepDownOnRemoval) this.#startHandoff();
      return cs;
    }
    if (this.state !== StateType.Leader || cs.voters.length === 0) return cs;
    if (this.#maybeCommit()) {
      this.#bcastAppend();
    } else {
      for (const id of this.trk.progress.keys()) {
        if (id !== this.id) this.#maybeSendAppend(id, false);
      }
    }
    if (this.leadTransferee !== null && !this.trk.voterIds().includes(this.leadTransferee)) {
      this.leadTransferee = null;
    }
    return cs;
  }

  /**
   * A leader removed (or demoted) by the configuration it just applied keeps
   * leading briefly, accepting no proposals, so that the remaining voters
   * learn that the change committed and catch up; it hands leadership to the
   * most up-to-date voter, and steps down at the latest after two election
   * timeouts. Stepping down at once could leave the remaining voters unaware
   * of the commit, still needing the removed leader's vote, which it may
   * refuse (its log is longer): a liveness trap.
   */
  #startHandoff(): void {
    let best: ReplicaId | null = null;
    let bestMatch = -1;
    for (const id of this.trk.voterIds()) {
      const pr = this.trk.progress.get(id);
      if (id === this.id || pr === undefined) continue;
      if (pr.match > bestMatch) {
        best = id;
        bestMatch = pr.match;
      }
    }
    if (best === null) {
      this.becomeFollower(this.term, null);
      return;
    }
    this.#handoffElapsed = 0;
    this.electionElapsed = 0;
    this.leadTransferee = best;
    this.#transferStartedTick = this.#tickCount;
    this.#maybeSendTimeoutNow(best);
    this.#bcastAppend();
  }

  #maybeSendTimeoutNow(to: ReplicaId): void {
    const pr = this.trk.progress.get(to);
    if (pr !== undefined && pr.match === this.raftLog.lastIndex()) this.#sendTimeoutNow(to);
  }

  /** Called when entries up to `index` were applied; leaves joint configs automatically. */
  appliedTo(index: number, appliedBytes: number): void {
    const oldApplied = this.raftLog.applied;
    this.raftLog.appliedTo(index);
    this.reduceUncommittedSize(appliedBytes);
    if (
      this.trk.config.autoLeave && this.raftLog.applied >= this.pendingConfIndex &&
      oldApplied < this.raftLog.applied && this.state === StateType.Leader
    ) {
      // Propose the empty conf change that leaves the joint configuration.
      this.#appendEntry([{
        term: 0,
        index: 0,
        type: EntryType.ConfChange,
        data: new Uint8Array(),
      }]);
      this.pendingConfIndex = this.raftLog.lastIndex();
      this.#bcastAppend();
    }
  }

  /**
   * LOSSY forced recovery: adopt `newVoters` as the configuration and
   * campaign; once leader, replicate the forced configuration.
   */
  forceRecovery(newVoters: readonly ReplicaId[]): void {
    if (!newVoters.includes(this.id)) {
      throw new ConfChangeError(`forced recovery: ${this.id} must be one of the new voters`);
    }
    const voters = [...new Set(newVoters)].sort();
    const result = applyConfChangeTo(this.trk, this.raftLog.lastIndex(), {
      transition: "auto",
      changes: [],
      forceVoters: voters,
    });
    if (this.state === StateType.Leader) this.becomeFollower(this.term, null);
    this.#switchToConfig(result);
    this.#pendingForceVoters = voters;
    this.#campaign("election");
  }
}
