/**
 * The async driver of all Raft groups of one node (etcd-io/raft `node.go`,
 * multi-Raft). It owns the tick timer and the I/O, and runs one loop
 * iteration at a time:
 *
 *   1. collect Ready from every group that has one;
 *   2. persist all of them with ONE LogStore.write (one fsync for all groups);
 *   3. send the messages, one batch per peer;
 *   4. apply committed entries and snapshots, resolve proposals and reads;
 *   5. advance every group.
 *
 * The core stays pure; all waiting happens here.
 *
 * @module
 */

import type {
  ConfState,
  Entry,
  GroupId,
  GroupWrite,
  LogStore,
  ReplicaId,
} from "../storage/logStorage.ts";
import { EntryType } from "../storage/logStorage.ts";
import { bootstrapSnapshot } from "../core/bootstrap.ts";
import { defaultRaftConfig, type RaftConfig, seededRandom } from "../core/config.ts";
import { decodeConfChange } from "../core/confChangeCodec.ts";
import {
  NoQuorumError,
  NotLeaderError,
  ProposalDroppedError,
  RaftTimeoutError,
} from "../core/errors.ts";
import { RawNode } from "../core/rawNode.ts";
import { contextKey } from "../core/readOnly.ts";
import type { ConfChange, ProposalPosition, Ready, Status } from "../core/types.ts";
import type { StateMachine } from "./stateMachine.ts";
import type { RaftEnvelope, RaftTransport } from "./transport.ts";

/** Options of a {@link RaftDriver}. */
export interface RaftDriverOptions {
  /** This node's replica id. */
  readonly nodeId: ReplicaId;
  readonly logStore: LogStore;
  readonly transport: RaftTransport;
  /**
   * Milliseconds per Raft tick. With the default electionTicks 10 the election
   * timeout is 10–20 ticks. Smaller: faster fail-over, more heartbeat traffic.
   * 0 disables the timer (tests call tick()). Default 100.
   */
  readonly tickIntervalMs?: number;
  /** Overrides applied to every group's RaftConfig (id, applied, random are set here). */
  readonly raftConfig?: Partial<RaftConfig>;
  /** Seed of the per-group election randomness. Default: derived from nodeId. */
  readonly seed?: number;
  /** Default time a propose() may wait for its entry to apply. Default 5000 ms. */
  readonly proposalTimeoutMs?: number;
  /** Default time a read() may wait. Default 5000 ms. */
  readonly readTimeoutMs?: number;
  /**
   * Maximum proposals (and, separately, reads) waiting per group. Overflow:
   * the new request fails at once with ProposalDroppedError. Default 10 000.
   */
  readonly maxPendingPerGroup?: number;
  /**
   * Applied entries between automatic snapshots (which compact the log).
   * Larger: longer logs and restarts, fewer snapshot costs. Default 10 000.
   */
  readonly snapshotEntries?: number;
  /**
   * Ready rounds per loop run before yielding to the event loop (bounds the
   * time spent without reading the network). Default 64.
   */
  readonly maxRoundsPerRun?: number;
  /** Clock for deadlines. Default Date.now. */
  readonly now?: () => number;
  /**
   * Called once when a log write fails; the driver has stopped (fail-stop:
   * a replica that cannot persist must not vote or acknowledge). Default: no-op.
   */
  readonly onFatal?: (error: Error) => void;
  /** Called when a hosted group's known leader changes (null: unknown). Default: no-op. */
  readonly onLeaderChange?: (groupId: GroupId, leader: ReplicaId | null, term: number) => void;
}

/** Counters of a driver, for metrics. */
export interface RaftDriverStats {
  /** Loop iterations that wrote to the log store (one fsync each). */
  readonly persistBatches: number;
  /** Batches handed to the transport (one per peer per iteration). */
  readonly sentBatches: number;
  readonly sentMessages: number;
  readonly receivedMessages: number;
  readonly pendingProposals: number;
  readonly pendingReads: number;
}

/** A caller waiting on a proposal or a read, settled by the loop or its deadline. */
interface PendingCall {
  readonly deadlineMs: number;
  readonly startedMs: number;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
}

interface PendingProposal extends PendingCall {
  readonly term: number;
}

interface PendingRead extends PendingCall {
  readonly query: unknown;
  /** Read index once confirmed. */
  index: number | null;
}

interface Group {
  readonly groupId: GroupId;
  readonly raw: RawNode;
  readonly sm: StateMachine;
  confState: ConfState;
  applied: number;
  snapshotIndex: number;
  readonly proposals: Map<number, PendingProposal>;
  readonly reads: Map<string, PendingRead>;
  wasLeader: boolean;
  lead: ReplicaId | null;
}

/** Options of {@link RaftDriver.addGroup}. */
export interface AddGroupOptions {
  /**
   * Initial configuration for a brand-new group (written as the bootstrap
   * snapshot if the store holds nothing for it). Omit for a replica added to
   * an existing group: it waits for the leader to catch it up.
   */
  readonly bootstrap?: ConfState;
}

function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** Drives every Raft group of one node. */
export class RaftDriver {
  readonly nodeId: ReplicaId;
  readonly #opts: Required<Omit<RaftDriverOptions, "raftConfig" | "seed">> & {
    raftConfig: Partial<RaftConfig>;
    seed: number;
  };
  readonly #groups = new Map<GroupId, Group>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #continueTimer: ReturnType<typeof setTimeout> | null = null;
  #scheduled = false;
  #running = false;
  #stopped = false;
  #readSeq = 0;
  /** Last time (clock ms) any batch arrived from each peer. */
  readonly #lastHeardMs = new Map<ReplicaId, number>();
  #fatalError: Error | null = null;
  #sentBatches = 0;
  #sentMessages = 0;
  #receivedMessages = 0;
  /** Loop iterations that persisted something (one LogStore.write each). */
  persistBatches = 0;

  constructor(options: RaftDriverOptions) {
    this.nodeId = options.nodeId;
    this.#opts = {
      tickIntervalMs: 100,
      proposalTimeoutMs: 5000,
      readTimeoutMs: 5000,
      maxPendingPerGroup: 10_000,
      snapshotEntries: 10_000,
      maxRoundsPerRun: 64,
      now: Date.now,
      onFatal: () => {},
      onLeaderChange: () => {},
      ...options,
      raftConfig: options.raftConfig ?? {},
      seed: options.seed ?? hashString(options.nodeId),
    };
    options.transport.onReceive((from, batch) => this.#receive(from, batch));
  }

  /** The error that stopped the driver (a failed log write), if any. */
  get fatalError(): Error | null {
    return this.#fatalError;
  }

  #fatal(e: unknown): void {
    const err = e instanceof Error ? e : new Error(String(e));
    this.#fatalError = err;
    this.stop();
    this.#opts.onFatal(err);
  }

  /** Starts the tick timer (no-op when tickIntervalMs is 0). */
  start(): void {
    if (this.#stopped) throw new Error("RaftDriver: start() after stop()");
    if (this.#timer !== null || this.#opts.tickIntervalMs <= 0) return;
    this.#timer = setInterval(() => this.tick(), this.#opts.tickIntervalMs);
  }

  /** Stops timers and transport; pending requests fail with RaftTimeoutError. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    if (this.#timer !== null) clearInterval(this.#timer);
    this.#timer = null;
    if (this.#continueTimer !== null) clearTimeout(this.#continueTimer);
    this.#continueTimer = null;
    this.#opts.transport.close();
    const fatal = this.#fatalError;
    for (const g of this.#groups.values()) {
      this.#failAll(g, () => fatal ?? new RaftTimeoutError("driver stopped", 0));
    }
  }

  /**
   * Hosts a replica of a group. Restores the state machine from the stored
   * snapshot; the log after it is re-applied by the normal loop.
   */
  addGroup(groupId: GroupId, sm: StateMachine, options: AddGroupOptions = {}): void {
    if (this.#groups.has(groupId)) throw new Error(`group ${groupId} is already hosted`);
    const storage = this.#opts.logStore.group(groupId);
    if (options.bootstrap !== undefined && storage.lastIndex() === 0) {
      this.#opts.logStore.write([{ groupId, snapshot: bootstrapSnapshot(options.bootstrap) }]);
    }
    const snap = storage.snapshot();
    if (snap.metadata.index > 0 && snap.data.byteLength > 0) sm.restore(snap.data);
    const config = defaultRaftConfig(this.nodeId, {
      ...this.#opts.raftConfig,
      id: this.nodeId,
      applied: snap.metadata.index,
      disableProposalForwarding: true,
      random: seededRandom(this.#opts.seed ^ hashString(groupId)),
    });
    const raw = new RawNode(config, storage);
    this.#groups.set(groupId, {
      groupId,
      raw,
      sm,
      confState: storage.initialState().confState,
      applied: snap.metadata.index,
      snapshotIndex: snap.metadata.index,
      proposals: new Map(),
      reads: new Map(),
      wasLeader: false,
      lead: null,
    });
    this.#schedule();
  }

  /** Stops hosting a group (its stored log stays unless dropped). */
  removeGroup(groupId: GroupId, dropLog = false): void {
    const g = this.#groups.get(groupId);
    if (g === undefined) return;
    this.#failAll(
      g,
      () => new ProposalDroppedError(`group ${groupId} removed from ${this.nodeId}`),
    );
    this.#groups.delete(groupId);
    if (dropLog) this.#opts.logStore.dropGroup(groupId);
  }

  /** Groups hosted here. */
  groupIds(): GroupId[] {
    return [...this.#groups.keys()].sort();
  }

  /** Raft status of a hosted group. */
  status(groupId: GroupId): Status {
    return this.#group(groupId).raw.status();
  }

  /** Advances every group by one tick and expires overdue requests. */
  tick(): void {
    if (this.#stopped) return;
    for (const g of this.#groups.values()) {
      g.raw.tick();
      this.#expire(g);
    }
    this.#schedule();
  }

  /**
   * Proposes a command to a group hosted here as leader and resolves with the
   * state machine's result once it is applied locally. Fails with
   * NotLeaderError (with the leader hint), ProposalDroppedError (overwritten
   * or refused: safe to retry), NoQuorumError or RaftTimeoutError (outcome
   * unknown).
   */
  propose<R = unknown>(groupId: GroupId, command: Uint8Array, timeoutMs?: number): Promise<R> {
    return this.#submit(groupId, timeoutMs, (g) => g.raw.propose(command)) as Promise<R>;
  }

  /** Proposes a membership change; resolves with the configuration once applied. */
  proposeConfChange(groupId: GroupId, cc: ConfChange, timeoutMs?: number): Promise<ConfState> {
    return this.#submit(groupId, timeoutMs, (g) => g.raw.proposeConfChange(cc)) as Promise<
      ConfState
    >;
  }

  #submit(
    groupId: GroupId,
    timeoutMs: number | undefined,
    doPropose: (g: Group) => ProposalPosition | null,
  ): Promise<unknown> {
    let g: Group;
    try {
      g = this.#group(groupId);
    } catch (e) {
      return Promise.reject(e);
    }
    if (g.proposals.size >= this.#opts.maxPendingPerGroup) {
      return Promise.reject(
        new ProposalDroppedError(`${g.proposals.size} proposals pending in group ${groupId}`),
      );
    }
    let pos: ProposalPosition | null;
    try {
      pos = doPropose(g);
    } catch (e) {
      return Promise.reject(e);
    }
    if (pos === null) {
      return Promise.reject(new NotLeaderError(g.raw.status().lead, this.nodeId));
    }
    const now = this.#opts.now();
    const position = pos;
    // An older proposal at the same index was truncated from our log.
    g.proposals.get(position.index)?.reject(
      new ProposalDroppedError(`entry ${position.index} was overwritten`),
    );
    const promise = new Promise<unknown>((resolve, reject) => {
      g.proposals.set(position.index, {
        term: position.term,
        deadlineMs: now + (timeoutMs ?? this.#opts.proposalTimeoutMs),
        startedMs: now,
        resolve,
        reject,
      });
    });
    this.#schedule();
    return promise;
  }

  /**
   * Linearizable read: confirms leadership with a read index (or the lease),
   * waits until that index is applied locally, then runs `query`. Fails as
   * propose (writes nothing, so always safe to retry).
   */
  read<QR = unknown>(groupId: GroupId, query: unknown, timeoutMs?: number): Promise<QR> {
    let g: Group;
    try {
      g = this.#group(groupId);
    } catch (e) {
      return Promise.reject(e);
    }
    const st = g.raw.status();
    if (st.raftState !== "leader") {
      return Promise.reject(new NotLeaderError(st.lead, this.nodeId));
    }
    if (g.reads.size >= this.#opts.maxPendingPerGroup) {
      return Promise.reject(
        new ProposalDroppedError(`${g.reads.size} reads pending in group ${groupId}`),
      );
    }
    const seq = ++this.#readSeq;
    const ctx = new Uint8Array(8);
    new DataView(ctx.buffer).setFloat64(0, seq);
    try {
      g.raw.readIndex(ctx);
    } catch (e) {
      return Promise.reject(e);
    }
    const now = this.#opts.now();
    const promise = new Promise<unknown>((resolve, reject) => {
      g.reads.set(contextKey(ctx), {
        query,
        deadlineMs: now + (timeoutMs ?? this.#opts.readTimeoutMs),
        startedMs: now,
        index: null,
        resolve,
        reject,
      });
    });
    this.#schedule();
    return promise as Promise<QR>;
  }

  /**
   * Stale-tolerant read of the local replica's state machine: no Raft round,
   * may lag the leader (e.g. topic matching on a dist replica).
   */
  queryLocal<QR = unknown>(groupId: GroupId, query: unknown): QR {
    return this.#group(groupId).sm.query(query) as QR;
  }

  /** Counters for metrics. */
  stats(): RaftDriverStats {
    let pendingProposals = 0;
    let pendingReads = 0;
    for (const g of this.#groups.values()) {
      pendingProposals += g.proposals.size;
      pendingReads += g.reads.size;
    }
    return {
      persistBatches: this.persistBatches,
      sentBatches: this.#sentBatches,
      sentMessages: this.#sentMessages,
      receivedMessages: this.#receivedMessages,
      pendingProposals,
      pendingReads,
    };
  }

  /** Asks the group's leader (via this replica) to hand leadership to `to`. */
  transferLeader(groupId: GroupId, to: ReplicaId): void {
    this.#group(groupId).raw.transferLeader(to);
    this.#schedule();
  }

  /** Starts an election for a group now. */
  campaign(groupId: GroupId): void {
    this.#group(groupId).raw.campaign();
    this.#schedule();
  }

  /**
   * LOSSY forced recovery of a group that lost its majority (see
   * RawNode.forceRecovery). For the opt-in recovery balancer only.
   */
  forceRecovery(groupId: GroupId, newVoters: readonly ReplicaId[]): void {
    this.#group(groupId).raw.forceRecovery(newVoters);
    this.#schedule();
  }

  /** Takes a snapshot of the state machine now and compacts the log up to it. */
  snapshotNow(groupId: GroupId): void {
    this.#takeSnapshot(this.#group(groupId));
  }

  #group(groupId: GroupId): Group {
    const g = this.#groups.get(groupId);
    if (g === undefined) throw new Error(`group ${groupId} is not hosted on ${this.nodeId}`);
    return g;
  }

  #receive(from: ReplicaId, batch: readonly RaftEnvelope[]): void {
    if (this.#stopped) return;
    this.#lastHeardMs.set(from, this.#opts.now());
    this.#receivedMessages += batch.length;
    for (const env of batch) {
      const g = this.#groups.get(env.groupId);
      if (g === undefined || env.message.from !== from) continue;
      g.raw.step(env.message);
    }
    this.#schedule();
  }

  #schedule(): void {
    if (this.#scheduled || this.#stopped) return;
    this.#scheduled = true;
    queueMicrotask(() => {
      this.#scheduled = false;
      this.#run();
    });
  }

  /** Runs Ready rounds until no group has work (bounded per run). */
  #run(): void {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    try {
      for (let round = 0; round < this.#opts.maxRoundsPerRun; round++) {
        if (!this.#round()) return;
      }
      // More work: continue in a macrotask so that network input and timers
      // get a turn (a microtask loop could starve them).
      this.#continueTimer ??= setTimeout(() => {
        this.#continueTimer = null;
        this.#schedule();
      }, 0);
    } finally {
      this.#running = false;
    }
  }

  /** One iteration: persist → send → apply → advance. Returns false if idle. */
  #round(): boolean {
    const readies: [Group, Ready][] = [];
    for (const g of this.#groups.values()) {
      if (g.raw.hasReady()) readies.push([g, g.raw.ready()]);
    }
    if (readies.length === 0) return false;

    // 1. persist: one batch for every group.
    const batch: GroupWrite[] = [];
    for (const [g, rd] of readies) {
      if (rd.snapshot === undefined && rd.entries.length === 0 && rd.hardState === undefined) {
        continue;
      }
      batch.push({
        groupId: g.groupId,
        ...(rd.snapshot !== undefined ? { snapshot: rd.snapshot } : {}),
        ...(rd.entries.length > 0 ? { entries: rd.entries } : {}),
        ...(rd.hardState !== undefined ? { hardState: rd.hardState } : {}),
      });
    }
    if (batch.length > 0) {
      try {
        this.#opts.logStore.write(batch);
      } catch (e) {
        // Fail-stop: nothing of this Ready may be sent or applied.
        this.#fatal(e);
        return false;
      }
      this.persistBatches++;
    }

    // 2. send: one batch per peer.
    const perPeer = new Map<ReplicaId, RaftEnvelope[]>();
    for (const [g, rd] of readies) {
      for (const m of rd.messages) {
        let list = perPeer.get(m.to);
        if (list === undefined) perPeer.set(m.to, list = []);
        list.push({ groupId: g.groupId, message: m });
      }
    }
    for (const [peer, envs] of perPeer) {
      this.#opts.transport.send(peer, envs);
      this.#sentBatches++;
      this.#sentMessages += envs.length;
    }

    // 3. apply, then 4. advance.
    try {
      for (const [g, rd] of readies) {
        this.#apply(g, rd);
        g.raw.advance(rd);
        this.#serveReads(g);
        if (g.applied - g.snapshotIndex >= this.#opts.snapshotEntries) this.#takeSnapshot(g);
      }
    } catch (e) {
      // A state machine that throws (or a failed snapshot write) leaves this
      // replica in an unknown state: stop rather than diverge.
      this.#fatal(e);
      return false;
    }
    return true;
  }

  #apply(g: Group, rd: Ready): void {
    if (rd.softState !== undefined) {
      if (rd.softState.lead !== g.lead) {
        g.lead = rd.softState.lead;
        this.#opts.onLeaderChange(g.groupId, g.lead, g.raw.status().term);
      }
      const isLeader = rd.softState.raftState === "leader";
      if (g.wasLeader && !isLeader) {
        // Read-index requests die with the leadership; proposals may still commit.
        const err = new NotLeaderError(rd.softState.lead, this.nodeId);
        for (const r of g.reads.values()) r.reject(err);
        g.reads.clear();
      }
      g.wasLeader = isLeader;
    }
    if (rd.snapshot !== undefined) {
      g.sm.restore(rd.snapshot.data);
      g.applied = rd.snapshot.metadata.index;
      g.snapshotIndex = rd.snapshot.metadata.index;
      g.confState = rd.snapshot.metadata.confState;
      // Proposals at or below the snapshot were overwritten or applied elsewhere.
      for (const [index, p] of g.proposals) {
        if (index <= g.applied) {
          p.reject(new ProposalDroppedError(`replaced by snapshot at index ${g.applied}`));
          g.proposals.delete(index);
        }
      }
    }
    for (const e of rd.committedEntries) this.#applyEntry(g, e);
    for (const rs of rd.readStates) {
      const r = g.reads.get(contextKey(rs.requestCtx));
      if (r !== undefined) r.index = rs.index;
    }
  }

  #applyEntry(g: Group, e: Entry): void {
    let result: unknown = undefined;
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      g.confState = g.raw.applyConfChange(cc);
      result = g.confState;
    } else if (e.data.byteLength > 0) {
      result = g.sm.apply(e);
    }
    g.applied = e.index;
    const p = g.proposals.get(e.index);
    if (p === undefined) return;
    g.proposals.delete(e.index);
    if (p.term === e.term) p.resolve(result);
    else p.reject(new ProposalDroppedError(`entry ${e.index} was overwritten (term ${e.term})`));
  }

  #serveReads(g: Group): void {
    for (const [key, r] of g.reads) {
      if (r.index === null || r.index > g.applied) continue;
      g.reads.delete(key);
      try {
        r.resolve(g.sm.query(r.query));
      } catch (e) {
        r.reject(e instanceof Error ? e : new Error(String(e)));
      }
    }
  }

  #takeSnapshot(g: Group): void {
    if (g.applied <= g.snapshotIndex) return;
    const storage = this.#opts.logStore.group(g.groupId);
    const term = storage.term(g.applied);
    this.#opts.logStore.write([{
      groupId: g.groupId,
      snapshot: {
        metadata: { index: g.applied, term, confState: g.confState },
        data: g.sm.snapshot(),
      },
    }]);
    g.snapshotIndex = g.applied;
  }

  /** Fails overdue requests with the most telling error. */
  #expire(g: Group): void {
    const now = this.#opts.now();
    const errorFor = (op: string, startedMs: number, timeoutMs: number): Error => {
      const st = g.raw.status();
      if (st.raftState !== "leader") return new NotLeaderError(st.lead, this.nodeId);
      if (!this.#heardFromQuorumSince(st, startedMs)) {
        return new NoQuorumError(this.nodeId, now - startedMs);
      }
      return new RaftTimeoutError(op, timeoutMs);
    };
    for (const [index, p] of g.proposals) {
      if (now < p.deadlineMs) continue;
      g.proposals.delete(index);
      p.reject(
        errorFor(
          `proposal at index ${index} in ${g.groupId}`,
          p.startedMs,
          p.deadlineMs - p.startedMs,
        ),
      );
    }
    for (const [key, r] of g.reads) {
      if (now < r.deadlineMs) continue;
      g.reads.delete(key);
      r.reject(errorFor(`read in ${g.groupId}`, r.startedMs, r.deadlineMs - r.startedMs));
    }
  }

  /** True if a quorum of the group's voters sent us anything since `sinceMs`. */
  #heardFromQuorumSince(st: Status, sinceMs: number): boolean {
    const heard = (ids: readonly ReplicaId[]) => {
      if (ids.length === 0) return true;
      const n =
        ids.filter((id) => id === this.nodeId || (this.#lastHeardMs.get(id) ?? -Infinity) > sinceMs)
          .length;
      return n > ids.length / 2;
    };
    return heard(st.confState.voters) && heard(st.confState.votersOutgoing);
  }

  #failAll(g: Group, err: () => Error): void {
    for (const p of g.proposals.values()) p.reject(err());
    for (const r of g.reads.values()) r.reject(err());
    g.proposals.clear();
    g.reads.clear();
  }
}
