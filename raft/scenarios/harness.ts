/**
 * A small scripted harness for multi-replica Raft scenarios (in the spirit of
 * etcd-io/raft `rafttest/`): add nodes, partition, propose, deliver, check.
 * Every action appends human-readable lines to a transcript; scenario tests
 * compare it with a golden file under `testdata/` so a reviewer can read what
 * happened, message by message.
 *
 * Each node has a MemoryLogStore (survives restart()) and a tiny state
 * machine: the list of applied command strings, snapshotted as JSON.
 *
 * @module
 */

import { type ConfState, type Entry, EntryType, type ReplicaId } from "../storage/logStorage.ts";
import { MemoryLogStore } from "../storage/memoryLogStore.ts";
import { defaultRaftConfig, type RaftConfig, seededRandom } from "../core/config.ts";
import { decodeConfChange } from "../core/confChangeCodec.ts";
import { bootstrapSnapshot } from "../core/bootstrap.ts";
import { RawNode } from "../core/rawNode.ts";
import type { ConfChange, Message, Ready } from "../core/types.ts";

const GROUP = "g";
const enc = new TextEncoder();
const dec = new TextDecoder();

/** One replica in the harness. */
export interface HarnessNode {
  readonly id: ReplicaId;
  raw: RawNode;
  readonly store: MemoryLogStore;
  /** Applied commands, in order (the state machine). */
  applied: string[];
  appliedIndex: number;
  confState: ConfState;
  /** Read states received (index per request context string). */
  reads: Map<string, number>;
}

/** Options of a harness. */
export interface HarnessOptions {
  readonly seed?: number;
  /** Overrides applied to every node's RaftConfig. */
  readonly config?: Partial<RaftConfig>;
  /** Print each delivered message in the transcript (default true). */
  readonly traceMessages?: boolean;
  /** Probability that a delivered message is lost (default 0). */
  readonly dropRate?: number;
  /** Probability that a delivered message is delivered twice (default 0). */
  readonly duplicateRate?: number;
  /** Shuffle each delivery round (default false). */
  readonly reorder?: boolean;
}

function describeEntry(e: Entry): string {
  if (e.type === EntryType.ConfChange) {
    return `${e.term}/${e.index} CC ${describeConfChange(decodeConfChange(e.data))}`;
  }
  return `${e.term}/${e.index}` + (e.data.byteLength > 0 ? ` ${dec.decode(e.data)}` : "");
}

/** Short text of a ConfChange. */
export function describeConfChange(cc: ConfChange): string {
  if (cc.forceVoters !== undefined) return `force voters=[${cc.forceVoters.join(",")}]`;
  if (cc.changes.length === 0) return "leave-joint";
  return cc.changes.map((c) => `${c.type} ${c.replicaId}`).join(", ") +
    (cc.transition === "auto" ? "" : ` (${cc.transition})`);
}

/** One-line description of a message. */
export function describeMessage(m: Message): string {
  let s = `${m.from}->${m.to} ${m.type} term=${m.term}`;
  switch (m.type) {
    case "MsgApp":
      s += ` log=${m.logTerm}/${m.index} commit=${m.commit}`;
      if (m.entries.length > 0) s += ` entries=[${m.entries.map(describeEntry).join("; ")}]`;
      break;
    case "MsgAppResp":
      s += ` index=${m.index}` +
        (m.reject ? ` reject hint=${m.rejectHintTerm}/${m.rejectHint}` : "");
      break;
    case "MsgVote":
    case "MsgPreVote":
      s += ` last=${m.logTerm}/${m.index}`;
      break;
    case "MsgVoteResp":
    case "MsgPreVoteResp":
      s += m.reject ? " rejected" : " granted";
      break;
    case "MsgHeartbeat":
      s += ` commit=${m.commit}`;
      break;
    case "MsgSnap":
      if (m.snapshot !== null) {
        const c = m.snapshot;
        s +=
          ` snapshot=${c.metadata.term}/${c.metadata.index} chunk=${c.offset}+${c.data.byteLength}/${c.totalBytes}`;
      }
      break;
    case "MsgReadIndexResp":
      s += ` index=${m.index}`;
      break;
  }
  return s;
}

/** A scripted cluster of replicas of one group with a controllable network. */
export class Harness {
  readonly nodes = new Map<ReplicaId, HarnessNode>();
  readonly transcript: string[] = [];
  /** Messages delivered, by type. */
  readonly deliveredByType = new Map<string, number>();
  /** Messages sent but not yet delivered, in send order. */
  inFlight: Message[] = [];
  readonly #blocked = new Set<string>();
  readonly #down = new Set<ReplicaId>();
  readonly #seed: number;
  readonly #options: HarnessOptions;
  readonly #netRandom: () => number;
  #nodeSeq = 0;

  constructor(options: HarnessOptions = {}) {
    this.#seed = options.seed ?? 1;
    this.#options = options;
    this.#netRandom = seededRandom(this.#seed ^ 0x5bd1e995);
  }

  /** Appends a line to the transcript. */
  log(line: string): void {
    this.transcript.push(line);
  }

  /** The transcript as text. */
  output(): string {
    return this.transcript.join("\n") + "\n";
  }

  /** Returns a node or throws. */
  node(id: ReplicaId): HarnessNode {
    const n = this.nodes.get(id);
    if (n === undefined) throw new Error(`no node ${id}`);
    return n;
  }

  #configFor(id: ReplicaId, applied: number): RaftConfig {
    this.#nodeSeq++;
    return defaultRaftConfig(id, {
      random: seededRandom(this.#seed * 1000 + this.#nodeSeq),
      ...this.#options.config,
      applied,
    });
  }

  /**
   * Adds nodes. With `voters`, they bootstrap that initial configuration;
   * without, they start empty (to be added by a conf change later).
   */
  addNodes(ids: readonly ReplicaId[], voters: readonly ReplicaId[] = ids): void {
    this.log(
      `> addNodes ${ids.join(" ")}` + (voters.length > 0 ? ` voters=${voters.join(",")}` : ""),
    );
    for (const id of ids) {
      const store = new MemoryLogStore();
      const confState: ConfState = {
        voters: [...voters],
        learners: [],
        votersOutgoing: [],
        learnersNext: [],
        autoLeave: false,
      };
      if (voters.length > 0) {
        store.write([{ groupId: GROUP, snapshot: bootstrapSnapshot(confState, enc.encode("[]")) }]);
      }
      const raw = new RawNode(this.#configFor(id, 0), store.group(GROUP));
      this.nodes.set(id, {
        id,
        raw,
        store,
        applied: [],
        appliedIndex: voters.length > 0 ? 1 : 0,
        confState,
        reads: new Map(),
      });
    }
  }

  /** Ticks nodes (all live nodes by default) `n` times, processing Ready after each tick. */
  tick(n = 1, ids?: readonly ReplicaId[]): void {
    const targets = ids ?? [...this.nodes.keys()].filter((id) => !this.#down.has(id));
    this.log(`> tick ${n}` + (ids !== undefined ? ` ${ids.join(" ")}` : ""));
    for (let i = 0; i < n; i++) {
      for (const id of targets) this.node(id).raw.tick();
      this.#processAll();
    }
  }

  /** Ticks and stabilizes until `pred` holds, at most `maxTicks` ticks. */
  tickUntil(pred: () => boolean, maxTicks: number, ids?: readonly ReplicaId[]): number {
    const targets = ids ?? [...this.nodes.keys()].filter((id) => !this.#down.has(id));
    for (let t = 1; t <= maxTicks; t++) {
      for (const id of targets) this.node(id).raw.tick();
      this.#processAll();
      this.#deliverLoop();
      if (pred()) {
        this.log(`> tick until condition: ${t} ticks`);
        return t;
      }
    }
    throw new Error(`condition not reached within ${maxTicks} ticks`);
  }

  /** Starts an election on `id`. */
  campaign(id: ReplicaId): void {
    this.log(`> campaign ${id}`);
    this.node(id).raw.campaign();
    this.#processAll();
  }

  /** Proposes a command on `id`; logs the outcome. */
  propose(id: ReplicaId, command: string): void {
    try {
      const pos = this.node(id).raw.propose(enc.encode(command));
      this.log(
        `> propose ${id} ${command}: ` +
          (pos === null ? "forwarded" : `at ${pos.term}/${pos.index}`),
      );
    } catch (e) {
      this.log(`> propose ${id} ${command}: ${e instanceof Error ? e.name : String(e)}`);
    }
    this.#processAll();
  }

  /** Proposes a membership change on `id`; logs the outcome. */
  proposeConfChange(id: ReplicaId, cc: ConfChange): void {
    const what = describeConfChange(cc);
    try {
      const pos = this.node(id).raw.proposeConfChange(cc);
      this.log(
        `> conf-change ${id} ${what}: ` +
          (pos === null ? "forwarded" : `at ${pos.term}/${pos.index}`),
      );
    } catch (e) {
      this.log(`> conf-change ${id} ${what}: ${e instanceof Error ? e.message : String(e)}`);
    }
    this.#processAll();
  }

  /** Requests a read index on `id` with a textual context. */
  readIndex(id: ReplicaId, ctx: string): void {
    try {
      this.node(id).raw.readIndex(enc.encode(ctx));
      this.log(`> read-index ${id} ${ctx}`);
    } catch (e) {
      this.log(`> read-index ${id} ${ctx}: ${e instanceof Error ? e.name : String(e)}`);
    }
    this.#processAll();
  }

  /** Asks `id` to transfer leadership to `to`. */
  transferLeader(id: ReplicaId, to: ReplicaId): void {
    this.log(`> transfer-leader ${id} -> ${to}`);
    this.node(id).raw.transferLeader(to);
    this.#processAll();
  }

  /** Runs forced recovery on `id`. */
  forceRecovery(id: ReplicaId, voters: readonly ReplicaId[]): void {
    this.log(`> force-recovery ${id} voters=${voters.join(",")}`);
    this.node(id).raw.forceRecovery(voters);
    this.#processAll();
  }

  /** Blocks traffic in both directions between every node of `a` and every node of `b`. */
  partition(a: readonly ReplicaId[], b: readonly ReplicaId[]): void {
    this.log(`> partition [${a.join(",")}] | [${b.join(",")}]`);
    for (const x of a) {
      for (const y of b) {
        this.#blocked.add(`${x}>${y}`);
        this.#blocked.add(`${y}>${x}`);
      }
    }
  }

  /** Cuts `id` off from every other node. */
  isolate(id: ReplicaId): void {
    this.partition([id], [...this.nodes.keys()].filter((x) => x !== id));
  }

  /** Removes all partitions. */
  heal(): void {
    this.log("> heal");
    this.#blocked.clear();
  }

  /** Stops a node: it neither ticks nor receives; in-flight messages to it are lost. */
  crash(id: ReplicaId): void {
    this.log(`> crash ${id}`);
    this.#down.add(id);
  }

  /** Restarts a crashed node from its durable store. */
  restart(id: ReplicaId): void {
    this.log(`> restart ${id}`);
    const n = this.node(id);
    this.#down.delete(id);
    const storage = n.store.group(GROUP);
    const snap = storage.snapshot();
    n.applied = snap.data.byteLength > 0 ? JSON.parse(dec.decode(snap.data)) as string[] : [];
    n.appliedIndex = snap.metadata.index;
    n.confState = snap.metadata.confState;
    n.raw = new RawNode(this.#configFor(id, n.appliedIndex), storage);
  }

  /**
   * Compacts `id`'s log: snapshots its state machine at its applied index and
   * discards the log up to it.
   */
  compact(id: ReplicaId): void {
    const n = this.node(id);
    const storage = n.store.group(GROUP);
    const term = storage.term(n.appliedIndex);
    n.store.write([{
      groupId: GROUP,
      snapshot: {
        metadata: { index: n.appliedIndex, term, confState: n.confState },
        data: enc.encode(JSON.stringify(n.applied)),
      },
    }]);
    this.log(`> compact ${id} to ${term}/${n.appliedIndex} (first index ${storage.firstIndex()})`);
  }

  /** Delivers the messages in flight once (responses stay in flight). */
  deliver(): void {
    this.log("> deliver");
    this.#deliverOnce();
  }

  /** Delivers messages and processes Ready until nothing is left to do. */
  stabilize(): void {
    this.log("> stabilize");
    this.#processAll();
    this.#deliverLoop();
  }

  /** Drops every message in flight. */
  dropInFlight(): void {
    this.log(`> drop ${this.inFlight.length} in-flight messages`);
    this.inFlight = [];
  }

  #deliverLoop(): void {
    for (let rounds = 0; this.inFlight.length > 0; rounds++) {
      if (rounds > 10_000) throw new Error("stabilize did not converge");
      this.#deliverOnce();
    }
  }

  #deliverOnce(): void {
    const batch = this.inFlight;
    this.inFlight = [];
    const rnd = this.#netRandom;
    if (this.#options.reorder === true) {
      for (let i = batch.length - 1; i > 0; i--) {
        const j = Math.floor(rnd() * (i + 1));
        [batch[i], batch[j]] = [batch[j], batch[i]];
      }
    }
    if ((this.#options.duplicateRate ?? 0) > 0) {
      for (const m of [...batch]) if (rnd() < this.#options.duplicateRate!) batch.push(m);
    }
    for (const m of batch) {
      const blocked = this.#blocked.has(`${m.from}>${m.to}`) || this.#down.has(m.to) ||
        this.#down.has(m.from) || rnd() < (this.#options.dropRate ?? 0);
      if (this.#options.traceMessages !== false) {
        this.log(`  ${describeMessage(m)}${blocked ? "  (dropped)" : ""}`);
      }
      if (blocked) continue;
      this.deliveredByType.set(m.type, (this.deliveredByType.get(m.type) ?? 0) + 1);
      const n = this.nodes.get(m.to);
      if (n === undefined) continue;
      n.raw.step(m);
      this.#process(n);
    }
    this.#processAll();
  }

  #processAll(): void {
    for (const n of this.nodes.values()) if (!this.#down.has(n.id)) this.#process(n);
  }

  /** One Ready cycle: persist → send → apply → advance. */
  #process(n: HarnessNode): void {
    while (n.raw.hasReady()) {
      const rd: Ready = n.raw.ready();
      n.store.write([{
        groupId: GROUP,
        ...(rd.snapshot !== undefined ? { snapshot: rd.snapshot } : {}),
        entries: rd.entries,
        ...(rd.hardState !== undefined ? { hardState: rd.hardState } : {}),
      }]);
      if (rd.softState !== undefined) {
        const lead = rd.softState.lead ?? "none";
        this.log(
          `  ${n.id} becomes ${rd.softState.raftState} (term ${n.raw.status().term}, leader ${lead})`,
        );
      }
      this.inFlight.push(...rd.messages);
      if (rd.snapshot !== undefined) {
        n.applied = JSON.parse(dec.decode(rd.snapshot.data)) as string[];
        n.appliedIndex = rd.snapshot.metadata.index;
        n.confState = rd.snapshot.metadata.confState;
        this.log(
          `  ${n.id} installs snapshot ${rd.snapshot.metadata.term}/${rd.snapshot.metadata.index}`,
        );
      }
      for (const e of rd.committedEntries) {
        if (e.type === EntryType.ConfChange) {
          const cc = decodeConfChange(e.data);
          n.confState = n.raw.applyConfChange(cc);
          this.log(`  ${n.id} applies ${describeEntry(e)} -> ${describeConfState(n.confState)}`);
        } else if (e.data.byteLength > 0) {
          n.applied.push(dec.decode(e.data));
        }
        n.appliedIndex = e.index;
      }
      for (const rs of rd.readStates) {
        const ctx = dec.decode(rs.requestCtx);
        n.reads.set(ctx, rs.index);
        this.log(`  ${n.id} read-state ${ctx} at index ${rs.index}`);
      }
      n.raw.advance(rd);
    }
  }

  /** Current leader among live nodes with the highest term, or null. */
  leader(): ReplicaId | null {
    let best: ReplicaId | null = null;
    let bestTerm = -1;
    for (const n of this.nodes.values()) {
      if (this.#down.has(n.id)) continue;
      const s = n.raw.status();
      if (s.raftState === "leader" && s.term > bestTerm) {
        best = n.id;
        bestTerm = s.term;
      }
    }
    return best;
  }

  /** Logs one status line per node. */
  status(): void {
    this.log("> status");
    for (const n of this.nodes.values()) {
      const s = n.raw.status();
      const down = this.#down.has(n.id) ? " (down)" : "";
      this.log(
        `  ${n.id}: ${s.raftState} term=${s.term} lead=${s.lead ?? "none"} commit=${s.commit} ` +
          `applied=${n.appliedIndex} last=${s.lastIndex} ${describeConfState(s.confState)} ` +
          `state=[${n.applied.join(",")}]${down}`,
      );
    }
  }

  /**
   * Checks state-machine safety: the applied command lists of all nodes are
   * prefixes of one another. Throws on violation.
   */
  checkSafety(): void {
    const lists = [...this.nodes.values()].map((n) => n.applied);
    const longest = lists.reduce((a, b) => (b.length > a.length ? b : a), []);
    for (const n of this.nodes.values()) {
      for (let i = 0; i < n.applied.length; i++) {
        if (n.applied[i] !== longest[i]) {
          throw new Error(
            `state machine divergence at ${i}: ${n.id} applied ${n.applied[i]}, another applied ${
              longest[i]
            }`,
          );
        }
      }
    }
  }
}

/** Short text of a ConfState. */
export function describeConfState(cs: ConfState): string {
  let s = `voters=[${cs.voters.join(",")}]`;
  if (cs.votersOutgoing.length > 0) s += `&&[${cs.votersOutgoing.join(",")}]`;
  if (cs.learners.length > 0) s += ` learners=[${cs.learners.join(",")}]`;
  if (cs.learnersNext.length > 0) s += ` learnersNext=[${cs.learnersNext.join(",")}]`;
  if (cs.autoLeave) s += " autoLeave";
  return s;
}
