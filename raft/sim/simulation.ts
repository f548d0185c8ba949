/**
 * The seeded Raft simulator: N replicas of one group (3..7, membership
 * changing during the run) in one process, each a pure {@link RawNode} driven
 * by this file's loop (persist → sync → send → apply → advance) over a
 * {@link SimNetwork} and a {@link SimDisk}, with a KV client workload.
 *
 * A run is a safety phase (crashes, crashes in the middle of a persist,
 * partitions symmetric and not, message loss, duplication and delay,
 * membership changes, leader transfers, snapshots and compaction) followed by
 * a liveness phase (everything healed and restarted: a leader must commit a
 * fresh entry on every voter within a tick budget). Safety invariants are
 * checked on every event ({@link SafetyChecker}); at the end the client
 * history is checked for linearizability. Everything derives from one seed.
 *
 * @module
 */

import { BOOTSTRAP_INDEX, bootstrapSnapshot } from "../core/bootstrap.ts";
import { defaultRaftConfig, seededRandom } from "../core/config.ts";
import { decodeConfChange } from "../core/confChangeCodec.ts";
import { ConfChangeError, NotLeaderError, ProposalDroppedError } from "../core/errors.ts";
import { RawNode } from "../core/rawNode.ts";
import {
  type ConfChange,
  ConfChangeType,
  type Message,
  MessageType,
  type Ready,
} from "../core/types.ts";
import {
  type ConfState,
  type Entry,
  EntryType,
  type GroupLogStorage,
  type GroupWrite,
  type ReplicaId,
} from "../storage/logStorage.ts";
import { EMPTY_CONF_STATE } from "../storage/logRules.ts";
import { MirrorMismatchError, type MirrorOpener, SimDisk } from "./disk.ts";
import { decodeCommand, KvStateMachine } from "./kv.ts";
import { checkOperations, formatHistory, kvModel, type KvOperation } from "./linearizability.ts";
import { SimNetwork } from "./network.ts";
import { Rng } from "./rng.ts";
import { SafetyChecker, SafetyViolation } from "./safety.ts";
import { chooseParams, type SimParams } from "./params.ts";
import { ClientWorkload } from "./workload.ts";

/** The Raft group every simulated replica belongs to. */
export const SIM_GROUP = "sim/0";

/**
 * Deliberate bugs for checking that the simulator catches them. Never set
 * outside tests.
 */
export interface SimBugs {
  /** Acknowledge a write to the client as soon as the leader appended it (before commit). */
  readonly ackBeforeCommit?: boolean;
  /** Send messages before the disk is synced (a crash in between loses acknowledged state). */
  readonly sendBeforeSync?: boolean;
}

/** Options of one simulation run. */
export interface SimOptions {
  readonly seed: number;
  /** Receives trace lines (events, and with `traceMessages` every delivery). */
  readonly trace?: (line: string) => void;
  readonly traceMessages?: boolean;
  /** Ticks of the safety phase. Default 1000. */
  readonly safetyTicks?: number;
  /** Ticks the liveness phase may take to elect a leader and commit on a quorum. Default 400. */
  readonly livenessBudgetTicks?: number;
  /** Further ticks for every member to apply that entry. Default 3000. */
  readonly catchUpBudgetTicks?: number;
  readonly bugs?: SimBugs;
  /**
   * Shadow every replica's durable state with a real log store (e.g. SQLite),
   * reopened and compared on every crash. Returns the opener for a replica.
   */
  readonly mirrorStore?: (replicaId: ReplicaId) => MirrorOpener;
  /** Receives the client history before it is checked (for debugging a violation). */
  readonly onHistory?: (history: readonly KvOperation[]) => void;
  /**
   * Index (and term) of the bootstrap snapshot that lists the initial voters.
   * Default 1 (`bootstrapSnapshot` of raft/core): a replica added later must
   * then be caught up by a snapshot, which carries the initial configuration.
   * 0 reproduces finding 2 of raft/sim/FINDINGS.md (a replica caught up from
   * the log never learns the initial voters).
   */
  readonly bootstrapIndex?: 0 | 1;
}

/** Counters of a run. */
export interface SimStats {
  ticks: number;
  messagesSent: number;
  messagesDropped: number;
  crashes: number;
  crashesMidPersist: number;
  restarts: number;
  partitions: number;
  confChangesProposed: number;
  confChangesApplied: number;
  transfers: number;
  snapshotsCreated: number;
  snapshotsInstalled: number;
  leaderChanges: number;
  opsCompleted: number;
  /** Of which gets answered through read-index (not the log). */
  readIndexReads: number;
  opsUnknown: number;
  historyOps: number;
  linearizabilitySteps: number;
  maxMembers: number;
}

/** Outcome of one run. */
export interface SimResult {
  readonly seed: number;
  /** The violated invariant and details, or null. */
  readonly violation: string | null;
  /** True if the linearizability search hit its budget (not a violation). */
  readonly inconclusive: boolean;
  readonly stats: SimStats;
}

interface Replica {
  readonly id: ReplicaId;
  readonly disk: SimDisk;
  raw: RawNode | null;
  kv: KvStateMachine;
  applied: number;
  confState: ConfState;
  isLeader: boolean;
  lead: ReplicaId | null;
  /** Lowest index whose commitment this incarnation has not checked yet. */
  commitCheckedTo: number;
  /** Tick at which the replica is destroyed (removed from the group), if scheduled. */
  destroyAt: number | null;
}

function members(c: ConfState): Set<ReplicaId> {
  return new Set([...c.voters, ...c.learners, ...c.votersOutgoing, ...c.learnersNext]);
}

/** One simulation run; use {@link runSimulation}. */
class Simulation {
  readonly rng: Rng;
  readonly params: SimParams;
  readonly net: SimNetwork;
  readonly checker = new SafetyChecker();
  readonly replicas = new Map<ReplicaId, Replica>();
  readonly stats: SimStats = emptyStats();
  now = 0;
  faultsOn = true;
  /** Whether clients issue new requests (off while replicas catch up at the end). */
  clientsOn = true;
  #nextReplicaNo = 1;
  readonly workload: ClientWorkload;
  /** Indexes of conf changes already acted upon. */
  readonly #confApplied = new Set<number>();
  /** Snapshot chunks in flight: "from>to" → whether one was lost. */
  readonly #snapSends = new Map<string, boolean>();

  constructor(readonly opts: SimOptions) {
    this.rng = new Rng(opts.seed);
    this.params = chooseParams(this.rng);
    this.workload = new ClientWorkload(
      this.rng,
      {
        clients: this.params.clients,
        keys: this.params.keys,
        opTimeoutTicks: this.params.opTimeoutTicks,
        ackBeforeCommit: opts.bugs?.ackBeforeCommit === true,
      },
      this.stats,
      opts.trace ? (line) => this.trace(line) : null,
    );
    const p = this.params;
    this.net = new SimNetwork(this.rng.fork(), {
      dropRate: p.dropRate,
      duplicateRate: p.duplicateRate,
      minDelayTicks: 1,
      maxDelayTicks: p.maxDelayTicks,
    });
    const voters: ReplicaId[] = [];
    for (let i = 0; i < p.initialVoters; i++) voters.push(this.#newId());
    const conf: ConfState = { ...EMPTY_CONF_STATE, voters };
    const boot = opts.bootstrapIndex ?? 1;
    for (const id of voters) {
      const disk = new SimDisk(opts.mirrorStore?.(id));
      const snapshot = boot === BOOTSTRAP_INDEX
        ? bootstrapSnapshot(conf)
        : { metadata: { index: boot, term: boot, confState: conf }, data: new Uint8Array(0) };
      disk.write([{ groupId: SIM_GROUP, snapshot }]);
      disk.sync();
      this.#addReplica(id, disk);
    }
    this.trace(
      `seed ${opts.seed}: voters [${voters.join(", ")}], params ${
        JSON.stringify({ ...p, raft: p.raft })
      }`,
    );
  }

  trace(line: string): void {
    if (this.opts.trace) this.opts.trace(`[${String(this.now).padStart(5)}] ${line}`);
  }

  #newId(): ReplicaId {
    return `n${this.#nextReplicaNo++}`;
  }

  #addReplica(id: ReplicaId, disk: SimDisk): Replica {
    const r: Replica = {
      id,
      disk,
      raw: null,
      kv: new KvStateMachine(),
      applied: 0,
      confState: EMPTY_CONF_STATE,
      isLeader: false,
      lead: null,
      commitCheckedTo: 1,
      destroyAt: null,
    };
    this.replicas.set(id, r);
    this.#start(r);
    this.stats.maxMembers = Math.max(this.stats.maxMembers, this.replicas.size);
    return r;
  }

  /** (Re)starts a replica from its durable disk. */
  #start(r: Replica): void {
    const g = r.disk.group(SIM_GROUP);
    const snap = g.snapshot();
    r.kv = new KvStateMachine();
    r.kv.restore(snap.data);
    r.applied = snap.metadata.index;
    r.confState = snap.metadata.confState;
    r.isLeader = false;
    r.lead = null;
    r.commitCheckedTo = g.firstIndex();
    const config = defaultRaftConfig(r.id, {
      ...this.params.raft,
      random: seededRandom(this.rng.u32()),
      applied: snap.metadata.index,
    });
    r.raw = new RawNode(config, g);
    this.checker.onDurableHardState(r.id, r.disk.durable.group(SIM_GROUP).initialState().hardState);
  }

  #crash(r: Replica, why: string): void {
    if (r.raw === null) return;
    this.trace(`crash ${r.id} (${why})`);
    r.raw = null;
    r.isLeader = false;
    r.disk.crash();
    this.workload.onCrash(r.id, this.now);
  }

  #destroy(r: Replica): void {
    this.trace(`destroy ${r.id} (removed from the group)`);
    this.#crash(r, "destroyed");
    r.disk.dropGroup(SIM_GROUP);
    r.disk.close();
    this.replicas.delete(r.id);
    this.checker.forget(r.id);
  }

  /** Closes every replica's disk (and its mirror store). */
  closeDisks(): void {
    for (const r of this.replicas.values()) r.disk.close();
  }

  live(): Replica[] {
    return [...this.replicas.values()].filter((r) => r.raw !== null);
  }

  leader(): Replica | null {
    let best: Replica | null = null;
    let bestTerm = -1;
    for (const r of this.live()) {
      if (!r.isLeader) continue;
      const t = r.raw!.status().term;
      if (t > bestTerm) {
        best = r;
        bestTerm = t;
      }
    }
    return best;
  }

  // ---- the node loop --------------------------------------------------------

  /** Handles every Ready of `r` (bounded) until it has none. */
  #drain(r: Replica): void {
    for (let round = 0; r.raw !== null && r.raw.hasReady(); round++) {
      if (round >= 100) {
        throw new Error(`replica ${r.id}: Ready loop does not settle after 100 rounds`);
      }
      this.#handleReady(r, r.raw, r.raw.ready());
    }
  }

  #handleReady(r: Replica, raw: RawNode, rd: Ready): void {
    const g = r.disk.group(SIM_GROUP);
    if (rd.softState !== undefined) {
      const becameLeader = rd.softState.raftState === "leader";
      if (rd.softState.lead !== r.lead || becameLeader !== r.isLeader) {
        this.trace(`${r.id} is ${rd.softState.raftState}, leader ${rd.softState.lead ?? "none"}`);
      }
      r.lead = rd.softState.lead;
      if (becameLeader && !r.isLeader) {
        const term = rd.hardState?.term ?? raw.status().term;
        this.checker.onLeader(r.id, term);
        this.stats.leaderChanges++;
      }
      r.isLeader = becameLeader;
    }
    // 1. Persist (one batch), then sync; a crash in between loses the batch.
    const w: { -readonly [K in keyof GroupWrite]: GroupWrite[K] } = { groupId: SIM_GROUP };
    if (rd.snapshot !== undefined) w.snapshot = rd.snapshot;
    if (rd.entries.length > 0) w.entries = rd.entries;
    if (rd.hardState !== undefined) w.hardState = rd.hardState;
    const persists = w.snapshot !== undefined || w.entries !== undefined ||
      w.hardState !== undefined;
    const sendFirst = this.opts.bugs?.sendBeforeSync === true;
    if (persists) {
      r.disk.write([w]);
      if (sendFirst) {
        for (const m of rd.messages) this.#send(raw, m);
      }
      if (this.faultsOn && this.rng.chance(this.params.crashMidPersist)) {
        this.stats.crashesMidPersist++;
        this.#crash(r, "in the middle of a persist");
        return;
      }
      this.#sync(r);
      this.checker.onAppend(r.id, g, rd.entries);
    }
    // The leader's own log must hold every committed entry when it takes over.
    if (rd.softState?.raftState === "leader") this.checker.onBecomeLeader(r.id, g);
    if (rd.hardState !== undefined && rd.hardState.commit >= r.commitCheckedTo) {
      this.checker.onCommit(r.id, g, r.commitCheckedTo, rd.hardState.commit);
      r.commitCheckedTo = rd.hardState.commit + 1;
      if (r.isLeader) this.checker.onLeaderCommit(g, rd.hardState.commit, raw.status().confState);
    }
    // 2. Send.
    if (!(sendFirst && persists)) {
      for (const m of rd.messages) this.#send(raw, m);
    }
    // 3. Apply.
    if (rd.snapshot !== undefined) this.#restoreSnapshot(r, rd);
    for (const e of rd.committedEntries) {
      this.#apply(r, raw, e);
      if (r.raw === null) return;
    }
    for (const rs of rd.readStates) this.workload.onReadState(r.id, rs.index, rs.requestCtx);
    // 4. Advance.
    raw.advance(rd);
    this.workload.answerReads(r.id, r.applied, (key) => r.kv.get(key), this.now);
  }

  #sync(r: Replica): void {
    r.disk.sync();
    this.checker.onDurableHardState(r.id, r.disk.durable.group(SIM_GROUP).initialState().hardState);
  }

  #send(raw: RawNode, m: Message): void {
    if (this.opts.traceMessages) this.trace(`send ${describeMessage(m)}`);
    const outcome = this.net.send(this.now, m);
    this.stats.messagesSent++;
    if (outcome !== "queued") this.stats.messagesDropped++;
    if (m.type === MessageType.Snap && m.snapshot !== null) {
      const key = `${m.from}>${m.to}`;
      if (outcome !== "queued") this.#snapSends.set(key, true);
      else if (!this.#snapSends.has(key)) this.#snapSends.set(key, false);
      if (m.snapshot.offset + m.snapshot.data.length >= m.snapshot.totalBytes) {
        // The transport knows when the last chunk went out (or failed).
        const lost = this.#snapSends.get(key) === true;
        this.#snapSends.delete(key);
        if (lost) raw.reportSnapshot(m.to, "failure");
      }
    }
    if (outcome === "cut" && this.rng.chance(0.3)) raw.reportUnreachable(m.to);
  }

  #restoreSnapshot(r: Replica, rd: Ready): void {
    const snap = rd.snapshot!;
    this.stats.snapshotsInstalled++;
    this.trace(`${r.id} installs snapshot at ${snap.metadata.index} (term ${snap.metadata.term})`);
    this.checker.onStateAt(r.id, snap.metadata.index, snap.data);
    r.kv.restore(snap.data);
    r.applied = snap.metadata.index;
    r.confState = snap.metadata.confState;
  }

  #apply(r: Replica, raw: RawNode, e: Entry): void {
    if (e.index !== r.applied + 1) {
      throw new SafetyViolation(
        "state machine safety",
        `${r.id} applies ${e.index} after ${r.applied}`,
      );
    }
    this.checker.onApply(r.id, e);
    r.applied = e.index;
    if (e.type === EntryType.ConfChange) {
      const cc = decodeConfChange(e.data);
      const before = members(r.confState);
      r.confState = raw.applyConfChange(cc);
      this.#onConfApplied(r, e.index, before, r.confState);
      return;
    }
    if (e.data.length === 0) return;
    const cmd = decodeCommand(e.data);
    const result = r.kv.apply(cmd);
    if (!result.applied) return; // a duplicate (re-proposed or re-delivered) command
    this.workload.onApplied(r.id, cmd, e.index, result.value, this.now);
  }

  #onConfApplied(r: Replica, index: number, before: Set<ReplicaId>, after: ConfState): void {
    const now = members(after);
    // The first replica to apply a change acts on it for the whole cluster.
    if (this.#confApplied.has(index)) return;
    this.#confApplied.add(index);
    this.stats.confChangesApplied++;
    this.trace(
      `${r.id} applied conf change at ${index}: voters [${after.voters.join(", ")}] learners [${
        after.learners.join(", ")
      }]${after.votersOutgoing.length > 0 ? ` outgoing [${after.votersOutgoing.join(", ")}]` : ""}`,
    );
    for (const id of now) {
      if (!before.has(id) && !this.replicas.has(id)) {
        this.#addReplica(id, new SimDisk(this.opts.mirrorStore?.(id)));
      }
    }
    for (const id of before) {
      const gone = this.replicas.get(id);
      if (!now.has(id) && gone !== undefined && gone.destroyAt === null) {
        gone.destroyAt = this.now + 3 * (this.params.raft.electionTicks ?? 10);
      }
    }
  }

  // ---- faults ---------------------------------------------------------------

  #injectFaults(): void {
    const p = this.params;
    const rng = this.rng;
    const all = [...this.replicas.values()];
    if (rng.chance(p.crashPerTick)) {
      const live = this.live();
      if (live.length > 0) {
        this.stats.crashes++;
        this.#crash(rng.pick(live), "fault");
      }
    }
    for (const r of all) {
      if (r.raw === null && this.replicas.has(r.id) && rng.chance(p.restartPerTick)) {
        this.stats.restarts++;
        this.trace(`restart ${r.id}`);
        this.#start(r);
      }
    }
    if (rng.chance(p.partitionPerTick)) this.#partition();
    if (rng.chance(p.healPerTick) && this.net.cutLinks().length > 0) {
      this.trace("heal all links");
      this.net.healAll();
    }
    const leader = this.leader();
    if (leader !== null && rng.chance(p.confChangePerTick)) this.#proposeConfChange(leader);
    if (leader !== null && rng.chance(p.transferPerTick)) {
      const others = leader.confState.voters.filter((v) => v !== leader.id);
      if (others.length > 0) {
        const to = rng.pick(others);
        this.stats.transfers++;
        this.trace(`transfer leadership ${leader.id} -> ${to}`);
        leader.raw!.transferLeader(to);
      }
    }
  }

  #partition(): void {
    const ids = [...this.replicas.keys()];
    if (ids.length < 2) return;
    this.stats.partitions++;
    const kind = this.rng.int(3);
    if (kind === 0) {
      const shuffled = this.rng.shuffle(ids);
      const k = this.rng.range(1, ids.length - 1);
      const a = shuffled.slice(0, k);
      const b = shuffled.slice(k);
      this.trace(`partition [${a.join(", ")}] | [${b.join(", ")}]`);
      this.net.partition(a, b);
    } else if (kind === 1) {
      const leader = this.leader();
      const victim = leader?.id ?? this.rng.pick(ids);
      this.trace(`isolate ${victim}`);
      this.net.partition([victim], ids.filter((i) => i !== victim));
    } else {
      const n = this.rng.range(1, ids.length);
      const cuts: string[] = [];
      for (let i = 0; i < n; i++) {
        const from = this.rng.pick(ids);
        const to = this.rng.pick(ids.filter((x) => x !== from));
        this.net.cut(from, to);
        cuts.push(`${from}->${to}`);
      }
      this.trace(`cut one-way links ${cuts.join(" ")}`);
    }
  }

  #proposeConfChange(leader: Replica): void {
    const conf = leader.confState;
    if (conf.votersOutgoing.length > 0) return;
    const voters = conf.voters;
    const learners = conf.learners;
    const memberCount = members(conf).size;
    const options: ConfChange[] = [];
    const canGrow = memberCount < this.params.maxMembers;
    if (canGrow) {
      options.push({
        transition: "auto",
        changes: [{ type: ConfChangeType.AddLearner, replicaId: `+` }],
      });
      options.push({
        transition: "auto",
        changes: [{ type: ConfChangeType.AddNode, replicaId: `+` }],
      });
    }
    for (const l of learners) {
      options.push({
        transition: "auto",
        changes: [{ type: ConfChangeType.AddNode, replicaId: l }],
      });
      options.push({
        transition: "auto",
        changes: [{ type: ConfChangeType.RemoveNode, replicaId: l }],
      });
    }
    if (voters.length > 3) {
      for (const v of voters) {
        options.push({
          transition: "auto",
          changes: [{ type: ConfChangeType.RemoveNode, replicaId: v }],
        });
        options.push({
          transition: "auto",
          changes: [{ type: ConfChangeType.AddLearner, replicaId: v }],
        });
      }
    }
    if (canGrow && voters.length >= 3) {
      // Replace a voter through joint consensus.
      const out = this.rng.pick(voters);
      options.push({
        transition: this.rng.pick(["auto", "implicit"] as const),
        changes: [
          { type: ConfChangeType.AddNode, replicaId: "+" },
          { type: ConfChangeType.RemoveNode, replicaId: out },
        ],
      });
    }
    if (options.length === 0) return;
    const chosen = this.rng.pick(options);
    const fresh = chosen.changes.some((ch) => ch.replicaId === "+") ? this.#newId() : null;
    const cc: ConfChange = {
      ...chosen,
      changes: chosen.changes.map((
        ch,
      ) => (ch.replicaId === "+" ? { ...ch, replicaId: fresh! } : ch)),
    };
    this.stats.confChangesProposed++;
    this.trace(
      `${leader.id} proposes conf change ${cc.transition} ${
        cc.changes.map((ch) => `${ch.type} ${ch.replicaId}`).join(", ")
      }`,
    );
    try {
      leader.raw!.proposeConfChange(cc);
    } catch (e) {
      if (
        e instanceof ConfChangeError || e instanceof ProposalDroppedError ||
        e instanceof NotLeaderError
      ) {
        this.trace(`  refused: ${e.message}`);
        return;
      }
      throw e;
    }
  }

  #maybeSnapshot(r: Replica): void {
    if (r.raw === null || !this.rng.chance(this.params.snapshotPerTick)) return;
    const g = r.disk.group(SIM_GROUP);
    if (r.applied <= g.firstIndex() + 2) return;
    const index = r.applied;
    const data = r.kv.snapshot();
    this.checker.onStateAt(r.id, index, data);
    r.disk.write([{
      groupId: SIM_GROUP,
      snapshot: { metadata: { index, term: g.term(index), confState: r.confState }, data },
    }]);
    this.#sync(r);
    this.stats.snapshotsCreated++;
    this.trace(`${r.id} snapshots and compacts at ${index}`);
  }

  // ---- the main loop --------------------------------------------------------

  step(): void {
    this.now++;
    this.stats.ticks++;
    if (this.faultsOn) this.#injectFaults();
    for (const r of [...this.replicas.values()]) {
      if (r.destroyAt !== null && this.now >= r.destroyAt) this.#destroy(r);
    }
    if (this.clientsOn) {
      this.workload.issue(this.now, this.live(), (id) => this.replicas.get(id));
    }
    for (const r of this.live()) {
      // Clock drift: a replica may miss a tick during the safety phase.
      if (
        this.faultsOn && this.params.tickSkipRate > 0 && this.rng.chance(this.params.tickSkipRate)
      ) continue;
      r.raw!.tick();
    }
    for (const r of this.live()) this.#drain(r);
    for (const m of this.net.due(this.now)) {
      const r = this.replicas.get(m.to);
      if (r === undefined || r.raw === null) continue;
      if (this.opts.traceMessages) this.trace(`deliver ${describeMessage(m)}`);
      r.raw.step(m);
      this.#drain(r);
    }
    for (const r of this.live()) this.#maybeSnapshot(r);
    this.workload.expire(this.now);
    const durable = new Map<ReplicaId, GroupLogStorage>();
    for (const r of this.replicas.values()) durable.set(r.id, r.disk.durable.group(SIM_GROUP));
    this.checker.checkCommittedDurable(durable);
  }

  /**
   * Heals everything; then within `budgetTicks` a leader must get a fresh
   * entry applied on a quorum of its voters, and within `catchUpTicks` more
   * every member must apply it (slow parameter mixes — one message in
   * flight, 64 B messages, no snapshots — need hundreds of ticks to catch a
   * new replica up from the start of the log).
   */
  liveness(budgetTicks: number, catchUpTicks: number): string | null {
    this.faultsOn = false;
    this.net.healAll();
    this.net.faults = { dropRate: 0, duplicateRate: 0, minDelayTicks: 1, maxDelayTicks: 1 };
    for (const r of this.replicas.values()) {
      if (r.raw === null) {
        this.stats.restarts++;
        this.#start(r);
      }
    }
    this.trace("liveness phase: healed, all replicas up");
    const start = this.now;
    let marker: { index: number } | null = null;
    const appliedOn = (ids: readonly ReplicaId[]) =>
      ids.filter((v) => {
        const r = this.replicas.get(v);
        return r !== undefined && r.raw !== null && r.applied >= marker!.index;
      }).length;
    let quorumAt: number | null = null;
    while (this.now - start < budgetTicks + catchUpTicks) {
      this.step();
      const leader = this.leader();
      if (leader === null) {
        if (quorumAt === null && this.now - start >= budgetTicks) break;
        continue;
      }
      if (marker === null) {
        if (this.now - start >= budgetTicks) break;
        try {
          const pos = leader.raw!.propose(new Uint8Array(0));
          if (pos !== null) marker = { index: pos.index };
        } catch {
          // Not ready yet (transfer in progress, …): retry next tick.
        }
        continue;
      }
      const c = leader.confState;
      if (quorumAt === null) {
        const halves = [c.voters, c.votersOutgoing].filter((h) => h.length > 0);
        if (halves.every((h) => appliedOn(h) > h.length / 2)) {
          quorumAt = this.now;
          // Quiesce the clients so that catching up is bounded by the log length.
          this.clientsOn = false;
          this.trace(`liveness: leader ${leader.id}, entry ${marker.index} applied on a quorum`);
        } else if (this.now - start >= budgetTicks) {
          break;
        }
      }
      if (quorumAt !== null) {
        const all = [...members(c)];
        if (appliedOn(all) === all.length) {
          this.trace(`liveness: entry ${marker.index} applied on every member`);
          return null;
        }
      }
    }
    const leader = this.leader();
    for (const r of this.replicas.values()) {
      if (r.raw === null) continue;
      const st = r.raw.status();
      this.trace(
        `status ${r.id}: ${st.raftState} term ${st.term} commit ${st.commit} applied ${r.applied} last ${st.lastIndex} ` +
          `conf ${JSON.stringify(st.confState)} progress ${JSON.stringify(st.progress)}`,
      );
    }
    if (quorumAt !== null) {
      return `liveness: entry ${
        marker!.index
      } committed at tick ${quorumAt} but not applied on every member ${catchUpTicks} ticks later`;
    }
    return `liveness: within ${budgetTicks} ticks after healing, ${
      leader === null
        ? "no leader was elected"
        : `leader ${leader.id} did not get entry ${marker?.index ?? "(none)"} applied on a quorum`
    }`;
  }

  /** Lets clients finish, then checks convergence and linearizability. */
  finish(): { violation: string | null; inconclusive: boolean } {
    // No new requests from here on; every request issued is in the history.
    this.clientsOn = false;
    for (let i = 0; i < this.params.opTimeoutTicks + 5 && this.workload.pendingCount > 0; i++) {
      this.step();
    }
    // Every live member that applied as far as the leader holds the same state.
    const leader = this.leader();
    if (leader !== null) {
      for (let i = 0; i < 100; i++) {
        const lagging = this.live().some((r) =>
          members(leader.confState).has(r.id) && r.applied < leader.applied
        );
        if (!lagging) break;
        this.step();
      }
    }
    this.workload.giveUpAll(this.now);
    if (leader !== null) {
      const states = new Map<string, string>();
      for (const r of this.live()) {
        if (!members(leader.confState).has(r.id) || r.applied !== leader.applied) continue;
        states.set(r.id, new TextDecoder().decode(r.kv.snapshot()));
      }
      const distinct = new Set(states.values());
      if (distinct.size > 1) {
        return {
          violation: `state machine safety: replicas at index ${leader.applied} differ: ${
            JSON.stringify(Object.fromEntries(states))
          }`,
          inconclusive: false,
        };
      }
    }
    const history = this.workload.history();
    this.stats.historyOps = history.length;
    this.opts.onHistory?.(history);
    const r = checkOperations(kvModel, history, { maxStepsPerPartition: 2_000_000 });
    this.stats.linearizabilitySteps = r.steps;
    if (r.verdict === "illegal") {
      const ops = r.badPartition ?? [];
      return {
        violation: `linearizability: history of key ${
          ops[0]?.input.key ?? "?"
        } is not linearizable:\n${formatHistory(kvModel, ops).join("\n")}`,
        inconclusive: false,
      };
    }
    return { violation: null, inconclusive: r.verdict === "unknown" };
  }
}

function describeMessage(m: Message): string {
  const parts = [`${m.type} ${m.from}->${m.to} t${m.term}`];
  if (m.type === MessageType.App || m.type === MessageType.AppResp) {
    parts.push(`i${m.index} lt${m.logTerm}`);
  }
  if (m.entries.length > 0) {
    parts.push(`entries ${m.entries[0].index}..${m.entries[m.entries.length - 1].index}`);
  }
  if (m.commit > 0) parts.push(`c${m.commit}`);
  if (m.reject) parts.push(`reject hint ${m.rejectHint}`);
  if (m.snapshot !== null) parts.push(`snap@${m.snapshot.metadata.index} +${m.snapshot.offset}`);
  return parts.join(" ");
}

/** Runs one seed: safety phase, liveness phase, final checks. Never throws on a violation. */
export function runSimulation(opts: SimOptions): SimResult {
  let sim: Simulation | undefined;
  try {
    sim = new Simulation(opts);
    const safetyTicks = opts.safetyTicks ?? 1000;
    for (let i = 0; i < safetyTicks; i++) sim.step();
    const live = sim.liveness(opts.livenessBudgetTicks ?? 400, opts.catchUpBudgetTicks ?? 3000);
    if (live !== null) {
      return { seed: opts.seed, violation: live, inconclusive: false, stats: sim.stats };
    }
    const end = sim.finish();
    for (const r of sim.replicas.values()) r.disk.verifyMirror();
    return {
      seed: opts.seed,
      violation: end.violation,
      inconclusive: end.inconclusive,
      stats: sim.stats,
    };
  } catch (e) {
    const msg = e instanceof SafetyViolation
      ? e.message
      : e instanceof MirrorMismatchError
      ? `storage mirror: ${e.message}`
      : `unexpected error: ${e instanceof Error ? `${e.message}\n${e.stack ?? ""}` : String(e)}`;
    sim?.trace(`VIOLATION ${msg}`);
    return {
      seed: opts.seed,
      violation: msg,
      inconclusive: false,
      stats: sim?.stats ?? emptyStats(),
    };
  } finally {
    sim?.closeDisks();
  }
}

function emptyStats(): SimStats {
  return {
    ticks: 0,
    messagesSent: 0,
    messagesDropped: 0,
    crashes: 0,
    crashesMidPersist: 0,
    restarts: 0,
    partitions: 0,
    confChangesProposed: 0,
    confChangesApplied: 0,
    transfers: 0,
    snapshotsCreated: 0,
    snapshotsInstalled: 0,
    leaderChanges: 0,
    opsCompleted: 0,
    readIndexReads: 0,
    opsUnknown: 0,
    historyOps: 0,
    linearizabilitySteps: 0,
    maxMembers: 0,
  };
}
